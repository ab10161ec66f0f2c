#!/usr/bin/env bash
# Sets up (or updates) the Python environment mvitx needs: a virtualenv with
# torch, mmengine, mmcv (with ops), mmdet, mmpose, decord, tensorboard and the
# test tools, then mvitx itself in editable mode. Safe to run repeatedly: an
# environment whose requirements have not changed is reused as it is.
#
#   MVITX_VENV   where the virtualenv lives (default: .venv in the repo)
#   PYTHON       the interpreter to create it with (default: python3.11)
#
# mmcv 2.1.0 has no wheels on PyPI. A prebuilt wheel in ../shared/wheels (or
# MMCV_WHEELS) is used when present; otherwise it is built from the sdist
# with its C++ standard raised to C++20, which torch 2.14's headers need.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${MVITX_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3.11}
WHEELS=${MMCV_WHEELS:-$ROOT/../shared/wheels}
REQ="$ROOT/requirements"
STAMP="$VENV/.mvitx-requirements"
pip_install() { "$VENV/bin/python" -m pip install -q --progress-bar off "$@"; }

want=$(cat "$REQ"/*.txt "$0" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    echo "[install] creating $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    # Together, so torch's unpinned setuptools requirement cannot lift
    # setuptools past 80 (mmengine and mmcv's setup.py need pkg_resources).
    pip_install -r "$REQ/build.txt" -r "$REQ/torch.txt"
    if ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
        pip_install --find-links "$WHEELS" -r "$REQ/mmcv.txt"
    else
        echo "[install] no mmcv wheel in $WHEELS: building mmcv from source"
        src=$(mktemp -d)
        "$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: \
            --no-build-isolation -d "$src" -r "$REQ/mmcv.txt"
        tar xzf "$src"/mmcv-*.tar.gz -C "$src"
        sed -i 's/-std=c++1[47]/-std=c++20/g' "$src"/mmcv-*/setup.py
        MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) pip_install --no-build-isolation \
            "$src"/mmcv-*/
        rm -rf "$src"
    fi
    pip_install -r "$REQ/runtime.txt" -r "$REQ/priors.txt" \
        -r "$REQ/tests.txt"
    # Their metadata pins packages that cannot build here (mmpose: chumpy)
    # or modules they do not ship (mmaction2); their real needs are in
    # priors.txt and tests.txt.
    pip_install --no-deps -r "$REQ/nodeps.txt"
    echo "$want" > "$STAMP"
fi
pip_install --no-deps --no-build-isolation -e "$ROOT"
# torchcodec (the TorchCodecInit back-end, its tests, the data benchmark)
# loads FFmpeg's shared libraries from the system: Debian's, when missing
# (CI runs as root).
if ! ldconfig -p | grep 'libavdevice\.so\.' >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[install] installing FFmpeg's shared libraries (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends ffmpeg
    else
        echo "[install] WARNING: no FFmpeg shared libraries: the torchcodec" \
            "back-end will not load (Debian: apt-get install ffmpeg)"
    fi
fi
echo "[install] ready: $VENV"
