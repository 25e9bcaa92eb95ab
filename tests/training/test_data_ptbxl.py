"""PTB-XL reader: the six benchmark tasks on hand-checked fixture records.

Expected labels below were derived by hand from tests/fixtures/ptbxl/scp_statements.csv:
statement -> (diagnostic, form, rhythm, diagnostic_class, diagnostic_subclass)
NORM (1,-,-,NORM,NORM)  LVOLT form  SR rhythm  AFLT rhythm  AFIB rhythm  ABQRS form
IMI (1,-,-,MI,IMI)  LNGQT (1,1,-,STTC,STTC)  NST_ (1,1,-,STTC,NST_)  DIG (1,1,-,STTC,STTC)
IRBBB (1,-,-,CD,IRBBB)  RAO/RAE (1,-,-,HYP,RAO/RAE)  RVH (1,-,-,HYP,RVH)  NDT (1,1,-,STTC,STTC)
ASMI (1,-,-,MI,AMI)  LAFB (1,-,-,CD,LAFB/LPFB)  LVH (1,-,-,HYP,LVH)  ISC_ (1,-,-,STTC,ISC_)
PAC, LOWT, STD_, PVC, QWAVE, INVT form  ALMI (1,-,-,MI,AMI)  ANEUR (1,-,-,STTC,STTC)
"""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from tgll_edge.signal import DEFAULT_SETTINGS, preprocess
from tgll_edge.training.data import PTBXL_TASKS, load_dataset
from tgll_edge.training.data import ptbxl

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ptbxl"

# record -> its scp_codes keys (for reference): 1 NORM LVOLT SR | 17 AFLT ABQRS AFIB |
# 39 IMI LNGQT NST_ DIG ABQRS SR | 45 IRBBB RAO/RAE RVH SR | 128 NDT | 162 ASMI LAFB LVH ISC_ SR |
# 257 ASMI IMI PAC LOWT STD_ SR | 266 ALMI IMI LAFB PVC ANEUR QWAVE INVT SR
EXPECTED = {
    "all": {
        "1": {"NORM", "LVOLT", "SR"},
        "17": {"AFLT", "ABQRS", "AFIB"},
        "39": {"IMI", "LNGQT", "NST_", "DIG", "ABQRS", "SR"},
        "45": {"IRBBB", "RAO/RAE", "RVH", "SR"},
        "128": {"NDT"},
        "162": {"ASMI", "LAFB", "LVH", "ISC_", "SR"},
        "257": {"ASMI", "IMI", "PAC", "LOWT", "STD_", "SR"},
        "266": {"ALMI", "IMI", "LAFB", "PVC", "ANEUR", "QWAVE", "INVT", "SR"},
    },
    "diagnostic": {  # 17 has no diagnostic statement: dropped
        "1": {"NORM"},
        "39": {"IMI", "LNGQT", "NST_", "DIG"},
        "45": {"IRBBB", "RAO/RAE", "RVH"},
        "128": {"NDT"},
        "162": {"ASMI", "LAFB", "LVH", "ISC_"},
        "257": {"ASMI", "IMI"},
        "266": {"ALMI", "IMI", "LAFB", "ANEUR"},
    },
    "subdiagnostic": {
        "1": {"NORM"},
        "39": {"IMI", "STTC", "NST_"},
        "45": {"IRBBB", "RAO/RAE", "RVH"},
        "128": {"STTC"},
        "162": {"AMI", "LAFB/LPFB", "LVH", "ISC_"},
        "257": {"AMI", "IMI"},
        "266": {"AMI", "IMI", "LAFB/LPFB", "STTC"},
    },
    "superdiagnostic": {
        "1": {"NORM"},
        "39": {"MI", "STTC"},
        "45": {"CD", "HYP"},
        "128": {"STTC"},
        "162": {"MI", "CD", "HYP", "STTC"},
        "257": {"MI"},
        "266": {"MI", "CD", "STTC"},
    },
    "form": {  # 45 and 162 have no form statement: dropped
        "1": {"LVOLT"},
        "17": {"ABQRS"},
        "39": {"LNGQT", "NST_", "DIG", "ABQRS"},
        "128": {"NDT"},
        "257": {"PAC", "LOWT", "STD_"},
        "266": {"PVC", "QWAVE", "INVT"},
    },
    "rhythm": {  # 128 has no rhythm statement: dropped
        "1": {"SR"},
        "17": {"AFLT", "AFIB"},
        "39": {"SR"},
        "45": {"SR"},
        "162": {"SR"},
        "257": {"SR"},
        "266": {"SR"},
    },
}
FOLDS = {"1": 3, "17": 9, "39": 9, "45": 1, "128": 10, "162": 10, "257": 3, "266": 9}


def label_sets(ds):
    return {rid: {lab for lab, v in zip(ds.labels, row) if v == 1} for rid, row in zip(ds.record_ids, ds.Y)}


@pytest.mark.parametrize("task", PTBXL_TASKS)
def test_task_labels_match_hand_checked_records(task):
    ds = load_dataset(FIX, task, cache_dir=False, progress=False)
    expected = EXPECTED[task]
    assert label_sets(ds) == expected
    assert ds.labels == sorted(set().union(*expected.values()))  # sorted label order
    assert ds.record_ids == sorted(expected, key=int)            # file order, unlabelled dropped
    assert ds.folds.tolist() == [FOLDS[r] for r in ds.record_ids]
    assert ds.X.shape == (len(expected), 12, 1000) and ds.X.dtype == np.float32
    assert ds.Y.dtype == np.float32 and set(np.unique(ds.Y)) <= {0.0, 1.0}
    assert (ds.fs, ds.dataset, ds.task) == (100.0, "ptbxl", task)


def test_signals_go_through_the_shared_preprocessor():
    ds = load_dataset(FIX, "superdiagnostic", cache_dir=False, progress=False)
    signal, fields = wfdb.rdsamp(str(FIX / "records100/00000/00162_lr"))
    assert fields["sig_name"][:3] == ["I", "II", "III"]
    expected = preprocess(signal.T, 100, DEFAULT_SETTINGS)
    np.testing.assert_allclose(ds.X[ds.record_ids.index("162")], expected, rtol=0, atol=1e-6)
    # the default high-pass removes the baseline: what the raw record has, X has not
    assert abs(ds.X.mean()) < 0.05


def test_min_samples_drops_rare_labels_like_the_benchmark():
    ds = load_dataset(FIX, "superdiagnostic", cache_dir=False, progress=False, min_samples=2)
    # counts: MI 4, STTC 4, CD 3, HYP 2, NORM 1 -> labels seen in more than 2 records
    assert ds.labels == ["CD", "MI", "STTC"]
    assert "1" not in ds.record_ids  # NORM only


def _copy_fixture(tmp_path) -> Path:
    root = tmp_path / "ptbxl"
    shutil.copytree(FIX, root)
    return root


def test_full_official_database_with_extra_columns(tmp_path):
    root = _copy_fixture(tmp_path)
    with open(FIX / ptbxl.DATABASE, newline="") as f:
        rows = list(csv.DictReader(f))
    official = ["ecg_id", "patient_id", "age", "sex", "height", "weight", "nurse", "site", "device",
                "recording_date", "report", "scp_codes", "heart_axis", "infarction_stadium1",
                "infarction_stadium2", "validated_by", "second_opinion", "initial_autogenerated_report",
                "validated_by_human", "baseline_drift", "static_noise", "burst_noise", "electrodes_problems",
                "extra_beats", "pacemaker", "strat_fold", "filename_lr", "filename_hr"]
    with open(root / ptbxl.DATABASE, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=official)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in official} | {"report": "sinusrhythmus, normal", "site": "2.0"})
    for task in ("all", "rhythm"):
        a = load_dataset(FIX, task, cache_dir=False, progress=False)
        b = load_dataset(root, task, cache_dir=False, progress=False)
        assert a.labels == b.labels and a.record_ids == b.record_ids
        np.testing.assert_array_equal(a.Y, b.Y)
        np.testing.assert_array_equal(a.X, b.X)


def test_missing_record_names_the_file(tmp_path):
    root = _copy_fixture(tmp_path)
    (root / "records100/00000/00045_lr.hea").unlink()
    with pytest.raises(FileNotFoundError, match="00045_lr.hea"):
        load_dataset(root, "superdiagnostic", cache_dir=False, progress=False)


def test_missing_or_broken_signal_file_names_it(tmp_path):
    root = _copy_fixture(tmp_path)
    (root / "records100/00000/00045_lr.dat").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="00045_lr"):
        load_dataset(root, "superdiagnostic", cache_dir=False, progress=False)


def test_missing_statements_names_the_file(tmp_path):
    root = _copy_fixture(tmp_path)
    (root / ptbxl.STATEMENTS).unlink()
    with pytest.raises(FileNotFoundError, match="scp_statements.csv"):
        load_dataset(root, "form", cache_dir=False, progress=False)


def test_malformed_database_names_file_and_line(tmp_path):
    root = _copy_fixture(tmp_path)
    text = (root / ptbxl.DATABASE).read_text().replace("{'NDT': 100.0}", "{'NDT': 100.0")
    (root / ptbxl.DATABASE).write_text(text)
    with pytest.raises(ValueError, match=r"ptbxl_database.csv, line 6"):
        load_dataset(root, "all", cache_dir=False, progress=False)


def test_database_without_required_column_names_it(tmp_path):
    root = _copy_fixture(tmp_path)
    text = (root / ptbxl.DATABASE).read_text().replace("strat_fold", "fold", 1)
    (root / ptbxl.DATABASE).write_text(text)
    with pytest.raises(ValueError, match="ptbxl_database.csv: missing column.*strat_fold"):
        load_dataset(root, "all", cache_dir=False, progress=False)


def test_unknown_scp_code_is_an_error_naming_the_record(tmp_path):
    root = _copy_fixture(tmp_path)
    text = (root / ptbxl.DATABASE).read_text().replace("{'NDT': 100.0}", "\"{'XYZ': 100.0}\"")
    (root / ptbxl.DATABASE).write_text(text)
    with pytest.raises(ValueError, match="ecg_id 128.*XYZ"):
        load_dataset(root, "all", cache_dir=False, progress=False)


def test_bad_task_and_wrong_directory():
    with pytest.raises(ValueError, match="unknown task"):
        load_dataset(FIX, "diagnosis", cache_dir=False)
    with pytest.raises(ValueError, match="PTB-XL root"):
        load_dataset(FIX.parent / "cpsc2018", "superdiagnostic", cache_dir=False)
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        load_dataset(FIX / "no_such_dir", "all", cache_dir=False)
