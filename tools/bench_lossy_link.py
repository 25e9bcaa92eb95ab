"""Lossy-link benchmark: findings and fold macro-AUC under packet loss.

    nice python tools/bench_lossy_link.py                  # choose on fold 9, report fold 10
    python tools/bench_lossy_link.py --sample9 50 --sample10 50   # a quick look (numbers not final)

What it does, per PTB-XL record (superdiagnostic labels, tgll_edge.training.data.ptbxl):

1. The record is read as the emulator reads it (``tgll_edge.link.emulator.load_record``:
   8 channels I, II, V1..V6, mV); the 500 Hz file (records500/, filename_hr) where it
   exists, otherwise the 100 Hz one, resampled to the emulator's default 500 Hz with the
   same filter the emulator uses (``tgll_edge.signal.resample.resample``).
2. It is encoded as the emulator sends it: INFO, then DATA packets (by default of the
   emulator's default 10 samples per packet, and again of PROTOCOL.md's maximum for 8
   channels, 40: 20 and 80 ms at 500 Hz), int24 counts at ADS1298_UV_PER_COUNT, COBS +
   CRC (``tools/bench_stream.encode_stream``).
3. Seeded packet drops at each loss level p: one uniform draw per DATA packet per record
   (``random.Random`` seeded by --seed and the ecg_id, as the emulator draws one
   ``rng.random() < drop_prob`` per packet); the packet is dropped when draw < p, so the
   drops at 1% are a superset of those at 0.5% (common random numbers across levels).
   The first and last DATA packet of a record are never dropped: a record is exactly one
   10 s model window, and on a continuous stream the packets at a window's edges are
   interior to the stream (a gap there is bridged or not like any other); dropping them
   here would shorten the record below a window, a loss a real stream does not have.
4. The lossy bytes are decoded by ``tgll_edge.link.receiver.LinkReceiver`` (the exact gap
   accounting of a real link, via bench_stream.BytesSource) and the events go through
   ``tgll_edge.stream.Pipeline(events, model, hop_s=5, max_bridge_ms=b)`` with the default
   bundle. A record yields at most one window (10 s = one window); it "gets a finding"
   when that window forms and the quality gate does not skip it.

Bridge values that bridge the same gaps of a (record, loss level) give the identical run
(SignalPath compares each gap's missing_samples with max_bridge_s * fs and nothing else),
so each distinct set of bridged gaps is run once and shared; this is exact, not an
approximation.

Choice (fold 9 only): the smallest candidate bridge for which, at 2% loss and at every
packet size, the share of windows with a finding (among the records that get one
loss-free) is >= 95% and the paired AUC drop (a) is <= 0.005. Fold 10 (the test fold) is then reported with that
bridge and with 0 (today's runtime before bridging); nothing is chosen on it.

AUC, two ways, both with tgll_edge.training.metrics.macro_auc:
 (a) paired: over the records that got a finding at this loss level, the lossy run's
     macro-AUC minus the loss-free run's on the same records;
 (b) fold: the lossy run's macro-AUC over the records that got a finding, minus the
     loss-free run's over every record of the fold that got a finding loss-free (what a
     user of the lossy gateway gets against a perfect link: signal change plus
     selection of which records survive).

Writes tools/results/lossy_link.json and .md and prints the table.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

LOSSES = (0.005, 0.01, 0.02, 0.05)
BRIDGES_MS = (0.0, 20.0, 50.0, 100.0, 200.0)
TARGET_LOSS, TARGET_SHARE, TARGET_DROP = 0.02, 0.95, 0.005
EMU_FS = 500  # the emulator's default rate


def cpu_family() -> dict:
    flags, model = set(), ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    family = "avx512_vnni" if "avx512_vnni" in flags else "avx2" if "avx2" in flags else "other"
    return {"model_name": model or platform.processor(), "kernel_family": family,
            "avx512_vnni": "avx512_vnni" in flags, "avx512f": "avx512f" in flags, "avx2": "avx2" in flags}


def load_fold_records(root: Path, folds: set[int]) -> tuple[list[dict], list[str]]:
    """Fold rows with superdiagnostic labels (the project's reader) and the file each is streamed from."""
    from tgll_edge.training.data.ptbxl import read_database, read_statements, select_records

    rows, sets, labels = select_records(read_database(root), "superdiagnostic", read_statements(root))
    with open(root / "ptbxl_database.csv", newline="", encoding="utf-8") as f:
        hr = {str(int(float(r["ecg_id"]))): r.get("filename_hr", "") for r in csv.DictReader(f)}
    out = []
    for row, s in zip(rows, sets):
        if row["strat_fold"] not in folds:
            continue
        fn_hr = hr.get(row["ecg_id"], "")
        use_hr = bool(fn_hr) and (root / (fn_hr + ".hea")).is_file() and (root / (fn_hr + ".dat")).is_file()
        out.append({"ecg_id": row["ecg_id"], "fold": row["strat_fold"], "labels": s,
                    "file": str(root / (fn_hr if use_hr else row["filename_lr"])), "fs_file": 500 if use_hr else 100})
    return out, labels


def packets_of(mv8: np.ndarray, spp: int) -> tuple[bytes, list[bytes]]:
    """(INFO bytes, [DATA packet bytes]) as the emulator sends the record."""
    from bench_stream import encode_stream

    wire, marks = encode_stream(mv8, EMU_FS, spp)
    start = len(encode_stream(mv8[:, :0], EMU_FS, spp)[0])  # the INFO packet alone
    pkts = []
    for end, _ in marks:
        pkts.append(wire[start:end])
        start = end
    return wire[:len(wire) - sum(map(len, pkts))], pkts


def decode(info: bytes, pkts: list[bytes], keep: np.ndarray, chunk: int) -> list:
    from bench_stream import BytesSource

    wire = info + b"".join(p for p, k in zip(pkts, keep) if k)
    return list(BytesSource(wire, chunk))


def run_pipeline(events: list, model, bridge_ms: float) -> dict:
    from tgll_edge.stream import Pipeline

    findings = [r for r in Pipeline(events, model, hop_s=5.0, max_bridge_ms=bridge_ms)
                if hasattr(r, "probabilities")]
    got = [f for f in findings if not f.skipped]
    res = {"windows": len(findings), "finding": bool(got)}
    if findings:
        res["bridged_gaps"] = int(findings[0].bridged_gaps)
        res["bridged_ms"] = float(findings[0].bridged_ms)
    if got:
        res["p"] = [got[0].probabilities[lab] for lab in model.labels]
    return res


def bridge_key(gaps: list, bridge_ms: float) -> tuple:
    """Which gaps SignalPath bridges at this setting (its own test: 0 < missing <= max_bridge_s * fs)."""
    from tgll_edge.stream.windows import BRIDGEABLE

    s = bridge_ms / 1000.0
    return tuple(g.cause in BRIDGEABLE and 0 < g.missing_samples <= s * g.fs for g in gaps)


def evaluate_records(records, model, losses, bridges, spp, seed, chunk, progress) -> dict:
    """{ecg_id: {"lossfree": res, (p, b): res, "gaps": {p: n}}}."""
    from tgll_edge.link.blocks import Gap
    from tgll_edge.link.emulator import load_record
    from tgll_edge.signal.resample import resample

    out = {}
    for rec in progress(records):
        mv8, fs = load_record(rec["file"])
        if fs != EMU_FS:
            mv8 = resample(mv8, fs, EMU_FS)
        info, pkts = packets_of(mv8, spp)
        rng = random.Random(f"{seed}:{rec['ecg_id']}")
        draws = np.array([rng.random() for _ in pkts])
        draws[0] = draws[-1] = 1.0  # the window's edge packets: see the module docstring
        r = {"lossfree": run_pipeline(decode(info, pkts, np.ones(len(pkts), bool), chunk), model, 0.0),
             "gaps": {}}
        for p in losses:
            events = decode(info, pkts, draws >= p, chunk)
            gaps = [e for e in events if isinstance(e, Gap)]
            r["gaps"][p] = (len(gaps), int(sum(g.missing_samples for g in gaps)))
            memo = {}
            for b in bridges:
                key = bridge_key(gaps, b)
                if key not in memo:
                    memo[key] = run_pipeline(events, model, b)
                r[(p, b)] = memo[key]
        out[rec["ecg_id"]] = r
    return out


def summarize(records, labels, results, losses, bridges) -> dict:
    from tgll_edge.training.data.ptbxl import label_matrix
    from tgll_edge.training.metrics import macro_auc

    ids = [r["ecg_id"] for r in records]
    y = label_matrix([r["labels"] for r in records], labels)
    lf = [results[i]["lossfree"] for i in ids]
    lf_ok = np.array([x["finding"] for x in lf])
    lf_p = np.array([x.get("p", [np.nan] * len(labels)) for x in lf])
    auc_lf = macro_auc(y[lf_ok], lf_p[lf_ok])
    table = {"records": len(ids), "lossfree": {"finding": int(lf_ok.sum()), "windows": sum(x["windows"] for x in lf),
                                               "share": float(lf_ok.mean()), "macro_auc": auc_lf}, "rows": []}
    for b in bridges:
        for p in losses:
            rs = [results[i][(p, b)] for i in ids]
            ok = np.array([x["finding"] for x in rs]) & lf_ok
            formed = [x for x in rs if x["windows"]]
            row = {"bridge_ms": b, "loss": p, "finding": int(ok.sum()),
                   "share": float(ok.sum() / lf_ok.sum()),
                   "share_all": float(np.mean([x["finding"] for x in rs])),
                   "gaps_per_record": float(np.mean([results[i]["gaps"][p][0] for i in ids])),
                   "mean_bridged_gaps": float(np.mean([x["bridged_gaps"] for x in formed])) if formed else None,
                   "mean_bridged_ms": float(np.mean([x["bridged_ms"] for x in formed])) if formed else None}
            try:
                pl = np.array([x["p"] for x, k in zip(rs, ok) if k])
                a_lossy = macro_auc(y[ok], pl)
                row["auc"] = a_lossy
                row["auc_lossfree_same"] = macro_auc(y[ok], lf_p[ok])
                row["drop_a"] = row["auc_lossfree_same"] - a_lossy
                row["drop_b"] = auc_lf - a_lossy
                row["mean_abs_dp"] = float(np.mean(np.abs(pl - lf_p[ok])))
            except ValueError:  # too few records for any class to have both outcomes
                row.update(auc=None, auc_lossfree_same=None, drop_a=None, drop_b=None, mean_abs_dp=None)
            table["rows"].append(row)
    return table


def choose(tables: dict, bridges) -> tuple[float | None, list]:
    """The smallest bridge that meets the rule at every packet size measured (fold 9 tables only)."""
    why = []
    for b in sorted(bridges):
        w = {"bridge_ms": b, "meets": True}
        for spp, table in tables.items():
            row = next(r for r in table["rows"] if r["bridge_ms"] == b and r["loss"] == TARGET_LOSS)
            ok = row["share"] >= TARGET_SHARE and row["drop_a"] is not None and row["drop_a"] <= TARGET_DROP
            w[f"spp{spp}"] = {"share": row["share"], "drop_a": row["drop_a"], "meets": ok}
            w["meets"] &= ok
        why.append(w)
    chosen = next((w["bridge_ms"] for w in why if w["meets"]), None)
    return chosen, why


def fmt(v, nd=4):
    return "n/a" if v is None else f"{v:.{nd}f}"


def md_table(title, t, bridges) -> list[str]:
    lf = t["lossfree"]
    lines = [f"#### {title}", "",
             f"{t['records']} records; loss-free: {lf['finding']} get a finding "
             f"({100 * lf['share']:.1f}%), macro-AUC {lf['macro_auc']:.4f}.", "",
             "| bridge | loss | gaps/record | finding (of loss-free) | finding (all) | macro-AUC | "
             "drop (a) paired | drop (b) vs fold | mean abs dp | bridged gaps/window | bridged ms/window |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in t["rows"]:
        if r["bridge_ms"] not in bridges:
            continue
        lines.append(f"| {r['bridge_ms']:g} ms | {100 * r['loss']:g}% | {r['gaps_per_record']:.2f} | "
                     f"{100 * r['share']:.1f}% | {100 * r['share_all']:.1f}% | {fmt(r['auc'])} | "
                     f"{fmt(r['drop_a'])} | {fmt(r['drop_b'])} | {fmt(r['mean_abs_dp'])} | {fmt(r['mean_bridged_gaps'], 2)} | "
                     f"{fmt(r['mean_bridged_ms'], 1)} |")
    return lines + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb-xl"), help="PTB-XL root")
    p.add_argument("--bridges", default=",".join(f"{b:g}" for b in BRIDGES_MS),
                   help="candidate max_bridge_ms values chosen among on fold 9 (default %(default)s)")
    p.add_argument("--losses", default=",".join(f"{x:g}" for x in LOSSES), help="packet loss levels")
    p.add_argument("--spp", default=None,
                   help="samples per DATA packet, comma-separated; the choice must hold for each "
                        "(default: the emulator's default and PROTOCOL.md's maximum for 8 channels)")
    p.add_argument("--seed", type=int, default=0, help="drop RNG seed (default 0)")
    p.add_argument("--chunk", type=int, default=4096, help="bytes per receiver feed (default 4096)")
    p.add_argument("--sample9", type=int, default=None,
                   help="a seeded random sample of N fold-9 records for the choice (default: all)")
    p.add_argument("--sample10", type=int, default=None,
                   help="a seeded random sample of N fold-10 records for the report (default: all)")
    p.add_argument("--out", default=str(ROOT / "tools" / "results" / "lossy_link"),
                   help="output path without suffix (.json and .md are written)")
    a = p.parse_args(argv)

    import inspect

    from tqdm import tqdm

    import tgll_edge
    from tgll_edge.link.emulator import Emulator
    from tgll_edge.link.payloads import max_samples_per_packet
    from tgll_edge.stream.pipeline import DEFAULT_MAX_BRIDGE_MS

    spp_default = inspect.signature(Emulator.__init__).parameters["samples_per_packet"].default
    spps = tuple(int(x) for x in a.spp.split(",")) if a.spp else \
        tuple(dict.fromkeys((spp_default, max_samples_per_packet(8))))
    bridges = tuple(float(x) for x in a.bridges.split(","))
    losses = tuple(float(x) for x in a.losses.split(","))
    if TARGET_LOSS not in losses:
        p.error(f"--losses must include {TARGET_LOSS:g} (the target's loss level)")
    root = Path(a.data)
    model = tgll_edge.load_model(threads=1)
    cpu = cpu_family()
    t0 = time.perf_counter()

    def folds(f, n):
        recs, labels = load_fold_records(root, {f})
        if list(labels) != list(model.labels):
            raise SystemExit(f"PTB-XL superdiagnostic labels {labels} differ from the card's {model.labels}")
        total = len(recs)
        if n and n < total:  # a seeded sample, kept in ecg_id order
            pick = set(random.Random(f"sample:{a.seed}:{f}").sample(range(total), n))
            recs = [r for i, r in enumerate(recs) if i in pick]
        return recs, labels, total

    print(f"bench_lossy_link: {model.card['name']} ({model.artifact}), CPU {cpu['model_name']} "
          f"[{cpu['kernel_family']}], {EMU_FS} Hz, samples/packet {spps}", flush=True)
    rec9, labels, total9 = folds(9, a.sample9)
    t9 = {}
    for spp in spps:
        res9 = evaluate_records(rec9, model, losses, bridges, spp, a.seed, a.chunk,
                                lambda it: tqdm(it, desc=f"fold 9 (choose), {spp} samples/packet", unit="rec"))
        t9[spp] = summarize(rec9, labels, res9, losses, bridges)
    chosen, why = choose(t9, bridges)
    report_b = chosen if chosen is not None else max(bridges)
    rec10, _, total10 = folds(10, a.sample10)
    fold10_bridges = tuple(sorted({0.0, report_b}))
    t10 = {}
    for spp in spps:
        res10 = evaluate_records(rec10, model, losses, fold10_bridges, spp, a.seed, a.chunk,
                                 lambda it: tqdm(it, desc=f"fold 10 (report), {spp} samples/packet", unit="rec"))
        t10[spp] = summarize(rec10, labels, res10, losses, fold10_bridges)
    wall = time.perf_counter() - t0

    def counts(recs):
        return {"500 Hz": sum(r["fs_file"] == 500 for r in recs), "100 Hz": sum(r["fs_file"] == 100 for r in recs)}

    sampled = {"fold9": f"{len(rec9)} of {total9}", "fold10": f"{len(rec10)} of {total10}"}
    targets = {}
    for spp in spps:
        row10 = next(r for r in t10[spp]["rows"] if r["bridge_ms"] == report_b and r["loss"] == TARGET_LOSS)
        targets[spp] = {"share": row10["share"], "drop_a": row10["drop_a"], "drop_b": row10["drop_b"],
                        "met": bool(row10["share"] >= TARGET_SHARE and row10["drop_a"] is not None
                                    and row10["drop_a"] <= TARGET_DROP)}
    args = argv if argv is not None else sys.argv[1:]
    command = "nice python tools/bench_lossy_link.py" + ("" if not args else " " + " ".join(args))
    res = {"command": command, "model": model.card["name"], "artifact": model.artifact, "cpu": cpu,
           "tgll_edge": str(Path(tgll_edge.__file__).parent),
           "samples_per_packet": spps, "device_fs": EMU_FS, "seed": a.seed, "records_used": sampled,
           "losses": losses, "candidates_ms": bridges,
           "pipeline_default_max_bridge_ms_at_run": DEFAULT_MAX_BRIDGE_MS, "chosen_max_bridge_ms": chosen,
           "choice_rule": (f"fold 9 only: smallest candidate with, at {TARGET_LOSS:g} loss and every packet size, "
                           f"share >= {TARGET_SHARE} (of the records with a loss-free finding) and paired AUC drop "
                           f"(a) <= {TARGET_DROP}"),
           "choice_fold9": why,
           "fold9": {"files": counts(rec9), "by_samples_per_packet": {str(k): v for k, v in t9.items()}},
           "fold10": {"files": counts(rec10), "by_samples_per_packet": {str(k): v for k, v in t10.items()}},
           "targets_fold10": {"loss": TARGET_LOSS, "share_min": TARGET_SHARE, "auc_drop_max": TARGET_DROP,
                              "bridge_ms": report_b, "by_samples_per_packet": {str(k): v for k, v in targets.items()}},
           "wall_seconds": wall}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")

    f9, f10 = counts(rec9), counts(rec10)
    md = [f"### Lossy links: findings and macro-AUC under packet loss ({model.card['name']}, {model.artifact})", "",
          f"`{command}` ({wall / 60:.1f} min; CPU {cpu['model_name']}, kernel family {cpu['kernel_family']}). "
          f"Emulator encoding: 8 channels at {EMU_FS} Hz, DATA packets of "
          f"{' and '.join(f'{s} samples ({1000 * s / EMU_FS:g} ms)' for s in spps)}, seeded drops "
          f"(seed {a.seed}; never the record's first and last packet), decoded by LinkReceiver, "
          f"`Pipeline(..., max_bridge_ms=b)`. Records (superdiagnostic-labelled): fold 9 {sampled['fold9']}, "
          f"fold 10 {sampled['fold10']}. Fold 9: {f9['500 Hz']} from records500, {f9['100 Hz']} from records100 "
          f"(resampled to {EMU_FS} Hz as the emulator does); fold 10: {f10['500 Hz']} + {f10['100 Hz']}.", "",
          "Finding = the record's one 10 s window formed and passed the quality gate; share = among the "
          "records with a loss-free finding (all did). Drop (a) = loss-free minus lossy macro-AUC on the same "
          "records; drop (b) = loss-free over the fold minus lossy over the records with a finding; "
          "mean abs dp = mean |lossy - loss-free probability|.", ""]
    for spp in spps:
        md += md_table(f"Fold 9 (choice), {spp} samples/packet", t9[spp], bridges)
    md += [f"Choice (fold 9 only; at {100 * TARGET_LOSS:g}% loss, at every packet size: share >= "
           f"{100 * TARGET_SHARE:g}% and drop (a) <= {TARGET_DROP}; smallest bridge): " + "; ".join(
               f"{w['bridge_ms']:g} ms " + ("meets" if w["meets"] else "fails") + " (" + ", ".join(
                   f"{s}/pkt {100 * w[f'spp{s}']['share']:.1f}% {fmt(w[f'spp{s}']['drop_a'])}" for s in spps) + ")"
               for w in why) + f" -> **{fmt(chosen, 0) if chosen is not None else 'none'} ms**.", ""]
    for spp in spps:
        md += md_table(f"Fold 10 (test), {spp} samples/packet: {report_b:g} ms vs 0 ms (today's runtime "
                       f"without bridging)", t10[spp], fold10_bridges)
    md += [f"Target at {100 * TARGET_LOSS:g}% loss on fold 10 with {report_b:g} ms (share >= {100 * TARGET_SHARE:g}%, "
           f"drop (a) <= {TARGET_DROP}): " + "; ".join(
               f"{s}/pkt {100 * t['share']:.1f}%, {fmt(t['drop_a'])}: {'met' if t['met'] else 'NOT met'}"
               for s, t in targets.items()) + ".", ""]
    text = "\n".join(md)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
