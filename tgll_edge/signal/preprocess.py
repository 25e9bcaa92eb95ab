"""The one signal conditioning the model sees, in training and on the gateway.

Settings are plain JSON (recorded in the checkpoint and the bundle card)::

    {"fs": 100,
     "steps": [{"name": "highpass", "cutoff_hz": 0.5, "order": 2}]}

Order of operations for a signal in millivolts at ``fs_in``: resample to
``fs`` (StreamingResampler), then each step in order at ``fs`` (causal
StreamingFilter). The scaler is applied afterwards by the model
(``StandardScaler`` from the card), not here.
"""
from __future__ import annotations

import copy

import numpy as np

from .filters import StreamingFilter, design
from .resample import StreamingResampler

#: Baseline wander removal only: the PTB-XL benchmark feeds raw 100 Hz signals,
#: but a wearable's electrodes add DC offsets and drift the model never saw.
DEFAULT_SETTINGS = {
    "fs": 100,
    "resample": {"method": "polyphase_fir", "window": ["kaiser", 5.0], "half_len": 10},
    "steps": [{"name": "highpass", "cutoff_hz": 0.5, "order": 2}],
}

_KNOWN_STEPS = {"highpass", "lowpass", "notch"}


def validate_settings(settings: dict) -> dict:
    """Check a settings dict and return a deep copy; raise ValueError naming the problem."""
    if not isinstance(settings, dict) or "fs" not in settings:
        raise ValueError(f"preprocessing settings need an 'fs' key; got {settings!r}")
    out = copy.deepcopy(settings)
    if float(out["fs"]) <= 0:
        raise ValueError(f"preprocessing fs must be positive; got {out['fs']}")
    for step in out.get("steps", []):
        if step.get("name") not in _KNOWN_STEPS:
            raise ValueError(f"unknown preprocessing step {step!r}; known: {sorted(_KNOWN_STEPS)}")
        design(**{**step, "fs": float(out["fs"])})  # raises on bad parameters
    return out


class Preprocessor:
    """Stateful conditioning of ``(leads, n)`` millivolt blocks at ``fs_in``.

    ``process`` returns the block at the settings' ``fs``; calling it block by
    block gives the same output as calling it once on the whole signal.
    ``reset`` after a gap (the stream restarts from steady state).
    """

    def __init__(self, settings: dict | None = None, fs_in: float | None = None):
        self.settings = validate_settings(settings or DEFAULT_SETTINGS)
        self.fs_out = float(self.settings["fs"])
        self.fs_in = float(fs_in if fs_in is not None else self.fs_out)
        rs = self.settings.get("resample", {})
        self.resampler = StreamingResampler(
            self.fs_in, self.fs_out, half_len=int(rs.get("half_len", 10)),
            beta=float(rs.get("window", ["kaiser", 5.0])[1]))
        self.filters = [StreamingFilter(design(**{**step, "fs": self.fs_out}))
                        for step in self.settings.get("steps", [])]

    @property
    def delay_s(self) -> float:
        """Group delay of the resampling FIR (the IIR steps add a frequency-dependent one)."""
        return 0.0 if self.resampler.identity else self.resampler.delay_s

    def reset(self) -> None:
        self.resampler.reset()
        for f in self.filters:
            f.reset()

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"Preprocessor expects (leads, n); got shape {x.shape}")
        y = self.resampler.process(x)
        for f in self.filters:
            y = f.process(y)
        return y.astype(np.float32)


def preprocess(x: np.ndarray, fs_in: float, settings: dict | None = None) -> np.ndarray:
    """Condition a whole record ``(leads, n)`` in mV; same result as streaming it."""
    return Preprocessor(settings, fs_in).process(x)
