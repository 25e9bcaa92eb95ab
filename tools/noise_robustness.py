"""Noise robustness of a model bundle on PTB-XL.

    python tools/noise_robustness.py [--model BUNDLE] [--fold 10] [--snr 24 12 6 0] [--name NAME]

Every record of the fold (those with a label for the bundle's task) is brought
to a device rate of 500 Hz (the 100 Hz PTB-XL file, resampled up: band-limited,
adds nothing), distorted with each noise type of ``tgll_edge.signal.noise``
(neurokit2's distortion functions: baseline wander, EMG-like broadband noise,
50 Hz powerline, motion-like artefacts) at each SNR relative to each lead's own
power (achieved SNR measured back and reported), and then goes the gateway's
way: the bundle's own conditioning from 500 Hz, the quality gate
(``tgll_edge.signal.quality.assess``) on the raw window, the rhythm and SQI step
(``tgll_edge.signal.rhythm.analyze``) and the model (``tgll_edge.load_model``).

Reported per noise type and SNR: macro-AUC over the fold (every window, and
only the windows the gate keeps), the share of windows the gate keeps, the
mean SQI, the heart-rate deviation from the clean record's; and the macro-AUC
and mean per-window log loss by SQI class (does the SQI predict the model's
errors). Fold 10 is the test fold: this tool only reports on it; choices
(SQI method, which model ships) are made with ``--fold 9``.

Writes tools/results/noise_<name>_fold<F>.{json,md} and prints the markdown;
``--compare A.json B.json [OUT.md]`` puts several results side by side
(default OUT: tools/results/noise_compare_fold<F>.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tgll_edge import load_model  # noqa: E402
from tgll_edge.signal import LEADS_12, to_12_leads  # noqa: E402
from tgll_edge.signal import noise as nz  # noqa: E402
from tgll_edge.signal import rhythm  # noqa: E402
from tgll_edge.signal.quality import assess  # noqa: E402
from tgll_edge.training.data import ptbxl  # noqa: E402  (torch-free: csv + wfdb)
from tgll_edge.training.metrics import macro_auc, per_class_auc  # noqa: E402  (numpy/scipy only)

DEVICE_FS = 500
SNRS = (24, 12, 6, 0)
SQI_CLASSES = (("good (>= 0.9)", 0.9, 1.01), ("fair (0.7-0.9)", 0.7, 0.9), ("poor (< 0.7)", -0.01, 0.7))


def fold_records(data: Path, task: str, fold: int):
    statements = ptbxl.read_statements(data)
    rows, sets, labels = ptbxl.select_records(ptbxl.read_database(data), task, statements)
    keep = [i for i, r in enumerate(rows) if int(r["strat_fold"]) == fold]
    return [rows[i] for i in keep], [sets[i] for i in keep], labels


def conditions(types, snrs):
    return [("clean", None)] + [(k, s) for k in types for s in snrs]


def run(models, data: Path, fold: int, types, snrs, seed: int, limit: int | None, sqi_method: str):
    """Distort each record once per condition and score it with every model in ``models``."""
    model = models[0]
    rows, sets, labels = fold_records(data, model.card["task"], fold)
    for m in models:
        if labels != m.labels:
            raise SystemExit(f"labels in {data} ({labels}) differ from the bundle's ({m.labels})")
    if limit:
        rows, sets = rows[:limit], sets[:limit]
    Y = ptbxl.label_matrix(sets, labels)
    conds = conditions(types, snrs)
    nrec, ncond = len(rows), len(conds)
    P = np.zeros((len(models), ncond, nrec, len(labels)), np.float32)
    P_direct = np.zeros((len(models), nrec, len(labels)), np.float32)
    kept = np.zeros((ncond, nrec), bool)
    snr_meas = np.full((ncond, nrec), np.nan)
    sqi = np.full((ncond, nrec), np.nan)
    hr = np.full((ncond, nrec), np.nan)
    t_rhythm = []
    for r, row in enumerate(tqdm(rows, desc=f"fold {fold}", unit="rec", file=sys.stderr)):
        x, fs, names = ptbxl.read_record(data, row["filename_lr"])
        x12 = to_12_leads(x, names)
        for mi, m in enumerate(models):
            P_direct[mi, r] = m.predict_proba(m.preprocessor(fs).process(x12)[None, :, :m.n_times])[0]
        up = int(round(DEVICE_FS / fs))
        x500 = resample_poly(x12, up, 1, axis=1) if up != 1 else x12
        wins = np.zeros((len(models), ncond, len(LEADS_12), model.n_times), np.float32)
        for c, (kind, snr) in enumerate(conds):
            if kind == "clean":
                xd = x500
            else:
                rng = np.random.default_rng([seed, int(row["ecg_id"]), c])
                xd, _ = nz.distort(x500, DEVICE_FS, kind, snr, rng)
                snr_meas[c, r] = nz.measured_snr_db(x500, xd)[0]
            kept[c, r] = not assess(xd, DEVICE_FS, LEADS_12).skipped
            t0 = time.perf_counter()
            rh = rhythm.analyze(xd, DEVICE_FS, LEADS_12, sqi_method=sqi_method)
            t_rhythm.append(time.perf_counter() - t0)
            sqi[c, r] = np.nan if rh.sqi is None else rh.sqi
            hr[c, r] = np.nan if rh.heart_rate_bpm is None else rh.heart_rate_bpm
            for mi, m in enumerate(models):
                wins[mi, c] = m.preprocessor(DEVICE_FS).process(xd)[:, :m.n_times]
        for mi, m in enumerate(models):
            P[mi, :, r] = m.predict_proba(wins[mi])
    return dict(rows=rows, labels=labels, Y=Y, conds=conds, P=P, P_direct=P_direct, kept=kept,
                snr_meas=snr_meas, sqi=sqi, hr=hr, t_rhythm=np.array(t_rhythm))


def _auc(Y, P):
    try:
        return macro_auc(Y, P)
    except ValueError:
        return None


def logloss(Y, P):
    p = np.clip(P.astype(np.float64), 1e-6, 1 - 1e-6)
    return -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean(axis=-1)


def summarize(res, args) -> dict:
    Y, P, conds = res["Y"], res["P"], res["conds"]
    clean_hr = res["hr"][0]
    table = []
    for c, (kind, snr) in enumerate(conds):
        k = res["kept"][c]
        d_hr = np.abs(res["hr"][c] - clean_hr)
        table.append({
            "noise": kind, "snr_db": snr,
            "snr_measured_db": None if snr is None else float(np.mean(res["snr_meas"][c])),
            "snr_measured_max_abs_dev_db": None if snr is None else float(np.max(np.abs(res["snr_meas"][c] - snr))),
            "macro_auc": _auc(Y, P[c]),
            "per_class_auc": dict(zip(res["labels"], [None if not np.isfinite(v) else float(v)
                                                      for v in per_class_auc(Y, P[c])])),
            "gate_keep_rate": float(k.mean()),
            "macro_auc_kept": _auc(Y[k], P[c][k]) if k.any() else None,
            "sqi_mean": float(np.nanmean(res["sqi"][c])) if np.isfinite(res["sqi"][c]).any() else None,
            "sqi_missing": float(np.mean(~np.isfinite(res["sqi"][c]))),
            "hr_within_5bpm_of_clean": float(np.mean(np.nan_to_num(d_hr, nan=1e9) <= 5)),
            "mean_logloss": float(logloss(Y, P[c]).mean()),
        })
    # SQI classes over every noisy and clean window together
    sq, ll = res["sqi"].ravel(), logloss(Y[None], P).ravel()
    Yall, Pall = np.broadcast_to(Y, P.shape).reshape(-1, Y.shape[1]), P.reshape(-1, P.shape[-1])
    by_class = []
    for name, lo, hi in SQI_CLASSES + (("no SQI (too few beats)", None, None),):
        m = ~np.isfinite(sq) if lo is None else (sq >= lo) & (sq < hi)
        by_class.append({"class": name, "windows": int(m.sum()), "share": float(m.mean()),
                         "macro_auc": _auc(Yall[m], Pall[m]) if m.sum() > 10 else None,
                         "mean_logloss": float(ll[m].mean()) if m.any() else None})
    finite = np.isfinite(sq)
    from scipy.stats import spearmanr
    rho = float(spearmanr(sq[finite], ll[finite]).statistic) if finite.sum() > 2 else None
    card = res["model"].card
    return {
        "command": args.command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "bundle": str(res["model"].bundle_dir), "bundle_name": card["name"], "artifact": res["model"].artifact,
        "train_command": card.get("provenance", {}).get("train_command"),
        "fold": args.fold, "records": len(res["rows"]), "device_fs": DEVICE_FS, "seed": args.seed,
        "sqi_method": args.sqi, "rhythm_method": rhythm.DEFAULT_METHOD,
        "clean_macro_auc_direct_100hz": _auc(Y, res["P_direct"]),
        "table": table, "sqi_classes": by_class, "spearman_sqi_vs_logloss": rho,
        "rhythm_sqi_ms_per_window_median": float(np.median(res["t_rhythm"]) * 1000),
    }


def markdown(s) -> str:
    f = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    L = [f"# Noise robustness: {s['bundle_name']} ({s['artifact']}), PTB-XL fold {s['fold']}", "",
         f"Command: `{s['command']}` ({s['date']}); {s['records']} records; "
         f"train command of the bundle: `{s['train_command']}`.", "",
         f"Records at {s['device_fs']} Hz (100 Hz files resampled up), distorted with neurokit2's "
         "signal_distort at the SNR relative to each lead's own power, then the bundle's conditioning, "
         f"the quality gate, rhythm+SQI ({s['rhythm_method']} detector, {s['sqi_method']} SQI) and the model. "
         f"Clean macro-AUC through the 100 Hz path (as the card's): {f(s['clean_macro_auc_direct_100hz'], 4)}.",
         "", "| noise | SNR dB (measured) | macro-AUC | gate keeps | AUC of kept | mean SQI | no SQI | HR within 5 bpm of clean | log loss |",
         "|---|---|---|---|---|---|---|---|---|"]
    for r in s["table"]:
        snr = "-" if r["snr_db"] is None else f"{r['snr_db']} ({r['snr_measured_db']:.2f})"
        L.append(f"| {r['noise']} | {snr} | {f(r['macro_auc'], 4)} | {r['gate_keep_rate']:.3f} | "
                 f"{f(r['macro_auc_kept'], 4)} | {f(r['sqi_mean'])} | {r['sqi_missing']:.3f} | "
                 f"{r['hr_within_5bpm_of_clean']:.3f} | {r['mean_logloss']:.3f} |")
    L += ["", "Macro-AUC by noise type (rows) and SNR (columns):", "",
          "| noise | clean | " + " | ".join(f"{x} dB" for x in sorted({r['snr_db'] for r in s['table'] if r['snr_db'] is not None}, reverse=True)) + " |",
          "|---|---|" + "---|" * len({r['snr_db'] for r in s['table'] if r['snr_db'] is not None})]
    clean = s["table"][0]["macro_auc"]
    for kind in dict.fromkeys(r["noise"] for r in s["table"][1:]):
        rows = sorted((r for r in s["table"] if r["noise"] == kind), key=lambda r: -r["snr_db"])
        L.append(f"| {kind} | {f(clean, 4)} | " + " | ".join(f(r["macro_auc"], 4) for r in rows) + " |")
    L += ["", f"By SQI class (all {len(s['table'])} conditions pooled; Spearman rho of SQI vs per-window "
          f"log loss: {f(s['spearman_sqi_vs_logloss'])}):", "",
          "| SQI class | windows | share | macro-AUC | mean log loss |", "|---|---|---|---|---|"]
    for c in s["sqi_classes"]:
        L.append(f"| {c['class']} | {c['windows']} | {c['share']:.3f} | {f(c['macro_auc'], 4)} | {f(c['mean_logloss'])} |")
    L += ["", f"Rhythm + SQI step: median {s['rhythm_sqi_ms_per_window_median']:.2f} ms per 10-s window at "
          f"{s['device_fs']} Hz (this tool's loop, under load from other jobs)."]
    return "\n".join(L) + "\n"


def compare(paths, out: Path) -> str:
    """Macro-AUC per noise type x SNR of several result files side by side (same fold)."""
    res = [json.loads(Path(p).read_text()) for p in paths]
    fold = res[0]["fold"]
    if any(r["fold"] != fold for r in res):
        raise SystemExit("--compare: results of different folds")
    snrs = sorted({r["snr_db"] for r in res[0]["table"] if r["snr_db"] is not None}, reverse=True)
    kinds = list(dict.fromkeys(r["noise"] for r in res[0]["table"][1:]))
    f = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    L = [f"# Noise robustness, fold {fold}: " + " vs ".join(f"`{r['bundle']}`" for r in res), "",
         "Macro-AUC (" + ", ".join(f"{i + 1}: {r['bundle_name']} from `{r['train_command']}`" for i, r in enumerate(res))
         + "), clean through the same 500 Hz path:", "",
         "| noise | " + " | ".join(["clean"] + [f"{s} dB" for s in snrs]) + " |",
         "|---|" + "---|" * (len(snrs) + 1)]
    for kind in kinds:
        for i, r in enumerate(res):
            by = {row["snr_db"]: row["macro_auc"] for row in r["table"] if row["noise"] == kind}
            L.append(f"| {kind} ({i + 1}) | {f(r['table'][0]['macro_auc'])} | " + " | ".join(f(by.get(s)) for s in snrs) + " |")
    L += ["", "Mean over the four noise types:", "", "| model | clean | " + " | ".join(f"{s} dB" for s in snrs) + " |",
          "|---|" + "---|" * (len(snrs) + 1)]
    for i, r in enumerate(res):
        means = [np.mean([row["macro_auc"] for row in r["table"] if row["snr_db"] == s]) for s in snrs]
        L.append(f"| ({i + 1}) {r['bundle']} | {f(r['table'][0]['macro_auc'])} | " + " | ".join(f(m) for m in means) + " |")
    md = "\n".join(L) + "\n"
    out.write_text(md)
    return md


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--compare"]:
        out = Path(argv[-1]) if argv[-1].endswith(".md") else None
        paths = argv[1:-1] if out else argv[1:]
        print(compare(paths, out or Path(paths[0]).with_name(f"noise_compare_{Path(paths[0]).stem.split('_')[-1]}.md")))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", metavar="[NAME=]BUNDLE",
                    help="bundle directory (default: the default bundle); repeat to score the same distorted "
                         "records with several bundles (results per NAME, default the directory name)")
    ap.add_argument("--artifact", help="artifact (default: the card's)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb-xl"))
    ap.add_argument("--fold", type=int, default=10)
    ap.add_argument("--types", nargs="+", default=list(nz.NOISE_TYPES), choices=nz.NOISE_TYPES)
    ap.add_argument("--snr", nargs="+", type=float, default=list(SNRS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="first N records only (smoke runs)")
    ap.add_argument("--sqi", default=rhythm.DEFAULT_SQI, choices=rhythm.SQI_METHODS)
    ap.add_argument("--name", default="default", help="with one --model: results go to "
                    "tools/results/noise_<name>_fold<F>.*")
    ap.add_argument("--out-dir", default=str(ROOT / "tools" / "results"))
    args = ap.parse_args(argv)
    args.command = "python tools/noise_robustness.py " + " ".join(argv)
    snrs = [int(s) if float(s).is_integer() else s for s in args.snr]
    specs = args.model or [None]
    names, models = [], []
    for spec in specs:
        name, _, path = (spec or "").rpartition("=") if spec and "=" in spec else ("", "", spec)
        names.append(name or (args.name if len(specs) == 1 else Path(path).name))
        models.append(load_model(path or None, artifact=args.artifact))
    res = run(models, Path(args.data), args.fold, args.types, snrs, args.seed, args.limit, args.sqi)
    for mi, (name, model) in enumerate(zip(names, models)):
        one = dict(res, model=model, P=res["P"][mi], P_direct=res["P_direct"][mi])
        s = summarize(one, args)
        out = Path(args.out_dir) / f"noise_{name}_fold{args.fold}"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(s, indent=1))
        md = markdown(s)
        out.with_suffix(".md").write_text(md)
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
