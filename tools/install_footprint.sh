#!/usr/bin/env bash
# The plain runtime install's footprint: installed size, import time, and the peak RSS of
# `tgll-stream --emulate`, for a package spec (default: this checkout).
#
#   tools/install_footprint.sh                         # this working tree
#   tools/install_footprint.sh "git+file://$PWD@HEAD~5" # an earlier commit, for "before"
#
# Prints a markdown row and appends it to tools/results/install_footprint.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
spec=${1:-$here}
label=${2:-$spec}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3.11 -m venv "$work/v"
"$work/v/bin/pip" install -q "$spec"
site=$("$work/v/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
size_mb=$(du -sm "$site" | cut -f1)
# import time of what tgll-stream loads before its first window (best of 3, a warm disk cache)
imp=$(for _ in 1 2 3; do
  "$work/v/bin/python" -c 'import time; t=time.perf_counter(); import tgll_edge.cli.stream, tgll_edge.runtime, tgll_edge.stream, tgll_edge.link.serial, onnxruntime; print(f"{time.perf_counter()-t:.3f}")'
done | sort -n | head -1)
# peak RSS of a real run: 20 s of the built-in emulator at 10x, measured from a small launcher
rss=$("$work/v/bin/python" - "$work/v/bin/tgll-stream" <<'EOF'
import resource, subprocess, sys
subprocess.run([sys.argv[1], "--emulate", "--duration", "20", "--speed", "10", "--json"],
               stdout=subprocess.DEVNULL, check=True)
print(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")
EOF
)
# offline prediction on a PTB-XL record works from this install (the package's own WFDB reader)
"$work/v/bin/tgll-predict" "$here/tgll_edge/data/records/00001_hr" > /dev/null
pkgs=$("$work/v/bin/pip" list --format=freeze | wc -l)
row="| $label | $size_mb MB | $pkgs | $imp s | $rss MB | $(uname -m), $(date -u +%F) |"
mkdir -p "$here/tools/results"
f="$here/tools/results/install_footprint.md"
[ -f "$f" ] || printf '| install | installed size | packages | import time | peak RSS, tgll-stream --emulate | machine |\n|---|---|---|---|---|---|\n' > "$f"
echo "$row" | tee -a "$f"
