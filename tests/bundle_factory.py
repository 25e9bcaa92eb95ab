"""The tests' one builder of fake model bundles, torch-free (onnx.helper, seeded weights).

Two models, each such that every lead and every sample moves the outputs, so a
scaling, lead-order, windowing or timing mistake changes the probabilities:

- ``make_bundle``: Conv1d(12->4, k=5) -> ReLU -> global average -> Linear(4->5),
  with a numpy oracle (``reference_logits``); for the runtime and CLI tests;
- ``make_tiny_bundle``: linear in its input (logits = flatten(x_scaled) @ W + b),
  any window length and rate; for the streaming tests.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]
LEADS_12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SCALER = {"mean": 0.05, "std": 0.4}


def weights(seed: int = 0):
    rng = np.random.default_rng(seed)
    return {"w1": rng.standard_normal((4, 12, 5)).astype(np.float32) * 0.3,
            "b1": rng.standard_normal(4).astype(np.float32) * 0.1,
            "w2": rng.standard_normal((5, 4)).astype(np.float32),
            "b2": rng.standard_normal(5).astype(np.float32) * 0.1}


def reference_logits(x_scaled: np.ndarray, seed: int = 0) -> np.ndarray:
    """numpy forward pass of the same model (x already scaled)."""
    w = weights(seed)
    b, _, t = x_scaled.shape
    xp = np.pad(x_scaled, ((0, 0), (0, 0), (2, 2)))
    cols = np.stack([xp[:, :, k:k + t] for k in range(5)], axis=-1)  # (B, 12, T, 5)
    h = np.maximum(np.einsum("bctk,ock->bot", cols, w["w1"]) + w["b1"][None, :, None], 0)
    return h.mean(axis=2) @ w["w2"].T + w["b2"]


def make_onnx(path: Path, seed: int = 0) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = weights(seed)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[2, 2], kernel_shape=[5]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["logits"], transB=1)]
    graph = helper.make_graph(
        nodes, "tiny_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 12, "time"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        initializer=[numpy_helper.from_array(v, k) for k, v in w.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_card(artifacts: dict, default: str, n_times: int = 1000, fs: int = 100, *, name: str = "tiny-conv-test",
              scaler: dict | None = None, settings: dict | None = None,
              note: str = "random test model, not trained") -> dict:
    from tgll_edge.bundle import ATTRIBUTION
    from tgll_edge.signal.preprocess import DEFAULT_SETTINGS

    return {"schema": 1, "name": name, "task": "superdiagnostic", "labels": LABELS,
            "fs": fs, "n_times": n_times, "leads": LEADS_12,
            "input": {"name": "x", "layout": ["batch", "lead", "time"], "dtype": "float32", "units": "scaled"},
            "scaler": dict(scaler or SCALER), "preprocessing": settings or {**DEFAULT_SETTINGS, "fs": fs},
            "output": "logits", "thresholds": {lab: 0.5 for lab in LABELS}, "artifacts": artifacts,
            "default_artifact": default, "provenance": {"note": note}, "attribution": ATTRIBUTION}


def _write_bundle(out: Path, path: Path, **card) -> Path:
    from tgll_edge.bundle import artifact_entry, write_card

    metrics = {"val_macro_auc": None, "test_macro_auc": None, "max_abs_prob_diff": 0.0}
    write_card(out, make_card({"onnx_fp32": artifact_entry(path, "onnx", "fp32", metrics)}, "onnx_fp32", **card))
    return out


def make_bundle(out_dir, seed: int = 0) -> Path:
    """A bundle with one artifact, onnx_fp32: the conv model."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _write_bundle(out, make_onnx(out / "model_fp32.onnx", seed))


def make_linear_onnx(path: Path, n_times: int, seed: int = 0, n_outputs: int = len(LABELS),
                     n_leads: int = 12) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    n_in = n_leads * n_times
    w = (rng.standard_normal((n_in, n_outputs)) / np.sqrt(n_in) * 1.5).astype(np.float32)
    b = np.zeros(n_outputs, dtype=np.float32)
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "b"], ["logits"])]
    graph = helper.make_graph(
        nodes, "tiny_linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_leads, n_times])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_outputs])],
        initializer=[numpy_helper.from_array(np.array([-1, n_in], dtype=np.int64), "shape"),
                     numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_tiny_bundle(out_dir, n_times: int = 1000, fs: int = 100, seed: int = 0,
                     settings: dict | None = None) -> Path:
    """A bundle with one artifact, onnx_fp32: the linear model, for any window and rate."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = make_linear_onnx(out / "model_fp32.onnx", n_times, seed)
    return _write_bundle(out, path, n_times=n_times, fs=fs, name="tiny-linear-test",
                         scaler={"mean": 0.0, "std": 0.25}, settings=settings,
                         note="random linear test model, not trained; for tests only")


def replace_model_file(bundle: Path, source: Path, artifact: str = "onnx_fp32") -> Path:
    """Put another file in an artifact's place and write its size and sha256 into the card, as a
    careless re-release would: the bundle verifies, but the model may not match the card."""
    import json
    import shutil

    from tgll_edge.bundle import sha256_file

    card = json.loads((bundle / "card.json").read_text())
    entry = card["artifacts"][artifact]
    target = bundle / entry["file"]
    if source != target:
        shutil.copyfile(source, target)
    entry.update(sha256=sha256_file(target), bytes=target.stat().st_size)
    (bundle / "card.json").write_text(json.dumps(card, indent=2))
    return bundle


# -- a lead-set-aware bundle (inputs x, lead_mask, cheb; card lead_graph, lead_sets) ------

#: the standard lead sets (PhysioNet/CinC 2021 and single leads), as the card lists them
STANDARD_LEAD_SETS = {"12": LEADS_12, "6": ["I", "II", "III", "aVR", "aVL", "aVF"],
                      "4": ["I", "II", "III", "V2"], "3": ["I", "II", "V2"], "2": ["I", "II"],
                      "I": ["I"], "II": ["II"]}
#: made-up fold-9 / fold-10 macro-AUCs of the test bundle (decreasing with fewer leads)
FAKE_LEAD_SET_AUC = {"12": 0.93, "6": 0.90, "4": 0.91, "3": 0.905, "2": 0.88, "I": 0.84, "II": 0.85}


def leadset_weights(n_levels: int = 2, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.5, 1.0, (n_levels, 12, 12))
    a = np.clip(np.maximum(a + a.transpose(0, 2, 1), 0), 0, 1)
    a[:, np.arange(12), np.arange(12)] = 0
    return {"adjacency": a.astype(np.float32), "k": k,
            "w": (rng.standard_normal((24, len(LABELS))) * 0.5).astype(np.float32),
            "b": (rng.standard_normal(len(LABELS)) * 0.1).astype(np.float32)}


def leadset_reference_logits(x_scaled, lead_mask, cheb, seed: int = 0) -> np.ndarray:
    """numpy forward pass of ``make_leadset_onnx``'s model: G = sum of cheb over levels and orders,
    h = relu(G @ x) averaged over time, logits = [h, lead_mask] @ W + b."""
    w = leadset_weights(seed=seed)
    g = np.asarray(cheb, dtype=np.float64).sum(axis=(1, 2))
    h = np.maximum(g @ np.asarray(x_scaled, dtype=np.float64), 0).mean(axis=2)
    return np.concatenate([h, lead_mask], axis=1) @ w["w"] + w["b"]


def make_leadset_onnx(path: Path, n_times: int, seed: int = 0, n_levels: int = 2, k: int = 3) -> Path:
    """A model whose output depends on x, lead_mask and cheb (torch-free, onnx.helper)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = leadset_weights(n_levels, k, seed)
    nodes = [helper.make_node("ReduceSum", ["cheb", "axes12"], ["g"], keepdims=0),
             helper.make_node("MatMul", ["g", "x"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("ReduceMean", ["r", "axes2"], ["f"], keepdims=0),
             helper.make_node("Concat", ["f", "lead_mask"], ["feat"], axis=1),
             helper.make_node("Gemm", ["feat", "w", "b"], ["logits"])]
    graph = helper.make_graph(
        nodes, "tiny_leadset",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 12, n_times]),
         helper.make_tensor_value_info("lead_mask", TensorProto.FLOAT, ["batch", 12]),
         helper.make_tensor_value_info("cheb", TensorProto.FLOAT, ["batch", n_levels, k, 12, 12])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(LABELS)])],
        initializer=[numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes12"),
                     numpy_helper.from_array(np.array([2], dtype=np.int64), "axes2"),
                     numpy_helper.from_array(w["w"], "w"), numpy_helper.from_array(w["b"], "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def leadset_card_fields(seed: int = 0, n_levels: int = 2, k: int = 3, min_leads: int = 1) -> dict:
    """The card fields of the bundle contract for ``make_leadset_onnx``'s weights."""
    w = leadset_weights(n_levels, k, seed)
    return {"lead_graph": {"adjacency": w["adjacency"].tolist(), "cheb_k": k},
            "inputs": ["x", "lead_mask", "cheb"], "min_leads": min_leads,
            "lead_sets": {name: {"leads": list(leads), "val_macro_auc": FAKE_LEAD_SET_AUC[name],
                                 "test_macro_auc": round(FAKE_LEAD_SET_AUC[name] - 0.03, 3)}
                          for name, leads in STANDARD_LEAD_SETS.items()}}


def make_leadset_bundle(out_dir, n_times: int = 1000, fs: int = 100, seed: int = 0, min_leads: int = 1,
                        settings: dict | None = None) -> Path:
    """A lead-set-aware bundle with one artifact, onnx_fp32 (random weights, for tests only)."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = make_leadset_onnx(out / "model_fp32.onnx", n_times, seed)
    _write_bundle(out, path, n_times=n_times, fs=fs, name="tiny-leadset-test",
                  scaler={"mean": 0.0, "std": 0.25}, settings=settings,
                  note="random lead-set-aware test model, not trained; for tests only")
    card = json.loads((out / "card.json").read_text())
    card.update(leadset_card_fields(seed, min_leads=min_leads))
    (out / "card.json").write_text(json.dumps(card, indent=2))
    return out
