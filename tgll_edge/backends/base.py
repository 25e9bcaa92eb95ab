"""The one interface every inference backend offers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as the file declares it: the shape after the batch axis
    (None for a dynamic dimension), the element type, and (scale, zero point) for an
    integer tensor ((0.0, 0) when there are none)."""

    shape: tuple
    dtype: np.dtype
    quantization: tuple[float, int] = (0.0, 0)

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        q = f", scale {self.quantization[0]:g} zero point {self.quantization[1]}" \
            if np.issubdtype(self.dtype, np.integer) else ""
        return f"(batch, {dims}) {np.dtype(self.dtype).name}{q}"


class Backend:
    """Runs one model file: ``run(x)`` maps a float32 batch ``(B, leads, T)`` in the
    model's scaled input units to its float32 outputs ``(B, n_outputs)``; ``input`` and
    ``output`` are the file's own :class:`TensorSpec` (checked against the card on load).
    A model with more inputs (a lead-set-aware bundle: ``x``, ``lead_mask``, ``cheb``) gets
    them by name: ``run(x, lead_mask=m, cheb=c)``; ``inputs`` maps every input's name to
    its spec, in the file's order (``input`` is the first)."""

    name = "backend"
    input: TensorSpec
    output: TensorSpec
    inputs: dict

    def run(self, x: np.ndarray, **extra: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release the session/interpreter (optional)."""
