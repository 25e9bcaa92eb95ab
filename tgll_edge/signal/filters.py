"""Causal IIR filters whose state carries across blocks.

Processing a signal block by block gives exactly the output of processing it
at once. The state starts at the steady state for the first sample (as if the
signal had been constant before it), so a record's DC offset causes no start-up
transient, neither offline nor when a stream (re)starts.
"""
from __future__ import annotations

import numpy as np
from scipy import signal as sps


def design(name: str, fs: float, **params) -> np.ndarray:
    """Second-order sections for a named filter.

    ``highpass``/``lowpass``: Butterworth, ``cutoff_hz`` and ``order``.
    ``notch``: ``freq_hz`` and quality factor ``q`` (mains interference).
    """
    nyq = fs / 2
    if name in ("highpass", "lowpass"):
        cutoff, order = float(params["cutoff_hz"]), int(params.get("order", 2))
        if not 0 < cutoff < nyq:
            raise ValueError(f"{name} cutoff {cutoff} Hz must lie in (0, {nyq}) at fs={fs}")
        return sps.butter(order, cutoff, btype=name, fs=fs, output="sos")
    if name == "notch":
        freq, q = float(params["freq_hz"]), float(params.get("q", 30.0))
        if not 0 < freq < nyq:
            raise ValueError(f"notch at {freq} Hz must lie in (0, {nyq}) at fs={fs}")
        b, a = sps.iirnotch(freq, q, fs=fs)
        return sps.tf2sos(b, a)
    raise ValueError(f"unknown filter {name!r}; choose highpass, lowpass or notch")


class StreamingFilter:
    """A causal SOS filter over ``(channels, n)`` blocks with explicit state."""

    def __init__(self, sos: np.ndarray):
        self.sos = np.asarray(sos, dtype=np.float64)
        self._zi_unit = sps.sosfilt_zi(self.sos)  # (sections, 2) for a unit step
        self.state: np.ndarray | None = None      # (sections, channels, 2)

    def reset(self) -> None:
        """Forget the past (after a gap): the next block starts from steady state."""
        self.state = None

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"StreamingFilter expects (channels, n); got {x.shape}")
        if x.shape[1] == 0:
            return x.copy()
        if self.state is None or self.state.shape[1] != x.shape[0]:
            self.state = self._zi_unit[:, None, :] * x[None, :, 0, None]
        y, self.state = sps.sosfilt(self.sos, x, axis=-1, zi=self.state)
        return y
