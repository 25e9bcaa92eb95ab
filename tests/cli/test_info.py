import sys
from pathlib import Path

from bundle_factory import make_bundle
from tgll_edge.cli.info import main


def test_info_prints_card_table(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    assert main([str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "tiny-conv-test" in out and "NORM, MI, STTC, CD, HYP" in out
    assert "1000 samples at 100 Hz (10 s)" in out and "highpass(cutoff_hz=0.5, order=2)" in out
    row = next(line for line in out.splitlines() if line.startswith("onnx_fp32"))
    assert "model_fp32.onnx" in row
    assert "val flips" in out  # share of fold-9 decisions an artifact changes (the export gate)
    assert main([str(bundle), "--json"]) == 0
    assert '"default_artifact": "onnx_fp32"' in capsys.readouterr().out


def test_info_bad_bundle(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2  # as --model elsewhere
    assert "does not exist" in capsys.readouterr().err


def test_info_flags_a_missing_or_altered_model_file(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    model = bundle / "model_fp32.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"x")  # same size, other content
    assert main([str(bundle)]) == 2
    cap = capsys.readouterr()
    assert "FAILED" in cap.out and "fails its sha256 check" in cap.err and str(model) in cap.err
    model.unlink()
    assert main([str(bundle)]) == 2
    assert "is missing" in capsys.readouterr().err
