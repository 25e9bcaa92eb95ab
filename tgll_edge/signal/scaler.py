"""The standard scaler shipped with a model: ``(x_mV - mean) / std``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StandardScaler:
    """Mean and std as scalars (one global scaler, the PTB-XL benchmark's) or per lead."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, per_lead: bool = False) -> "StandardScaler":
        """Fit on training windows ``(N, leads, T)`` (the training folds only)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3:
            raise ValueError(f"StandardScaler.fit expects (N, leads, T); got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("StandardScaler.fit: training data contains NaN or inf")
        axes = (0, 2) if per_lead else None
        mean = np.asarray(x.mean(axis=axes), dtype=np.float32)
        std = np.asarray(x.std(axis=axes), dtype=np.float32)
        std = np.where(std > 1e-8, std, np.float32(1.0)).astype(np.float32)
        return cls(mean=mean, std=std)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``(..., leads, T)``: per-lead values broadcast over the lead axis."""
        x = np.asarray(x, dtype=np.float32)
        if self.mean.ndim == 0:
            return (x - self.mean) / self.std
        return (x - self.mean[:, None]) / self.std[:, None]

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "StandardScaler":
        try:
            mean = np.asarray(d["mean"], dtype=np.float32)
            std = np.asarray(d["std"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad scaler {d!r}: needs numeric 'mean' and 'std'") from exc
        if mean.shape != std.shape or mean.ndim > 1 or np.any(std <= 0) or not np.all(np.isfinite(mean)):
            raise ValueError(f"bad scaler {d!r}: mean/std must be scalars or equal-length lists, std > 0")
        return cls(mean=mean, std=std)
