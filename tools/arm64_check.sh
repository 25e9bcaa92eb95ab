#!/usr/bin/env bash
# The runtime on a Raspberry Pi's CPU: Debian arm64 roots (bookworm: Python 3.11,
# trixie: 3.13, as Raspberry Pi OS) under qemu-user 10, the project's wheel
# installed in each, run on the fold-9/10 records and the emulated device with
# every artifact, and compared with this x86 machine. Exits 1 when an int8
# artifact breaks the export gate on any CPU family (fold-9 macro-AUC drop
# > 0.005 or > 2 % of decisions flipped, against fp32 on the same family), 2 on
# a setup error. Emulated timing means nothing: none is reported. Nor are
# instruction counts: Debian's qemu-aarch64 is a static build without TCG plugin
# support ("unknown option 'plugin'"), and no plugin .so is packaged; counting
# would mean building qemu from source.
#
#   sudo tools/arm64_check.sh [--suites "bookworm trixie"] [--cpus "cortex-a72 cortex-a76"]
#                             [--work DIR] [--limit N] [--speed N] [--update-card] [--no-int8-windows]
#                             [--bundle DIR] [--no-qdq-reference]
#
# --limit N: the first N fold-9/10 records only (a quick look; AUCs on few
# records mean little). --speed N: the emulated device at N x real time for
# tgll-stream (default 1; at 2 the emulated gateway fell behind once: a gap).
# Besides the console scripts on those records, every int8 artifact is measured
# on all fold-9/10 windows of the dataset in every family (tools/int8_by_cpu.py
# --windows: inference only, a few minutes under emulation where tgll-predict on
# all 486 records would take hours); its gate counts too. --update-card records
# those per-family metrics in the bundle's card (metrics_by_cpu), which
# load_model reads to run the artifact gated on the CPU it finds;
# --no-int8-windows skips that step (a quick check of another suite).
# --bundle DIR: another bundle (default: the shipped default); a lead-set-aware
# one is measured under each of its standard lead sets. --no-qdq-reference:
# int8_by_cpu.py without its unfused-QDQ reference runs (a third of the time).
#
# Needs: a Debian host (its archive keyring), root (debootstrap, chroot,
# mount), debootstrap, apt-get, dpkg-deb, the Debian mirror and PyPI, and the
# project's .venv (the x86 reference, the wheel, the metrics). Records:
# ../shared/data/ptb-xl if present, else tests/fixtures/ptbxl.
#
# Safe on a developer's machine:
# - No binfmt_misc registration at all. qemu-aarch64 (static; trixie's qemu-user,
#   fetched with apt-get download into WORK, which qemu-user-static now only
#   depends on; bookworm's qemu 7.2 shows the host's /proc/cpuinfo, which
#   crashes onnxruntime) is copied into each root and named explicitly:
#   chroot ROOT /usr/local/bin/qemu-aarch64 -cpu CPU python ... That works
#   because nothing here execs another arm64 binary: roots are unpacked with
#   dpkg-deb (debootstrap --foreign, no second stage, no maintainer scripts),
#   the venv is made --without-pip and uses python3-pip from the root.
# - Mounts: proc, sysfs (read-only) and a private devpts instance per root
#   (tgll-stream --emulate needs a pty), unmounted on exit, error or Ctrl-C. Nothing outside WORK
#   (default /var/tmp/tgll-arm64) is written; roots and pip caches are kept
#   there for reruns (rm -rf it to start over).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=/var/tmp/tgll-arm64
SUITES="bookworm trixie"
CPUS="cortex-a72 cortex-a76"
ARTIFACTS="onnx_fp32 onnx_int8 tflite_fp32 tflite_int8"
MIRROR=http://deb.debian.org/debian
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
LIMIT=0
SPEED=1
UPDATE_CARD=
INT8_WINDOWS=1
QDQ_ARG=
PY=$REPO/.venv/bin/python
BUNDLE=$REPO/models/tgllnet-edge-superdiagnostic

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --suites) SUITES=$2; shift 2 ;;
        --cpus) CPUS=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --limit) LIMIT=$2; shift 2 ;;
        --speed) SPEED=$2; shift 2 ;;
        --update-card) UPDATE_CARD=1; shift ;;
        --no-int8-windows) INT8_WINDOWS=; shift ;;
        --bundle) BUNDLE=$(cd "$2" && pwd); shift 2 ;;
        --no-qdq-reference) QDQ_ARG=--no-qdq-reference; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

say() { printf '[arm64_check %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
for tool in debootstrap apt-get dpkg-deb chroot mount umount tar; do
    command -v "$tool" >/dev/null || die "missing $tool"
done
[ -x "$PY" ] || die "no $PY: set up the project's venv first (README, Quick start)"
[ -f "$BUNDLE/card.json" ] || die "no bundle at $BUNDLE"
[ -f "$KEYRING" ] || die "no Debian archive keyring at $KEYRING"

# --- mounts, always undone ---
MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" || say "could not unmount ${MOUNTS[i]}"
    done
    MOUNTS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount_in() { mount "$@"; MOUNTS+=("${*: -1}"); }
# A mount point inside a root must be a real directory there: debootstrap
# --foreign leaves ROOT/proc -> /proc, and mount would follow it to the host's.
mount_point() {
    [ -L "$1" ] && rm -f "$1"
    mkdir -p "$1"
    case "$(realpath "$1")" in
        "$(realpath "$WORK")"/*) ;;
        *) die "$1 resolves outside $WORK" ;;
    esac
}

# --- qemu-aarch64 10, static, from trixie ---
fetch_qemu() {
    local apt=$WORK/apt
    QEMU=$WORK/qemu/usr/bin/qemu-aarch64
    [ -x "$QEMU" ] && return
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    echo "deb [signed-by=$KEYRING] $MIRROR trixie main" > "$apt/sources.list"
    local o=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
             -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
             -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Sandbox::User=root)
    say "fetching trixie's qemu-user (static qemu-aarch64 10) into $WORK/qemu"
    apt-get -q "${o[@]}" update >&2
    (cd "$apt" && apt-get -q "${o[@]}" download qemu-user >&2)
    dpkg-deb -x "$(ls "$apt"/qemu-user_*.deb | tail -1)" "$WORK/qemu"
    [ -x "$QEMU" ] || die "no qemu-aarch64 in trixie's qemu-user"
}

# --- the records, their labels and folds (records.json), copied to WORK/data ---
select_records() {
    local root=$REPO/../shared/data/ptb-xl
    [ -f "$root/ptbxl_database.csv" ] || root=$REPO/tests/fixtures/ptbxl
    rm -rf "$WORK/data"
    "$PY" - "$root" "$WORK" "$BUNDLE" "$LIMIT" <<'EOF'
import json, shutil, sys
from pathlib import Path

from tgll_edge.bundle import read_card
from tgll_edge.training.data import ptbxl

root, work, bundle, limit = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
card = read_card(bundle)
rows, sets, _ = ptbxl.select_records(ptbxl.read_database(root), card["task"], ptbxl.read_statements(root))
keep = [(r, s) for r, s in zip(rows, sets) if int(r["strat_fold"]) in (9, 10)]
keep = keep[:limit] if limit > 0 else keep
records = []
for row, labels in keep:
    for ext in (".hea", ".dat"):
        dst = work / "data" / (row["filename_lr"] + ext)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / (row["filename_lr"] + ext), dst)
    records.append({"name": row["filename_lr"], "fold": int(row["strat_fold"]), "labels": sorted(labels)})
json.dump({"root": str(root), "task": card["task"], "labels": card["labels"], "records": records},
          open(work / "records.json", "w"))
print(f"{len(records)} fold-9/10 records from {root}", file=sys.stderr)
EOF
    mapfile -t RECORDS < <("$PY" -c 'import json,sys; [print(r["name"]) for r in json.load(open(sys.argv[1]))["records"]]' \
        "$WORK/records.json")
}

# --- the wheel (pure Python), as users install it ---
build_wheel() {
    rm -rf "$WORK/dist"
    "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$REPO" >&2
    WHEEL=$(basename "$(ls "$WORK"/dist/tgll_edge-*.whl)")
}

# --- one arm64 root: unpack, mount, install ---
arm() { # arm SUITE CPU PROGRAM ARGS...: run an arm64 program in the root, through qemu, no binfmt
    local root=$WORK/roots/$1 cpu=$2
    shift 2
    env -i PATH=/opt/tgll/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
        OMP_NUM_THREADS=1 PIP_CACHE_DIR=/var/cache/tgll-pip PIP_DISABLE_PIP_VERSION_CHECK=1 \
        chroot "$root" /usr/local/bin/qemu-aarch64 -cpu "$cpu" "$@"
}

prepare_root() {
    local suite=$1 root=$WORK/roots/$1 deb dev
    if [ ! -e "$root/.tgll-unpacked" ]; then
        rm -rf "$root" # left over from an interrupted run
        say "$suite: debootstrap --foreign (arm64, minbase + python3, python3-venv, python3-pip)"
        debootstrap --foreign --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip \
            "$suite" "$root" "$MIRROR" >"$WORK/debootstrap-$suite.log" 2>&1 ||
            die "debootstrap failed, see $WORK/debootstrap-$suite.log"
        say "$suite: unpacking $(ls "$root"/var/cache/apt/archives/*.deb | wc -l) packages with dpkg-deb"
        for deb in "$root"/var/cache/apt/archives/*.deb; do
            dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root"
        done
        touch "$root/.tgll-unpacked"
    fi
    install -D -m 755 "$QEMU" "$root/usr/local/bin/qemu-aarch64"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # Debian's pip trusts the system CA bundle, which ca-certificates' maintainer
    # script would build: use the host's.
    install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    mount_point "$root/proc"
    mount_point "$root/dev/pts"
    mkdir -p "$root/tmp" "$root/opt"
    chmod 1777 "$root/tmp"
    for dev in null:3 zero:5 random:8 urandom:9; do
        [ -e "$root/dev/${dev%:*}" ] || mknod -m 666 "$root/dev/${dev%:*}" c 1 "${dev#*:}"
    done
    mount_in -t proc proc "$root/proc"
    # onnxruntime's cpuinfo reads /sys/devices/system/cpu; without it MLAS
    # falls back to kernels without the CPU's optional features (dot product).
    mount_point "$root/sys"
    mount_in -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
    mount_in -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
    ln -sfn pts/ptmx "$root/dev/ptmx"
    rm -rf "$root/opt/data" "$root/opt/bundle" "$root/opt/dist"
    cp -r "$WORK/data" "$root/opt/data"
    cp -r "$BUNDLE" "$root/opt/bundle"
    cp -r "$WORK/dist" "$root/opt/dist"
    # The project itself afresh each run; its dependencies only when missing
    # (the first run: 20 minutes under emulation on 2 busy cores).
    [ -x "$root/opt/tgll/bin/python" ] ||
        arm "$suite" cortex-a72 /usr/bin/python3 -m venv --without-pip --system-site-packages /opt/tgll
    say "$suite: pip install $WHEEL[tflite]"
    arm "$suite" cortex-a72 /opt/tgll/bin/python -m pip install -q --no-deps --force-reinstall \
        --no-warn-script-location "/opt/dist/$WHEEL" >&2
    arm "$suite" cortex-a72 /opt/tgll/bin/python -m pip install -q --only-binary=:all: \
        --no-warn-script-location "/opt/dist/$WHEEL[tflite]" >&2
    arm "$suite" cortex-a72 /opt/tgll/bin/python -c \
        'import sys, platform, numpy, onnxruntime; print(platform.machine(), sys.version.split()[0], "numpy", numpy.__version__, "onnxruntime", onnxruntime.__version__)' \
        > "$WORK/results/versions-$suite.txt"
    say "$suite: $(cat "$WORK/results/versions-$suite.txt")"
}

# --- the runs: RUN PREFIX... is how to start the tgll_edge console scripts ---
run_family() { # run_family NAME DATA_DIR BUNDLE_DIR BIN_DIR CMD_PREFIX...
    local name=$1 data=$2 bundle=$3 bin=$4 art out
    shift 4
    out=$WORK/results/$name
    rm -rf "$out"
    mkdir -p "$out"
    local files=("${RECORDS[@]/#/$data/}")
    "$@" "$bin/tgll-info" "$bundle" > "$out/info.txt"
    for art in $ARTIFACTS; do
        say "$name: tgll-predict --artifact $art (${#files[@]} records), tgll-stream --emulate --duration 20"
        "$@" "$bin/tgll-predict" --model "$bundle" --artifact "$art" --threads 1 "${files[@]}" \
            > "$out/predict-$art.jsonl"
        "$@" "$bin/tgll-stream" --emulate --duration 20 --json --speed "$SPEED" --model "$bundle" \
            --artifact "$art" --threads 1 > "$out/stream-$art.jsonl"
    done
}

# --- every int8 artifact on all fold-9/10 windows (scaled once here, from the dataset) ---
WINDOWS=
save_windows() {
    local root=$REPO/../shared/data/ptb-xl
    [ -n "$INT8_WINDOWS" ] || return 0
    [ -f "$root/ptbxl_database.csv" ] || { say "no dataset: int8 metrics on the records above only"; return; }
    mkdir -p "$WORK/results/int8/$X86"
    "$PY" "$REPO/tools/int8_by_cpu.py" --bundle "$BUNDLE" --data "$root" --save-windows "$WORK/windows.npz" $QDQ_ARG \
        --out "$WORK/results/int8/$X86" --label "x86 ($X86), the project's venv" >&2
    WINDOWS=$WORK/windows.npz
}

int8_windows() { # int8_windows SUITE CPU: tools/int8_by_cpu.py in the root, results copied out
    local suite=$1 cpu=$2 root=$WORK/roots/$1 name="aarch64-$2-$1"
    [ -n "$WINDOWS" ] || return 0
    say "$name: int8 artifacts on all fold-9/10 windows (tools/int8_by_cpu.py --windows)"
    cp "$WINDOWS" "$root/opt/windows.npz"
    cp "$REPO/tools/int8_by_cpu.py" "$root/opt/int8_by_cpu.py"
    rm -rf "$root/opt/int8"
    arm "$suite" "$cpu" /opt/tgll/bin/python /opt/int8_by_cpu.py --bundle /opt/bundle --windows /opt/windows.npz $QDQ_ARG \
        --out /opt/int8 --label "aarch64 wheels on Debian $suite under qemu-user 10 -cpu $cpu (tools/arm64_check.sh)" >&2
    mkdir -p "$WORK/results/int8/$name"
    cp "$root"/opt/int8/int8_*.json "$root"/opt/int8/int8_*.md "$WORK/results/int8/$name/"
}

x86_family() {
    local flags isa
    flags=$(grep -m1 '^flags' /proc/cpuinfo)
    isa=x86-64
    case " $flags " in *" avx2 "*) isa=x86-avx2 ;; esac
    case " $flags " in *" avx512_vnni "*) isa=x86-avx512vnni ;; esac
    echo "$isa"
}

mkdir -p "$WORK/results"
rm -f "$WORK"/results/*.txt
fetch_qemu
select_records
build_wheel
say "wheel $WHEEL; x86 reference"
X86=$(x86_family)
run_family "$X86" "$WORK/data" "$BUNDLE" "$REPO/.venv/bin" env OMP_NUM_THREADS=1 "$PY"
rm -rf "$WORK/results/int8"
save_windows
FAMILIES=("$X86")
for suite in $SUITES; do
    prepare_root "$suite"
    for cpu in $CPUS; do
        run_family "aarch64-$cpu-$suite" /opt/data /opt/bundle /opt/tgll/bin arm "$suite" "$cpu" /opt/tgll/bin/python
        int8_windows "$suite" "$cpu"
        FAMILIES+=("aarch64-$cpu-$suite")
    done
    cleanup # this root's mounts
done

# --- compare and gate ---
status=0
"$PY" - "$WORK" "$BUNDLE" "$X86" "${FAMILIES[@]}" <<'EOF' || status=$?
import json, sys
from pathlib import Path

import numpy as np

from tgll_edge.bundle import read_card
from tgll_edge.training import metrics

work, bundle, x86, families = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
card = read_card(bundle)
labels = card["labels"]
th = np.array([card["thresholds"][k] for k in labels])
gate = {"max_auc_drop": 0.005, "max_flip_rate": 0.02}
meta = json.load(open(work / "records.json"))
names = [r["name"] for r in meta["records"]]
folds = np.array([r["fold"] for r in meta["records"]])
y = np.array([[lab in r["labels"] for lab in labels] for r in meta["records"]], dtype=float)
arts = [a for a in card["artifacts"]]


def load_predict(fam, art):
    p = {}
    for line in open(work / "results" / fam / f"predict-{art}.jsonl"):
        d = json.loads(line)
        key = d["record"].split("/data/", 1)[-1]
        p[key] = [d["probabilities"][k] for k in labels]
    return np.array([p[n] for n in names])


def load_stream(fam, art):
    out = {}
    for line in open(work / "results" / fam / f"stream-{art}.jsonl"):
        d = json.loads(line)
        if d.get("type") == "window":
            out[d["t_start"]] = [d["probabilities"][k] for k in labels]
    return out


def auc(mask, p):
    try:
        return metrics.macro_auc(y[mask], p[mask])
    except ValueError:
        return float("nan")


rows, failed = [], []
f9, f10 = folds == 9, folds == 10
for fam in families:
    P = {a: load_predict(fam, a) for a in arts}
    S = {a: load_stream(fam, a) for a in arts}
    for a in arts:
        ref = P["onnx_fp32" if a.startswith("onnx") else "tflite_fp32"]
        p = P[a]
        row = {"family": fam, "artifact": a, "auc_f9": auc(f9, p), "auc_f10": auc(f10, p),
               "auc_drop_f9": auc(f9, ref) - auc(f9, p),
               "flips_f9": float(np.mean((p[f9] >= th) != (ref[f9] >= th))) if f9.any() else float("nan"),
               "flips_f10": float(np.mean((p[f10] >= th) != (ref[f10] >= th))) if f10.any() else float("nan"),
               "max_dp_fp32": float(np.abs(p - ref).max()),
               "max_dp_x86": float(np.abs(p - load_predict(x86, a)).max()),
               "flips_x86": float(np.mean((p >= th) != (load_predict(x86, a) >= th)))}
        sx = load_stream(x86, a)
        common = sorted(set(S[a]) & set(sx))
        row["stream_windows"] = len(S[a])
        row["stream_max_dp_x86"] = (float(max(np.abs(np.array(S[a][t]) - sx[t]).max() for t in common))
                                    if common else float("nan"))
        if "int8" in a and f9.any():
            row["gate"] = bool(row["auc_drop_f9"] <= gate["max_auc_drop"] and row["flips_f9"] <= gate["max_flip_rate"])
            if not row["gate"]:
                failed.append(f"{fam} {a}")
        rows.append(row)

n9, n10 = int(f9.sum()), int(f10.sum())
md = [f"Records: {n9} fold-9 + {n10} fold-10 of {meta['root']} ({meta['task']}); fp32 reference = the same "
      f"format's fp32 artifact on the same family; gate: fold-9 AUC drop <= {gate['max_auc_drop']}, "
      f"flips <= {gate['max_flip_rate']:.0%}.", "",
      "| family | artifact | fold-9 AUC | fold-10 AUC | AUC drop (f9) | flips f9 / f10 vs fp32 | max dp vs fp32 "
      "| max dp vs x86 | flips vs x86 | stream windows, max dp vs x86 | gate |",
      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
for r in rows:
    md.append(f"| {r['family']} | {r['artifact']} | {r['auc_f9']:.4f} | {r['auc_f10']:.4f} | {r['auc_drop_f9']:+.4f} "
              f"| {r['flips_f9']:.2%} / {r['flips_f10']:.2%} | {r['max_dp_fp32']:.2g} | {r['max_dp_x86']:.2g} "
              f"| {r['flips_x86']:.2%} | {r['stream_windows']}, {r['stream_max_dp_x86']:.2g} "
              f"| {'' if 'gate' not in r else ('pass' if r['gate'] else 'FAIL')} |")
# every int8 artifact on all fold-9/10 windows, per family (tools/int8_by_cpu.py results)
full = sorted((work / "results" / "int8").glob("*/int8_*.json")) if (work / "results" / "int8").is_dir() else []
if full:
    md += ["", "All fold-9/10 windows (tools/int8_by_cpu.py --windows; reference: onnx_fp32 on the same family):", "",
           "| family | artifact | windows f9/f10 | fold-9 AUC | fold-10 AUC | AUC drop (f9) | flips f9 / f10 | "
           "max dp (f9) | gate |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
for f in full:
    r = json.loads(f.read_text())
    for a, m in r["artifacts"].items():
        md.append(f"| {f.parent.name} | {a} | {r['windows']['fold9']}/{r['windows']['fold10']} | "
                  f"{m['val_macro_auc']:.4f} | {m['test_macro_auc']:.4f} | {m['val_auc_drop']:+.4f} | "
                  f"{m['val_decision_flip_rate']:.2%} / {m['test_decision_flip_rate']:.2%} | "
                  f"{m['val_max_abs_prob_diff']:.3g} | {'pass' if m['passes_gate'] else 'FAIL'} |")
        if not m["passes_gate"]:
            failed.append(f"{f.parent.name} {a} (all windows)")
(work / "report.md").write_text("\n".join(md) + "\n")
json.dump(rows, open(work / "report.json", "w"), indent=1)
print("\n".join(md))
if failed:
    print(f"\nGATE BROKEN: {', '.join(failed)}", file=sys.stderr)
    sys.exit(1)
print("\nint8 gate holds on every family", file=sys.stderr)
EOF
if [ -n "$UPDATE_CARD" ] && [ -d "$WORK/results/int8" ]; then
    # a family that failed is recorded too: load_model then runs another artifact there
    "$PY" "$REPO/tools/int8_by_cpu.py" --bundle "$BUNDLE" --merge-into-card "$WORK"/results/int8/*/int8_*.json >&2
fi
exit $status
