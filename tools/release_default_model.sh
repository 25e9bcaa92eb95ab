#!/usr/bin/env bash
# Rebuild the shipped default bundle from scratch, reproducibly (fixed seed, fixed folds):
# train TGLLNet (edge preset) on PTB-XL superdiagnostic, export fp32 + int8 ONNX/TFLite
# through the parity gate, and replace models/tgllnet-edge-superdiagnostic/.
#
#   tools/release_default_model.sh [PTBXL_DIR] [EPOCHS]
#
# The same training command as the edge-superdiagnostic-10ep row of tools/train_results_table.sh,
# the edge configuration with the best fold-9 macro-AUC of the four tried there (1 thread, so
# the run is bit-for-bit the one in the table on the same CPU; another CPU's float kernels
# land elsewhere: fold-9 AUC moved by ~0.01 between two machines here). Needs the [train]
# extra. About 3 min of training and 1 min of export on this machine with the PTB-XL subset.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/ptb-xl}
EPOCHS=${2:-10}
NAME=tgllnet-edge-superdiagnostic
RUN=runs/release-$NAME
BIN=${BIN:-.venv/bin}

"$BIN/tgll-train" --data "$DATA" --task superdiagnostic --arch tgllnet --preset edge \
    --epochs "$EPOCHS" --batch-size 64 --lr 3e-3 --seed 0 --threads 1 --schedule onecycle --overwrite --out "$RUN"
rm -rf "models/$NAME"
"$BIN/tgll-export" "$RUN" --out "models/$NAME" --int8 --formats onnx,tflite
"$BIN/tgll-info" "models/$NAME"
