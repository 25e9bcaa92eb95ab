"""CPSC2018 (China Physiological Signal Challenge 2018, ICBEB2018): 9 classes.

Two layouts are read, alone or mixed, anywhere under the given directory:

- **WFDB** (PhysioNet/CinC Challenge 2020): ``A0001.hea`` + ``A0001.mat``,
  labels on the header's ``#Dx:`` line, as abbreviations (``Normal``, ``AF``,
  ``I-AVB``, ``LBBB``, ``RBBB``, ``PAC``, ``PVC``, ``STD``, ``STE``, as in
  ``cpsc2018/records``) or as the Challenge's SNOMED CT codes (``426783006``,
  ``164889003`` ...). Other codes (CPSC-Extra diagnoses) are ignored.
- **Original challenge files**: ``A1980.mat`` with a MATLAB struct ``ECG``
  (``sex``, ``age``, ``data`` 12 x N in mV, 500 Hz, leads I, II, III, aVR,
  aVL, aVF, V1..V6) and the labels in ``REFERENCE.csv`` (``Recording,
  First_label, Second_label, Third_label``, classes numbered 1..9), found in
  the directory itself or next to the ``.mat`` files.

A record present in both layouts is read once, from its WFDB files.

Signals: the 500 Hz record goes whole through the shared
:class:`tgll_edge.signal.Preprocessor` (resampling to 100 Hz, filters), then
is cut to one 10-s window: a longer record gives its **centre** 10 s (away
from the filters' start-up), a shorter one is **zero-padded at the end**
(zero is the baseline after high-pass filtering). Records are 6-60 s long.

Labels in the official class order (1..9): Normal, AF, I-AVB, LBBB, RBBB,
PAC, PVC, STD, STE. Records with none of these are dropped.

Folds: CPSC2018 has none, so each record gets a deterministic fold 1..10 from
its id: ``int(sha256(id)[:8 bytes]) % 10 + 1``; fold 9 validates, fold 10 tests.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from ...link.wfdbio import WFDB_ERRORS

CPSC_LABELS = ("Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
ORIGINAL_FS = 500.0
ORIGINAL_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
REFERENCE = "REFERENCE.csv"

# '#Dx' tokens -> class: CPSC abbreviations, PhysioNet 2020 abbreviations and
# SNOMED CT codes (the 2021 scoring treats 427172004/17338001 as PVC and 63593006 as PAC).
DX_MAP = {
    "normal": "Normal", "snr": "Normal", "nsr": "Normal", "426783006": "Normal",
    "af": "AF", "164889003": "AF",
    "i-avb": "I-AVB", "iavb": "I-AVB", "270492004": "I-AVB",
    "lbbb": "LBBB", "164909002": "LBBB",
    "rbbb": "RBBB", "59118001": "RBBB",
    "pac": "PAC", "284470004": "PAC", "63593006": "PAC",
    "pvc": "PVC", "164884008": "PVC", "427172004": "PVC", "17338001": "PVC",
    "std": "STD", "429622005": "STD",
    "ste": "STE", "164931005": "STE",
}


def fold_of(record_id: str) -> int:
    digest = hashlib.sha256(record_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 10 + 1


def is_cpsc_dir(path) -> bool:
    path = Path(path)
    return path.is_dir() and (any(path.rglob("*.hea")) or any(path.rglob(REFERENCE)))


def dx_labels(tokens) -> set[str]:
    return {DX_MAP[t.strip().lower()] for t in tokens if t.strip().lower() in DX_MAP}


def find_records(root) -> tuple[dict[str, Path], dict[str, Path]]:
    """({id: header path} of WFDB records, {id: .mat path} of original-layout records)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: CPSC2018 directory not found")
    wfdb_recs = {p.stem: p for p in sorted(root.rglob("*.hea"))}
    original = {p.stem: p for p in sorted(root.rglob("*.mat"))
                if not p.with_suffix(".hea").exists() and p.stem not in wfdb_recs}
    if not wfdb_recs and not original:
        raise FileNotFoundError(f"{root}: no CPSC2018 records (*.hea or original *.mat) found")
    return wfdb_recs, original


def read_reference(path: Path) -> dict[str, set[str]]:
    """REFERENCE.csv -> {record id: set of class names}."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or header[0].strip() != "Recording":
            raise ValueError(f"{path}: expected a header 'Recording,First_label,...'; got {header}")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                numbers = [int(float(v)) for v in row[1:] if v.strip()]
                labels = {CPSC_LABELS[n - 1] for n in numbers if 1 <= n <= 9}
            except ValueError as exc:
                raise ValueError(f"{path}, line {line}: malformed label in {row}") from exc
            if not numbers or any(not 1 <= n <= 9 for n in numbers):  # repeats occur (A0953: 6, 6)
                raise ValueError(f"{path}, line {line}: labels must be class numbers 1..9; got {row}")
            out[row[0].strip()] = labels
    return out


def reference_for(mat: Path, root: Path, cache: dict) -> dict[str, set[str]]:
    for candidate in (mat.parent / REFERENCE, root / REFERENCE):
        if candidate.is_file():
            if candidate not in cache:
                cache[candidate] = read_reference(candidate)
            return cache[candidate]
    raise FileNotFoundError(f"{root / REFERENCE}: needed for the labels of {mat}, not found "
                            f"(looked in {mat.parent} and {root})")


def read_wfdb(header: Path) -> tuple[np.ndarray, float, list[str], set[str]]:
    """((leads, n) mV, fs, lead names, labels) of a WFDB record with a '#Dx' line."""
    import wfdb

    base = str(header.with_suffix(""))
    try:
        signal, fields = wfdb.rdsamp(base)
    except WFDB_ERRORS as exc:
        raise ValueError(f"{header}: cannot read WFDB record ({type(exc).__name__}: {exc})") from exc
    dx = [c.split(":", 1)[1] for c in fields.get("comments", []) if c.strip().lower().startswith("dx:")]
    if not dx:
        raise ValueError(f"{header}: no '#Dx:' line in the header")
    signal = np.asarray(signal, dtype=np.float64).T
    if not np.all(np.isfinite(signal)):
        raise ValueError(f"{header}: record contains NaN or inf samples")
    return signal, float(fields["fs"]), list(fields["sig_name"]), dx_labels(dx[0].split(","))


def read_original(mat: Path) -> np.ndarray:
    """(12, n) mV from an original challenge .mat file (struct ECG, field data)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        content = loadmat(str(mat))
        data = np.asarray(content["ECG"]["data"][0, 0], dtype=np.float64)
    except (*WFDB_ERRORS, MatReadError, NotImplementedError) as exc:  # not a MAT file, no such field
        raise ValueError(f"{mat}: not an original CPSC2018 file with struct ECG.data "
                         f"({type(exc).__name__}: {exc})") from exc
    if data.ndim != 2 or data.shape[0] != 12 or not np.all(np.isfinite(data)):
        raise ValueError(f"{mat}: ECG.data must be 12 x N finite values; got shape {data.shape}")
    return data
