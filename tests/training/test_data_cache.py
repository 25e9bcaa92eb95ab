"""The on-disk cache of preprocessed datasets."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tgll_edge.training.data import load_dataset
from tgll_edge.training.data import load as load_module

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    first = load_dataset(FIX / "cpsc2018", "cpsc2018", cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("cpsc2018-cpsc2018-*.npz"))) == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("records were read despite a valid cache entry")

    monkeypatch.setattr(load_module, "_load_cpsc", no_reading)
    second = load_dataset(FIX / "cpsc2018", "cpsc2018", cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.Y, second.Y)
    np.testing.assert_array_equal(first.folds, second.folds)
    assert (first.labels, first.record_ids) == (second.labels, second.record_ids)


def test_key_covers_task_settings_and_file_changes(tmp_path):
    root = tmp_path / "ptbxl"
    shutil.copytree(FIX / "ptbxl", root)
    cache = tmp_path / "cache"
    load_dataset(root, "rhythm", cache_dir=cache, progress=False)
    load_dataset(root, "form", cache_dir=cache, progress=False)
    settings = {"fs": 100, "steps": [{"name": "highpass", "cutoff_hz": 1.0, "order": 2}]}
    other = load_dataset(root, "rhythm", preprocessing=settings, cache_dir=cache, progress=False)
    assert len(list(cache.glob("*.npz"))) == 3
    base = load_dataset(root, "rhythm", cache_dir=cache, progress=False)
    assert not np.allclose(other.X, base.X)  # a different high-pass really was applied
    # editing a record invalidates the entry: the new data is read, not the stale arrays
    hea = root / "records100/00000/00001_lr.hea"
    text = hea.read_text()
    hea.write_text(text.replace("1000.0(0)/mV", "500.0(0)/mV", 1))
    os.utime(hea, ns=(hea.stat().st_atime_ns, hea.stat().st_mtime_ns + 10**9))
    changed = load_dataset(root, "rhythm", cache_dir=cache, progress=False)
    np.testing.assert_allclose(changed.X[0, 0], 2 * base.X[0, 0], atol=1e-5)
    assert len(list(cache.glob("*.npz"))) == 4


def test_cache_disabled_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TGLL_EDGE_CACHE", str(tmp_path / "default"))
    load_dataset(FIX / "cpsc2018", "cpsc2018", cache_dir=False, progress=False)
    assert not (tmp_path / "default").exists()
    load_dataset(FIX / "cpsc2018", "cpsc2018", progress=False)  # None: the default cache
    assert len(list((tmp_path / "default").glob("*.npz"))) == 1


def test_corrupt_entry_is_rebuilt(tmp_path):
    first = load_dataset(FIX / "cpsc2018", "cpsc2018", cache_dir=tmp_path, progress=False)
    (entry,) = tmp_path.glob("*.npz")
    entry.write_bytes(b"garbage")
    again = load_dataset(FIX / "cpsc2018", "cpsc2018", cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(first.X, again.X)
