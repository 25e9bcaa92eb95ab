"""``load_dataset``: a PTB-XL root or a CPSC2018 directory -> :class:`EcgDataset`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tgll_edge.signal import DEFAULT_SETTINGS, LEADS_12, preprocess, to_12_leads, validate_settings

from . import cache, cpsc2018, ptbxl
from .dataset import WINDOW_S, EcgDataset, fit_window

TASKS = ptbxl.PTBXL_TASKS + ("cpsc2018",)


def dataset_kind(path) -> str:
    """"ptbxl" (has ptbxl_database.csv) or "cpsc2018"; FileNotFoundError naming the path otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: dataset directory not found")
    if ptbxl.is_ptbxl_root(path):
        return "ptbxl"
    if cpsc2018.is_cpsc_dir(path):
        return "cpsc2018"
    raise FileNotFoundError(f"{path}: neither a PTB-XL root ({ptbxl.DATABASE} missing) "
                            f"nor a CPSC2018 directory (no *.hea or {cpsc2018.REFERENCE})")


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, unit="rec", file=sys.stderr, leave=False)


def _condition(x: np.ndarray, fs_in: float, lead_names, settings: dict, n_times: int, source) -> np.ndarray:
    try:
        x12 = to_12_leads(x, lead_names)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    return fit_window(preprocess(x12, fs_in, settings), n_times)


def _ptbxl_plan(root: Path, task: str, min_samples: int):
    statements = ptbxl.read_statements(root)
    rows = ptbxl.read_database(root)
    rows, label_sets, labels = ptbxl.select_records(rows, task, statements, min_samples)
    files = [root / ptbxl.DATABASE, root / ptbxl.STATEMENTS]
    for row in rows:
        hea = root / (row["filename_lr"] + ".hea")
        if not hea.is_file():
            raise FileNotFoundError(f"{hea}: WFDB header of ecg_id {row['ecg_id']} not found")
        files.append(hea)
    return rows, label_sets, labels, files


def _load_ptbxl(root: Path, rows, label_sets, labels, settings, n_times, progress):
    X = np.empty((len(rows), len(LEADS_12), n_times), dtype=np.float32)
    for i, row in enumerate(_progress(rows, progress, "PTB-XL")):
        x, fs, names = ptbxl.read_record(root, row["filename_lr"])
        X[i] = _condition(x, fs, names, settings, n_times, root / row["filename_lr"])
    Y = ptbxl.label_matrix(label_sets, labels)
    folds = np.array([row["strat_fold"] for row in rows], dtype=np.int64)
    return X, Y, folds, [row["ecg_id"] for row in rows]


def _cpsc_plan(root: Path):
    wfdb_recs, original = cpsc2018.find_records(root)
    references: dict = {}
    original_labels = {rid: cpsc2018.reference_for(mat, root, references).get(rid) for rid, mat in original.items()}
    missing = [str(original[rid]) for rid, lab in original_labels.items() if lab is None]
    if missing:
        raise ValueError(f"no label in {cpsc2018.REFERENCE} for {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    files = list(references) + list(wfdb_recs.values()) + list(original.values())
    return wfdb_recs, original, original_labels, files


def _load_cpsc(wfdb_recs, original, original_labels, settings, n_times, progress):
    records = sorted([(rid, "wfdb", p) for rid, p in wfdb_recs.items()]
                     + [(rid, "mat", p) for rid, p in original.items()])
    xs, label_sets, ids = [], [], []
    for rid, kind, path in _progress(records, progress, "CPSC2018"):
        if kind == "wfdb":
            x, fs, names, labels = cpsc2018.read_wfdb(path)
        else:
            x, fs, names, labels = (cpsc2018.read_original(path), cpsc2018.ORIGINAL_FS,
                                    cpsc2018.ORIGINAL_LEADS, original_labels[rid])
        if not labels:
            continue  # no CPSC2018 class among its diagnoses
        xs.append(_condition(x, fs, names, settings, n_times, path))
        label_sets.append(labels)
        ids.append(rid)
    if not ids:
        raise ValueError("no CPSC2018 record has one of the 9 classes")
    X = np.stack(xs).astype(np.float32)
    Y = ptbxl.label_matrix(label_sets, list(cpsc2018.CPSC_LABELS))
    folds = np.array([cpsc2018.fold_of(rid) for rid in ids], dtype=np.int64)
    return X, Y, folds, ids


def load_dataset(path, task: str, preprocessing: dict | None = None, cache_dir=None,
                 progress: bool = True, min_samples: int = 0) -> EcgDataset:
    """Read, preprocess and label a dataset.

    ``cache_dir``: None -> :func:`cache.default_cache_dir`; False or "" -> no cache.
    ``min_samples``: PTB-XL labels must occur in more than this many records (benchmark: 0).
    """
    root = Path(path).expanduser().resolve()
    kind = dataset_kind(root)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if (kind == "cpsc2018") != (task == "cpsc2018"):
        raise ValueError(f"{root} is a {kind} directory; task {task!r} needs "
                         + ("a CPSC2018 directory" if task == "cpsc2018" else "a PTB-XL root"))
    settings = validate_settings(preprocessing or DEFAULT_SETTINGS)
    fs = float(settings["fs"])
    n_times = int(round(WINDOW_S * fs))

    if kind == "ptbxl":
        plan = _ptbxl_plan(root, task, min_samples)
        files = plan[3]
    else:
        plan = _cpsc_plan(root)
        files = plan[3]
    key = cache.cache_key(kind=kind, root=str(root), task=task, settings=settings, min_samples=min_samples,
                          n_times=n_times, files=cache.file_signature(files))
    entry_path = None
    if cache_dir is None or cache_dir:
        entry_path = cache.cache_path(cache_dir or cache.default_cache_dir(), kind, task, key)
        hit = cache.load(entry_path)
        if hit is not None:
            arrays, meta = hit
            return EcgDataset(X=arrays["X"], Y=arrays["Y"], folds=arrays["folds"], labels=meta["labels"],
                              record_ids=meta["record_ids"], fs=fs, leads=LEADS_12, task=task, dataset=kind,
                              path=str(root), preprocessing=settings)

    if kind == "ptbxl":
        rows, label_sets, labels, _ = plan
        X, Y, folds, ids = _load_ptbxl(root, rows, label_sets, labels, settings, n_times, progress)
    else:
        wfdb_recs, original, original_labels, _ = plan
        labels = list(cpsc2018.CPSC_LABELS)
        X, Y, folds, ids = _load_cpsc(wfdb_recs, original, original_labels, settings, n_times, progress)
    if entry_path is not None:
        cache.save(entry_path, {"X": X, "Y": Y, "folds": folds}, {"labels": labels, "record_ids": ids})
    return EcgDataset(X=X, Y=Y, folds=folds, labels=labels, record_ids=ids, fs=fs, leads=LEADS_12,
                      task=task, dataset=kind, path=str(root), preprocessing=settings)
