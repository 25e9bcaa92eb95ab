"""A tiny model bundle for tests, built without torch (onnx.helper).

The model is linear in its input (logits = flatten(x_scaled) @ W + b, then the
runtime's sigmoid), so every sample of every lead moves every probability: a
windowing, timing or preprocessing mistake in the streaming path changes the
output, which is what the tests need. Weights are seeded and deterministic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]
LEADS_12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def make_tiny_bundle(out_dir, n_times: int = 1000, fs: int = 100, seed: int = 0,
                     settings: dict | None = None) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from tgll_edge.bundle import artifact_entry, write_card
    from tgll_edge.signal.preprocess import DEFAULT_SETTINGS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_in = 12 * n_times
    w = (rng.standard_normal((n_in, len(LABELS))) / np.sqrt(n_in) * 1.5).astype(np.float32)
    b = np.zeros(len(LABELS), dtype=np.float32)
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 12, n_times])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])],
        initializer=[numpy_helper.from_array(np.array([-1, n_in], dtype=np.int64), "shape"),
                     numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = out / "model_fp32.onnx"
    onnx.save(model, str(path))
    metrics = {"val_macro_auc": None, "test_macro_auc": None, "max_abs_prob_diff": 0.0}
    card = {
        "schema": 1, "name": "tiny-linear-test", "task": "superdiagnostic", "labels": LABELS,
        "fs": fs, "n_times": n_times, "leads": LEADS_12,
        "input": {"layout": ["batch", "lead", "time"], "dtype": "float32", "units": "scaled"},
        "scaler": {"mean": 0.0, "std": 0.25},
        "preprocessing": settings or {**DEFAULT_SETTINGS, "fs": fs},
        "output": "logits",
        "thresholds": {lab: 0.5 for lab in LABELS},
        "artifacts": {"onnx_fp32": artifact_entry(path, "onnx", "fp32", metrics)},
        "default_artifact": "onnx_fp32",
        "provenance": {"note": "random linear test model, not trained; for tests only"},
    }
    write_card(out, card)
    return out
