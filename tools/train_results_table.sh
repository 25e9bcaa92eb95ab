#!/usr/bin/env bash
# Reproduce the README's results table: every run uses seed 0 (unless its line says), onecycle Adam (max lr 3e-3),
# batch 64, folds 1-8 train / 9 select / 10 test, on the PTB-XL and CPSC2018 subsets in ../shared/data.
# Two queues of single-thread runs share the 2 cores. Logs and checkpoints go to runs/.
#   tools/train_results_table.sh [PTBXL_DIR] [CPSC_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
PTBXL=${1:-../shared/data/ptb-xl}
CPSC=${2:-../shared/data/cpsc2018}
BIN=${BIN:-.venv/bin}
export OMP_NUM_THREADS=1
common=(--batch-size 64 --lr 3e-3 --seed 0 --threads 1 --schedule onecycle --overwrite --quiet)
run() {  # name, then tgll-train arguments
  local name=$1; shift
  /usr/bin/time -f "$name wall %e s" "$BIN/tgll-train" "${common[@]}" "$@" --out "runs/$name" > "runs/$name.log" 2>&1
  echo "$name rc=$?" >> runs/queue.log
}
mkdir -p runs
# The edge preset's configuration is chosen on fold 9 among four runs (3 seeds x 30 epochs,
# 1 x 10 epochs); the shipped default bundle is the best of them (tools/release_default_model.sh).
(
  run edge-superdiagnostic-10ep --data "$PTBXL" --task superdiagnostic --arch tgllnet --preset edge --epochs 10
  run tgllnet-superdiagnostic --data "$PTBXL" --task superdiagnostic --arch tgllnet --epochs 10
  run tgllnet-form --data "$PTBXL" --task form --arch tgllnet --epochs 8
  run edge-superdiagnostic-seed2 --data "$PTBXL" --task superdiagnostic --arch tgllnet --preset edge --epochs 30 --seed 2
) &
(
  run resnet1d_wang-superdiagnostic --data "$PTBXL" --task superdiagnostic --arch resnet1d_wang --epochs 10
  run tgllnet-rhythm --data "$PTBXL" --task rhythm --arch tgllnet --epochs 8
  run tgllnet-cpsc2018 --data "$CPSC" --task cpsc2018 --arch tgllnet --epochs 8
  run edge-superdiagnostic --data "$PTBXL" --task superdiagnostic --arch tgllnet --preset edge --epochs 30
  run edge-superdiagnostic-seed1 --data "$PTBXL" --task superdiagnostic --arch tgllnet --preset edge --epochs 30 --seed 1
) &
wait
