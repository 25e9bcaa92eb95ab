"""tgll-export: a checkpoint becomes a model bundle (ONNX/TFLite, fp32/int8, card.json).

    tgll-export runs/x --out models/x --int8

Every artifact is measured against the fp32 torch model on fold 9 (the gate)
and fold 10 (reported only): macro-AUC, per-class AUC, max |prob diff|, and the
fraction of label decisions (at the fold-9 thresholds) that differ from torch's.
An int8 artifact whose fold-9 macro-AUC falls more than --max-auc-drop below the
torch model, or that changes more than --max-flip-rate of the fold-9 decisions,
is not shipped: the next recipe in quantize.ONNX_RECIPES /
TFLITE_RECIPES is tried, and if none holds the artifact is left out of the
bundle and the command exits nonzero with a report. Calibration windows come
from the training folds 1-8 only.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..bundle import ARTIFACT_KEYS, ATTRIBUTION, FORMATS, SCHEMA, artifact_entry, artifact_key, write_card
from ..cpufamily import cpu_info
from ..errors import ExportError, TgllError
from ..runtime import sigmoid
from ..signal.scaler import StandardScaler
from . import quantize
from .protocol import MAX_AUC_DROP, MAX_FLIP_RATE, TEST_FOLD, TRAIN_FOLDS, VAL_FOLD

FP32_TOLERANCE = 1e-3  # max |prob diff| an fp32 artifact may show vs torch (numerical noise only)


@dataclass
class EvalData:
    """Scaled windows (model input units) for the gate and calibration."""

    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_calib: np.ndarray
    calib_folds: tuple = TRAIN_FOLDS


def _say(msg: str) -> None:
    print(f"[tgll-export] {msg}", flush=True)


# ---------------------------------------------------------------- metrics

def _metrics():
    from . import metrics
    return metrics


def score(y: np.ndarray, p: np.ndarray, labels: list[str]) -> dict:
    m = _metrics()
    per = m.per_class_auc(y, p)
    per = [per[lab] for lab in labels] if isinstance(per, dict) else list(per)
    return {"macro_auc": float(m.macro_auc(y, p)),
            "per_class_auc": {lab: (None if a is None or not np.isfinite(a) else round(float(a), 6))
                              for lab, a in zip(labels, per)}}


def flip_rate(p: np.ndarray, p_ref: np.ndarray, thresholds: np.ndarray) -> float:
    """Fraction of (window, label) decisions at the card's thresholds that differ from the reference's."""
    return float(np.mean((p >= thresholds) != (p_ref >= thresholds)))


def evaluate(predict, ref: dict, data: EvalData, labels: list[str], thresholds) -> dict:
    """Metrics of one artifact (``predict``: scaled windows -> logits) vs the torch reference."""
    p_val, p_test = sigmoid(predict(data.x_val)), sigmoid(predict(data.x_test))
    val, test = score(data.y_val, p_val, labels), score(data.y_test, p_test, labels)
    diff = max(float(np.abs(p_val - ref["p_val"]).max()), float(np.abs(p_test - ref["p_test"]).max()))
    th = np.asarray(thresholds, dtype=np.float64)
    return {"val_max_abs_prob_diff": float(f"{np.abs(p_val - ref['p_val']).max():.3g}"),
            "val_decision_flip_rate": round(flip_rate(p_val, ref["p_val"], th), 6),
            "test_decision_flip_rate": round(flip_rate(p_test, ref["p_test"], th), 6),
            "val_macro_auc": round(val["macro_auc"], 6), "test_macro_auc": round(test["macro_auc"], 6),
            "max_abs_prob_diff": float(f"{diff:.3g}"),
            "val_auc_drop": round(ref["val"]["macro_auc"] - val["macro_auc"], 6),
            "val_per_class_auc": val["per_class_auc"], "test_per_class_auc": test["per_class_auc"]}


def torch_predict(model: torch.nn.Module, batch: int = 32):
    def run(x):
        with torch.no_grad():
            return np.concatenate([model(torch.as_tensor(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])
    return run


def backend_predict(path: Path, batch: int = 32):
    from ..backends import open_backend
    backend = open_backend(path, threads=1)

    def run(x):
        return np.concatenate([backend.run(x[i:i + batch]) for i in range(0, len(x), batch)])
    return run


# ---------------------------------------------------------------- conversion

def export_onnx(model: torch.nn.Module, path: Path, n_leads: int, n_times: int) -> None:
    """Single-file fp32 ONNX, opset 18, dynamic batch axis."""
    example = torch.randn(2, n_leads, n_times)
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(model, (example,), str(path), dynamo=True, opset_version=18, external_data=False,
                      input_names=["x"], output_names=["logits"], dynamic_shapes={"x": {0: batch}},
                      verbose=False)


def minify_onnx(path: Path) -> None:
    """Minify an ONNX file without changing what it computes: drop the exporter's per-node
    debug metadata (torch stack traces and module paths, carried into the quantized copy)
    and give internal tensors and nodes short names (graph inputs and outputs keep theirs).
    The graph's structure is untouched, so onnxruntime fuses and runs it with the same
    kernels on every CPU and the outputs are bit-identical (tested). All-zero
    DequantizeLinear zero points are kept although the input is optional: without them
    onnxruntime does not fuse DQ -> Gemm -> Q into QGemm, so the Gemms ran in float and,
    where U8S8 kernels saturate (x86 AVX2 / AVX-512 without VNNI), the int8 outputs
    moved by a quantization step (README, "ONNX int8 and the CPU family")."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)

    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    short: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in keep:
            return name
        return short.setdefault(name, f"t{len(short)}")

    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        node.input[:] = [rename(x) for x in node.input]
        node.output[:] = [rename(x) for x in node.output]
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    for info in graph.value_info:
        info.name = rename(info.name)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def export_tflite(model: torch.nn.Module, path: Path, n_leads: int, n_times: int) -> None:
    """fp32 TFLite with batch 1 (the LiteRT backend runs batches window by window)."""
    import litert_torch
    litert_torch.convert(model, (torch.randn(1, n_leads, n_times),)).export(str(path))


def strip_tflite_names(path: Path) -> None:
    """Replace the converter's tensor names (each the full torch module path) by short
    ones; the graph's input and output tensors keep theirs, signatures are untouched,
    outputs are bit-identical (tested)."""
    import flatbuffers
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    model = tfl_flatbuffer_utils.read_model(str(path))
    for g, subgraph in enumerate(model.subgraphs):
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for i, tensor in enumerate(subgraph.tensors):
            if i not in keep:
                tensor.name = f"s{g}t{i}"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    Path(path).write_bytes(builder.Output())


#: what shrinks each format's files without changing their outputs (applied to every artifact)
MINIFY = {"onnx": minify_onnx, "tflite": strip_tflite_names}


# ---------------------------------------------------------------- data

def load_eval_data(config: dict, data_path: str | None, calib_windows: int, seed: int = 0) -> EvalData:
    """Fold 9/10 windows and calibration windows from folds 1-8, scaled with the checkpoint's scaler."""
    from .data import load_dataset

    info = config.get("data", {})
    path = data_path or info.get("path")
    if not path or not Path(path).exists():
        raise ExportError(f"evaluation data {path!r} not found; pass --data PATH (the PTB-XL/CPSC root)")
    ds = load_dataset(path, config["task"], preprocessing=config.get("preprocessing"))
    if list(ds.labels) != list(config["labels"]):
        raise ExportError(f"dataset labels {ds.labels} differ from the checkpoint's {config['labels']}")
    scaler = StandardScaler.from_dict(config["scaler"])
    val_fold, test_fold = int(info.get("val_fold", VAL_FOLD)), int(info.get("test_fold", TEST_FOLD))
    train_folds = tuple(int(f) for f in info.get("train_folds", TRAIN_FOLDS))
    folds = np.asarray(ds.folds)
    train_idx = np.flatnonzero(np.isin(folds, train_folds))
    rng = np.random.default_rng(seed)
    calib_idx = np.sort(rng.choice(train_idx, size=min(calib_windows, len(train_idx)), replace=False))

    def pick(mask):
        return scaler.transform(ds.X[mask]).astype(np.float32), np.asarray(ds.Y[mask], dtype=np.float32)

    x_val, y_val = pick(folds == val_fold)
    x_test, y_test = pick(folds == test_fold)
    x_calib = scaler.transform(ds.X[calib_idx]).astype(np.float32)
    return EvalData(x_val, y_val, x_test, y_test, x_calib, calib_folds=train_folds)


# ---------------------------------------------------------------- bundle

#: largest |int8 weight| for which x86's U8S8 kernel without VNNI (vpmaddubsw: two u8 x s8
#: products summed in int16 with saturation) cannot saturate: 2 * 255 * 64 = 32640 <= 32767.
#: onnxruntime's reduce_range (7-bit weights) keeps weights within it.
SATURATION_FREE_MAX_WEIGHT = 64


def int8_kernel_check(path: Path) -> dict:
    """Whether an int8 ONNX file computes the same on every CPU family: with 8-bit activations
    every int8 weight must be within +-SATURATION_FREE_MAX_WEIGHT, else AVX2/AVX-512 (non-VNNI)
    kernels saturate where VNNI and ARM ones do not (README, "ONNX int8 and the CPU family")."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {t.name: t for t in graph.initializer}
    act8 = any(n.op_type == "QuantizeLinear" and len(n.input) == 3 and n.input[2] in inits
               and inits[n.input[2]].data_type in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8)
               for n in graph.node)
    w = [np.abs(numpy_helper.to_array(inits[n.input[0]]).astype(np.int32)).max() for n in graph.node
         if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].data_type == onnx.TensorProto.INT8]
    top = int(max(w)) if w else 0
    return {"max_abs_int8_weight": top,
            "int8_kernel_independent": bool(not act8 or top <= SATURATION_FREE_MAX_WEIGHT)}


@dataclass
class Gate:
    """The torch fp32 reference on folds 9 and 10 and the limits an int8 artifact must hold."""

    ref: dict
    data: EvalData
    labels: list
    thresholds: list
    max_auc_drop: float = MAX_AUC_DROP
    max_flip_rate: float = MAX_FLIP_RATE
    reference_name: str = "torch fp32"

    def measure(self, path: Path) -> dict:
        """:func:`evaluate` of a model file against the reference, on this machine's CPU
        family (``cpu_family``); int8 ONNX files also get :func:`int8_kernel_check`."""
        m = evaluate(backend_predict(path), self.ref, self.data, self.labels, self.thresholds)
        m["cpu_family"] = cpu_info()["family"]
        if Path(path).suffix == ".onnx" and "int8" in Path(path).name:
            m.update(int8_kernel_check(path))
        return m

    def passes(self, m: dict) -> bool:
        """AUC must hold, and the label decisions at the fold-9 thresholds must stay torch's:
        a quantized model can keep (or "gain") AUC by being a different model. Not max |dp|:
        one window on the steep part of the sigmoid dominates it. (The default flip-rate
        limit and why: README, "Quantization gate".) An int8 ONNX file must also compute the
        same on every CPU family (:func:`int8_kernel_check`): the gate runs on one."""
        return (m["val_auc_drop"] <= self.max_auc_drop and m["val_decision_flip_rate"] <= self.max_flip_rate
                and m.get("int8_kernel_independent", True))

    def by_cpu(self, m: dict) -> dict:
        """The card's ``metrics_by_cpu`` entry for metrics measured here: {family: summary}."""
        info = cpu_info()
        keys = ("val_macro_auc", "test_macro_auc", "val_auc_drop", "val_decision_flip_rate",
                "test_decision_flip_rate", "val_max_abs_prob_diff", "max_abs_prob_diff")
        return {info["family"]: {**{k: m[k] for k in keys}, "passes_gate": bool(self.passes(m)),
                                 "cpu_model": info["model"], "reference": self.reference_name,
                                 "date": _dt.date.today().isoformat()}}

    def card_entry(self) -> dict:
        return {"fold": VAL_FOLD, "max_auc_drop": self.max_auc_drop, "max_decision_flip_rate": self.max_flip_rate,
                "onnx_8bit_activations_max_abs_int8_weight": SATURATION_FREE_MAX_WEIGHT}


def reference(run, data: EvalData, labels: list[str], name: str) -> dict:
    """Probabilities and scores of ``run`` (windows -> logits) on folds 9 and 10: what every artifact
    is held to."""
    _say(f"{name} reference on fold 9 ({len(data.x_val)}) and fold 10 ({len(data.x_test)}) windows")
    ref = {"p_val": sigmoid(run(data.x_val)), "p_test": sigmoid(run(data.x_test))}
    ref["val"], ref["test"] = score(data.y_val, ref["p_val"], labels), score(data.y_test, ref["p_test"], labels)
    _say(f"  {name}: val macro-AUC {ref['val']['macro_auc']:.4f}, test {ref['test']['macro_auc']:.4f}")
    return ref


def torch_reference(model: torch.nn.Module, data: EvalData, labels: list[str]) -> dict:
    """:func:`reference` of the torch fp32 model."""
    return reference(torch_predict(model), data, labels, "torch fp32")


def convert(model: torch.nn.Module, fmt: str, out: Path, gate: Gate) -> dict:
    """The fp32 file of ``fmt``, minified and checked against torch; returns its card entry."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    fp32 = out / f"model_fp32.{fmt}"
    _say(f"{fmt} fp32: converting -> {fp32.name}")
    (export_onnx if fmt == "onnx" else export_tflite)(model, fp32, int(model.n_leads), int(model.n_times))
    MINIFY[fmt](fp32)
    m = gate.measure(fp32)
    _say(f"  {artifact_key(fmt, 'fp32')}: val {m['val_macro_auc']:.4f} test {m['test_macro_auc']:.4f} "
         f"max|dp| {m['max_abs_prob_diff']:.2g}")
    if m["max_abs_prob_diff"] > FP32_TOLERANCE:
        raise ExportError(f"{fmt} fp32 disagrees with torch: max |prob diff| {m['max_abs_prob_diff']} > "
                          f"{FP32_TOLERANCE}; the conversion is wrong")
    return artifact_entry(fp32, fmt, "fp32", m, metrics_by_cpu=gate.by_cpu(m))


def quantize_once(model: torch.nn.Module, fmt: str, fp32: Path, q_path: Path, recipe: dict, data: EvalData) -> dict:
    """One int8 file of ``fmt`` by ``recipe``, minified; returns the recipe's details for the card."""
    _say(f"{fmt} int8: recipe {recipe['name']} (calibration: {len(data.x_calib)} windows from folds "
         f"{list(data.calib_folds)})")
    if fmt == "onnx":
        details = quantize.quantize_onnx(fp32, q_path, data.x_calib, recipe)
    else:
        details = quantize.quantize_tflite(model, q_path, data.x_calib, recipe, fp32_path=fp32)
    MINIFY[fmt](q_path)
    return details


def try_recipes(model: torch.nn.Module, fmt: str, out: Path, recipes, gate: Gate) -> tuple[dict | None, list]:
    """Quantize by each recipe in turn until one's int8 file passes the gate. Returns (its
    card entry, or None when none passed and the int8 file is removed; the attempts)."""
    fp32, q_path = out / f"model_fp32.{fmt}", out / f"model_int8.{fmt}"
    key = artifact_key(fmt, "int8")
    attempts = []
    for recipe in recipes:
        try:
            details = quantize_once(model, fmt, fp32, q_path, recipe, gate.data)
            m = gate.measure(q_path)
        except Exception as exc:  # a recipe the toolchain cannot build is a failed attempt, not a crash
            attempts.append({"recipe": recipe["name"], "error": f"{type(exc).__name__}: {exc}"[:300]})
            _say(f"  failed to build: {type(exc).__name__}: {exc}"[:300])
            continue
        ok = gate.passes(m)
        attempts.append({"recipe": recipe["name"], "val_macro_auc": m["val_macro_auc"],
                         "val_auc_drop": m["val_auc_drop"],
                         "val_decision_flip_rate": m["val_decision_flip_rate"],
                         "val_max_abs_prob_diff": m["val_max_abs_prob_diff"], "cpu_family": m["cpu_family"],
                         "passed": ok})
        if "int8_kernel_independent" in m:
            attempts[-1]["max_abs_int8_weight"] = m["max_abs_int8_weight"]
            attempts[-1]["int8_kernel_independent"] = m["int8_kernel_independent"]
        _say(f"  {key} [{recipe['name']}]: val {m['val_macro_auc']:.4f} (drop {m['val_auc_drop']:+.4f}, "
             f"limit {gate.max_auc_drop}) fold-9 decisions flipped {m['val_decision_flip_rate']:.2%} "
             f"(limit {gate.max_flip_rate:.2%}) max|dp| {m['val_max_abs_prob_diff']:.3f}; "
             f"test {m['test_macro_auc']:.4f}"
             + ("" if m.get("int8_kernel_independent", True) else
                f"; int8 weights up to {m['max_abs_int8_weight']} saturate AVX2 U8S8 kernels (limit "
                f"{SATURATION_FREE_MAX_WEIGHT}: use reduce_range)") + f" -> {'PASS' if ok else 'FAIL'}")
        if ok:
            details["remedy"] = None if details["recipe"] == attempts[0]["recipe"] else details["recipe"]
            details["attempts"] = attempts
            details["gate"] = gate.card_entry()
            return artifact_entry(q_path, fmt, "int8", m, quantization=details,
                                  metrics_by_cpu=gate.by_cpu(m)), attempts
    q_path.unlink(missing_ok=True)
    return None, attempts


def write_bundle_card(model, config: dict, out: Path, artifacts: dict, gate: Gate, *, name: str | None,
                      checkpoint_dir, command) -> dict:
    """Write card.json (default artifact: the first of ARTIFACT_KEYS present), with the
    checkpoint's adjacency plot when it has one."""
    default = next(k for k in ARTIFACT_KEYS if k in artifacts)
    card = make_card(model, config, artifacts, default, gate.ref, name=name or out.name,
                     checkpoint_dir=checkpoint_dir, command=command, max_auc_drop=gate.max_auc_drop)
    if checkpoint_dir is not None and (Path(checkpoint_dir) / "adjacency.png").is_file():
        shutil.copy2(Path(checkpoint_dir) / "adjacency.png", out / "adjacency.png")
        card["adjacency_png"] = "adjacency.png"
    write_card(out, card)
    return card


def export_bundle(model: torch.nn.Module, config: dict, out: str | Path, data: EvalData, *,
                  formats=FORMATS, int8: bool = False, max_auc_drop: float = MAX_AUC_DROP,
                  max_flip_rate: float = MAX_FLIP_RATE, name: str | None = None,
                  checkpoint_dir: str | Path | None = None, command: str | None = None,
                  onnx_recipes=quantize.ONNX_RECIPES, tflite_recipes=quantize.TFLITE_RECIPES) -> dict:
    """Write the bundle to ``out``; returns {"card", "failures"}. Failed int8 artifacts are not listed.

    Steps: the torch reference and the :class:`Gate`; per format :func:`convert` and,
    with ``int8``, :func:`try_recipes`; then :func:`write_bundle_card`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = list(config["labels"])
    thresholds = [float(config["thresholds"][lab]) for lab in labels]
    model = model.eval()
    if hasattr(model, "fold_graph"):
        model.fold_graph()

    t0 = time.time()
    gate = Gate(torch_reference(model, data, labels), data, labels, thresholds, max_auc_drop, max_flip_rate)
    recipes = {"onnx": onnx_recipes, "tflite": tflite_recipes}
    artifacts, failures = {}, []
    for fmt in formats:
        artifacts[artifact_key(fmt, "fp32")] = convert(model, fmt, out, gate)
        if not int8:
            continue
        entry, attempts = try_recipes(model, fmt, out, recipes[fmt], gate)
        if entry is None:
            failures.append({"artifact": artifact_key(fmt, "int8"), "attempts": attempts})
        else:
            artifacts[artifact_key(fmt, "int8")] = entry

    if getattr(model, "arch", None) == "tgllnet":  # its graph stage is pointwise in time: stream it
        from .stream_split import add_stream_splits
        add_stream_splits(out, artifacts, data.x_val[:64])
    card = write_bundle_card(model, config, out, artifacts, gate, name=name, checkpoint_dir=checkpoint_dir,
                             command=command)
    _say(f"wrote {out / 'card.json'} ({', '.join(artifacts)}; default {card['default_artifact']}) "
         f"in {time.time() - t0:.0f} s")
    return {"card": card, "failures": failures}


def make_card(model, config: dict, artifacts: dict, default: str, ref: dict, *, name: str,
              checkpoint_dir=None, command=None, max_auc_drop=MAX_AUC_DROP) -> dict:
    from .. import __version__

    data = config.get("data", {})
    return {
        "schema": SCHEMA,
        "name": name,
        "task": config["task"],
        "labels": list(config["labels"]),
        "fs": config.get("fs", model.sfreq),
        "n_times": int(config.get("n_times", model.n_times)),
        "leads": list(config["leads"]),
        "input": {"name": "x", "layout": ["batch", "lead", "time"], "dtype": "float32",
                  "units": "preprocessed mV scaled as (x_mV - scaler.mean) / scaler.std"},
        "scaler": config["scaler"],
        "preprocessing": config["preprocessing"],
        "output": "logits",
        "thresholds": {lab: float(config["thresholds"][lab]) for lab in config["labels"]},
        "artifacts": artifacts,
        "default_artifact": default,
        "model": config["model"],
        "reference": {"framework": "torch fp32", "val_macro_auc": round(ref["val"]["macro_auc"], 6),
                      "test_macro_auc": round(ref["test"]["macro_auc"], 6),
                      "val_per_class_auc": ref["val"]["per_class_auc"],
                      "test_per_class_auc": ref["test"]["per_class_auc"],
                      "gate": f"int8 fold-9 macro-AUC within {max_auc_drop} of this"},
        "provenance": {
            "data": {"path": data.get("path"), "dataset": data.get("dataset")},
            "folds": {"train": data.get("train_folds", list(TRAIN_FOLDS)), "val": data.get("val_fold", VAL_FOLD),
                      "test": data.get("test_fold", TEST_FOLD),
                      "calibration": data.get("train_folds", list(TRAIN_FOLDS))},
            "checkpoint": str(checkpoint_dir) if checkpoint_dir else None,
            "train_command": config.get("command"),
            "train": config.get("train"),
            "command": command,
            "package_version": __version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "attribution": ATTRIBUTION,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tgll-export", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="checkpoint directory written by tgll-train (with --requantize: a bundle)")
    ap.add_argument("--out", required=True, help="bundle directory to write")
    ap.add_argument("--int8", action="store_true", help="also int8 ONNX (static QDQ) and int8 TFLite (PT2E)")
    ap.add_argument("--formats", default="onnx,tflite", help="comma-separated: onnx,tflite")
    ap.add_argument("--max-auc-drop", type=float, default=MAX_AUC_DROP,
                    help="fold-9 macro-AUC drop allowed for int8")
    ap.add_argument("--max-flip-rate", type=float, default=MAX_FLIP_RATE,
                    help="largest fraction of fold-9 label decisions (at the card's thresholds) an int8 "
                         f"artifact may change vs torch (default %(default)s = {MAX_FLIP_RATE * 100:g}%%)")
    ap.add_argument("--calib-windows", type=int, default=256, help="calibration windows from folds 1-8")
    ap.add_argument("--data", help="dataset root (default: the checkpoint's data path)")
    ap.add_argument("--name", help="bundle name for the card (default: the --out directory name)")
    ap.add_argument("--stream-split", action="store_true",
                    help="CHECKPOINT is a bundle: add the streaming split of its ONNX files (graph stage and "
                         "temporal stage, so a stream runs the graph stage on new samples only), checked on "
                         "fold-9 windows; the rest of the bundle is copied to --out unchanged")
    ap.add_argument("--requantize", action="store_true",
                    help="CHECKPOINT is a bundle: rebuild its int8 ONNX from its own fp32 ONNX with the current "
                         "recipes and gate (no checkpoint needed; the rest of the bundle is copied to --out, "
                         "which may be the bundle itself)")
    args = ap.parse_args(argv)
    command = "tgll-export " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.requantize and args.stream_split:
        ap.error("--requantize already rebuilds the streaming split; give one of them")
    if args.requantize or args.stream_split:
        return _requantize_main(args, command)

    from .checkpoint import load_checkpoint

    torch.manual_seed(0)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    try:
        model, config = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as exc:  # a missing or broken checkpoint: bad input, as tgll-eval
        print(f"tgll-export: error: {exc}", file=sys.stderr)
        return 2
    if config.get("model", {}).get("lead_sets"):  # issue 9: graph as input, gated per lead set
        from .export_leadsets import main_leadsets
        return main_leadsets(model, config, args, argv)
    try:
        _say(f"loaded checkpoint {args.checkpoint}")
        _say(f"loading evaluation data (folds 9, 10; calibration from training folds)")
        data = load_eval_data(config, args.data, args.calib_windows)
        result = export_bundle(model, config, args.out, data, formats=formats, int8=args.int8,
                               max_auc_drop=args.max_auc_drop, max_flip_rate=args.max_flip_rate, name=args.name,
                               checkpoint_dir=args.checkpoint,
                               command=command)
    except (TgllError, FileNotFoundError, ValueError) as exc:  # ExportError, or the data named in the config
        print(f"tgll-export: error: {exc}", file=sys.stderr)
        return 1
    return _report_failures(result)


def _requantize_main(args, command: str) -> int:
    from .requantize import requantize_bundle

    if args.formats.replace(" ", "") not in ("onnx", "onnx,tflite"):
        print("tgll-export: error: --requantize rebuilds the int8 ONNX only (TFLite int8 needs the torch "
              "checkpoint)", file=sys.stderr)
        return 2
    try:
        result = requantize_bundle(args.checkpoint, args.out, args.data, calib_windows=args.calib_windows,
                                   max_auc_drop=args.max_auc_drop, max_flip_rate=args.max_flip_rate,
                                   command=command, split_only=args.stream_split)
    except (TgllError, FileNotFoundError, ValueError) as exc:
        print(f"tgll-export: error: {exc}", file=sys.stderr)
        return 1
    return _report_failures(result)


def _report_failures(result: dict) -> int:
    if result["failures"]:
        print("tgll-export: FAILED parity gate; these artifacts were NOT written to the bundle:", file=sys.stderr)
        for f in result["failures"]:
            print(f"  {f['artifact']}:", file=sys.stderr)
            for a in f["attempts"]:
                print(f"    {json.dumps(a)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
