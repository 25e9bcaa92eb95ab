"""CPSC2018 reader: both layouts, labels, resampling, the crop/pad policy, folds, errors."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.io import loadmat

from tgll_edge.signal import DEFAULT_SETTINGS, preprocess
from tgll_edge.training.data import CPSC_LABELS, load_dataset
from tgll_edge.training.data import cpsc2018

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "cpsc2018"
# A0043: WFDB, '#Dx: AF,RBBB', 11 s | A0005: WFDB, '#Dx: PVC', 4 s | A1981: original .mat, REFERENCE 8 (STD), 3 s
EXPECTED = {"A0005": {"PVC"}, "A0043": {"AF", "RBBB"}, "A1981": {"STD"}}


def label_sets(ds):
    return {rid: {lab for lab, v in zip(ds.labels, row) if v == 1} for rid, row in zip(ds.record_ids, ds.Y)}


def test_both_layouts_together():
    ds = load_dataset(FIX, "cpsc2018", cache_dir=False, progress=False)
    assert ds.labels == list(CPSC_LABELS) == ["Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"]
    assert label_sets(ds) == EXPECTED
    assert ds.X.shape == (3, 12, 1000) and ds.X.dtype == np.float32 and ds.fs == 100.0
    assert ds.folds.tolist() == [cpsc2018.fold_of(r) for r in ds.record_ids]
    assert all(1 <= f <= 10 for f in ds.folds)


def test_wfdb_layout_alone(tmp_path):
    shutil.copytree(FIX / "records", tmp_path / "records")
    ds = load_dataset(tmp_path, "cpsc2018", cache_dir=False, progress=False)
    assert label_sets(ds) == {k: v for k, v in EXPECTED.items() if k != "A1981"}


def test_original_layout_alone(tmp_path):
    shutil.copytree(FIX / "original_mat", tmp_path / "original_mat")
    shutil.copy(FIX / "REFERENCE.csv", tmp_path / "original_mat" / "REFERENCE.csv")  # next to the .mat files
    ds = load_dataset(tmp_path, "cpsc2018", cache_dir=False, progress=False)
    assert label_sets(ds) == {"A1981": {"STD"}}


def test_long_record_is_centre_cropped_after_preprocessing():
    ds = load_dataset(FIX, "cpsc2018", cache_dir=False, progress=False)
    signal, fields = wfdb.rdsamp(str(FIX / "records" / "A0043"))
    assert fields["fs"] == 500 and signal.shape == (5500, 12)
    full = preprocess(signal.T, 500, DEFAULT_SETTINGS)  # 11 s -> 1100 samples at 100 Hz
    assert full.shape == (12, 1100)
    np.testing.assert_allclose(ds.X[ds.record_ids.index("A0043")], full[:, 50:1050], atol=1e-6)


def test_short_record_is_zero_padded_at_the_end():
    ds = load_dataset(FIX, "cpsc2018", cache_dir=False, progress=False)
    signal, _ = wfdb.rdsamp(str(FIX / "records" / "A0005"))
    full = preprocess(signal.T, 500, DEFAULT_SETTINGS)  # 4 s -> 400 samples
    x = ds.X[ds.record_ids.index("A0005")]
    np.testing.assert_allclose(x[:, :400], full, atol=1e-6)
    assert np.all(x[:, 400:] == 0) and np.abs(x[:, :400]).max() > 0.1


def test_original_mat_is_read_in_millivolts():
    ds = load_dataset(FIX, "cpsc2018", cache_dir=False, progress=False)
    data = loadmat(str(FIX / "original_mat" / "A1981.mat"))["ECG"]["data"][0, 0]
    np.testing.assert_allclose(ds.X[ds.record_ids.index("A1981")][:, :300],
                               preprocess(data, 500, DEFAULT_SETTINGS), atol=1e-6)


def test_fold_assignment_is_deterministic_and_spread():
    ids = [f"A{i:04d}" for i in range(1, 6878)]
    folds = np.array([cpsc2018.fold_of(r) for r in ids])
    assert folds.min() == 1 and folds.max() == 10
    counts = np.bincount(folds)[1:]
    assert counts.min() > 600 and counts.max() < 780  # ~688 each
    assert cpsc2018.fold_of("A0001") == cpsc2018.fold_of("A0001")


def test_dx_codes_and_abbreviations():
    assert cpsc2018.dx_labels(["426783006", "59118001"]) == {"Normal", "RBBB"}
    assert cpsc2018.dx_labels([" I-AVB", "IAVB", "164931005"]) == {"I-AVB", "STE"}
    assert cpsc2018.dx_labels(["251146004"]) == set()  # a CPSC-Extra code: not one of the nine


def test_record_without_any_of_the_nine_classes_is_dropped(tmp_path):
    shutil.copytree(FIX / "records", tmp_path / "records")
    hea = tmp_path / "records" / "A0005.hea"
    hea.write_text(hea.read_text().replace("#Dx: PVC", "#Dx: 251146004"))
    ds = load_dataset(tmp_path, "cpsc2018", cache_dir=False, progress=False)
    assert ds.record_ids == ["A0043"]


def test_header_without_dx_names_the_file(tmp_path):
    shutil.copytree(FIX / "records", tmp_path / "records")
    hea = tmp_path / "records" / "A0005.hea"
    hea.write_text(hea.read_text().replace("#Dx: PVC\n", ""))
    with pytest.raises(ValueError, match=r"A0005.hea: no '#Dx:' line"):
        load_dataset(tmp_path, "cpsc2018", cache_dir=False, progress=False)


def test_missing_reference_names_it(tmp_path):
    shutil.copytree(FIX / "original_mat", tmp_path / "original_mat")
    (tmp_path / "records").mkdir()
    shutil.copy(FIX / "records" / "A0043.hea", tmp_path / "records")
    shutil.copy(FIX / "records" / "A0043.mat", tmp_path / "records")
    with pytest.raises(FileNotFoundError, match="REFERENCE.csv"):
        load_dataset(tmp_path, "cpsc2018", cache_dir=False, progress=False)


def test_record_missing_from_reference_names_it(tmp_path):
    shutil.copytree(FIX, tmp_path / "c")
    ref = tmp_path / "c" / "REFERENCE.csv"
    ref.write_text(ref.read_text().replace("A1981,8,,\n", ""))
    with pytest.raises(ValueError, match="A1981.mat"):
        load_dataset(tmp_path / "c", "cpsc2018", cache_dir=False, progress=False)


def test_malformed_files_are_named(tmp_path):
    shutil.copytree(FIX, tmp_path / "c")
    (tmp_path / "c" / "original_mat" / "A1981.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="A1981.mat"):
        load_dataset(tmp_path / "c", "cpsc2018", cache_dir=False, progress=False)
    shutil.copy(FIX / "original_mat" / "A1981.mat", tmp_path / "c" / "original_mat" / "A1981.mat")
    ref = tmp_path / "c" / "REFERENCE.csv"
    ref.write_text(ref.read_text().replace("A1981,8", "A1981,12"))
    with pytest.raises(ValueError, match="REFERENCE.csv, line 4"):
        load_dataset(tmp_path / "c", "cpsc2018", cache_dir=False, progress=False)


def test_task_must_fit_the_directory():
    with pytest.raises(ValueError, match="CPSC2018 directory"):
        load_dataset(FIX.parent / "ptbxl", "cpsc2018", cache_dir=False)
