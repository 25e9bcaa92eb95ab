"""onnxruntime backend (CPU)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BundleError
from .base import Backend, TensorSpec

_ONNX_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
               "tensor(int32)": np.int32, "tensor(int64)": np.int64}


def _load_errors() -> tuple:
    """onnxruntime's errors for a file it cannot load (not an ONNX model, a broken graph)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as st
    return tuple(getattr(st, n) for n in ("Fail", "InvalidArgument", "InvalidProtobuf", "NoSuchFile", "NoModel",
                                         "InvalidGraph", "NotImplemented", "RuntimeException") if hasattr(st, n))


def _spec(arg) -> TensorSpec:
    dims = tuple(d if isinstance(d, int) else None for d in arg.shape[1:])
    return TensorSpec(dims, np.dtype(_ONNX_TYPES.get(arg.type, np.void)))


def open_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session; BundleError when the file is not a loadable ONNX model."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # threads=1 on a gateway: predictable latency and no oversubscription
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except _load_errors() as exc:
        raise BundleError(f"{path}: onnxruntime cannot load it as an ONNX model "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None


class OnnxBackend(Backend):
    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int = 1):
        self.session = open_session(path, threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if not inputs or len(outputs) != 1:
            raise BundleError(f"{path}: expected one output and at least one input; got {len(inputs)} inputs "
                              f"and {len(outputs)} outputs")
        first = next((arg for arg in inputs if arg.name == "x"), inputs[0])  # the signal input
        self.input_name, self.output_name = first.name, outputs[0].name
        self.input, self.output = _spec(first), _spec(outputs[0])
        # every input by name, in the file's order (a lead-set-aware model: x, lead_mask, cheb)
        self.inputs = {arg.name: _spec(arg) for arg in inputs}

    def run(self, x: np.ndarray, **extra: np.ndarray) -> np.ndarray:
        feeds = {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}
        feeds.update({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in extra.items()})
        return np.asarray(self.session.run([self.output_name], feeds)[0], dtype=np.float32)

    def close(self) -> None:
        self.session = None
