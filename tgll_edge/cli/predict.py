"""tgll-predict: offline inference on WFDB records.

    tgll-predict [--model BUNDLE_DIR] [--artifact NAME] RECORD_OR_DIR...

A record is a WFDB record path (with or without ``.hea``); a directory means
every record under it. Any sampling rate is resampled to the card's; the 12
leads are taken by name, or III, aVR, aVL, aVF are derived from the 8 measured
leads (I, II, V1..V6). One JSON line per record on stdout:
``{"record", "probabilities": {label: p}, "labels": [labels at/above threshold]}``
for the first window of the record; with ``--all-windows`` every window
(``--hop`` seconds apart) is scored, listed under "windows", and the record's
probabilities are the maximum over its windows. A record that cannot be
scored is reported on stderr and the exit status is 1; the others still print.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import RecordError, TgllError
from ..link import wfdbio
from ..link.wfdbio import find_records
from ..runtime import Model, load_model
from ..signal.leads import to_12_leads
from .args import positive_float

def read_record(path: Path) -> tuple[np.ndarray, float]:
    """(12, n) in mV (LEADS_12 order) and the record's fs."""
    x, fs, labels = wfdbio.read_record(path)
    try:
        return to_12_leads(x, labels), fs
    except ValueError as exc:
        raise RecordError(f"{path}: {exc}") from exc


def record_windows(model: Model, x12: np.ndarray, fs: float, all_windows: bool = False,
                   hop_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Preprocess a whole record and cut windows; returns (windows, start times in s)."""
    y = model.preprocessor(fs).process(x12)
    n = model.n_times
    if y.shape[1] < n:
        raise RecordError(f"record too short: {x12.shape[1] / fs:.2f} s; the model needs {n / model.fs:g} s "
                          f"({n} samples at {model.fs:g} Hz)")
    if not all_windows:
        return y[None, :, :n], np.zeros(1)
    hop = int(round((hop_s if hop_s else n / model.fs) * model.fs))
    if hop < 1:
        raise RecordError(f"--hop must be at least one sample ({1 / model.fs:g} s)")
    starts = np.arange(0, y.shape[1] - n + 1, hop)
    return np.stack([y[:, s:s + n] for s in starts]), starts / model.fs


def predict_record(model: Model, path: Path, all_windows: bool = False, hop_s: float | None = None) -> dict:
    x12, fs = read_record(path)
    if not np.all(np.isfinite(x12)):
        raise RecordError(f"{path}: record contains NaN/inf samples (missing data)")
    windows, starts = record_windows(model, x12, fs, all_windows, hop_s)
    proba = model.predict_proba(windows)

    def result(p):
        return ({lab: round(float(v), 6) for lab, v in zip(model.labels, p)},
                [lab for lab, d in zip(model.labels, model.decide(p)) if d])

    probs, labels = result(proba.max(axis=0))
    out = {"record": str(path), "probabilities": probs, "labels": labels}
    if all_windows:
        out["windows"] = [dict(zip(("probabilities", "labels"), result(p)), start_s=round(float(s), 3))
                          for p, s in zip(proba, starts)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tgll-predict", description=__doc__.split("\n\n")[0],
                                 epilog="Prints one JSON line per record; errors go to stderr (exit status 1).")
    ap.add_argument("records", nargs="+", metavar="RECORD_OR_DIR")
    ap.add_argument("--model", help="bundle directory (default: the bundled model)")
    ap.add_argument("--artifact", help="onnx_int8, onnx_fp32, tflite_int8 or tflite_fp32 (default: the card's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--all-windows", action="store_true", help="score every window, not only the first")
    ap.add_argument("--hop", type=positive_float, metavar="S",
                    help="seconds between windows with --all-windows, > 0 (default: the window length)")
    args = ap.parse_args(argv)
    try:
        model = load_model(args.model, artifact=args.artifact, threads=args.threads)
    except (TgllError, ImportError) as exc:
        print(f"tgll-predict: error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for arg in args.records:
        try:
            paths = find_records([arg])
        except RecordError as exc:
            failed += 1
            print(f"tgll-predict: error: {exc}", file=sys.stderr)
            continue
        for path in paths:
            try:
                print(json.dumps(predict_record(model, path, args.all_windows, args.hop)), flush=True)
            except (TgllError, ValueError) as exc:  # ValueError: windows the model refuses
                failed += 1
                msg = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                print(f"tgll-predict: error: {msg}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
