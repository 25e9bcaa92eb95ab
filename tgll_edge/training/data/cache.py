"""On-disk cache of preprocessed datasets (``.npz``, read without pickle).

The key hashes everything the arrays depend on: the dataset directory, the
task, the preprocessing settings, the reader options, a format version, and
the size and modification time of every file read (label tables and
records), so editing any of them rebuilds the entry.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$TGLL_EDGE_CACHE``, else ``$XDG_CACHE_HOME/tgll_edge``, else ``~/.cache/tgll_edge``."""
    if os.environ.get("TGLL_EDGE_CACHE"):
        return Path(os.environ["TGLL_EDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tgll_edge"


def file_signature(paths) -> list:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def cache_key(**parts) -> str:
    blob = json.dumps({"format": FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_path(cache_dir, dataset: str, task: str, key: str) -> Path:
    return Path(cache_dir) / f"{dataset}-{task}-{key[:20]}.npz"


def save(path: Path, arrays: dict, meta: dict) -> None:
    """Write atomically (a crash never leaves a truncated entry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load(path: Path) -> tuple[dict, dict] | None:
    """(arrays, meta), or None when the entry is absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "meta"}
            meta = json.loads(str(z["meta"]))
        return arrays, meta
    except (OSError, ValueError, KeyError):
        return None
