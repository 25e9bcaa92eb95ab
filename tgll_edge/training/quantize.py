"""Post-training int8 quantization recipes for ONNX (onnxruntime QDQ) and TFLite (PT2E).

Each recipe is a small dict recorded verbatim in the bundle card, so a card
says exactly how its int8 file was made. Export tries them in order until one
passes the gate (``export.Gate``); calibration windows come from the
training folds only.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)

#: ONNX recipes, tried in this order. Activations are uint8 (U8S8): on x86-64 with
#: AVX2/AVX-512 VNNI onnxruntime runs U8S8 convolutions with integer kernels, while
#: S8S8 and int16 activations run slower (README, "ONNX int8 uses uint8 activations");
#: accuracy is the same for U8 and S8 (both asymmetric, 256 levels). ``reduce_range``:
#: 7-bit weights (+-64), so x86's non-VNNI U8S8 kernel (vpmaddubsw, int16 sums with
#: saturation) computes what VNNI and ARM kernels do; without it the default bundle's
#: int8 ONNX moved probabilities by up to 0.28 on AVX2 (README, "ONNX int8 and the CPU
#: family"; the export gate refuses 8-bit files with larger weights). ``exclude`` names
#: nodes kept in float: "sensitive:N" = the nodes around the N activations that lose most to int8
#: (layer-wise comparison with qdq_loss_debug), "first_last" = the first and last MAC layers.
ONNX_RECIPES = (
    {"name": "uint8_minmax_rr", "activation_type": "QUInt8", "calibrate_method": "MinMax", "reduce_range": True},
    {"name": "uint8_percentile_rr", "activation_type": "QUInt8", "calibrate_method": "Percentile",
     "reduce_range": True},
    {"name": "uint8_exclude_sensitive_rr", "activation_type": "QUInt8", "calibrate_method": "MinMax",
     "exclude": "sensitive:4", "reduce_range": True},
    {"name": "uint8_exclude_first_last_rr", "activation_type": "QUInt8", "calibrate_method": "MinMax",
     "exclude": "first_last", "reduce_range": True},
    {"name": "int16_activations", "activation_type": "QInt16", "calibrate_method": "MinMax"},
)

#: TFLite recipes, tried in this order: litert-torch PT2E on the torch model, or
#: ai-edge-quantizer on the fp32 .tflite (int8 or int16 activations, int8 weights).
TFLITE_RECIPES = (
    {"name": "int8_static", "mode": "static"},
    {"name": "aeq_static_wi8_ai8", "mode": "ai_edge_quantizer", "activation_bits": 8},
    {"name": "aeq_static_wi8_ai16", "mode": "ai_edge_quantizer", "activation_bits": 16},
    {"name": "int8_dynamic_range", "mode": "dynamic"},
    # last resort: int8 weights, float activations and arithmetic (size only, no speed-up)
    {"name": "aeq_weight_only_wi8", "mode": "ai_edge_quantizer", "activation_bits": 32},
)


class CalibrationReader:
    """onnxruntime CalibrationDataReader over calibration inputs: ``feeds`` maps each model input's
    name to its (n, ...) array (one input for a fixed-graph model; x, lead_mask, cheb for a
    lead-set one), cut into batches together."""

    def __init__(self, feeds: dict, batch: int = 16):
        n = len(next(iter(feeds.values())))
        self.batches = [{k: np.ascontiguousarray(v[i:i + batch], dtype=np.float32) for k, v in feeds.items()}
                        for i in range(0, n, batch)]
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.batches):
            return None
        self.pos += 1
        return self.batches[self.pos - 1]

    def rewind(self):
        self.pos = 0

    def __iter__(self):
        self.rewind()
        return iter(self.batches)


def _input_name(path: str | Path) -> str:
    import onnx
    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _mac_nodes(path: str | Path) -> list[str]:
    import onnx
    graph = onnx.load(str(path)).graph
    return [n.name for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]


def sensitive_nodes(fp32_path: str | Path, qdq_path: str | Path, windows: np.ndarray, n: int) -> list[dict]:
    """The ``n`` activations that int8 degrades most (lowest SQNR of the QDQ'd tensor vs
    itself before quantization), with the nodes that produce and consume them."""
    import onnx
    from onnxruntime.quantization import qdq_loss_debug as dbg

    name = _input_name(fp32_path)
    with tempfile.TemporaryDirectory() as tmp:
        aug_q, aug_f = Path(tmp) / "q.onnx", Path(tmp) / "f.onnx"
        dbg.modify_model_output_intermediate_tensors(str(qdq_path), str(aug_q))
        dbg.modify_model_output_intermediate_tensors(str(fp32_path), str(aug_f))
        qa = dbg.collect_activations(str(aug_q), CalibrationReader({name: windows}))
        fa = dbg.collect_activations(str(aug_f), CalibrationReader({name: windows}))
    errors = dbg.compute_activation_error(dbg.create_activation_matching(qa, fa))
    graph = onnx.load(str(fp32_path)).graph
    ranked = sorted(errors.items(), key=lambda kv: kv[1]["qdq_err"])[:n]
    out = []
    for tensor, err in ranked:
        producers = [nd.name for nd in graph.node if tensor in nd.output]
        consumers = [nd.name for nd in graph.node if tensor in nd.input]
        out.append({"tensor": tensor, "qdq_sqnr_db": round(float(err["qdq_err"]), 2),
                    "xmodel_sqnr_db": round(float(err.get("xmodel_err", float("nan"))), 2),
                    "nodes": producers + consumers})
    return out


def quantize_onnx(fp32_path: str | Path, out_path: str | Path, windows: np.ndarray, recipe: dict) -> dict:
    """Static QDQ per-channel quantization of an fp32 ONNX file; returns the card's details."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    details = {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ", "per_channel": True,
               "weight_type": "QInt8", "activation_type": recipe["activation_type"],
               "calibrate_method": recipe["calibrate_method"], "calibration_windows": int(len(windows)),
               "recipe": recipe["name"], "reduce_range": bool(recipe.get("reduce_range", False))}
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            quant_pre_process(str(fp32_path), str(pre))
        except TypeError:
            # onnxruntime's symbolic shape inference loses a Conv input shape on the paper
            # preset's graph (the ECA/SE branches); ONNX's own shape inference is enough here
            quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
            details["pre_process"] = "onnx shape inference only (symbolic shape inference failed)"
        exclude: list[str] = []
        spec = recipe.get("exclude")
        if spec == "first_last":
            macs = _mac_nodes(pre)
            exclude = [macs[0], macs[-1]]
        elif spec and spec.startswith("sensitive:"):
            probe = Path(tmp) / "probe.onnx"
            quantize_onnx(pre, probe, windows, {**recipe, "exclude": None})
            found = sensitive_nodes(pre, probe, windows[:64], int(spec.split(":")[1]))
            exclude = sorted({nd for f in found for nd in f["nodes"]})
            details["sensitive_tensors"] = found
        details["nodes_excluded"] = exclude
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
        if recipe["activation_type"] == "QInt16":
            extra["UseQDQContribOps"] = True  # int16 Q/DQ needs the com.microsoft domain ops
        if recipe["calibrate_method"] == "Percentile":
            extra["CalibPercentile"] = 99.999
        quantize_static(
            str(pre), str(out_path), CalibrationReader({_input_name(pre): windows}),
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=bool(recipe.get("reduce_range", False)),
            activation_type=getattr(QuantType, recipe["activation_type"]), weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, recipe["calibrate_method"]),
            nodes_to_exclude=exclude, extra_options=extra)
    return details


def quantize_tflite(model: torch.nn.Module, out_path: str | Path, windows: np.ndarray, recipe: dict,
                    fp32_path: str | Path | None = None) -> dict:
    """int8-weight TFLite by ``recipe``; returns the card's details."""
    if recipe["mode"] == "ai_edge_quantizer":
        if fp32_path is None:
            raise ValueError("ai-edge-quantizer recipes need the fp32 .tflite")
        return quantize_tflite_aeq(fp32_path, out_path, windows, recipe)
    return quantize_tflite_pt2e(model, out_path, windows, recipe)


def _signature_inputs(fp32_path) -> tuple[str, list[str]]:
    """(signature key, its input names in the model's argument order: x, then lead_mask and cheb
    for a lead-set model, told apart by rank since the converter names them args_N)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(fp32_path))
    key = next(iter(interp.get_signature_list()))
    details = interp.get_signature_runner(key).get_input_details()
    order = {3: 0, 2: 1, 5: 2}  # x (B, leads, T), lead_mask (B, leads), cheb (B, levels, K, n, n)
    names = sorted(details, key=lambda n: order.get(len(details[n]["shape"]), 9))
    return key, names


def quantize_tflite_aeq(fp32_path: str | Path, out_path: str | Path, windows: np.ndarray, recipe: dict,
                        samples: list | None = None) -> dict:
    """ai-edge-quantizer on the fp32 .tflite: static int8/int16 activations (min/max
    calibration), or int8 weights only (``activation_bits`` 32, no calibration). ``samples``:
    calibration inputs as tuples of batch-1 arrays for a model with several inputs (default:
    ``windows``)."""
    from ai_edge_quantizer import quantizer as aeq_quantizer
    from ai_edge_quantizer import recipe as aeq_recipe

    key, input_names = _signature_inputs(fp32_path)
    qt = aeq_quantizer.Quantizer(str(fp32_path))
    bits = int(recipe["activation_bits"])
    if bits == 32:
        qt.load_quantization_recipe(aeq_recipe.weight_only_wi8_afp32())
        Path(out_path).unlink(missing_ok=True)
        qt.quantize().export_model(str(out_path), overwrite=True)
        return {"tool": "ai_edge_quantizer", "weights": "int8 per-channel (dequantized at run time)",
                "activations": "float32", "calibration_windows": 0, "recipe": recipe["name"]}
    qt.load_quantization_recipe(aeq_recipe.static_wi8_ai16() if bits == 16 else aeq_recipe.static_wi8_ai8())
    if samples is None:
        samples = [(w[None],) for w in windows]
    samples = [{n: np.asarray(a, dtype=np.float32) for n, a in zip(input_names, s)} for s in samples]
    calibration = qt.calibrate({key: samples}, num_threads=1)
    Path(out_path).unlink(missing_ok=True)
    qt.quantize(calibration, enable_progress_report=False).export_model(str(out_path), overwrite=True)
    return {"tool": "ai_edge_quantizer", "weights": "int8 per-channel",
            "activations": f"int{bits} static (min/max calibration)", "calibration_windows": int(len(samples)),
            "recipe": recipe["name"]}


def quantize_tflite_pt2e(model: torch.nn.Module, out_path: str | Path, windows: np.ndarray, recipe: dict) -> dict:
    """int8 TFLite through litert-torch PT2E (symmetric per-channel weights); returns details."""
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer as pq
    from litert_torch.quantize import quant_config as qc
    from torchao.quantization.pt2e import quantize_pt2e

    dynamic = recipe["mode"] == "dynamic"
    quantizer = pq.PT2EQuantizer().set_global(
        pq.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=dynamic))
    sample = (torch.as_tensor(windows[:1], dtype=torch.float32),)
    graph = torch.export.export(model, sample).module()
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        # the exported graph is specialised to batch 1
        for w in windows:
            graph(torch.as_tensor(w[None], dtype=torch.float32))
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    edge = litert_torch.convert(graph, sample, quant_config=qc.QuantConfig(pt2e_quantizer=quantizer))
    edge.export(str(out_path))
    return {"tool": "litert_torch PT2E", "weights": "int8 symmetric per-channel",
            "activations": "float (dynamic-range int8 at run time)" if dynamic else "int8 per-tensor (HistogramObserver)",
            "calibration_windows": 0 if dynamic else int(len(windows)), "recipe": recipe["name"]}
