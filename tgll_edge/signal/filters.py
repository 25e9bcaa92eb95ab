"""Causal IIR filters whose state carries across blocks (numpy only).

Processing a signal block by block gives the output of processing it at once
(to rounding). The state starts at the steady state for the first sample (as if
the signal had been constant before it), so a record's DC offset causes no
start-up transient, neither offline nor when a stream (re)starts.

The designs are those of ``scipy.signal`` (``butter(..., output="sos")``,
``iirnotch``), computed here with numpy so that the streaming runtime does not
import scipy (``scipy.signal`` alone costs about 80 MB of resident memory);
``tests/signal`` checks them against scipy. Filtering uses scipy's section form
(transposed direct form II, ``sosfilt`` state layout), evaluated per block of at
most ``StreamingFilter.BLOCK`` samples as matrix products: exact for a linear
recursion, and a few BLAS calls per block instead of a Python loop per sample.
"""
from __future__ import annotations

import math

import numpy as np


# --- design -----------------------------------------------------------------

def _butter_zpk(order: int, wn: float, btype: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Digital Butterworth zeros, poles, gain; ``wn`` normalised to Nyquist (scipy's iirfilter)."""
    m = np.arange(-order + 1, order, 2)
    p = -np.exp(1j * np.pi * m / (2 * order))  # analog prototype (buttap), k = 1
    z = np.zeros(0, dtype=complex)
    k = 1.0
    fs = 2.0
    warped = 2 * fs * math.tan(math.pi * wn / fs)
    if btype == "lowpass":  # lp2lp_zpk
        z, p, k = z * warped, p * warped, k * warped ** (len(p) - len(z))
    else:  # lp2hp_zpk
        degree = len(p) - len(z)
        k = k * float(np.real(np.prod(-z) / np.prod(-p)))
        z, p = np.append(warped / z, np.zeros(degree)), warped / p
    # bilinear_zpk
    fs2 = 2.0 * fs
    degree = len(p) - len(z)
    k = k * float(np.real(np.prod(fs2 - z) / np.prod(fs2 - p)))
    z = np.append((fs2 + z) / (fs2 - z), -np.ones(degree))
    p = (fs2 + p) / (fs2 - p)
    return z, p, k


def _zpk_to_sos(z: np.ndarray, p: np.ndarray, k: float) -> np.ndarray:
    """Second-order sections as scipy's ``zpk2sos`` (pairing "nearest") orders them:
    the poles closest to the unit circle last, each pole group with its nearest zeros,
    the gain in the first section. For real zeros and conjugate-pair poles (Butterworth)."""
    z, p = list(np.asarray(z, complex)), np.asarray(p, complex)
    pairs = [q for q in p if q.imag > 0]
    reals = [q.real for q in p if q.imag == 0]
    groups = [(abs(1 - abs(q)), [q, q.conjugate()]) for q in pairs]
    if len(reals) % 2:  # odd order: scipy pairs the real pole with one at the origin
        reals.append(0.0)
        z.append(0.0)
    reals.sort(key=lambda r: abs(1 - abs(r)))
    while reals:  # the real pole closest to the circle with its nearest real pole
        r1 = reals.pop(0)
        r2 = reals.pop(int(np.argmin([abs(r - r1) for r in reals])))
        groups.append((abs(1 - abs(r1)), [complex(r1), complex(r2)]))
    groups.sort(key=lambda g: -g[0])  # farthest from the unit circle first
    if len(z) != 2 * len(groups):
        raise ValueError("expected as many zeros as poles")
    sos = np.zeros((len(groups), 6))
    for i in range(len(groups) - 1, -1, -1):  # fill from the "worst" (last) section
        poles = groups[i][1]
        zeros = [z.pop(int(np.argmin([abs(zz - q) for zz in z]))) for q in poles]
        sos[i, :3] = np.real(np.poly(zeros))
        sos[i, 3:] = np.real(np.poly(poles))
    sos[0, :3] *= k
    return sos


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
        if order < 1:
            raise ValueError(f"{name} order must be >= 1; got {order}")
        return _zpk_to_sos(*_butter_zpk(order, cutoff / nyq, name))
    if name == "notch":
        freq, q = float(params["freq_hz"]), float(params.get("q", 30.0))
        if not 0 < freq < nyq:
            raise ValueError(f"notch at {freq} Hz must lie in (0, {nyq}) at fs={fs}")
        if not q > 0:
            raise ValueError(f"notch quality factor must be > 0; got {q}")
        w0 = freq / nyq * math.pi  # scipy's iirnotch
        beta = math.tan(w0 / q / 2.0)
        gain = 1.0 / (1.0 + beta)
        b = gain * np.array([1.0, -2.0 * math.cos(w0), 1.0])
        a = np.array([1.0, -2.0 * gain * math.cos(w0), 2.0 * gain - 1.0])
        return np.concatenate([b, a])[None, :]
    raise ValueError(f"unknown filter {name!r}; choose highpass, lowpass or notch")


# --- filtering --------------------------------------------------------------

class _Section:
    """One biquad ``[b0, b1, b2, 1, a1, a2]`` in transposed direct form II, as block matrices.

    State s = (z0, z1): y[n] = b0 x[n] + z0; s' = A s + B x[n]. For a block of
    l <= L samples, rows = channels: y = x @ T[:l, :l] + s @ Z[:, :l] and
    s' = s @ P[l].T + x @ G[L-l:], where T is the (upper triangular Toeplitz)
    impulse response, Z the zero-input response, P[l] = A^l, G the input-to-state
    responses (newest sample last).
    """

    def __init__(self, row: np.ndarray, L: int):
        b0, b1, b2, a0, a1, a2 = (float(v) for v in row)
        if a0 != 1.0:
            b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
        A = np.array([[-a1, 1.0], [-a2, 0.0]])
        B = np.array([b1 - a1 * b0, b2 - a2 * b0])
        h = np.zeros(L)
        h[0] = b0
        G = np.zeros((L, 2))
        v = B
        for k in range(L):
            G[k] = v
            if k + 1 < L:
                h[k + 1] = v[0]
            v = A @ v
        Z = np.zeros((2, L))
        P = np.zeros((L + 1, 2, 2))
        M = np.eye(2)
        P[0] = M
        for n in range(L):
            Z[:, n] = M[0]
            M = A @ M
            P[n + 1] = M
        lag = np.arange(L)[None, :] - np.arange(L)[:, None]
        self.T = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)
        self.Z = Z
        self.PT = np.ascontiguousarray(P.transpose(0, 2, 1))
        self.G = G[::-1].copy()  # row m: response of the state to the sample m before the newest
        self.L = L
        # steady state for a unit step (scipy's lfilter_zi) and the DC gain
        self.zi_unit = np.linalg.solve(np.eye(2) - A, B)
        self.dc_gain = (b0 + b1 + b2) / (1.0 + a1 + a2)

    def run(self, x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (C, l <= L) finite, s (C, 2) -> y (C, l), new state."""
        l = x.shape[1]
        y = x @ self.T[:l, :l] + s @ self.Z[:, :l]
        s = s @ self.PT[l] + x @ self.G[self.L - l:]
        return y, s


class _Cascade(_Section):
    """Sections in series as one block operator (state: the sections' states side by side, S = 2 per
    section), so that a block costs the matrix products of one section, not one set per section.
    Its matrices are the cascade's responses, measured once by running the sections on unit
    inputs: T from impulses, G the states they leave, Z and P[l] from unit states."""

    def __init__(self, sections: list[_Section]):  # not super().__init__: that designs one biquad
        self.L = L = sections[0].L
        self.sections = sections
        S = 2 * len(sections)
        self.T, self.G = self._run(np.eye(L), np.zeros((L, S)))
        self.Z, _ = self._run(np.zeros((S, L)), np.eye(S))
        self.PT = np.stack([self._run(np.zeros((S, l)), np.eye(S))[1] for l in range(L + 1)])

    def _run(self, x: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        states = []
        for i, sec in enumerate(self.sections):
            x, si = sec.run(x, s[:, 2 * i:2 * i + 2])
            states.append(si)
        return x, np.concatenate(states, axis=1)


class StreamingFilter:
    """A causal SOS filter over ``(channels, n)`` blocks with explicit state."""

    #: samples per matrix step (longer blocks are processed in steps of this many)
    BLOCK = 128

    def __init__(self, sos: np.ndarray):
        self.sos = np.atleast_2d(np.asarray(sos, dtype=np.float64))
        if self.sos.ndim != 2 or self.sos.shape[1] != 6:
            raise ValueError(f"sos must have shape (n_sections, 6); got {self.sos.shape}")
        self._sections = [_Section(row, self.BLOCK) for row in self.sos]
        zi, scale = [], 1.0
        for sec in self._sections:  # scipy's sosfilt_zi
            zi.append(scale * sec.zi_unit)
            scale *= sec.dc_gain
        self._zi_unit = np.array(zi)                # (sections, 2) for a unit step
        self._cascade = _Cascade(self._sections)
        self.state: np.ndarray | None = None      # (channels, 2 * sections)

    def reset(self) -> None:
        """Forget the past (after a gap): the next block starts from steady state."""
        self.state = None

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"StreamingFilter expects (channels, n); got {x.shape}")
        if x.shape[1] == 0:
            return x.copy()
        if self.state is None or self.state.shape[0] != x.shape[0]:
            self.state = x[:, 0, None] * self._zi_unit.ravel()[None, :]
        bad = None
        if not np.isfinite(x).all():
            # a NaN/inf poisons the recursion from its sample on (as in sosfilt), never before it
            bad = ~np.isfinite(x)
            first = np.where(bad.any(axis=1), bad.argmax(axis=1), x.shape[1])
            x = np.where(bad, 0.0, x)
        y = np.empty_like(x)
        state = self.state.copy()
        for a in range(0, x.shape[1], self.BLOCK):
            y[:, a:a + self.BLOCK], state = self._cascade.run(x[:, a:a + self.BLOCK], state)
        if bad is not None:
            for c in np.flatnonzero(first < x.shape[1]):
                y[c, first[c]:] = np.nan
                state[c] = np.nan
        self.state = state
        return y
