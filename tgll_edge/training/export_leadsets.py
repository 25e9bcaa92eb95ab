"""tgll-export for a lead-set TGLLNet (issue 9): the graph as a model input, gated per lead set.

The exported model takes ``x`` (B, 12, T) scaled, ``lead_mask`` (B, 12) and ``cheb``
(B, n_levels, K, 12, 12), the Chebyshev basis of each level's masked, renormalised
operator (``tgll_edge.signal.leadgraph.graph_basis``, the numpy twin of
``models/graph.py``), and returns logits. Each Chebyshev layer builds its pointwise map
from the basis in the graph (an Einsum of (K,12,12) with the layer's (K,f_in,f_out)
weights: 0.1 M MACs) and applies it as one batched MatMul over time: the same GEMM as
the folded 1x1 convolution of a fixed-graph bundle, so any lead subset costs what the
12-lead model costs. The card ships the learned adjacency (``lead_graph``) and per
standard set (``lead_sets``) the fold-9 and fold-10 macro-AUC of the default artifact
and the int8 gate's result for every artifact. fp32 ONNX and int8 ONNX (static QDQ,
calibrated on training-fold windows under the standard sets' masks); every int8 file
must pass the gate (fold-9 AUC drop <= 0.005, decision flips <= 2 % vs torch fp32) for
EACH standard set, else the next recipe is tried. TFLite (``--formats onnx,tflite``): fp32 and
int8 (PT2E, ``TFLITE_RECIPES``) with the same three inputs at batch 1, gated per set the same way.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..bundle import artifact_entry, write_card
from ..errors import ExportError
from ..runtime import sigmoid
from ..signal.leadgraph import graph_basis
from . import export as ex
from .leadsets import STANDARD_SETS, standard_masks
from .protocol import MAX_AUC_DROP, MAX_FLIP_RATE
from .quantize import CalibrationReader

INPUTS = ("x", "lead_mask", "cheb")

#: int8 ONNX recipes tried in turn (quantize.ONNX_RECIPES' uint8 ones, then int16 activations)
RECIPES = (
    {"name": "uint8_minmax_rr", "activation_type": "QUInt8", "calibrate_method": "MinMax", "reduce_range": True},
    {"name": "uint8_percentile_rr", "activation_type": "QUInt8", "calibrate_method": "Percentile",
     "reduce_range": True},
    {"name": "uint8_minmax_rr_graph_float", "activation_type": "QUInt8", "calibrate_method": "MinMax",
     "reduce_range": True, "exclude": "graph"},
    {"name": "int16_activations", "activation_type": "QInt16", "calibrate_method": "MinMax"},
)


class GraphInput(nn.Module):
    """forward(x, lead_mask, cheb) -> logits: the exported form."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, lead_mask, cheb):
        return self.model(x, lead_mask, cheb)


class FixedSet(nn.Module):
    """One lead set's mask and basis as constants (the per-set "folded" form, for comparison)."""

    def __init__(self, model, mask: np.ndarray, cheb: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("mask", torch.as_tensor(mask)[None])
        self.register_buffer("cheb", torch.as_tensor(cheb)[None])

    def forward(self, x):
        b = x.shape[0]
        return self.model(x, self.mask.expand(b, -1), self.cheb.expand(b, -1, -1, -1, -1))


def adjacency(model) -> np.ndarray:
    """(n_levels, 12, 12): each level's processed adjacency (symmetric, clamped, zero diagonal)."""
    return np.stack(model.adjacency()).astype(np.float32)


def set_inputs(model, name_or_mask, n: int) -> dict:
    """``lead_mask`` and ``cheb`` for ``n`` windows of one lead set, built as the runtime does."""
    mask = standard_masks()[name_or_mask] if isinstance(name_or_mask, str) else np.asarray(name_or_mask, np.float32)
    cheb = graph_basis(adjacency(model), mask, int(model.levels[0].k))
    return {"lead_mask": np.broadcast_to(mask, (n, len(mask))).astype(np.float32),
            "cheb": np.broadcast_to(cheb, (n, *cheb.shape)).astype(np.float32)}


def export_onnx(model, path: Path) -> None:
    n, t = int(model.n_leads), int(model.n_times)
    k, levels = int(model.levels[0].k), len(model.levels)
    masks = np.stack([standard_masks()["12"], standard_masks()["3"]])
    example = (torch.randn(2, n, t), torch.as_tensor(masks),
               torch.as_tensor(np.stack([graph_basis(adjacency(model), m, k) for m in masks])))
    assert example[2].shape == (2, levels, k, n, n)
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(GraphInput(model).eval(), example, str(path), dynamo=True, opset_version=18, external_data=False,
                      input_names=list(INPUTS), output_names=["logits"],
                      dynamic_shapes={"x": {0: batch}, "lead_mask": {0: batch}, "cheb": {0: batch}}, verbose=False)


def backend_predict(path: Path, model, name: str, batch: int = 32):
    """scaled windows -> logits of a model file, with lead set ``name``'s mask and basis
    (masked leads set to 0 first, as the runtime does)."""
    from ..backends import open_backend
    backend = open_backend(path, threads=1)
    mask = standard_masks()[name]

    def run(x):
        out = []
        for i in range(0, len(x), batch):
            xb = x[i:i + batch] * mask[None, :, None]
            out.append(backend.run(xb, **set_inputs(model, name, len(xb))))
        return np.concatenate(out)
    return run


def torch_predict(model, name: str, batch: int = 64):
    mask = torch.as_tensor(standard_masks()[name])

    def run(x):
        with torch.no_grad():
            return np.concatenate([model(torch.as_tensor(x[i:i + batch]), mask.expand(len(x[i:i + batch]), -1)).numpy()
                                   for i in range(0, len(x), batch)])
    return run


def references(model, data: ex.EvalData, labels) -> dict:
    """The torch fp32 model per lead set (its own basis from graph.py): what artifacts are held to."""
    refs = {}
    for name in STANDARD_SETS:
        run = torch_predict(model, name)
        ref = {"p_val": sigmoid(run(data.x_val)), "p_test": sigmoid(run(data.x_test))}
        ref["val"], ref["test"] = ex.score(data.y_val, ref["p_val"], labels), ex.score(data.y_test, ref["p_test"], labels)
        refs[name] = ref
        ex._say(f"  torch fp32 [{name:>2}]: val {ref['val']['macro_auc']:.4f} test {ref['test']['macro_auc']:.4f}")
    return refs


def measure(path: Path, model, refs: dict, data, labels, thresholds, max_auc_drop, max_flip_rate) -> dict:
    """Per set: export.evaluate against that set's torch reference, and whether the gate holds."""
    per = {}
    for name in STANDARD_SETS:
        m = ex.evaluate(backend_predict(path, model, name), refs[name], data, labels, thresholds)
        m["passes_gate"] = bool(m["val_auc_drop"] <= max_auc_drop and m["val_decision_flip_rate"] <= max_flip_rate)
        per[name] = m
    return per


def calibration_feeds(model, x_calib: np.ndarray) -> dict:
    """Training-fold windows, each under one standard set's mask in turn (masked leads 0)."""
    names = list(STANDARD_SETS)
    xs, ms, cs = [], [], []
    for i, x in enumerate(x_calib):
        f = set_inputs(model, names[i % len(names)], 1)
        xs.append(x[None] * f["lead_mask"][:, :, None])
        ms.append(f["lead_mask"])
        cs.append(f["cheb"])
    return {"x": np.concatenate(xs).astype(np.float32), "lead_mask": np.concatenate(ms), "cheb": np.concatenate(cs)}


def quantize_onnx(fp32: Path, out: Path, feeds: dict, recipe: dict) -> dict:
    """Static QDQ int8 (per-channel weights) of the graph-input model; the card's details."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    details = {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "per_channel": True,
               "weight_type": "QInt8", "activation_type": recipe["activation_type"],
               "calibrate_method": recipe["calibrate_method"], "calibration_windows": int(len(feeds["x"])),
               "calibration_lead_sets": list(STANDARD_SETS), "recipe": recipe["name"],
               "reduce_range": bool(recipe.get("reduce_range", False))}
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32), str(pre))
        except Exception:  # noqa: BLE001 - symbolic shape inference is optional
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        exclude = []
        if recipe.get("exclude") == "graph":  # the per-window graph maps (Einsum -> MatMul) stay float
            graph = onnx.load(str(pre)).graph
            exclude = [n.name for n in graph.node if n.op_type in ("Einsum", "MatMul")]
        details["nodes_excluded"] = exclude
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
        if recipe["activation_type"] == "QInt16":
            extra["UseQDQContribOps"] = True
        if recipe["calibrate_method"] == "Percentile":
            extra["CalibPercentile"] = 99.999
        quantize_static(str(pre), str(out), CalibrationReader(feeds), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=bool(recipe.get("reduce_range", False)),
                        activation_type=getattr(QuantType, recipe["activation_type"]), weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, recipe["calibrate_method"]),
                        nodes_to_exclude=exclude, extra_options=extra)
    return details


def _kernel_check(path: Path) -> dict:
    """export.int8_kernel_check where this tree has it (int8 weights within +-64 for x86 U8S8)."""
    check = getattr(ex, "int8_kernel_check", None)
    return check(path) if check else {"int8_kernel_independent": True}


def _cpu_family() -> str | None:
    try:
        from ..cpufamily import cpu_info
    except ImportError:
        return None
    return cpu_info()["family"]


def _summary(per: dict) -> dict:
    keys = ("val_macro_auc", "test_macro_auc", "val_auc_drop", "val_decision_flip_rate", "test_decision_flip_rate",
            "max_abs_prob_diff", "passes_gate")
    return {name: {k: m[k] for k in keys} for name, m in per.items()}


def export_leadset_bundle(model, config: dict, out, data: ex.EvalData, *, int8: bool = True,
                          max_auc_drop: float = MAX_AUC_DROP, max_flip_rate: float = MAX_FLIP_RATE,
                          name: str | None = None, checkpoint_dir=None, command: str | None = None,
                          recipes=RECIPES, formats=("onnx",), tflite_recipes=None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = list(config["labels"])
    thresholds = [float(config["thresholds"][lab]) for lab in labels]
    model = model.eval()
    model.fold_graph()  # the multi-scale kernel only: the graph stays an input
    t0 = time.time()
    ex._say(f"torch fp32 reference per lead set on fold 9 ({len(data.x_val)}) and fold 10 ({len(data.x_test)})")
    refs = references(model, data, labels)
    lim = (labels, thresholds, max_auc_drop, max_flip_rate)
    artifacts, failures, per_artifact = {}, [], {}

    fp32 = out / "model_fp32.onnx"
    ex._say(f"onnx fp32 (graph as input): converting -> {fp32.name}")
    export_onnx(model, fp32)
    ex.minify_onnx(fp32)
    artifacts["onnx_fp32"] = _fp32_entry(fp32, "onnx", model, refs, data, lim, per_artifact)
    if int8:
        feeds = calibration_feeds(model, data.x_calib)
        q = out / "model_int8.onnx"
        attempts = []
        for recipe in recipes:
            ex._say(f"onnx int8: recipe {recipe['name']} ({len(feeds['x'])} calibration windows from folds "
                    f"{list(data.calib_folds)}, under the standard sets' masks)")
            try:
                details = quantize_onnx(fp32, q, feeds, recipe)
                ex.minify_onnx(q)
                per = measure(q, model, refs, data, *lim)
            except Exception as exc:  # noqa: BLE001 - a recipe the toolchain cannot build is a failed attempt
                attempts.append({"recipe": recipe["name"], "error": f"{type(exc).__name__}: {exc}"[:300]})
                ex._say(f"  failed to build: {type(exc).__name__}: {exc}"[:300])
                continue
            kernel = _kernel_check(q)
            ok = all(m["passes_gate"] for m in per.values()) and kernel["int8_kernel_independent"]
            attempts.append({"recipe": recipe["name"], "passed": ok, **kernel,
                             "by_lead_set": {n: {k: m[k] for k in ("val_auc_drop", "val_decision_flip_rate",
                                                                   "passes_gate")} for n, m in per.items()}})
            for n, m in per.items():
                ex._say(f"  [{n:>2}] val {m['val_macro_auc']:.4f} (drop {m['val_auc_drop']:+.4f}) flips "
                        f"{m['val_decision_flip_rate']:.2%} test {m['test_macro_auc']:.4f} "
                        f"-> {'PASS' if m['passes_gate'] else 'FAIL'}")
            ex._say(f"  recipe {recipe['name']}: {'PASS' if ok else 'FAIL'} ({kernel})")
            if ok:
                details.update(attempts=attempts, gate={**{"fold": 9, "max_auc_drop": max_auc_drop,
                                                          "max_decision_flip_rate": max_flip_rate},
                                                       "per_lead_set": True},
                               remedy=None if recipe is recipes[0] else recipe["name"])
                per_artifact["onnx_int8"] = per
                artifacts["onnx_int8"] = artifact_entry(
                    q, "onnx", "int8", {**per["12"], **kernel, "cpu_family": _cpu_family(),
                                        "metrics_lead_set": "12"},
                    inputs=list(INPUTS), quantization=details, metrics_by_lead_set=_summary(per))
                break
        else:
            q.unlink(missing_ok=True)
            failures.append({"artifact": "onnx_int8", "attempts": attempts})

    if "tflite" in formats:
        _export_tflite(model, out, data, refs, lim, int8, artifacts, failures, per_artifact,
                       recipes=tflite_recipes or TFLITE_RECIPES)

    # the streaming split, checked on fold-9 windows under the 12-lead and a reduced set's inputs
    from .stream_split import add_stream_splits
    xs = data.x_val[:64]
    half = len(xs) // 2
    sets = [set_inputs(model, "12", half), set_inputs(model, "3", len(xs) - half)]
    extra = {k: np.concatenate([sets[0][k], sets[1][k]]) for k in sets[0]}
    add_stream_splits(out, artifacts, np.where(extra["lead_mask"][:, :, None] > 0, xs, 0).astype(np.float32), extra)

    default = "onnx_int8" if "onnx_int8" in artifacts else "onnx_fp32"
    if artifacts.get("onnx_int8", {}).get("quantization", {}).get("activation_type") == "QInt16":
        # int16 activations: the file is smaller but onnxruntime runs it slower than fp32 on CPU
        # (1.0 vs 0.76 ms for a 1 s hop's graph stage, 1.07 vs 0.86 ms for the temporal stage, AVX2)
        default = "onnx_fp32"
    card = ex.make_card(model, config, artifacts, default, refs["12"], name=name or out.name,
                        checkpoint_dir=checkpoint_dir, command=command, max_auc_drop=max_auc_drop)
    card["inputs"] = list(INPUTS)
    card["input"]["lead_mask"] = "float32 (batch, 12): 1 usable lead, 0 not; the model zeroes masked leads itself"
    card["input"]["cheb"] = ("float32 (batch, n_levels, K, 12, 12): per level the Chebyshev basis T_0..T_{K-1} "
                             "of the masked renormalised operator (tgll_edge.signal.leadgraph.graph_basis)")
    card["lead_graph"] = {"adjacency": adjacency(model).tolist(), "cheb_k": int(model.levels[0].k)}
    card["min_leads"] = 1
    chosen = per_artifact[default]
    card["lead_sets"] = {
        n: {"leads": list(leads), "val_macro_auc": round(chosen[n]["val_macro_auc"], 6),
            "test_macro_auc": round(chosen[n]["test_macro_auc"], 6), "measured_with": default,
            "torch_fp32": {"val_macro_auc": round(refs[n]["val"]["macro_auc"], 6),
                           "test_macro_auc": round(refs[n]["test"]["macro_auc"], 6)},
            "gate": {a: {"passes": per_artifact[a][n]["passes_gate"],
                         "val_auc_drop": per_artifact[a][n]["val_auc_drop"],
                         "val_decision_flip_rate": per_artifact[a][n]["val_decision_flip_rate"]}
                     for a in per_artifact}}
        for n, leads in STANDARD_SETS.items()}
    card["lead_set_definition"] = ("a set's mask is exactly the leads listed (no derived lead added); masked "
                                   "leads are 0 in x and leave the graph")
    if checkpoint_dir is not None and (Path(checkpoint_dir) / "adjacency.png").is_file():
        import shutil
        shutil.copy2(Path(checkpoint_dir) / "adjacency.png", out / "adjacency.png")
        card["adjacency_png"] = "adjacency.png"
    write_card(out, card)
    ex._say(f"wrote {out / 'card.json'} ({', '.join(artifacts)}; default {default}) in {time.time() - t0:.0f} s")
    return {"card": card, "failures": failures}


def _fp32_entry(path: Path, fmt: str, model, refs, data, lim, per_artifact: dict) -> dict:
    """An fp32 file's card entry after checking it equals torch on every standard set."""
    key = f"{fmt}_fp32"
    per = measure(path, model, refs, data, *lim)
    worst = max(m["max_abs_prob_diff"] for m in per.values())
    ex._say(f"  {key}: max|dp| over the sets {worst:.2g}")
    if worst > ex.FP32_TOLERANCE:
        raise ExportError(f"{fmt} fp32 disagrees with torch: max |prob diff| {worst} > {ex.FP32_TOLERANCE}")
    per_artifact[key] = per
    return artifact_entry(path, fmt, "fp32", {**per["12"], "metrics_lead_set": "12"}, inputs=list(INPUTS),
                          metrics_by_lead_set=_summary(per))


#: int8 TFLite recipes for the graph-input form, tried in turn, all ai-edge-quantizer on the fp32
#: file: static int8 activations calibrated under the standard sets' masks, then int8 weights only.
#: Not listed, because they cannot work for this form: litert-torch PT2E (the converter refuses the
#: Chebyshev layers' tfl.batch_matmul on a quantized input) and ai-edge-quantizer's dynamic range
#: (the file converts, but LiteRT's batch_matmul kernel rejects its float x int8-dequantized mix
#: at load). Measured on the released run: static int8 changed 14-15 % of single-lead decisions.
TFLITE_RECIPES = (
    {"name": "aeq_static_wi8_ai8", "mode": "ai_edge_quantizer", "activation_bits": 8},
    {"name": "aeq_weight_only_wi8", "mode": "ai_edge_quantizer", "activation_bits": 32},
)


def _tflite_samples(model, x_calib: np.ndarray) -> list:
    feeds = calibration_feeds(model, x_calib)
    return [tuple(feeds[k][i:i + 1] for k in INPUTS) for i in range(len(feeds["x"]))]


def _export_tflite(model, out: Path, data, refs, lim, int8: bool, artifacts: dict, failures: list,
                   per_artifact: dict, recipes=TFLITE_RECIPES) -> None:
    """tflite_fp32 (litert-torch, batch 1, the three inputs) and, with ``int8``, the first
    recipe of ``recipes`` that passes the gate on every standard set."""
    import litert_torch

    from .quantize import quantize_tflite_aeq

    sample = tuple(torch.as_tensor(a) for a in _tflite_samples(model, data.x_calib[:1])[0])
    fp32 = out / "model_fp32.tflite"
    ex._say(f"tflite fp32 (graph as input): converting -> {fp32.name}")
    litert_torch.convert(GraphInput(model).eval(), sample).export(str(fp32))
    artifacts["tflite_fp32"] = _fp32_entry(fp32, "tflite", model, refs, data, lim, per_artifact)
    if not int8:
        return
    q = out / "model_int8.tflite"
    samples = _tflite_samples(model, data.x_calib)
    attempts = []
    for recipe in recipes:
        ex._say(f"tflite int8: recipe {recipe['name']}")
        try:
            details = quantize_tflite_aeq(fp32, q, None, recipe, samples=samples)
            per = measure(q, model, refs, data, *lim)
        except Exception as exc:  # noqa: BLE001 - a recipe the toolchain cannot build is a failed attempt
            attempts.append({"recipe": recipe["name"], "error": f"{type(exc).__name__}: {exc}"[:300]})
            ex._say(f"  failed to build: {type(exc).__name__}: {exc}"[:300])
            continue
        ok = all(m["passes_gate"] for m in per.values())
        attempts.append({"recipe": recipe["name"], "passed": ok,
                         "by_lead_set": {n: {k: m[k] for k in ("val_auc_drop", "val_decision_flip_rate",
                                                               "passes_gate")} for n, m in per.items()}})
        for n, m in per.items():
            ex._say(f"  [{n:>2}] val {m['val_macro_auc']:.4f} (drop {m['val_auc_drop']:+.4f}) flips "
                    f"{m['val_decision_flip_rate']:.2%} -> {'PASS' if m['passes_gate'] else 'FAIL'}")
        if ok:
            details.update(attempts=attempts, remedy=None if recipe is recipes[0] else recipe["name"])
            per_artifact["tflite_int8"] = per
            artifacts["tflite_int8"] = artifact_entry(
                q, "tflite", "int8", {**per["12"], "cpu_family": _cpu_family(), "metrics_lead_set": "12"},
                inputs=list(INPUTS), quantization=details, metrics_by_lead_set=_summary(per))
            return
    q.unlink(missing_ok=True)
    failures.append({"artifact": "tflite_int8", "attempts": attempts})


def main_leadsets(model, config: dict, args, argv) -> int:
    """``tgll-export`` for a checkpoint trained with ``--lead-sets`` (called by export.main)."""
    import json
    import sys

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if "onnx" not in formats:
        print("tgll-export: error: a lead-set bundle is written as ONNX (graph as input); add onnx to --formats",
              file=sys.stderr)
        return 2
    try:
        ex._say(f"loaded lead-set checkpoint {args.checkpoint}")
        data = ex.load_eval_data(config, args.data, args.calib_windows)
        result = export_leadset_bundle(
            model, config, args.out, data, int8=args.int8, max_auc_drop=args.max_auc_drop,
            max_flip_rate=args.max_flip_rate, name=args.name, checkpoint_dir=args.checkpoint,
            command="tgll-export " + " ".join(sys.argv[1:] if argv is None else argv), formats=formats)
    except (ExportError, FileNotFoundError, ValueError) as exc:
        print(f"tgll-export: error: {exc}", file=sys.stderr)
        return 1
    if result["failures"]:
        print("tgll-export: FAILED the per-lead-set parity gate; not written:", file=sys.stderr)
        for f in result["failures"]:
            for a in f["attempts"]:
                print(f"    {json.dumps(a)}", file=sys.stderr)
        return 2
    return 0
