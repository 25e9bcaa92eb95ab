"""Checkpoint directory round trip (safetensors + JSON, no pickle)."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tgll_edge.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from tgll_edge.training.models import build_model  # noqa: E402


def _config(model):
    return {"model": model.config(), "task": "superdiagnostic", "labels": ["CD", "HYP", "MI", "NORM", "STTC"],
            "fs": 100.0, "n_times": 1000, "leads": ["I"], "scaler": {"mean": 0.0, "std": 1.0},
            "preprocessing": {"fs": 100}, "thresholds": {"CD": 0.5}}


@pytest.mark.parametrize("arch,kwargs", [("tgllnet", {"preset": "edge"}), ("resnet1d_wang", {"width": 8})])
def test_round_trip_gives_identical_outputs(tmp_path, arch, kwargs):
    torch.manual_seed(0)
    model = build_model(arch, n_outputs=5, **kwargs)
    with torch.no_grad():  # make BatchNorm running stats non-trivial so they must round-trip too
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    model.eval()
    save_checkpoint(tmp_path, model, _config(model))
    loaded, cfg = load_checkpoint(tmp_path)
    assert not loaded.training and cfg["model"] == model.config()
    x = torch.randn(3, 12, 1000)
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    # safetensors: an 8-byte header length, then a JSON header (no pickle opcodes)
    raw = (tmp_path / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    json.loads(raw[8:8 + n])


def test_errors_name_the_file(tmp_path):
    model = build_model("resnet1d_wang", width=8)
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        load_checkpoint(tmp_path / "nothing_here")
    save_checkpoint(tmp_path, model, _config(model))
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_checkpoint(tmp_path)
    save_checkpoint(tmp_path, model, _config(model))
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="model.safetensors"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json"):
        load_checkpoint(tmp_path)


def test_weights_of_another_model_are_refused(tmp_path):
    model = build_model("resnet1d_wang", width=8)
    save_checkpoint(tmp_path, model, _config(model))
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model"]["width"] = 16
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not fit"):
        load_checkpoint(tmp_path)


def test_incomplete_config_is_refused(tmp_path):
    model = build_model("resnet1d_wang", width=8)
    cfg = _config(model)
    del cfg["thresholds"]
    with pytest.raises(ValueError, match="thresholds"):
        save_checkpoint(tmp_path, model, cfg)
