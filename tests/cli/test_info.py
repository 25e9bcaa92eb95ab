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


def test_info_shows_the_cpu_family_of_the_metrics(tmp_path, capsys):
    import json

    from tgll_edge.cpufamily import cpu_family
    bundle = make_bundle(tmp_path / "b")
    card = json.loads((bundle / "card.json").read_text())
    a = card["artifacts"]["onnx_fp32"]
    a["metrics"]["cpu_family"] = "x86_avx512_vnni"
    a["metrics_by_cpu"] = {"x86_avx512_vnni": {"val_macro_auc": 0.93, "test_macro_auc": 0.88, "val_auc_drop": 0.0,
                                               "val_decision_flip_rate": 0.0171, "passes_gate": True,
                                               "date": "2026-11-30"},
                           "x86_avx2": {"val_macro_auc": 0.92, "test_macro_auc": 0.87, "val_auc_drop": 0.011,
                                        "val_decision_flip_rate": 0.0188, "passes_gate": False}}
    (bundle / "card.json").write_text(json.dumps(card))
    assert main([str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "measured on" in out and "metrics by CPU family:" in out and "this CPU" in out
    vnni = next(line for line in out.splitlines() if "x86_avx512_vnni" in line and "1.71%" in line)
    assert "pass" in vnni and "2026-11-30" in vnni
    avx2 = next(line for line in out.splitlines() if line.startswith("onnx_fp32") and "x86_avx2" in line)
    assert "FAIL" in avx2 and "1.88%" in avx2
    assert cpu_family() in out


def test_info_lists_the_streaming_split_and_checks_its_files(tmp_path, capsys):
    import shutil

    from tgll_edge.runtime import default_bundle_dir

    bundle = tmp_path / "b"
    shutil.copytree(default_bundle_dir(), bundle)
    assert main([str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "streaming split" in out and "model_int8.tokens.onnx + model_int8.head.onnx" in out
    head = bundle / "model_int8.head.onnx"
    head.write_bytes(head.read_bytes()[:-1] + b"x")
    assert main([str(bundle)]) == 2
    cap = capsys.readouterr()
    assert "fails its sha256 check" in cap.err and str(head) in cap.err


def test_info_lists_a_lead_set_bundles_standard_sets(tmp_path, capsys):
    from bundle_factory import FAKE_LEAD_SET_AUC, make_leadset_bundle

    bundle = make_leadset_bundle(tmp_path / "ls", n_times=64)
    assert main([str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "lead sets" in out
    rows = {line.split()[0]: line.split() for line in out.split("lead sets", 1)[1].splitlines()[3:] if line.strip()}
    assert set(rows) == set(FAKE_LEAD_SET_AUC)
    assert rows["3"][1] == "I,II,V2" and rows["3"][2] == f"{FAKE_LEAD_SET_AUC['3']:.4f}"
    # a 12-lead bundle has no such table
    assert main([str(make_bundle(tmp_path / "b12"))]) == 0
    assert "lead sets" not in capsys.readouterr().out
