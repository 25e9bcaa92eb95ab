"""The runtime (load_model -> predict_proba with a lead mask) on a bundle written by the
training side's exporter equals the torch model: the bundle contract, end to end."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tgll_edge.signal.preprocess import DEFAULT_SETTINGS
    from tgll_edge.training.export import EvalData
    from tgll_edge.training.export_leadsets import export_leadset_bundle
    from tgll_edge.training.leadsets import STANDARD_SETS
    from tgll_edge.training.models import build_model

    labels = ["NORM", "MI", "STTC", "CD", "HYP"]
    rng = np.random.default_rng(0)

    def synth(n):
        y = (rng.random((n, 5)) < 0.4).astype(np.float32)
        x = rng.standard_normal((n, 12, 1000)).astype(np.float32)
        x[:, :5, :200] += 1.5 * y[:, :, None]
        return x, y

    (xv, yv), (xt, yt), (xc, _) = synth(24), synth(24), synth(14)
    torch.manual_seed(0)
    model = build_model("tgllnet", preset="edge", width=4, levels=[1, 2], lead_sets=True).eval()
    with torch.no_grad():
        model.mask_embedding.weight.normal_(0, 0.3)
    cfg = {"model": model.config(), "task": "superdiagnostic", "labels": labels, "fs": 100, "n_times": 1000,
           "leads": list(STANDARD_SETS["12"]), "scaler": {"mean": 0.1, "std": 0.5},
           "preprocessing": DEFAULT_SETTINGS, "thresholds": {lab: 0.4 for lab in labels},
           "data": {"path": "synthetic", "dataset": "ptbxl", "train_folds": list(range(1, 9)), "val_fold": 9,
                    "test_fold": 10}}
    out = tmp_path_factory.mktemp("b") / "ls"
    export_leadset_bundle(model, cfg, out, EvalData(xv, yv, xt, yt, xc), int8=False, max_auc_drop=1.0,
                          max_flip_rate=1.0)
    return model, out


def test_runtime_equals_torch_for_any_mask(exported):
    from tgll_edge.runtime import load_model, sigmoid

    model, out = exported
    rt = load_model(out, artifact="onnx_fp32")
    assert rt.lead_set_aware and rt.min_leads == 1 and rt.lead_sets["3"]["leads"] == ["I", "II", "V2"]
    x = np.random.default_rng(1).standard_normal((4, 12, 1000)).astype(np.float32)
    masks = np.ones((4, 12), np.float32)
    masks[1, 8] = 0                                  # V3 off
    masks[2] = np.isin(range(12), [1])               # lead II only
    masks[3] = np.isin(range(12), [0, 1, 7])         # I, II, V2
    xs = (x - 0.1) / 0.5 * masks[:, :, None]
    with torch.no_grad():
        want = sigmoid(model(torch.as_tensor(xs), torch.as_tensor(masks)).numpy())
    got = rt.predict_proba(x, masks)
    np.testing.assert_allclose(got, want, atol=1e-4)
    g = x.copy()
    g[1, 8] = 1e3
    g[2, [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]] = np.nan
    np.testing.assert_allclose(rt.predict_proba(g, masks), got, atol=1e-6)
