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

from ..bundle import BundleError
from ..runtime import Model, load_model
from ..signal.leads import to_12_leads

_UNITS_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}


class RecordError(ValueError):
    pass


def find_records(paths) -> list[Path]:
    """Record paths (without suffix) from record paths and directories, in order."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(h.with_suffix("") for h in p.rglob("*.hea"))
            if not found:
                raise RecordError(f"{p}: no WFDB records (.hea files) in this directory")
            out += found
        else:
            out.append(p.with_suffix("") if p.suffix in (".hea", ".dat", ".mat") else p)
    return out


def read_record(path: Path) -> tuple[np.ndarray, float]:
    """(12, n) in mV (LEADS_12 order) and the record's fs."""
    import wfdb

    if not path.with_suffix(".hea").is_file():
        raise RecordError(f"{path}: no such WFDB record ({path.with_suffix('.hea')} not found)")
    try:
        rec = wfdb.rdrecord(str(path))
    except Exception as exc:  # wfdb raises many types for damaged files
        raise RecordError(f"{path}: cannot read record ({type(exc).__name__}: {exc})") from exc
    if rec.p_signal is None:
        raise RecordError(f"{path}: record has no physical signal")
    x = rec.p_signal.T.astype(np.float64)
    units = rec.units or ["mV"] * x.shape[0]
    for i, u in enumerate(units):
        factor = _UNITS_TO_MV.get(str(u).strip().lower())
        if factor is None:
            raise RecordError(f"{path}: channel {rec.sig_name[i]} has units {u!r}; expected mV or uV")
        x[i] *= factor
    try:
        return to_12_leads(x, rec.sig_name), float(rec.fs)
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
    ap.add_argument("--hop", type=float, help="seconds between windows with --all-windows (default: window length)")
    args = ap.parse_args(argv)
    try:
        model = load_model(args.model, artifact=args.artifact, threads=args.threads)
    except (BundleError, ImportError, ValueError) as exc:
        print(f"tgll-predict: error: {exc}", file=sys.stderr)
        return 2
    failed = 0
    try:
        paths = find_records(args.records)
    except RecordError as exc:
        print(f"tgll-predict: error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        try:
            print(json.dumps(predict_record(model, path, args.all_windows, args.hop)), flush=True)
        except (RecordError, ValueError) as exc:
            failed += 1
            msg = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            print(f"tgll-predict: error: {msg}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
