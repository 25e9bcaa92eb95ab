import json
import sys
from pathlib import Path

import numpy as np
import pytest
import wfdb

from bundle_factory import LABELS, make_bundle
from wfdbkit import write_mv_record
from tgll_edge.cli.predict import main
from tgll_edge.runtime import load_model
from tgll_edge.signal.leads import LEADS_8, LEADS_12

# PTB-XL record 1 at 500 Hz (shipped in the package; see its ATTRIBUTION.md)
RECORD = Path(__file__).resolve().parents[2] / "tgll_edge" / "data" / "records" / "00001_hr"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "bundle")




def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_predict_500hz_record_matches_runtime(bundle, capsys):
    assert main(["--model", str(bundle), str(RECORD)]) == 0
    (res,) = _lines(capsys.readouterr().out)
    assert res["record"] == str(RECORD) and list(res["probabilities"]) == LABELS
    # the same through the API: 500 Hz -> card fs, first 10 s window
    rec = wfdb.rdrecord(str(RECORD))
    model = load_model(bundle)
    x = model.preprocessor(rec.fs).process(rec.p_signal.T)[:, :1000]
    p = model.predict_proba(x[None])[0]
    np.testing.assert_allclose([res["probabilities"][k] for k in LABELS], p, atol=1e-5)
    assert res["labels"] == [k for k, v in zip(LABELS, p) if v >= 0.5]


def test_eight_lead_record_is_derived(bundle, tmp_path, capsys):
    rec = wfdb.rdrecord(str(RECORD))
    idx = [rec.sig_name.index(n) for n in LEADS_8]
    path8 = write_mv_record(tmp_path, "r8", rec.p_signal.T[idx], rec.fs, LEADS_8)
    assert main(["--model", str(bundle), str(path8)]) == 0
    (res,) = _lines(capsys.readouterr().out)
    assert set(res["probabilities"]) == set(LABELS)


def test_all_windows_and_directory(bundle, tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((12, 250 * 25)) * 0.2  # 25 s at 250 Hz
    write_mv_record(tmp_path / "d", "long", x, 250, LEADS_12)
    assert main(["--model", str(bundle), "--all-windows", "--hop", "5", str(tmp_path / "d")]) == 0
    (res,) = _lines(capsys.readouterr().out)
    assert [w["start_s"] for w in res["windows"]] == [0.0, 5.0, 10.0, 15.0]
    best = np.max([[w["probabilities"][k] for k in LABELS] for w in res["windows"]], axis=0)
    np.testing.assert_allclose([res["probabilities"][k] for k in LABELS], best, atol=1e-6)


def test_bad_records_reported_others_printed(bundle, tmp_path, capsys):
    short = write_mv_record(tmp_path, "short", np.zeros((12, 500 * 4)), 500, LEADS_12)
    few = write_mv_record(tmp_path, "few", np.zeros((3, 5000)), 500, ["I", "II", "V1"])
    rc = main(["--model", str(bundle), str(short), str(RECORD), str(few), str(tmp_path / "absent")])
    cap = capsys.readouterr()
    assert rc == 1
    assert [r["record"] for r in _lines(cap.out)] == [str(RECORD)]
    assert "record too short: 4.00 s; the model needs 10 s" in cap.err
    assert "missing V2, V3, V4, V5, V6" in cap.err
    assert "absent.hea not found" in cap.err


def test_bad_model_dir(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none"), str(RECORD)]) == 2
    assert "does not exist" in capsys.readouterr().err
