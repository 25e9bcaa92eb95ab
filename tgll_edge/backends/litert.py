"""LiteRT (TFLite) backend: ``ai_edge_litert`` if installed, else ``tflite_runtime``.

A converted model has a fixed batch size (usually 1); batches are run by
resizing the input when the model allows it, else window by window. Models
with int8/int16 input or output tensors are fed and read through the
tensors' own quantization parameters, so callers always see float32.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import BundleError
from .base import Backend, TensorSpec


def interpreter_class():
    """The LiteRT Interpreter class, or ImportError naming what to install."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise ImportError("TFLite artifacts need a LiteRT interpreter: pip install 'tgll-edge[tflite]' "
                              "(ai-edge-litert) or tflite-runtime") from exc
    return Interpreter


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the interpreter's C++ log line ("Created TensorFlow Lite XNNPACK delegate for CPU")
    on file descriptor 2, which Python's own stderr handling cannot reach."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, closed): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _spec(detail) -> TensorSpec:
    scale, zp = detail.get("quantization", (0.0, 0))
    return TensorSpec(tuple(int(d) for d in detail["shape"][1:]), np.dtype(detail["dtype"]), (float(scale), int(zp)))


#: the lead-set-aware model's inputs by rank, for files whose input names the converter changed
_INPUT_BY_RANK = {3: "x", 2: "lead_mask", 5: "cheb"}


def _input_name(detail, n_inputs: int) -> str:
    """An input's contract name: 'serving_default_lead_mask:0' -> 'lead_mask'; a name that is
    none of x, lead_mask, cheb is known by its rank (3, 2, 5) when the model has several inputs."""
    name = str(detail.get("name", ""))
    short = name.split(":")[0]
    short = short[len("serving_default_"):] if short.startswith("serving_default_") else short
    if short in _INPUT_BY_RANK.values() or n_inputs == 1:
        return short if n_inputs > 1 else "x"
    return _INPUT_BY_RANK.get(len(detail["shape"]), short)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype) -> np.ndarray:
    """float -> integer tensor with the tensor's (scale, zero_point), saturating."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


class LiteRTBackend(Backend):
    name = "litert"

    def __init__(self, path: str | Path, threads: int = 1):
        Interpreter = interpreter_class()
        self.path = str(path)
        try:
            with _quiet_stderr():
                self.interpreter = Interpreter(model_path=self.path, num_threads=int(threads))
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{path}: the LiteRT interpreter cannot load it as a TFLite model "
                              f"({str(exc).splitlines()[0][:200]})") from None
        ins, outs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if not ins or len(outs) != 1:
            raise BundleError(f"{path}: expected one output and at least one input; got {len(ins)} inputs "
                              f"and {len(outs)} outputs")
        # every input by its contract name (x, lead_mask, cheb for a lead-set-aware model)
        self._ins = {_input_name(d, len(ins)): d for d in ins}
        self._in, self._out = self._ins.get("x", ins[0]), outs[0]
        self.input, self.output = _spec(self._in), _spec(self._out)
        self.inputs = {k: _spec(d) for k, d in self._ins.items()}
        self.batch = int(self._in["shape"][0])
        self._resizable = int(self._in.get("shape_signature", self._in["shape"])[0]) == -1

    @property
    def input_dtype(self):
        return np.dtype(self._in["dtype"])

    @property
    def input_quantization(self) -> tuple[float, int]:
        return tuple(self._in["quantization"])

    @property
    def output_quantization(self) -> tuple[float, int]:
        return tuple(self._out["quantization"])

    def _set_batch(self, n: int) -> None:
        if n != self.batch:
            for d in self._ins.values():
                self.interpreter.resize_tensor_input(d["index"], [n, *d["shape"][1:]])
            with _quiet_stderr():
                self.interpreter.allocate_tensors()
            self.batch = n

    def _feed(self, detail, x: np.ndarray) -> None:
        dtype = np.dtype(detail["dtype"])
        if dtype == np.float32:
            feed = x.astype(np.float32)
        elif np.issubdtype(dtype, np.integer):
            scale, zp = tuple(detail["quantization"])
            if not scale:
                raise ValueError(f"{self.path}: integer input without quantization parameters")
            feed = quantize(x, scale, zp, dtype)
        else:
            raise ValueError(f"{self.path}: unsupported input dtype {dtype}")
        self.interpreter.set_tensor(detail["index"], np.ascontiguousarray(feed))

    def _invoke(self, x: np.ndarray, extra: dict | None = None) -> np.ndarray:
        self._feed(self._in, x)
        for name, value in (extra or {}).items():
            if name not in self._ins:
                raise ValueError(f"{self.path}: the model has no input {name!r} (it has {', '.join(self._ins)})")
            self._feed(self._ins[name], np.asarray(value, dtype=np.float32))
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out["index"])
        if np.issubdtype(y.dtype, np.integer):
            scale, zp = self.output_quantization
            if not scale:
                raise ValueError(f"{self.path}: integer output without quantization parameters")
            return dequantize(y, scale, zp)
        return np.asarray(y, dtype=np.float32).copy()

    def run(self, x: np.ndarray, **extra: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        n = x.shape[0]
        if n == self.batch:
            return self._invoke(x, extra)
        if self._resizable:
            self._set_batch(n)
            return self._invoke(x, extra)
        if self.batch == 1:
            return np.concatenate([self._invoke(x[i:i + 1], {k: v[i:i + 1] for k, v in extra.items()})
                                   for i in range(n)], axis=0)
        raise ValueError(f"{self.path}: model has fixed batch {self.batch}; got {n} windows")

    def close(self) -> None:
        self.interpreter = None
