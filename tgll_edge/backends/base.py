"""The one interface every inference backend offers."""
from __future__ import annotations

import numpy as np


class Backend:
    """Runs one model file: ``run(x)`` maps a float32 batch ``(B, leads, T)`` in the
    model's scaled input units to its float32 outputs ``(B, n_outputs)``."""

    name = "backend"

    def run(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """Release the session/interpreter (optional)."""
