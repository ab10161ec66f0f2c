#!/usr/bin/env bash
# The main job on the built-in demo data, end to end on CPU or GPU:
# set up the environment → generate the demo data if missing → co-train a
# tiny MViT on demo images + videos with 2 processes → evaluate, printing
# top-1/top-5 per source. Extra arguments go to tools/train.py.
#
#   NUM_PROCS   training processes (default: 2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/tools/install.sh"
PY="${MVITX_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
DATA=data/demo  # where configs/cotrain/mvit_xs_demo.py reads it
CONFIG=configs/cotrain/mvit_xs_demo.py
WORK_DIR=work_dirs/mvit_xs_demo
if [ ! -d "$DATA" ]; then
    # Generated aside and renamed, so an interrupted run leaves no half set.
    rm -rf "$DATA.partial"
    "$PY" tools/data/make_demo_data.py --out "$DATA.partial"
    mv "$DATA.partial" "$DATA"
fi
PYTHON="$PY" bash tools/dist_train.sh "$CONFIG" "${NUM_PROCS:-2}" \
    --work-dir "$WORK_DIR" "$@"
PYTHON="$PY" bash tools/dist_test.sh "$CONFIG" \
    "$(cat "$WORK_DIR/last_checkpoint")" "${NUM_PROCS:-2}" \
    --work-dir "$WORK_DIR"
echo "[demo] TensorBoard: tensorboard --logdir $WORK_DIR"
