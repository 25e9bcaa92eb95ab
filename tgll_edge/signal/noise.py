"""Wearable-like noise at a controlled SNR, from neurokit2's distortion functions.

Four kinds, each made by ``neurokit2.signal_distort`` on a zero signal at
``GEN_FS`` (1 kHz, so that the broadband kinds are not limited by neurokit2's
conservative Nyquist rule of 0.1 x fs) and then resampled, anti-aliased, to the
record's rate:

- ``baseline``: baseline wander, Gaussian noise at 0.3 and 0.6 Hz (respiration-
  and movement-like drift);
- ``emg``: EMG-like broadband noise, Laplace noise at 100 Hz (its spectrum spans
  the whole ECG band);
- ``powerline``: 50 Hz mains;
- ``motion``: motion-like artefacts, ``artifacts_number`` bursts of Laplace
  noise at 20 Hz lasting 10-100 ms each (electrode pops, cable motion).

Every lead gets its own draw (the powerline sine a random phase per lead). Each
lead's noise is zero-mean and scaled so that its power is the lead's own power
(variance of the clean lead) divided by 10^(SNR/10): the SNR of every lead, and
so of the record, is the one asked for; :func:`measured_snr_db` measures it back.

neurokit2 is the ``[analysis]`` extra; it is imported only when noise is made.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

NOISE_TYPES = ("baseline", "emg", "powerline", "motion")
GEN_FS = 1000.0

_DISTORT_KW = {
    "baseline": dict(noise_shape="gaussian", noise_amplitude=[1.0, 0.5], noise_frequency=[0.3, 0.6]),
    "emg": dict(noise_shape="laplace", noise_amplitude=1.0, noise_frequency=100),
    "powerline": dict(noise_amplitude=0, powerline_amplitude=1.0, powerline_frequency=50),
    "motion": dict(noise_amplitude=0, artifacts_amplitude=1.0, artifacts_frequency=20, artifacts_number=10),
}


def _nk():
    try:
        import neurokit2
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("noise generation needs neurokit2: pip install 'tgll-edge[analysis]'") from exc
    return neurokit2


def _resample(x: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    if fs_from == fs_to:
        return x
    from scipy.signal import resample_poly

    r = Fraction(fs_to / fs_from).limit_denominator(1000)
    return resample_poly(x, r.numerator, r.denominator, axis=-1)


def unit_noise(kind: str, n_leads: int, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """``(n_leads, n)`` noise of ``kind`` at ``fs``: zero mean and unit power on every lead."""
    if kind not in NOISE_TYPES:
        raise ValueError(f"unknown noise type {kind!r}; choose from {', '.join(NOISE_TYPES)}")
    if kind == "powerline" and fs <= 2 * 50:
        raise ValueError(f"50 Hz powerline noise cannot be represented at {fs:g} Hz (needs fs > 100 Hz)")
    nk = _nk()
    pad = 0.25  # seconds of margin each side for the resampler's edges
    m = int(np.ceil((n / fs + 2 * pad) * GEN_FS))
    z = np.empty((n_leads, m))
    for i in range(n_leads):  # neurokit2 takes the Generator as it is (no reseeding per call)
        z[i] = nk.signal_distort(np.zeros(m), sampling_rate=int(GEN_FS), random_state=rng, silent=True,
                                 **_DISTORT_KW[kind])
        if kind == "powerline":  # one deterministic sine in neurokit2: give each lead its own phase
            z[i] = np.roll(z[i], int(rng.integers(int(GEN_FS / 50))))
    y = _resample(z, GEN_FS, fs)  # all leads at once: one filter design
    start = int(round(pad * fs))
    y = y[:, start:start + n]
    y = y - y.mean(axis=1, keepdims=True)
    p = np.mean(y * y, axis=1)
    if not np.all(p > 0):
        raise ValueError(f"{kind} noise came out empty at {fs:g} Hz")
    return y / np.sqrt(p)[:, None]


def lead_power(x: np.ndarray) -> np.ndarray:
    """Per lead, the power of the signal about its mean (its variance)."""
    x = np.asarray(x, dtype=np.float64)
    return x.var(axis=-1)


def distort(x: np.ndarray, fs: float, kind: str, snr_db: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``(leads, n)`` plus ``kind`` noise at ``snr_db`` relative to each lead's own power.

    Returns (distorted, noise). A lead with zero power (flat) gets no noise.
    """
    x = np.asarray(x, dtype=np.float64)
    noise = unit_noise(kind, x.shape[0], x.shape[1], fs, rng)
    noise *= np.sqrt(lead_power(x) / 10.0 ** (snr_db / 10.0))[:, None]
    return x + noise, noise


def measured_snr_db(clean: np.ndarray, distorted: np.ndarray) -> tuple[float, np.ndarray]:
    """SNR of ``distorted`` against ``clean`` (both ``(leads, n)``): the record's
    (total signal power over total noise power) and each lead's, in dB."""
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(distorted, dtype=np.float64) - clean
    ps, pn = lead_power(clean), np.mean(noise * noise, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_lead = 10 * np.log10(ps / pn)
    return float(10 * np.log10(ps.sum() / pn.sum())), per_lead
