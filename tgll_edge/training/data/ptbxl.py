"""PTB-XL in the official PhysioNet layout and the benchmark's six label tasks.

Layout: ``ROOT/ptbxl_database.csv`` (the official file with all its columns,
or any file with at least ``ecg_id, scp_codes, strat_fold, filename_lr``),
``ROOT/scp_statements.csv`` and the 100 Hz WFDB records named by
``filename_lr``.

Labels follow the PTB-XL benchmark (Strodthoff et al. 2021,
``compute_label_aggregations`` / ``select_data``): the keys of ``scp_codes``
(every key, whatever its likelihood) looked up in ``scp_statements.csv``:

- ``all``: every statement;
- ``diagnostic``: statements with ``diagnostic == 1``;
- ``subdiagnostic``: the ``diagnostic_subclass`` of those;
- ``superdiagnostic``: their ``diagnostic_class``;
- ``form``: statements with ``form == 1``;
- ``rhythm``: statements with ``rhythm == 1``.

A label is kept if it occurs in more than ``min_samples`` records of the whole
file (all folds, as the benchmark counts); the benchmark's experiments use
``min_samples = 0``, i.e. every label that occurs at all, and so does this
reader by default. Records left with no label for the task are dropped. The
label order is sorted (Python string order, the order of the benchmark's
``MultiLabelBinarizer``). A code that ``scp_statements.csv`` does not know is
an error (the benchmark would silently keep it for ``all`` only).
"""
from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np

from ...link.wfdbio import WFDB_ERRORS

PTBXL_TASKS = ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")
DATABASE = "ptbxl_database.csv"
STATEMENTS = "scp_statements.csv"
_REQUIRED = ("ecg_id", "scp_codes", "strat_fold", "filename_lr")


def is_ptbxl_root(path) -> bool:
    return (Path(path) / DATABASE).is_file()


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc


def _flag(value: str) -> bool:
    return value.strip() not in ("", "0", "0.0", "nan")


def read_statements(root) -> dict[str, dict]:
    """``scp_statements.csv`` as {code: {"diagnostic", "form", "rhythm" (bool), "class", "subclass" (str|None)}}."""
    path = Path(root) / STATEMENTS
    fields, rows = _read_csv(path)
    needed = ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")
    missing = [c for c in needed if c not in fields]
    if not fields or missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing) or 'all'}")
    code_col = fields[0]  # the unnamed index column holds the statement code
    out = {}
    for row in rows:
        code = (row[code_col] or "").strip()
        if not code:
            raise ValueError(f"{path}: a row has no statement code: {row}")
        out[code] = {
            "diagnostic": _flag(row["diagnostic"] or ""),
            "form": _flag(row["form"] or ""),
            "rhythm": _flag(row["rhythm"] or ""),
            "class": (row["diagnostic_class"] or "").strip() or None,
            "subclass": (row["diagnostic_subclass"] or "").strip() or None,
        }
    return out


def read_database(root) -> list[dict]:
    """Rows of ``ptbxl_database.csv``: {"ecg_id", "scp_codes" (dict), "strat_fold" (int), "filename_lr"}."""
    path = Path(root) / DATABASE
    fields, rows = _read_csv(path)
    missing = [c for c in _REQUIRED if c not in fields]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            codes = ast.literal_eval(row["scp_codes"])
            fold = int(float(row["strat_fold"]))
            ecg_id = str(int(float(row["ecg_id"])))
        except (ValueError, SyntaxError, TypeError) as exc:
            raise ValueError(f"{path}, line {line}: malformed ecg_id/scp_codes/strat_fold ({exc})") from exc
        if not isinstance(codes, dict) or not (1 <= fold <= 10) or not row["filename_lr"]:
            raise ValueError(f"{path}, line {line}: scp_codes must be a dict, strat_fold in 1..10, "
                             f"filename_lr set; got {row['scp_codes']!r}, {fold}, {row['filename_lr']!r}")
        out.append({"ecg_id": ecg_id, "scp_codes": codes, "strat_fold": fold,
                    "filename_lr": row["filename_lr"].strip()})
    return out


def task_labels(scp_codes: dict, task: str, statements: dict) -> set[str]:
    """The labels of one record for ``task`` (before the min_samples filter)."""
    unknown = [c for c in scp_codes if c not in statements]
    if unknown:
        raise ValueError(f"SCP code(s) {unknown} not in {STATEMENTS}")
    info = [(code, statements[code]) for code in scp_codes]
    if task == "all":
        return {code for code, _ in info}
    if task == "diagnostic":
        return {code for code, s in info if s["diagnostic"]}
    if task == "subdiagnostic":
        return {s["subclass"] for _, s in info if s["diagnostic"] and s["subclass"]}
    if task == "superdiagnostic":
        return {s["class"] for _, s in info if s["diagnostic"] and s["class"]}
    if task == "form":
        return {code for code, s in info if s["form"]}
    if task == "rhythm":
        return {code for code, s in info if s["rhythm"]}
    raise ValueError(f"unknown PTB-XL task {task!r}; choose one of {', '.join(PTBXL_TASKS)}")


def select_records(rows: list[dict], task: str, statements: dict, min_samples: int = 0):
    """(kept rows, their label sets, sorted label list) as the benchmark's ``select_data``."""
    sets = []
    for row in rows:
        try:
            sets.append(task_labels(row["scp_codes"], task, statements))
        except ValueError as exc:
            raise ValueError(f"ecg_id {row['ecg_id']}: {exc}") from exc
    counts: dict[str, int] = {}
    for s in sets:
        for lab in s:
            counts[lab] = counts.get(lab, 0) + 1
    keep = {lab for lab, n in counts.items() if n > min_samples}
    kept_rows, kept_sets = [], []
    for row, s in zip(rows, sets):
        s = s & keep
        if s:
            kept_rows.append(row)
            kept_sets.append(s)
    return kept_rows, kept_sets, sorted(keep)


def read_record(root, filename: str) -> tuple[np.ndarray, float, list[str]]:
    """One WFDB record: ((leads, n) float64 mV, fs, lead names). Errors name the file."""
    import wfdb

    base = Path(root) / filename
    header = base.with_name(base.name + ".hea")
    if not header.is_file():
        raise FileNotFoundError(f"{header}: WFDB header not found")
    try:
        signal, fields = wfdb.rdsamp(str(base))
    except WFDB_ERRORS as exc:
        raise ValueError(f"{base}: cannot read WFDB record ({type(exc).__name__}: {exc})") from exc
    signal = np.asarray(signal, dtype=np.float64).T
    if not np.all(np.isfinite(signal)):
        raise ValueError(f"{base}: record contains NaN or inf samples")
    return signal, float(fields["fs"]), list(fields["sig_name"])


def label_matrix(label_sets: list[set[str]], labels: list[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.zeros((len(label_sets), len(labels)), dtype=np.float32)
    for r, s in enumerate(label_sets):
        for lab in s:
            y[r, index[lab]] = 1.0
    return y
