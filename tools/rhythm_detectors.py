"""Choose the R-peak detector and the SQI by measurement.

    python tools/rhythm_detectors.py [--data ../shared/data/ptb-xl] [--seeds 3]

1. Simulated 12-lead ECG (``neurokit2.ecg_simulate(method="multileads")``) at 45,
   75, 120 and 170 bpm, 10-s windows at 500 Hz, clean and with EMG noise at 12 dB:
   heart-rate error of each detector against the simulated rate, on the raw
   500 Hz lead II and on the same lead at 100 Hz (the model's rate).
2. Fold-9 PTB-XL records at 500 Hz (validation; never fold 10): no beat
   annotations here, so the reference is the median over all detectors on the
   clean record; each detector's error on the clean record and at 6 dB of each
   noise type (tgll_edge.signal.noise).
3. SQIs (neurokit2.ecg_quality) on the same fold-9 records: how well each
   separates clean from 6 dB and 0 dB (AUC), and its cost.

Writes tools/results/rhythm_detectors.{json,md} and prints the markdown.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tgll_edge.signal import noise as nz  # noqa: E402
from tgll_edge.signal import rhythm  # noqa: E402
from tgll_edge.training.metrics import per_class_auc  # noqa: E402

METHODS = ("neurokit", "hamilton2002", "kalidas2017", "elgendi2010", "nabian2018", "manikandan2012",
           "khamis2016", "pantompkins1985", "engzeemod2012", "rodrigues2021")
RATES = (45, 75, 120, 170)
SQIS = ("templatematch", "templatematch_nk", "averageQRS", "zhao2018")
FS = 500


def hr(sig, fs, method):
    t = time.process_time()
    _, peaks = rhythm.detect_peaks(sig, fs, method)
    ms = (time.process_time() - t) * 1000
    return (rhythm.rr_stats(peaks, fs)["heart_rate_bpm"] if len(peaks) >= rhythm.MIN_BEATS else np.nan), ms


def err_summary(errs):
    e = np.asarray(errs, dtype=np.float64)
    fail = ~np.isfinite(e)
    ok = np.abs(e[~fail])
    return {"median_abs_err": float(np.median(ok)) if ok.size else None,
            "max_abs_err": float(ok.max()) if ok.size else None,
            "within_2bpm": float(np.mean(np.where(fail, False, np.abs(np.nan_to_num(e, nan=1e9)) <= 2))),
            "n": int(e.size)}


def simulated(seeds, rng):
    import neurokit2 as nk

    recs = []
    for rate in RATES:
        for s in range(seeds):
            df = nk.ecg_simulate(duration=12, sampling_rate=FS, heart_rate=rate, heart_rate_std=0,
                                 method="multileads", random_state=100 * rate + s)
            x = np.asarray(df, dtype=np.float64).T[:, FS:FS + 10 * FS]
            recs.append((rate, x))
    from scipy.signal import resample_poly

    rows = {}
    for m in tqdm(METHODS, desc="simulated", file=sys.stderr):
        res = {"raw500_clean": [], "raw500_emg12": [], "fs100_clean": [], "ms": []}
        for rate, x in recs:
            ii = x[1]
            h, ms = hr(ii, FS, m)
            res["raw500_clean"].append(h - rate)
            res["ms"].append(ms)
            noisy, _ = nz.distort(x[1:2], FS, "emg", 12, rng)
            res["raw500_emg12"].append(hr(noisy[0], FS, m)[0] - rate)
            res["fs100_clean"].append(hr(resample_poly(ii, 1, 5), 100, m)[0] - rate)
        rows[m] = {k: err_summary(v) for k, v in res.items() if k != "ms"}
        rows[m]["ms_per_window"] = float(np.median(res["ms"]))
        rows[m]["per_rate_raw500_clean"] = {str(r): [round(float(e), 2) for (rr, _), e in
                                                     zip(recs, res["raw500_clean"]) if rr == r] for r in RATES}
    return rows


def fold9(data: Path, rng, limit: int | None, methods):
    import pandas as pd
    import wfdb

    db = pd.read_csv(data / "ptbxl_database.csv")
    db = db[(db.strat_fold == 9) & db.filename_hr.notna() & (db.filename_hr.astype(str).str.len() > 0)]
    if limit:
        db = db.head(limit)
    recs = []
    for f in db.filename_hr:
        r = wfdb.rdrecord(str(data / f))
        recs.append(np.asarray(r.p_signal, dtype=np.float64).T[:12])  # I, II, ... in PTB-XL order
    conds = ["clean"] + [f"{k}6" for k in nz.NOISE_TYPES]
    hrs = {m: {c: [] for c in conds} for m in methods}
    sqis = {q: {c: [] for c in ["clean"] + [f"{k}{s}" for k in nz.NOISE_TYPES for s in (6, 0)]}
            for q in SQIS}
    sqi_ms = {q: [] for q in SQIS}
    for x in tqdm(recs, desc="fold 9", file=sys.stderr):
        variants = {"clean": x[1]}
        for k in nz.NOISE_TYPES:
            for s in (6, 0):
                variants[f"{k}{s}"] = nz.distort(x[1:2], FS, k, s, rng)[0][0]
        for m in methods:
            for c in conds:
                hrs[m][c].append(hr(variants[c], FS, m)[0])
        for c, sig in variants.items():
            cleaned, peaks = rhythm.detect_peaks(sig, FS, rhythm.DEFAULT_METHOD)
            for q in SQIS:
                t = time.process_time()
                v = rhythm.sqi_value(cleaned, peaks, FS, q)
                sqi_ms[q].append((time.process_time() - t) * 1000)
                sqis[q][c].append(np.nan if v is None else v)
    ref = np.nanmedian(np.array([hrs[m]["clean"] for m in methods]), axis=0)
    det = {}
    for m in methods:
        det[m] = {c: err_summary(np.array(hrs[m][c]) - ref) for c in conds}
        det[m]["all_6db"] = err_summary(np.concatenate([np.array(hrs[m][c]) - ref for c in conds[1:]]))
    sq = {}
    a = np.concatenate([np.array(v) for v in sqis["templatematch"].values()])
    b = np.concatenate([np.array(v) for v in sqis["templatematch_nk"].values()])
    both = np.isfinite(a) & np.isfinite(b)
    agree = {"windows": int(both.sum()), "median_abs_diff": float(np.median(np.abs(a - b)[both])),
             "p95_abs_diff": float(np.quantile(np.abs(a - b)[both], 0.95)),
             "corr": float(np.corrcoef(a[both], b[both])[0, 1]),
             "only_one_defined": int(np.sum(np.isfinite(a) != np.isfinite(b)))}
    for q in SQIS:
        clean = np.nan_to_num(np.array(sqis[q]["clean"]), nan=0.0)
        sq[q] = {"ms_per_window": float(np.median(sqi_ms[q])), "clean_mean": float(np.mean(clean))}
        for s in (6, 0):
            noisy = np.nan_to_num(np.concatenate([sqis[q][f"{k}{s}"] for k in nz.NOISE_TYPES]), nan=0.0)
            y = np.r_[np.ones(len(clean)), np.zeros(len(noisy))]
            sq[q][f"auc_clean_vs_{s}db"] = float(per_class_auc(y, np.r_[clean, noisy])[0])
            sq[q][f"mean_{s}db"] = float(noisy.mean())
    return {"n_records": len(recs), "detectors": det, "sqi": sq, "templatematch_agreement": agree}


def markdown(res) -> str:
    L = ["# R-peak detector and SQI choice", "",
         f"Command: `{res['command']}`; {res['date']}.", "",
         "## Simulated (ecg_simulate multileads, lead II, 45/75/120/170 bpm, "
         f"{res['seeds']} seeds each, 10-s windows)", "",
         "| method | 500 Hz clean: median / max abs err (bpm) | within 2 bpm | 500 Hz EMG 12 dB: median / max | within 2 bpm | 100 Hz clean: median / max | within 2 bpm | ms/window |",
         "|---|---|---|---|---|---|---|---|"]
    f = lambda v: "fail" if v is None else f"{v:.2f}"  # noqa: E731
    for m, r in res["simulated"].items():
        a, b, c = r["raw500_clean"], r["raw500_emg12"], r["fs100_clean"]
        L.append(f"| {m} | {f(a['median_abs_err'])} / {f(a['max_abs_err'])} | {a['within_2bpm']:.2f} | "
                 f"{f(b['median_abs_err'])} / {f(b['max_abs_err'])} | {b['within_2bpm']:.2f} | "
                 f"{f(c['median_abs_err'])} / {f(c['max_abs_err'])} | {c['within_2bpm']:.2f} | {r['ms_per_window']:.1f} |")
    fo = res["fold9"]
    L += ["", f"## Fold 9 (validation), {fo['n_records']} records at 500 Hz, lead II",
          "", "Detectors with >= 0.75 of the clean simulated windows within 2 bpm: "
          + ", ".join(res["fold9_methods"]) + ".",
          "", "Reference: median heart rate over all detectors on the clean record. "
          "Share of windows within 2 bpm of it:", "",
          "| method | clean | " + " | ".join(f"{k} 6 dB" for k in nz.NOISE_TYPES) + " | all 6 dB |",
          "|---|---|" + "---|" * (len(nz.NOISE_TYPES) + 1)]
    for m, r in fo["detectors"].items():
        L.append(f"| {m} | {r['clean']['within_2bpm']:.3f} | " +
                 " | ".join(f"{r[f'{k}6']['within_2bpm']:.3f}" for k in nz.NOISE_TYPES) +
                 f" | {r['all_6db']['within_2bpm']:.3f} |")
    L += ["", "## SQI (neurokit2.ecg_quality on lead II, peaks from the chosen detector), fold 9", "",
          "| SQI | mean clean | mean 6 dB | mean 0 dB | AUC clean vs 6 dB | AUC clean vs 0 dB | ms/window |",
          "|---|---|---|---|---|---|---|"]
    for q, r in fo["sqi"].items():
        L.append(f"| {q} | {r['clean_mean']:.3f} | {r['mean_6db']:.3f} | {r['mean_0db']:.3f} | "
                 f"{r['auc_clean_vs_6db']:.3f} | {r['auc_clean_vs_0db']:.3f} | {r['ms_per_window']:.1f} |")
    g = fo["templatematch_agreement"]
    L += ["", f"templatematch (vectorised, tgll_edge.signal.rhythm) vs neurokit2's own: {g['windows']} windows, "
          f"median |diff| {g['median_abs_diff']:.4f}, p95 {g['p95_abs_diff']:.4f}, r = {g['corr']:.4f}, "
          f"defined for one only: {g['only_one_defined']}. CPU ms per window (process time)."]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb-xl"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--limit", type=int, help="at most this many fold-9 records")
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "rhythm_detectors"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    res = {"command": "python tools/rhythm_detectors.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seeds": args.seeds,
           "simulated": simulated(args.seeds, rng)}
    # fold 9 runs the detectors that got at least 3/4 of the clean simulated windows within 2 bpm
    res["fold9_methods"] = [m for m, r in res["simulated"].items() if r["raw500_clean"]["within_2bpm"] >= 0.75]
    res["fold9"] = fold9(Path(args.data), rng, args.limit, res["fold9_methods"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    md = markdown(res)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
