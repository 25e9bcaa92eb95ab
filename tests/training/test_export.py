"""Export round trip on a tiny TGLLNet (random weights, synthetic data): all four
artifacts load through the runtime and agree with torch; the gate refuses int8
artifacts that lose AUC; the CLI exits nonzero with a report when it does.

Tolerances (max |probability difference| vs torch on synthetic windows):
fp32 1e-4 (measured ~1e-7); int8 0.2 (measured up to 0.10 for this width-4 random net
calibrated on 16 windows; the real gate is the fold-9 AUC, not this bound).
"""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from tgll_edge.bundle import read_card, sha256_file  # noqa: E402
from tgll_edge.runtime import load_model  # noqa: E402
from tgll_edge.signal.preprocess import DEFAULT_SETTINGS  # noqa: E402
from tgll_edge.training import export as export_mod  # noqa: E402
from tgll_edge.training.export import EvalData, export_bundle  # noqa: E402
from tgll_edge.training.models import build_model  # noqa: E402
from tgll_edge.training.quantize import ONNX_RECIPES, TFLITE_RECIPES  # noqa: E402

LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SCALER = {"mean": 0.1, "std": 0.5}
FP32_TOL, INT8_TOL = 1e-4, 0.2


def tiny_model():
    torch.manual_seed(0)
    return build_model("tgllnet", preset="edge", width=4, levels=[1]).eval()


def config(model):
    return {"model": model.config(), "task": "superdiagnostic", "labels": LABELS, "fs": 100, "n_times": 1000,
            "leads": LEADS, "scaler": SCALER, "preprocessing": DEFAULT_SETTINGS,
            "thresholds": {lab: 0.4 for lab in LABELS},
            "data": {"path": "synthetic", "dataset": "ptbxl", "train_folds": list(range(1, 9)), "val_fold": 9,
                     "test_fold": 10}}


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, 5)) < 0.4).astype(np.float32)
    x = rng.standard_normal((n, 12, 1000)).astype(np.float32)
    x[:, :5, :200] += 1.5 * y[:, :, None]  # labels visible in the signal
    return x, y


def data():
    xv, yv = synthetic(24, 1)
    xt, yt = synthetic(24, 2)
    xc, _ = synthetic(16, 3)
    return EvalData(xv, yv, xt, yt, xc)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "tiny"
    ckpt = tmp_path_factory.mktemp("ckpt")
    (ckpt / "adjacency.png").write_bytes(b"\x89PNG fake")
    model = tiny_model()
    result = export_bundle(model, config(model), out, data(), int8=True, max_auc_drop=1.0, max_flip_rate=1.0, checkpoint_dir=ckpt,
                           onnx_recipes=ONNX_RECIPES[:1], tflite_recipes=TFLITE_RECIPES[:1])
    return out, result


def test_all_four_artifacts_agree_with_torch_through_the_runtime(exported):
    out, result = exported
    assert result["failures"] == []
    card = read_card(out)
    assert set(card["artifacts"]) == {"onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8"}
    model = tiny_model().fold_graph()
    x_mv, _ = synthetic(5, 9)
    with torch.no_grad():
        ref = torch.sigmoid(model(torch.from_numpy((x_mv - SCALER["mean"]) / SCALER["std"]))).numpy()
    for key, tol in (("onnx_fp32", FP32_TOL), ("tflite_fp32", FP32_TOL), ("onnx_int8", INT8_TOL),
                     ("tflite_int8", INT8_TOL)):
        m = load_model(out, artifact=key)
        p = m.predict_proba(x_mv)
        assert np.abs(p - ref).max() < tol, (key, np.abs(p - ref).max())
        assert card["artifacts"][key]["metrics"]["max_abs_prob_diff"] < tol
    # int8 files are at most a third of fp32 (int8 weights; tiny models carry some graph overhead)
    for fmt in ("onnx", "tflite"):
        assert card["artifacts"][f"{fmt}_int8"]["bytes"] < 0.5 * card["artifacts"][f"{fmt}_fp32"]["bytes"]


def test_card_contents(exported):
    out, _ = exported
    card = read_card(out)
    assert card["schema"] == 1 and card["labels"] == LABELS and card["leads"] == LEADS
    assert card["scaler"] == SCALER and card["output"] == "logits" and card["default_artifact"] == "onnx_int8"
    assert card["thresholds"] == {lab: 0.4 for lab in LABELS}
    assert "Wagner et al., 2020" in card["attribution"]
    assert card["provenance"]["folds"] == {"train": list(range(1, 9)), "val": 9, "test": 10,
                                           "calibration": list(range(1, 9))}
    for key, a in card["artifacts"].items():
        assert a["sha256"] == sha256_file(out / a["file"]) and a["bytes"] == (out / a["file"]).stat().st_size
        assert set(a["metrics"]) >= {"val_macro_auc", "test_macro_auc", "max_abs_prob_diff", "val_per_class_auc"}
    q = card["artifacts"]["onnx_int8"]["quantization"]
    assert q["format"] == "QDQ" and q["per_channel"] and q["remedy"] is None and q["attempts"][0]["passed"]
    # the CPU family the metrics were measured on, and the per-family table export starts
    from tgll_edge.cpufamily import cpu_family
    for key, a in card["artifacts"].items():
        assert a["metrics"]["cpu_family"] == cpu_family()
        (fam, entry), = a["metrics_by_cpu"].items()
        assert fam == cpu_family() and entry["passes_gate"] is True
        assert entry["test_macro_auc"] == a["metrics"]["test_macro_auc"]
    # 7-bit weights: no x86 U8S8 kernel saturates, so the int8 ONNX computes alike on every family
    assert q["reduce_range"] is True
    m8 = card["artifacts"]["onnx_int8"]["metrics"]
    assert m8["int8_kernel_independent"] and 0 < m8["max_abs_int8_weight"] <= export_mod.SATURATION_FREE_MAX_WEIGHT
    assert card["adjacency_png"] == "adjacency.png" and (out / "adjacency.png").is_file()
    # the ONNX file is a single file with a dynamic batch axis and opset 18
    import onnx
    m = onnx.load(str(out / "model_fp32.onnx"))
    assert not list(out.glob("*.data"))
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    assert any(o.domain in ("", "ai.onnx") and o.version == 18 for o in m.opset_import)
    # both files are minified: no per-node debug metadata
    for name in ("model_fp32.onnx", "model_int8.onnx"):
        assert not any(n.metadata_props for n in onnx.load(str(out / name)).graph.node)


def test_gate_refuses_int8_that_loses_auc(tmp_path):
    model = tiny_model()
    # a negative allowed drop cannot be met: every recipe is tried, none is shipped
    result = export_bundle(model, config(model), tmp_path / "b", data(), formats=["onnx"], int8=True,
                           max_auc_drop=-1.0, onnx_recipes=ONNX_RECIPES[:2])
    (fail,) = result["failures"]
    assert fail["artifact"] == "onnx_int8"
    assert [a["recipe"] for a in fail["attempts"]] == [r["name"] for r in ONNX_RECIPES[:2]]
    assert not any(a["passed"] for a in fail["attempts"])
    card = read_card(tmp_path / "b")
    assert set(card["artifacts"]) == {"onnx_fp32"} and not (tmp_path / "b" / "model_int8.onnx").exists()


def test_remedy_is_recorded_when_the_first_recipe_fails(tmp_path, monkeypatch):
    model = tiny_model()
    broken = {"name": "broken", "activation_type": "QInt8", "calibrate_method": "NoSuchMethod"}
    result = export_bundle(model, config(model), tmp_path / "b", data(), formats=["onnx"], int8=True,
                           max_auc_drop=1.0, max_flip_rate=1.0, onnx_recipes=[broken, ONNX_RECIPES[0]])
    assert result["failures"] == []
    q = read_card(tmp_path / "b")["artifacts"]["onnx_int8"]["quantization"]
    assert q["remedy"] == ONNX_RECIPES[0]["name"] and "error" in q["attempts"][0]


def test_cli_exit_status_and_report(tmp_path, monkeypatch, capsys):
    model = tiny_model()
    cfg = config(model)
    import tgll_edge.training.checkpoint as ckpt
    monkeypatch.setattr(ckpt, "load_checkpoint", lambda d: (tiny_model(), cfg))
    monkeypatch.setattr(export_mod, "load_eval_data", lambda c, p, n: data())
    monkeypatch.setattr(export_mod.quantize, "ONNX_RECIPES", ONNX_RECIPES[:1])
    rc = export_mod.main([str(tmp_path / "ck"), "--out", str(tmp_path / "b"), "--formats", "onnx", "--int8",
                          "--max-auc-drop", "-1"])
    cap = capsys.readouterr()
    assert rc == 2
    assert "FAILED parity gate" in cap.err and "onnx_int8" in cap.err and ONNX_RECIPES[0]["name"] in cap.err
    assert "[tgll-export] onnx fp32: converting" in cap.out
    assert json.loads((tmp_path / "b" / "card.json").read_text())["artifacts"].keys() == {"onnx_fp32"}


def test_flip_rate_counts_changed_decisions_at_the_thresholds():
    p_ref = np.array([[0.2, 0.6], [0.7, 0.1]])
    p = np.array([[0.45, 0.55], [0.71, 0.3]])  # only the last label crosses its threshold (0.25)
    assert export_mod.flip_rate(p, p_ref, np.array([0.5, 0.25])) == 0.25
    assert export_mod.flip_rate(p_ref, p_ref, np.array([0.5, 0.25])) == 0.0


def test_gate_refuses_int8_that_changes_decisions(tmp_path):
    model = tiny_model()
    # AUC may drop freely, but no decision may change and none may be "less than none": refused
    result = export_bundle(model, config(model), tmp_path / "b", data(), formats=["onnx"], int8=True,
                           max_auc_drop=1.0, max_flip_rate=-1.0, onnx_recipes=ONNX_RECIPES[:1])
    (fail,) = result["failures"]
    (attempt,) = fail["attempts"]
    assert not attempt["passed"] and 0.0 <= attempt["val_decision_flip_rate"] <= 1.0


def test_stripping_tflite_names_keeps_outputs_bit_identical(tmp_path):
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    model = tiny_model().fold_graph()
    raw, stripped = tmp_path / "raw.tflite", tmp_path / "stripped.tflite"
    litert_torch.convert(model, (torch.randn(1, 12, 1000),)).export(str(raw))
    stripped.write_bytes(raw.read_bytes())
    export_mod.strip_tflite_names(stripped)
    assert stripped.stat().st_size < raw.stat().st_size
    x = synthetic(1, 5)[0]
    outs = []
    for path in (raw, stripped):
        runner = Interpreter(model_path=str(path)).get_signature_runner()
        (name,) = runner.get_input_details()
        outs.append(next(iter(runner(**{name: x}).values())))
    assert np.array_equal(outs[0], outs[1])


def test_weight_only_tflite_recipe_is_close_to_fp32(tmp_path):
    from tgll_edge.training.quantize import quantize_tflite

    model = tiny_model().fold_graph()
    fp32, q = tmp_path / "fp32.tflite", tmp_path / "wo.tflite"
    export_mod.export_tflite(model, fp32, 12, 1000)
    recipe = next(r for r in TFLITE_RECIPES if r["name"] == "aeq_weight_only_wi8")
    details = quantize_tflite(model, q, data().x_calib, recipe, fp32_path=fp32)
    assert details["activations"] == "float32" and q.stat().st_size < fp32.stat().st_size
    x = synthetic(4, 6)[0]
    p_fp32 = export_mod.backend_predict(fp32)(x)
    p_q = export_mod.backend_predict(q)(x)
    assert np.abs(p_fp32 - p_q).max() < 0.05  # logits; int8 weights only (measured ~1e-3)


def test_minifying_onnx_keeps_outputs_bit_identical(tmp_path):
    """Minifying renames and drops metadata only: the graph onnxruntime optimizes is the same,
    so fp32 and int8 outputs are bit-identical at every optimization level, whatever the CPU's
    int8 kernels (x86 AVX2 saturating U8S8, AVX-512 VNNI, ARM). Dropping all-zero
    DequantizeLinear zero points (an earlier minifier did) stopped QGemm fusion and moved
    int8 outputs by a quantization step on AVX2."""
    import onnx
    import onnxruntime as ort

    from tgll_edge.training.quantize import quantize_onnx

    model = tiny_model().fold_graph()
    fp32, raw, small = tmp_path / "fp32.onnx", tmp_path / "raw.onnx", tmp_path / "small.onnx"
    export_mod.export_onnx(model, fp32, 12, 1000)
    # 8-bit weights (no reduce_range): the case whose int8 kernels differ by CPU family
    quantize_onnx(fp32, raw, data().x_calib, {**ONNX_RECIPES[0], "reduce_range": False})
    small_fp32 = tmp_path / "small_fp32.onnx"
    small_fp32.write_bytes(fp32.read_bytes())
    small.write_bytes(raw.read_bytes())
    for path in (small_fp32, small):
        export_mod.minify_onnx(path)
    assert small.stat().st_size < raw.stat().st_size and small_fp32.stat().st_size < fp32.stat().st_size
    # 8-bit weights with 8-bit activations: the gate refuses such a file (AVX2 kernels saturate)
    check = export_mod.int8_kernel_check(raw)
    assert check["max_abs_int8_weight"] == 127 and not check["int8_kernel_independent"]
    assert not export_mod.Gate({}, None, [], []).passes({"val_auc_drop": 0.0, "val_decision_flip_rate": 0.0,
                                                          **check})
    x = synthetic(3, 7)[0]
    levels = ort.GraphOptimizationLevel
    for a, b in ((fp32, small_fp32), (raw, small)):
        ga, gb = onnx.load(str(a)).graph, onnx.load(str(b)).graph
        assert [(n.op_type, len(n.input)) for n in ga.node] == [(n.op_type, len(n.input)) for n in gb.node]
        for level in (levels.ORT_DISABLE_ALL, levels.ORT_ENABLE_BASIC, levels.ORT_ENABLE_EXTENDED,
                      levels.ORT_ENABLE_ALL):
            so = ort.SessionOptions()
            so.graph_optimization_level = level
            outs = [ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
                    for p in (a, b)]
            assert np.array_equal(outs[0], outs[1]), (b.name, level)


# ---------------------------------------------------------------- tgll-export --requantize

def _requantize(exported, tmp_path, monkeypatch, **kw):
    from tgll_edge.training import requantize

    monkeypatch.setattr(requantize, "load_eval_data", lambda *a, **k: data())
    out = tmp_path / "rq"
    args = {"max_auc_drop": 1.0, "max_flip_rate": 1.0, **kw}
    return out, requantize.requantize_bundle(exported[0], out, None, command="test", recipes=ONNX_RECIPES[:1], **args)


def test_requantize_rebuilds_onnx_int8_from_the_bundles_fp32(exported, tmp_path, monkeypatch):
    from tgll_edge.training.export import int8_kernel_check

    out, result = _requantize(exported, tmp_path, monkeypatch)
    before, card = read_card(exported[0]), read_card(out)
    assert not result["failures"]
    entry = card["artifacts"]["onnx_int8"]
    assert entry["sha256"] == sha256_file(out / "model_int8.onnx")
    assert entry["quantization"]["recipe"] == ONNX_RECIPES[0]["name"]
    assert int8_kernel_check(out / "model_int8.onnx")["max_abs_int8_weight"] <= 64  # reduce_range
    assert card["provenance"]["requantized"][-1]["passed"] is True
    ref = entry["metrics_by_cpu"][entry["metrics"]["cpu_family"]]["reference"]
    assert ref.startswith("onnx_fp32")
    for key in ("onnx_fp32", "tflite_fp32", "tflite_int8"):  # the rest of the bundle is untouched
        assert card["artifacts"][key] == before["artifacts"][key]
    x, _ = synthetic(4, 7)
    fp32 = load_model(out, artifact="onnx_fp32").predict_proba(x)
    int8 = load_model(out, artifact="onnx_int8").predict_proba(x)
    assert np.abs(fp32 - int8).max() < INT8_TOL


def test_requantize_that_fails_the_gate_removes_the_int8_file(exported, tmp_path, monkeypatch):
    out, result = _requantize(exported, tmp_path, monkeypatch, max_auc_drop=-1.0)
    card = read_card(out)
    assert result["failures"] and result["failures"][0]["artifact"] == "onnx_int8"
    assert "onnx_int8" not in card["artifacts"] and not (out / "model_int8.onnx").exists()
    assert card["default_artifact"] in card["artifacts"]
    assert card["provenance"]["requantized"][-1]["passed"] is False


def test_requantize_refuses_a_tampered_fp32_file(exported, tmp_path, monkeypatch):
    import shutil

    from tgll_edge.errors import TgllError

    bundle = tmp_path / "b"
    shutil.copytree(exported[0], bundle)
    raw = bytearray((bundle / "model_fp32.onnx").read_bytes())
    raw[-10] ^= 0xFF
    (bundle / "model_fp32.onnx").write_bytes(bytes(raw))
    with pytest.raises(TgllError, match="sha256|checksum|changed"):
        _requantize((bundle,), tmp_path, monkeypatch)


def test_export_and_requantize_ship_the_streaming_split(exported, tmp_path, monkeypatch):
    """tgllnet's ONNX files come with their graph-stage / temporal-stage split (tgll_edge.incremental);
    --requantize rebuilds the int8 one; a failed requantize leaves no stale split file behind."""
    for key in ("onnx_fp32", "onnx_int8"):
        assert "stream" in read_card(exported[0])["artifacts"][key]
    assert "stream" not in read_card(exported[0])["artifacts"]["tflite_fp32"]
    out, _ = _requantize(exported, tmp_path, monkeypatch)
    split = read_card(out)["artifacts"]["onnx_int8"]["stream"]
    assert sha256_file(out / split["tokens"]["file"]) == split["tokens"]["sha256"]
    assert load_model(out, artifact="onnx_int8").stream_scorer() is not None
    bad, result = _requantize(exported, tmp_path / "x", monkeypatch, max_auc_drop=-1.0)
    assert result["failures"] and not list(bad.glob("model_int8*.onnx"))
