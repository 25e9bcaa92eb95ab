#!/usr/bin/env bash
# Issue 9 training queue: one run at a time (2 shared cores), single-thread, niced, resumable.
# After every run it picks the first run, in priority order, that has no metrics.json yet:
#   (a) ls-tgll-sN   TGLLNet edge preset with --lead-sets (the release recipe: 10 epochs,
#                    onecycle, lr 3e-3, batch 64, --threads 1), seeds 0-2;
#                    queued only once runs/leadset-a.enabled exists
#   (c) rn-SET-sN    resnet1d_wang trained on that lead set alone (--leads), 10 epochs;
#                    rn-12-sN is also (d) (12-lead resnet, evaluated with zero-filled leads)
# Order (the shared CPUs allow only a few runs): 12-lead resnet, (a) seed 0, the 2-lead and
# lead-I specialists, (a) seed 1, lead II and 3-lead specialists, (a) seed 2, the 6-/4-lead
# specialists, then seeds 1-2 of the 12-, 2-, 1- and 3-lead specialists.
# Each (a) run is exported right after it (tgll-export --int8 --formats onnx -> runs/ls-tgll-sN/bundle,
# the per-lead-set gate) before the next training starts.
#   nohup tools/leadset_runs.sh [PTBXL_DIR] &      (logs: runs/NAME.log, runs/leadset_queue.log)
# The released lead-set recipe (warm start from the default's checkpoint, noise-aware, distilled from it,
# 20 epochs: runs/lsx-kde20-sN)
# is not in this queue: its command is in the README ("Lead sets"), its release in tools/leadset_release.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/ptb-xl}
BIN=${BIN:-.venv/bin}
export OMP_NUM_THREADS=1
mkdir -p runs
common=(--data "$DATA" --task superdiagnostic --batch-size 64 --lr 3e-3 --threads 1 --schedule onecycle
        --epochs 10 --overwrite --quiet)
declare -A SETS=([12]="" [6]="I,II,III,aVR,aVL,aVF" [4]="I,II,III,V2" [3]="I,II,V2" [2]="I,II" [I]="I" [II]="II")
order() {
  local a=""; [ -e runs/leadset-a.enabled ] && a=1
  echo rn-12-s0; [ -n "$a" ] && echo ls-tgll-s0
  echo rn-2-s0 rn-I-s0; [ -n "$a" ] && echo ls-tgll-s1
  echo rn-II-s0 rn-3-s0; [ -n "$a" ] && echo ls-tgll-s2
  echo rn-6-s0 rn-4-s0
  for seed in 1 2; do for s in 12 2 I II 3; do echo rn-$s-s$seed; done; done
}
args_of() {  # name -> tgll-train arguments
  local name=$1 seed=${1##*-s}
  case $name in
    ls-tgll-*) echo --arch tgllnet --preset edge --lead-sets --seed "$seed" ;;
    rn-*) local set=${name#rn-}; set=${set%-s*}
          echo --arch resnet1d_wang --seed "$seed" ${SETS[$set]:+--leads ${SETS[$set]}} ;;
  esac
}
while :; do
  # a run of this queue left by an earlier instance of the script: wait for it to finish
  while pgrep -f "tgll-(train|export) .*runs/(rn|ls-tgll)-" > /dev/null; do sleep 20; done
  for seed in 0 1 2; do  # export finished (a) runs first
    r=runs/ls-tgll-s$seed
    if [ -e "$r/metrics.json" ] && [ ! -e "$r/bundle/card.json" ] && [ ! -e "$r.export-failed" ]; then
      echo "$(date -u +%FT%TZ) export $r" >> runs/leadset_queue.log
      nice -n 10 "$BIN/tgll-export" "$r" --out "$r/bundle" --int8 --formats onnx \
          --name tgllnet-edge-leadsets-superdiagnostic > "$r.export.log" 2>&1 || touch "$r.export-failed"
      echo "$(date -u +%FT%TZ) export $r rc=$? $(tail -n 1 $r.export.log)" >> runs/leadset_queue.log
    fi
  done
  next=""
  for name in $(order); do
    [ -e "runs/$name/metrics.json" ] || [ -e "runs/$name.failed" ] || { next=$name; break; }
  done
  [ -n "$next" ] || break
  echo "$(date -u +%FT%TZ) start $next: tgll-train ${common[*]} $(args_of "$next") --out runs/$next" >> runs/leadset_queue.log
  /usr/bin/time -f "$next wall %e s" nice -n 10 "$BIN/tgll-train" "${common[@]}" $(args_of "$next") \
      --out "runs/$next" > "runs/$next.log" 2>&1
  rc=$?
  echo "$(date -u +%FT%TZ) end $next rc=$rc $(tail -n 3 runs/$next.log | tr '\n' ' ')" >> runs/leadset_queue.log
  [ $rc -eq 0 ] || touch "runs/$next.failed"
done
echo "$(date -u +%FT%TZ) queue empty" >> runs/leadset_queue.log
