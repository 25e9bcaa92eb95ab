"""Issue 9, export side: the graph-as-input ONNX bundle, gated per standard lead set."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from tgll_edge.backends import open_backend  # noqa: E402
from tgll_edge.signal.preprocess import DEFAULT_SETTINGS  # noqa: E402
from tgll_edge.training.export import EvalData  # noqa: E402
from tgll_edge.training.export_leadsets import RECIPES, TFLITE_RECIPES, export_leadset_bundle, set_inputs  # noqa: E402
from tgll_edge.training.leadsets import STANDARD_SETS, standard_masks  # noqa: E402
from tgll_edge.training.models import build_model  # noqa: E402

LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]
LEADS = list(STANDARD_SETS["12"])


def _data():
    def synth(n, seed):
        rng = np.random.default_rng(seed)
        y = (rng.random((n, 5)) < 0.4).astype(np.float32)
        x = rng.standard_normal((n, 12, 1000)).astype(np.float32)
        x[:, :5, :200] += 1.5 * y[:, :, None]
        return x, y
    (xv, yv), (xt, yt), (xc, _) = synth(24, 1), synth(24, 2), synth(14, 3)
    return EvalData(xv, yv, xt, yt, xc)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tgllnet", preset="edge", width=4, levels=[1], lead_sets=True).eval()
    with torch.no_grad():
        model.mask_embedding.weight.normal_(0, 0.3)
    cfg = {"model": model.config(), "task": "superdiagnostic", "labels": LABELS, "fs": 100, "n_times": 1000,
           "leads": LEADS, "scaler": {"mean": 0.1, "std": 0.5}, "preprocessing": DEFAULT_SETTINGS,
           "thresholds": {lab: 0.4 for lab in LABELS},
           "data": {"path": "synthetic", "dataset": "ptbxl", "train_folds": list(range(1, 9)), "val_fold": 9,
                    "test_fold": 10}}
    out = tmp_path_factory.mktemp("b") / "ls"
    res = export_leadset_bundle(model, cfg, out, _data(), int8=True, max_auc_drop=1.0, max_flip_rate=1.0,
                                recipes=RECIPES[:1], formats=("onnx", "tflite"), tflite_recipes=TFLITE_RECIPES[1:])
    return model, out, res


def test_card_has_the_contract_fields(bundle):
    model, out, res = bundle
    card = json.loads((out / "card.json").read_text())
    assert card["inputs"] == ["x", "lead_mask", "cheb"] and card["min_leads"] == 1
    assert card["lead_graph"]["cheb_k"] == 3
    adj = np.asarray(card["lead_graph"]["adjacency"])
    assert adj.shape == (1, 12, 12) and np.allclose(adj, adj.transpose(0, 2, 1)) and np.all(np.diag(adj[0]) == 0)
    assert set(card["lead_sets"]) == set(STANDARD_SETS)
    for name, entry in card["lead_sets"].items():
        assert entry["leads"] == STANDARD_SETS[name]
        assert {"val_macro_auc", "test_macro_auc", "gate"} <= set(entry)
        assert set(entry["gate"]) == {"onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8"}
    assert set(card["artifacts"]) == {"onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8"} and not res["failures"]
    for key in ("onnx_fp32", "onnx_int8"):  # the streaming split, checked under a reduced set's inputs too
        assert card["artifacts"][key]["stream"]["check"]["max_abs_prob_diff_vs_file"] <= 1e-4


def test_artifacts_equal_torch_for_every_set_and_any_mask(bundle):
    model, out, _ = bundle
    x = np.random.default_rng(5).standard_normal((3, 12, 1000)).astype(np.float32)
    fp32 = open_backend(out / "model_fp32.onnx")
    masks = list(standard_masks().values()) + [np.array([1] * 8 + [0] + [1] * 3, np.float32)]  # V3 off
    for m in masks:
        feeds = set_inputs(model, m, 3)
        xm = x * m[None, :, None]
        with torch.no_grad():
            ref = model(torch.as_tensor(xm), torch.as_tensor(feeds["lead_mask"])).numpy()
        got = fp32.run(xm, **feeds)
        np.testing.assert_allclose(got, ref, atol=1e-4)
        garbage = xm + (1 - m)[None, :, None] * 50.0  # the exported model ignores masked leads by itself
        np.testing.assert_allclose(fp32.run(garbage, **feeds), got, atol=1e-5)


def test_tflite_files_take_the_graph_as_input_and_agree_with_torch(bundle):
    """The TFLite twins of the graph-input form: same three inputs, any mask, torch's outputs
    (fp32 to 1e-4; int8 weights within the test model's loose bound)."""
    pytest.importorskip("ai_edge_litert")
    model, out, _ = bundle
    x = np.random.default_rng(6).standard_normal((2, 12, 1000)).astype(np.float32)
    m = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], np.float32)  # I, II, V2
    feeds = set_inputs(model, m, 2)
    xm = x * m[None, :, None]
    with torch.no_grad():
        ref = model(torch.as_tensor(xm), torch.as_tensor(feeds["lead_mask"])).numpy()
    np.testing.assert_allclose(open_backend(out / "model_fp32.tflite").run(xm, **feeds), ref, atol=1e-4)
    got8 = open_backend(out / "model_int8.tflite").run(xm, **feeds)
    assert np.abs(got8 - ref).max() < 0.5


def test_streaming_split_follows_the_lead_mask_window_by_window(bundle):
    """Incremental scoring of a lead-set bundle: reuse while the mask stays, a full graph stage
    when it changes (V3 off, then back), always the whole model's probabilities."""
    from tgll_edge.runtime import load_model

    _, out, _ = bundle
    model = load_model(out, artifact="onnx_int8")
    scorer = model.stream_scorer()
    sig = 0.5 * np.random.default_rng(8).standard_normal((12, 2000)).astype(np.float32)
    full, v3_off = np.ones(12, np.float32), np.array([1] * 8 + [0] + [1] * 3, np.float32)
    masks = [full, full, v3_off, v3_off, v3_off, full]
    for i, m in enumerate(masks):
        w = sig[:, 100 * i:100 * i + 1000]
        got = scorer.predict_proba(w, i * 1.0, m)
        np.testing.assert_allclose(got, model.predict_proba(w[None], lead_mask=m)[0], atol=1e-6)
    assert scorer.counts == {"windows": 6, "reused": 3}  # windows 1, 3 and 4
