#!/usr/bin/env bash
# Sets up the environment (tools/install.sh), then lints and runs the tests.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh tests/models`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/install.sh"
PY="${MVITX_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
PATHS=(mvitx tools tests configs projects setup.py)
echo "[tests] lint"
"$PY" -m flake8 "${PATHS[@]}"
"$PY" -m isort --check-only --diff "${PATHS[@]}"
test -z "$("$PY" -m yapf --diff --recursive "${PATHS[@]}")" || {
    "$PY" -m yapf --diff --recursive "${PATHS[@]}"; exit 1; }
echo "[tests] pytest"
"$PY" -m pytest -q -p no:cacheprovider "$@"
