#!/usr/bin/env bash
# Release the lead-set-aware TGLLNet as models/tgllnet-edge-leadsets-superdiagnostic (issue 9),
# from the (a) seed-0 run of tools/leadset_runs.sh (TGLLNet edge preset, --lead-sets, the default
# bundle's recipe: 10 epochs, onecycle, lr 3e-3, batch 64, seed 0, --threads 1), exported by
#   tgll-export runs/ls-tgll-s0 --out runs/ls-tgll-s0/bundle --int8 --formats onnx
# (graph as input: x, lead_mask, cheb; int8 gated per standard lead set). Released only if every
# artifact passes the gate for every standard set and its 12-lead fold-9 macro-AUC (torch fp32) is
# not below the default bundle's; never touches models/tgllnet-edge-superdiagnostic.
#   tools/leadset_release.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/ls-tgll-s0}
NAME=tgllnet-edge-leadsets-superdiagnostic
BIN=${BIN:-.venv/bin}
if [ ! -e "$RUN/bundle/card.json" ]; then
  nice -n 10 "$BIN/tgll-export" "$RUN" --out "$RUN/bundle" --int8 --formats onnx --name "$NAME"
fi
"$BIN/python" - "$RUN/bundle/card.json" models/tgllnet-edge-superdiagnostic/card.json <<'PY'
import json, sys
card, default = (json.load(open(p)) for p in sys.argv[1:3])
fails = [(s, a) for s, e in card["lead_sets"].items() for a, g in e["gate"].items() if not g["passes"]]
ours, theirs = card["reference"]["val_macro_auc"], default["reference"]["val_macro_auc"]
print(f"12-lead fold-9 macro-AUC (torch fp32): lead-set model {ours:.4f}, default {theirs:.4f}")
print("gate failures:", fails or "none", "| artifacts:", sorted(card["artifacts"]))
if fails or "onnx_int8" not in card["artifacts"] or ours < theirs:
    sys.exit("not released: the per-set gate or the 12-lead fold-9 AUC does not hold")
PY
rm -rf "models/$NAME"
mkdir -p "models/$NAME"
cp "$RUN/bundle/card.json" "$RUN/bundle/model_fp32.onnx" "$RUN/bundle/model_int8.onnx" "models/$NAME/"
[ -e "$RUN/bundle/adjacency.png" ] && cp "$RUN/bundle/adjacency.png" "models/$NAME/"
"$BIN/tgll-info" "models/$NAME"
du -sh "models/$NAME"
