"""Streaming rational resampling (device rate -> model rate).

A polyphase FIR resampler with the anti-aliasing filter that
``scipy.signal.resample_poly`` designs (``firwin``: Kaiser window, beta 5, half
length 10 per rate factor), made stateful: output samples are taken at fixed
phases of one continuous stream, so block-wise output equals whole-signal
output. Only the kept output samples are computed (one dot product with the
filter each), with numpy alone: the streaming runtime does not import scipy.
The FIR is causal; ``delay_s`` is its group delay (not compensated, the same
for training and streaming).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np


def firwin_kaiser(n_taps: int, cutoff: float, beta: float) -> np.ndarray:
    """``scipy.signal.firwin(n_taps, cutoff, window=("kaiser", beta))``: a linear-phase
    lowpass, ``cutoff`` relative to Nyquist, unit gain at DC."""
    m = np.arange(n_taps) - 0.5 * (n_taps - 1)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(n_taps, beta)
    return h / h.sum()


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
            self.h, self.delay_s = np.ones(1), 0.0
            self.reset()
            return
        max_rate = max(self.up, self.down)
        n_taps = 2 * half_len * max_rate + 1
        self.h = firwin_kaiser(n_taps, 1.0 / max_rate, beta) * self.up
        self.n_taps = n_taps
        self.delay_s = (n_taps - 1) / 2 / (self.fs_in * self.up)
        self._h_rev = np.ascontiguousarray(self.h[::-1])
        self.reset()

    def reset(self) -> None:
        # the last n_taps - 1 samples of the zero-stuffed input (at the upsampled rate)
        self.history: np.ndarray | None = None
        self._phase = 0  # index (at the upsampled rate) of the next sample to keep, relative to the next input

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"StreamingResampler expects (channels, n); got {x.shape}")
        if self.identity or x.shape[1] == 0:
            return x.copy()
        channels, n = x.shape
        past = self.n_taps - 1
        if self.history is None or self.history.shape[0] != channels:
            # constant-history start (the steady state of lfilter_zi): the upsampled input was
            # x[0] / up at every sample, so a DC offset gives (almost, exactly for up == 1) no transient
            self.history = np.repeat(x[:, :1] / self.up, past, axis=1)
        n_up = n * self.up
        ext = np.zeros((channels, past + n_up))
        ext[:, :past] = self.history
        ext[:, past::self.up] = x
        # output at upsampled index m (from this block's start) = h . ext[m : m + n_taps] reversed
        # (a strided view of ext: no copy; built directly, sliding_window_view costs more than the dot)
        n_out = len(range(self._phase, n_up, self.down))
        step = ext.strides[1]
        windows = np.ndarray((channels, n_out, self.n_taps), dtype=ext.dtype, buffer=ext,
                             offset=self._phase * step, strides=(ext.strides[0], self.down * step, step))
        out = np.einsum("cmt,t->cm", windows, self._h_rev)
        self.history = ext[:, n_up:].copy()
        consumed = n_up - self._phase
        self._phase = (-consumed) % self.down
        return out


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Whole-signal resampling with the same filter as the streaming path."""
    return StreamingResampler(fs_in, fs_out).process(x)
