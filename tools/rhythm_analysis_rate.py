"""The rhythm step's analysis rate: 500 Hz device windows analysed at 500 Hz vs at 250 Hz.

    python tools/rhythm_analysis_rate.py [--data ../shared/data/ptb-xl] [--seeds 3] [--limit 30]

``tgll_edge.signal.rhythm.analyze`` brings a 500 Hz lead to ``ANALYSIS_FS`` (250 Hz, block
means) before the cleaner, the detector and the SQI, to halve the step's cost on a gateway.
This measures what that changes, on the same windows, against the step at the device rate:

1. simulated 12-lead ECG (``neurokit2.ecg_simulate(method="multileads")``) at 45, 75, 120 and
   170 bpm, clean and with EMG at 12 dB: heart-rate error against the simulated rate;
2. fold-9 PTB-XL records (validation; never fold 10), clean and at 6 dB of each noise type
   (``tgll_edge.signal.noise``): |heart rate at 250 Hz - at 500 Hz|, |SQI difference|, and
   whether both found >= 3 beats;
3. CPU time of ``analyze`` per window at each rate.

Writes tools/results/rhythm_analysis_rate.{json,md} and prints the markdown.
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

from tgll_edge.signal import LEADS_12  # noqa: E402
from tgll_edge.signal import noise as nz  # noqa: E402
from tgll_edge.signal import rhythm  # noqa: E402

FS = 500
RATES = (45, 75, 120, 170)


def analyze_at(x: np.ndarray, analysis_fs: float):
    """(Rhythm, CPU ms) of ``rhythm.analyze`` with its analysis rate set to ``analysis_fs``."""
    saved = rhythm.ANALYSIS_FS
    rhythm.ANALYSIS_FS = analysis_fs
    try:
        t = time.process_time()
        r = rhythm.analyze(x, FS, LEADS_12)
        return r, (time.process_time() - t) * 1000
    finally:
        rhythm.ANALYSIS_FS = saved


def simulated(seeds: int, rng) -> dict:
    import neurokit2 as nk

    out = {"500": {"clean": [], "emg12": []}, "250": {"clean": [], "emg12": []}}
    for rate in tqdm(RATES, desc="simulated", file=sys.stderr):
        for s in range(seeds):
            df = nk.ecg_simulate(duration=12, sampling_rate=FS, heart_rate=rate, heart_rate_std=0,
                                 method="multileads", random_state=100 * rate + s)
            x = np.asarray(df, dtype=np.float64).T[:, FS:FS + 10 * FS]
            noisy = nz.distort(x, FS, "emg", 12, rng)[0]
            for fs_a, key in ((1e9, "500"), (rhythm.ANALYSIS_FS, "250")):
                for cond, sig in (("clean", x), ("emg12", noisy)):
                    r, _ = analyze_at(sig, fs_a)
                    out[key][cond].append(np.nan if r.heart_rate_bpm is None else r.heart_rate_bpm - rate)
    summary = {}
    for key, conds in out.items():
        for cond, errs in conds.items():
            e = np.asarray(errs, dtype=np.float64)
            ok = np.isfinite(e)
            summary[f"{key}_{cond}"] = {"median_abs_err": float(np.median(np.abs(e[ok]))) if ok.any() else None,
                                        "max_abs_err": float(np.max(np.abs(e[ok]))) if ok.any() else None,
                                        "within_2bpm": float(np.mean(ok & (np.abs(np.nan_to_num(e)) <= 2))),
                                        "no_rate": int((~ok).sum()), "n": int(e.size)}
    return summary


def fold9(data: Path, limit: int, rng) -> dict:
    import pandas as pd
    import wfdb

    db = pd.read_csv(data / "ptbxl_database.csv")
    db = db[(db.strat_fold == 9) & db.filename_hr.notna() & (db.filename_hr.astype(str).str.len() > 0)].head(limit)
    conds = ["clean"] + [f"{k}6" for k in nz.NOISE_TYPES]
    rows = {c: {"hr_diff": [], "sqi_diff": [], "both_rate": 0, "one_rate": 0, "n": 0} for c in conds}
    ms = {"500": [], "250": []}
    for f in tqdm(list(db.filename_hr), desc="fold 9", file=sys.stderr):
        x = np.asarray(wfdb.rdrecord(str(data / f)).p_signal, dtype=np.float64).T[:12]
        variants = {"clean": x, **{f"{k}6": nz.distort(x, FS, k, 6, rng)[0] for k in nz.NOISE_TYPES}}
        for c, v in variants.items():
            r5, t5 = analyze_at(v, 1e9)
            r2, t2 = analyze_at(v, rhythm.ANALYSIS_FS)
            ms["500"].append(t5)
            ms["250"].append(t2)
            row = rows[c]
            row["n"] += 1
            has = (r5.heart_rate_bpm is not None, r2.heart_rate_bpm is not None)
            row["both_rate"] += all(has)
            row["one_rate"] += has[0] != has[1]
            if all(has):
                row["hr_diff"].append(abs(r2.heart_rate_bpm - r5.heart_rate_bpm))
            if r5.sqi is not None and r2.sqi is not None:
                row["sqi_diff"].append(abs(r2.sqi - r5.sqi))
    out = {}
    for c, row in rows.items():
        d, q = np.asarray(row["hr_diff"]), np.asarray(row["sqi_diff"])
        out[c] = {"windows": row["n"], "both_have_a_rate": row["both_rate"], "only_one_has_a_rate": row["one_rate"],
                  "hr_abs_diff_median": float(np.median(d)) if d.size else None,
                  "hr_abs_diff_max": float(d.max()) if d.size else None,
                  "hr_within_1bpm": float(np.mean(d <= 1)) if d.size else None,
                  "sqi_abs_diff_median": float(np.median(q)) if q.size else None,
                  "sqi_abs_diff_p95": float(np.quantile(q, 0.95)) if q.size else None}
    out["_ms_per_window"] = {k: float(np.median(v)) for k, v in ms.items()}
    return out


def markdown(res: dict) -> str:
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    L = ["# Rhythm step: analysis at 250 Hz vs at the 500 Hz device rate", "",
         f"Command: `{res['command']}`; {res['date']}; CPU: {res['cpu']}.", "",
         f"## Simulated (ecg_simulate multileads, 45/75/120/170 bpm, {res['seeds']} seeds each, 10-s windows)", "",
         "| analysed at | condition | median / max abs error (bpm) | within 2 bpm | no rate |", "|---|---|---|---|---|"]
    for key, s in res["simulated"].items():
        rate, cond = key.split("_")
        L.append(f"| {rate} Hz | {cond} | {f(s['median_abs_err'])} / {f(s['max_abs_err'])} | "
                 f"{s['within_2bpm']:.2f} | {s['no_rate']} of {s['n']} |")
    fo = res["fold9"]
    L += ["", f"## Fold 9 (validation), {fo['clean']['windows']} records, lead choice as the stream makes it", "",
          "| condition | both have a rate | only one has | median / max abs HR difference (bpm) | within 1 bpm | "
          "median / p95 abs SQI difference |", "|---|---|---|---|---|---|"]
    for c, r in fo.items():
        if c.startswith("_"):
            continue
        g = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        L.append(f"| {c} | {r['both_have_a_rate']} of {r['windows']} | {r['only_one_has_a_rate']} | "
                 f"{f(r['hr_abs_diff_median'])} / {f(r['hr_abs_diff_max'])} | {f(r['hr_within_1bpm'])} | "
                 f"{g(r['sqi_abs_diff_median'])} / {g(r['sqi_abs_diff_p95'])} |")
    t = fo["_ms_per_window"]
    L += ["", f"CPU time of `rhythm.analyze` per 10-s window (median, fold-9 windows): 500 Hz {t['500']:.2f} ms, "
          f"250 Hz {t['250']:.2f} ms.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    import platform

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ptb-xl"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=30, help="fold-9 records (default 30)")
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "rhythm_analysis_rate"))
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    res = {"command": "python tools/rhythm_analysis_rate.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seeds": a.seeds,
           "cpu": platform.processor() or platform.machine(),
           "simulated": simulated(a.seeds, rng), "fold9": fold9(Path(a.data), a.limit, rng)}
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    md = markdown(res)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
