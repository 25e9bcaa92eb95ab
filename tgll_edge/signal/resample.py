"""Streaming rational resampling (device rate -> model rate).

A polyphase-style FIR resampler with the anti-aliasing filter that
``scipy.signal.resample_poly`` designs (Kaiser window, beta 5, half length 10
per rate factor), made stateful: output samples are taken at fixed phases of
one continuous stream, so block-wise output equals whole-signal output. The
FIR is causal; ``delay_s`` is its group delay (not compensated, the same for
training and streaming).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal as sps


class StreamingResampler:
    def __init__(self, fs_in: float, fs_out: float, *, half_len: int = 10, beta: float = 5.0):
        if fs_in <= 0 or fs_out <= 0:
            raise ValueError(f"sampling rates must be positive (got {fs_in} -> {fs_out})")
        ratio = Fraction(fs_out).limit_denominator(1000) / Fraction(fs_in).limit_denominator(1000)
        self.up, self.down = ratio.numerator, ratio.denominator
        if self.up > 64 or self.down > 64:
            raise ValueError(f"resampling {fs_in} -> {fs_out} Hz needs factors {self.up}/{self.down}; at most 64 supported")
        self.fs_in, self.fs_out = float(fs_in), float(fs_out)
        self.identity = self.up == 1 and self.down == 1
        if self.identity:  # nothing to filter; firwin cannot design a cutoff at Nyquist
            self.h, self.delay_s, self._zi_unit = np.ones(1), 0.0, np.ones(0)
            self.reset()
            return
        max_rate = max(self.up, self.down)
        n_taps = 2 * half_len * max_rate + 1
        self.h = sps.firwin(n_taps, 1.0 / max_rate, window=("kaiser", beta)) * self.up
        self.delay_s = (n_taps - 1) / 2 / (self.fs_in * self.up)
        # steady state for a constant input; zero insertion divides its mean by `up`
        self._zi_unit = sps.lfilter_zi(self.h, [1.0]) / self.up
        self.reset()

    def reset(self) -> None:
        self.state: np.ndarray | None = None
        self._phase = 0  # index (at the upsampled rate) of the next sample to keep, relative to the next input

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"StreamingResampler expects (channels, n); got {x.shape}")
        if self.identity or x.shape[1] == 0:
            return x.copy()
        if self.state is None or self.state.shape[0] != x.shape[0]:
            # constant-history start: a DC offset gives (almost, exactly for up == 1) no transient
            self.state = self._zi_unit[None, :] * x[:, :1]
        n_up = x.shape[1] * self.up
        xu = np.zeros((x.shape[0], n_up))
        xu[:, :: self.up] = x
        y, self.state = sps.lfilter(self.h, [1.0], xu, axis=-1, zi=self.state)
        out = y[:, self._phase :: self.down]
        consumed = n_up - self._phase
        self._phase = (-consumed) % self.down
        return out


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Whole-signal resampling with the same filter as the streaming path."""
    return StreamingResampler(fs_in, fs_out).process(x)
