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

With a lead-set-aware bundle a record may hold any subset of the leads
(III, aVR, aVL, aVF derived where I and II are there; a lead holding NaN is left
out), ``--leads I,II`` uses only those leads of each record (a lead a record lacks:
exit status 2), and each line also gives ``leads_used``, ``lead_set`` and
``lead_set_auc`` (the card's fold-9 macro-AUC of the largest standard set used).
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
from ..signal.electrodes import to_12_present
from ..signal.leads import LEADS_12, to_12_leads
from .args import lead_list, positive_float

def read_record(path: Path) -> tuple[np.ndarray, float]:
    """(12, n) in mV (LEADS_12 order) and the record's fs."""
    x, fs, labels = wfdbio.read_record(path)
    try:
        return to_12_leads(x, labels), fs
    except ValueError as exc:
        raise RecordError(f"{path}: {exc}") from exc


class LeadsMissing(RecordError):
    """--leads names a lead the record does not have (exit status 2)."""


def read_record_leads(path: Path, leads=None) -> tuple[np.ndarray, float, np.ndarray]:
    """For a lead-set-aware bundle: (12, n) mV with the leads the record lacks (and those
    left out by ``leads``, and any holding NaN) set to 0, the record's fs, and the (12,) mask of
    the leads to use. III/aVR/aVL/aVF are derived from I and II where the record lacks them."""
    x, fs, labels = wfdbio.read_record(path)
    try:
        x12, present = to_12_present(x, labels)
    except ValueError as exc:
        raise RecordError(f"{path}: {exc}") from exc
    if leads is not None:
        lacking = [lead for lead in leads if not present[LEADS_12.index(lead)]]
        if lacking:
            have = [lead for lead, p in zip(LEADS_12, present) if p]
            raise LeadsMissing(f"{path}: --leads names {', '.join(lacking)}, which the record does not have "
                               f"(it has {', '.join(have)})")
        present = present & np.isin(np.array(LEADS_12), list(leads))
    present = present & np.all(np.isfinite(x12), axis=1)  # a lead with missing samples is not used
    x12[~present] = 0
    if not present.any():
        raise RecordError(f"{path}: no usable lead (every lead is missing or holds NaN)")
    return x12, fs, present


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


def predict_record(model: Model, path: Path, all_windows: bool = False, hop_s: float | None = None,
                   leads=None) -> dict:
    mask = None
    if getattr(model, "lead_set_aware", False):
        x12, fs, mask = read_record_leads(path, leads)
        if mask.sum() < model.min_leads:
            raise RecordError(f"{path}: {int(mask.sum())} usable leads; the model needs {model.min_leads}")
    else:
        x12, fs = read_record(path)
    if not np.all(np.isfinite(x12)):
        raise RecordError(f"{path}: record contains NaN/inf samples (missing data)")
    windows, starts = record_windows(model, x12, fs, all_windows, hop_s)
    proba = model.predict_proba(windows, lead_mask=mask)

    def result(p):
        return ({lab: round(float(v), 6) for lab, v in zip(model.labels, p)},
                [lab for lab, d in zip(model.labels, model.decide(p)) if d])

    probs, labels = result(proba.max(axis=0))
    out = {"record": str(path), "probabilities": probs, "labels": labels}
    if mask is not None:  # which leads, and how far that lead set can be trusted (card, fold 9)
        used = [lead for lead, m in zip(LEADS_12, mask) if m]
        out["leads_used"] = used
        out["lead_set"], out["lead_set_auc"] = model.lead_set_auc(used)
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
    ap.add_argument("--leads", type=lead_list, metavar="LIST",
                    help="use only these leads of each record, e.g. I,II (a lead-set-aware bundle); "
                         "a lead a record lacks: error, exit status 2")
    args = ap.parse_args(argv)
    try:
        model = load_model(args.model, artifact=args.artifact, threads=args.threads)
    except (TgllError, ImportError) as exc:
        print(f"tgll-predict: error: {exc}", file=sys.stderr)
        return 2
    if args.leads is not None and not getattr(model, "lead_set_aware", False):
        print(f"tgll-predict: error: --leads needs a lead-set-aware bundle (its card lists 'lead_sets'); "
              f"{model.card['name']} is a 12-lead model", file=sys.stderr)
        return 2
    failed = usage = 0
    for arg in args.records:
        try:
            paths = find_records([arg])
        except RecordError as exc:
            failed += 1
            print(f"tgll-predict: error: {exc}", file=sys.stderr)
            continue
        for path in paths:
            try:
                print(json.dumps(predict_record(model, path, args.all_windows, args.hop, args.leads)), flush=True)
            except (TgllError, ValueError) as exc:  # ValueError: windows the model refuses
                failed += 1
                usage += isinstance(exc, LeadsMissing)
                msg = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
                print(f"tgll-predict: error: {msg}", file=sys.stderr)
    return 2 if usage else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
