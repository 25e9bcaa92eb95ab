"""Inference backends behind one interface (see :class:`Backend`): onnxruntime for
``.onnx`` files, the LiteRT interpreter for ``.tflite`` files. No torch."""
from __future__ import annotations

from pathlib import Path

from ..bundle import FORMATS
from .base import Backend


def open_backend(path: str | Path, fmt: str | None = None, threads: int = 1) -> Backend:
    """Open a model file; ``fmt`` ('onnx' or 'tflite') defaults to the file's suffix."""
    fmt = fmt or Path(path).suffix.lstrip(".")
    if threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    if fmt == "onnx":
        from .onnx import OnnxBackend
        return OnnxBackend(path, threads=threads)
    if fmt == "tflite":
        from .litert import LiteRTBackend
        return LiteRTBackend(path, threads=threads)
    raise ValueError(f"unknown model format {fmt!r} for {path}; supported: {', '.join(FORMATS)}")


__all__ = ["Backend", "FORMATS", "open_backend"]
