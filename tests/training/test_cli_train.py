"""tgll-train / tgll-eval: help, argument errors (exit 2), data errors (exit 1), a full tiny run."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from tgll_edge.training.cli import eval_main, train_main  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures"
PTBXL = FIX / "ptbxl"
TINY = ["--arch", "resnet1d_wang", "--model-arg", "width=8", "--epochs", "1", "--batch-size", "4",
        "--threads", "1", "--no-cache", "--quiet"]


def run(main, argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("main", [train_main, eval_main])
def test_help(main, capsys):
    code, out, _ = run(main, ["--help"], capsys)
    assert code == 0 and "usage:" in out
    assert ("--task" in out and "--arch" in out and "--out" in out) if main is train_main else "--fold" in out


def test_console_scripts_are_installed():
    exe = Path(sys.executable).with_name("tgll-train")
    if not exe.exists():
        pytest.skip("package not installed as console scripts")
    res = subprocess.run([str(exe), "--task", "nope"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "invalid choice: 'nope'" in res.stderr


@pytest.mark.parametrize("argv,message", [
    (["--task", "superdiagnostic", "--arch", "tgllnet", "--out", "x"], "--data"),
    (["--data", PTBXL, "--task", "superdiag", "--arch", "tgllnet", "--out", "x"], "invalid choice: 'superdiag'"),
    (["--data", PTBXL, "--task", "form", "--arch", "lstm", "--out", "x"], "invalid choice: 'lstm'"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--epochs", "0"], "must be > 0"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--lr", "fast"], "not a number"),
    (["--data", PTBXL / "missing", "--task", "form", "--arch", "tgllnet", "--out", "x"], "missing: dataset directory not found"),
    (["--data", PTBXL, "--task", "cpsc2018", "--arch", "tgllnet", "--out", "x"], "does not fit"),
    (["--data", FIX / "cpsc2018", "--task", "rhythm", "--arch", "tgllnet", "--out", "x"], "does not fit"),
    (["--data", PTBXL, "--task", "form", "--arch", "resnet1d_wang", "--preset", "edge", "--out", "x"], "tgllnet only"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--model-arg", "width"], "KEY=VALUE"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--augment-p-clean", "1.5"], "in [0, 1]"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--lead-sets", "--lead-set-mix", "0.8,0.5"],
     "must be <= 1"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--lead-sets", "--lead-set-mix", "0.8"],
     "P_FULL,P_STANDARD"),
    (["--data", PTBXL, "--task", "form", "--arch", "tgllnet", "--out", "x", "--distill", "run"],
     "apply to --lead-sets training only"),
])
def test_bad_train_arguments_exit_2(argv, message, capsys):
    code, _, err = run(train_main, argv, capsys)
    assert code == 2 and message in err, err


def test_bad_eval_arguments_exit_2(tmp_path, capsys):
    code, _, err = run(eval_main, [tmp_path / "nope"], capsys)
    assert code == 2 and "nope: checkpoint directory not found" in err
    code, _, err = run(eval_main, [tmp_path, "--fold", "11"], capsys)
    assert code == 2 and "invalid choice" in err
    code, _, err = run(eval_main, [tmp_path, "--fold", "3", "--all"], capsys)
    assert code == 2 and "not allowed with" in err


def test_malformed_data_exits_1_naming_the_file(tmp_path, capsys):
    root = tmp_path / "ptbxl"
    shutil.copytree(PTBXL, root)
    (root / "records100/00000/00257_lr.hea").unlink()
    code, _, err = run(train_main, ["--data", root, "--task", "superdiagnostic", "--out", tmp_path / "o", *TINY],
                       capsys)
    assert code == 1 and "00257_lr.hea" in err and "tgll-train: error:" in err


def test_train_then_eval_on_the_fixture(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", out, *TINY], capsys)
    assert code == 0, err
    assert "fold 10 macro-AUC" in stdout
    assert {"model.safetensors", "config.json", "metrics.json"} <= {p.name for p in out.iterdir()}
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["command"].startswith("tgll-train --data") and cfg["labels"] == ["CD", "HYP", "MI", "NORM", "STTC"]
    assert cfg["data"]["dataset"] == "ptbxl" and Path(cfg["data"]["path"]) == PTBXL.resolve()
    metrics = json.loads((out / "metrics.json").read_text())

    # default: fold 10 of the training data, the same numbers as metrics.json
    code, stdout, err = run(eval_main, [out, "--no-cache", "--quiet", "--threads", "1"], capsys)
    assert code == 0, err
    assert "fold 10" in stdout and "macro-AUC" in stdout and "STTC" in stdout
    report = json.loads((out / "eval_ptbxl_fold10.json").read_text())
    assert report["macro_auc"] == pytest.approx(metrics["test"]["macro_auc"])
    assert report["macro_auc_ci95"] == pytest.approx(metrics["test"]["macro_auc_ci95"])
    assert report["n_records"] == 2  # ecg_id 128 and 162

    code, stdout, err = run(eval_main, [out, "--all", "--json", tmp_path / "all.json", "--no-cache", "--quiet"],
                            capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "all.json").read_text())["n_records"] == 7

    # a directory whose labels share nothing with the model: a clear error, exit 1
    code, _, err = run(eval_main, [out, "--data", FIX / "cpsc2018", "--no-cache", "--quiet"], capsys)
    assert code == 1 and "nothing in common" in err

    # an existing checkpoint is not overwritten silently
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", out, *TINY], capsys)
    assert code == 2 and "--overwrite" in err


def test_init_fine_tunes_from_a_checkpoint_and_refuses_another_model(tmp_path, capsys):
    first = tmp_path / "first"
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", first, *TINY], capsys)
    assert code == 0, err
    second = tmp_path / "second"
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", second, "--init", first,
                                    *TINY], capsys)
    assert code == 0, err
    assert json.loads((second / "config.json").read_text())["train"]["init"] == str(first)
    # another width: not the model the checkpoint holds
    other = [a if a != "width=8" else "width=4" for a in TINY]
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", tmp_path / "third",
                                    "--init", first, *other], capsys)
    assert code == 1 and "--init" in err and "not the one asked for" in err


def test_lead_set_training_warm_starts_from_the_same_tgllnet_on_12_leads(tmp_path, capsys):
    """--lead-sets --init a 12-lead run: every shared weight copied, the mask embedding at zero, so
    before any step the lead-set model gives the 12-lead model's outputs on all 12 leads."""
    import torch

    from tgll_edge.training.checkpoint import load_checkpoint
    from tgll_edge.training.fit import warm_start_lead_sets
    from tgll_edge.training.models import build_model

    tiny_tgll = ["--arch", "tgllnet", "--preset", "edge", "--model-arg", "width=4", "--model-arg", "levels=[1]",
                 *TINY[4:]]
    first = tmp_path / "first"
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", first, *tiny_tgll], capsys)
    assert code == 0, err
    start, config = load_checkpoint(first)
    ls = build_model(**{**config["model"], "lead_sets": True}).eval()
    warm_start_lead_sets(ls, start)
    x = torch.randn(3, 12, config["model"]["n_times"])
    with torch.no_grad():
        assert torch.allclose(ls(x), start(x), atol=1e-6)
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", tmp_path / "ls",
                                    "--init", first, "--lead-sets", *tiny_tgll], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "ls" / "config.json").read_text())["model"]["lead_sets"] is True
    # the same with the 12-lead run as teacher and another mix: both recorded in the config
    code, _, err = run(train_main, ["--data", PTBXL, "--task", "superdiagnostic", "--out", tmp_path / "kd",
                                    "--init", first, "--lead-sets", "--distill", first, "--distill-weight", "0.3",
                                    "--lead-set-mix", "0.2,0.6", *tiny_tgll], capsys)
    assert code == 0, err
    train = json.loads((tmp_path / "kd" / "config.json").read_text())["train"]
    assert (train["distill"], train["distill_weight"], train["lead_set_mix"]) == (str(first), 0.3, [0.2, 0.6])
