"""Split an exported TGLLNet ONNX file into its graph stage and its temporal stage, for streaming.

TGLLNet's graph stage (Chebyshev layers, tokenizer, residual lead projection, mask
embedding) is pointwise in time: the token at step t depends only on the 12 leads at
step t. With a 1 s hop, 90 % of a 10 s window's steps were already seen by the previous
window, so a gateway can keep the previous window's tokens and run the graph stage on
the new steps only, then the temporal stage on the whole token sequence
(``tgll_edge.incremental``). On x86 AVX2 the graph stage is about 85 % of the edge
model's time (2.9 of 3.4 ms per int8 window).

The split is cut from the exported file itself (``onnx.utils.Extractor``), not
re-exported from torch, so an int8 file keeps its own quantization: the cut is at the
quantized (uint8/int8) token tensor, between a QuantizeLinear and its DequantizeLinear,
and both halves keep their QDQ fusions. The token half gets a symbolic time axis.

:func:`check_split` is the gate: streaming-style token chunks through the two halves
must give the full file's probabilities (max |dp| within ``tolerance``), or the split
is not shipped.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..bundle import sha256_file
from ..errors import ExportError
from .export import _say

TIME = "time"


def _kernel(node) -> list[int]:
    for a in node.attribute:
        if a.name == "kernel_shape":
            return list(a.ints)
    return []


def find_boundary(graph) -> str:
    """The token tensor: the input of the first convolution whose kernel spans more than one
    time step (the temporal stage's stem), taken before its DequantizeLinear in a QDQ file."""
    producer = {o: n for n in graph.node for o in n.output}
    for node in graph.node:  # ONNX nodes are stored in topological order
        if node.op_type == "Conv" and max(_kernel(node) or [1]) > 1:
            name = node.input[0]
            src = producer.get(name)
            if src is not None and src.op_type == "DequantizeLinear":
                name = src.input[0]
            return name
    raise ExportError("no temporal convolution (kernel > 1) found: not a TGLLNet graph stage to split")


def _symbolic_time(model, names, axis: int = 2) -> None:
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name in names:
            dims = value.type.tensor_type.shape.dim
            if len(dims) > axis:
                dims[axis].Clear()
                dims[axis].dim_param = TIME
    del model.graph.value_info[:]  # intermediate shapes were inferred for the fixed window length


def _ensure_value_info(graph, name: str) -> None:
    """Shape inference can leave a QuantizeLinear output untyped (the Extractor needs its type):
    its element type is the zero point's, its shape the quantized tensor's (or left open)."""
    from onnx import helper

    known = {v.name: v for v in list(graph.value_info) + list(graph.input) + list(graph.output)}
    if name in known:
        return
    q = next((n for n in graph.node if name in n.output), None)
    inits = {t.name: t for t in graph.initializer}
    if q is None or q.op_type != "QuantizeLinear" or len(q.input) < 3 or q.input[2] not in inits:
        raise ExportError(f"cannot type the token tensor {name!r} for the split")
    src = known.get(q.input[0])
    dims = None
    if src is not None and src.type.tensor_type.HasField("shape"):
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
                for d in src.type.tensor_type.shape.dim]
    graph.value_info.append(helper.make_tensor_value_info(name, inits[q.input[2]].data_type, dims))


def split_onnx(full_path: str | Path, tokens_path: str | Path, head_path: str | Path) -> str:
    """Write the graph stage (inputs -> tokens, symbolic time) and the temporal stage
    (tokens -> logits) of ``full_path``; returns the token tensor's name."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.shape_inference.infer_shapes(onnx.load(str(full_path)))  # the Extractor needs every shape
    boundary = find_boundary(model.graph)
    if boundary in {i.name for i in model.graph.input}:
        raise ExportError("the model's first layer already spans several time steps: no graph stage to split")
    _ensure_value_info(model.graph, boundary)
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    ex = Extractor(model)
    tokens = ex.extract_model(inputs, [boundary])
    head = ex.extract_model([boundary], outputs)
    used = {name for node in tokens.graph.node for name in node.input}
    unused = [i for i in tokens.graph.input if i.name not in used]
    for value in unused:  # e.g. a lead-set model's cheb when only the mask reaches the tokens
        tokens.graph.input.remove(value)
    _symbolic_time(tokens, {"x", boundary})
    for m in (tokens, head):
        onnx.checker.check_model(m)
    onnx.save(tokens, str(tokens_path))
    onnx.save(head, str(head_path))
    return boundary


def streamed_logits(tokens_session, head_session, x: np.ndarray, extra: dict, chunk: int) -> np.ndarray:
    """What the streaming runtime computes: tokens in ``chunk``-step pieces, concatenated,
    then the temporal stage on the whole sequence."""
    token_inputs = {i.name for i in tokens_session.get_inputs()}
    parts = []
    for start in range(0, x.shape[2], chunk):
        feeds = {"x": np.ascontiguousarray(x[:, :, start:start + chunk])}
        feeds.update({k: v for k, v in extra.items() if k in token_inputs})
        parts.append(tokens_session.run(None, feeds)[0])
    tokens = np.concatenate(parts, axis=2)
    return head_session.run(None, {head_session.get_inputs()[0].name: tokens})[0]


def check_split(full_path, tokens_path, head_path, x: np.ndarray, extra: dict | None = None,
                chunk: int = 100) -> float:
    """max |probability difference| between the full file and the two halves run as the
    stream runs them, on windows ``x`` (B, leads, T, model input units)."""
    import onnxruntime as ort

    from ..runtime import sigmoid

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            for p in (full_path, tokens_path, head_path)]
    extra = dict(extra or {})
    full_inputs = {i.name for i in sess[0].get_inputs()}
    worst = 0.0
    for b in range(0, x.shape[0], 32):
        xb = np.ascontiguousarray(x[b:b + 32], dtype=np.float32)
        eb = {k: np.ascontiguousarray(v[b:b + 32], dtype=np.float32) for k, v in extra.items()}
        full = sess[0].run(None, {"x": xb, **{k: v for k, v in eb.items() if k in full_inputs}})[0]
        streamed = streamed_logits(sess[1], sess[2], xb, eb, chunk)
        worst = max(worst, float(np.max(np.abs(sigmoid(full) - sigmoid(streamed)))))
    return worst


def stream_entry(bundle_dir: str | Path, artifact: dict, x: np.ndarray, extra: dict | None = None,
                 tolerance: float = 1e-4) -> dict | None:
    """Split the bundle's ONNX ``artifact`` (a card entry) next to it and return its card
    ``stream`` entry, or None (and no files) when the halves do not reproduce the file."""
    bundle_dir = Path(bundle_dir)
    full = bundle_dir / artifact["file"]
    stem = full.name[: -len(".onnx")]
    tokens, head = bundle_dir / f"{stem}.tokens.onnx", bundle_dir / f"{stem}.head.onnx"
    try:
        boundary = split_onnx(full, tokens, head)
    except ExportError as exc:
        _say(f"  {full.name}: no streaming split ({exc})")
        return None
    dp = check_split(full, tokens, head, x, extra)
    if not dp <= tolerance:
        tokens.unlink(missing_ok=True)
        head.unlink(missing_ok=True)
        _say(f"  {full.name}: streaming split NOT shipped: max |dp| {dp:.3g} vs the file > {tolerance:g}")
        return None
    _say(f"  {full.name}: streaming split {tokens.name} + {head.name}, max |dp| vs the file {dp:.3g} "
         f"on {x.shape[0]} windows")
    return {"tokens": _file_entry(tokens), "head": _file_entry(head), "boundary": boundary,
            "check": {"windows": int(x.shape[0]), "chunk_steps": 100, "max_abs_prob_diff_vs_file": dp,
                      "tolerance": tolerance}}


def add_stream_splits(bundle_dir: str | Path, artifacts: dict, x: np.ndarray, extra: dict | None = None) -> None:
    """Give every ONNX entry of ``artifacts`` (card entries, changed in place) its ``stream``
    split, checked on ``x``; an entry whose split fails the check gets none."""
    for key, entry in artifacts.items():
        if entry.get("format") != "onnx":
            continue
        got = stream_entry(bundle_dir, entry, x, extra)
        if got is None:
            entry.pop("stream", None)
        else:
            entry["stream"] = got


def _file_entry(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
