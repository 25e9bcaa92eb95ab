"""Noise-aware training (issue 14): wearable-like noise on the training windows.

``--augment noise`` adds to every training window (folds 1-8 only; fold 9 and
10 stay clean) one of the distortions of ``tgll_edge.signal.noise``, with a
random type and a random SNR per window, or leaves it clean with probability
``p_clean``. The noise is made as the gateway would meet it: drawn at a device
rate of ``DEVICE_FS`` Hz with unit power per lead, put through the model's own
conditioning (``Preprocessor``: resampling to the model rate, then its filters),
and scaled so that its power *before* conditioning is the window's own lead
power / 10^(SNR/10), as ``tools/noise_robustness.py`` does to the test records
(conditioning is linear, so conditioning record + noise equals conditioned
record + conditioned noise). neurokit2 is slow per call, so a bank of
``bank_size`` conditioned draws per type is made once per run and windows
draw from it (random item, lead order and sign): the same distortion
functions, about 10 s of setup.
"""
from __future__ import annotations

import numpy as np

from tgll_edge.signal import noise as nz
from tgll_edge.signal.preprocess import Preprocessor

AUGMENTS = ("none", "noise")
DEVICE_FS = 500.0


class NoiseAugmenter:
    def __init__(self, preprocessing: dict, n_leads: int, n_times: int, *, seed: int = 0, bank_size: int = 48,
                 snr_db: tuple[float, float] = (0.0, 24.0), p_clean: float = 0.25,
                 types: tuple[str, ...] = nz.NOISE_TYPES):
        self.rng = np.random.default_rng(seed)
        self.snr_db, self.p_clean, self.types = snr_db, p_clean, tuple(types)
        settle = 2.0  # seconds drawn before the window, for the conditioning filters to settle
        fs_model = float(preprocessing["fs"])
        n_dev = int(round((n_times / fs_model + settle) * DEVICE_FS))
        bank = np.empty((len(self.types), bank_size, n_leads, n_times), dtype=np.float32)
        for t, kind in enumerate(self.types):
            for b in range(bank_size):
                raw = nz.unit_noise(kind, n_leads, n_dev, DEVICE_FS, self.rng)
                y = Preprocessor(preprocessing, DEVICE_FS).process(raw)
                bank[t, b] = y[:, -n_times:]
        self.bank = bank

    def __call__(self, xb: np.ndarray) -> np.ndarray:
        """Noisy copy of a batch ``(B, leads, T)`` (mV or standardised: the SNR is relative to
        each window's own lead power either way, and the global scaler is linear)."""
        xb = np.asarray(xb, dtype=np.float32)
        B, L, _ = xb.shape
        power = xb.var(axis=2)  # (B, L): the window's own lead power
        out = xb.copy()
        for i in range(B):
            if self.rng.random() < self.p_clean:
                continue
            t = self.rng.integers(len(self.types))
            item = self.bank[t, self.rng.integers(self.bank.shape[1])][self.rng.permutation(L)]
            snr = self.rng.uniform(*self.snr_db)
            gain = np.sqrt(power[i] / 10.0 ** (snr / 10.0)) * self.rng.choice((-1.0, 1.0))
            out[i] += (gain[:, None] * item).astype(np.float32)
        return out
