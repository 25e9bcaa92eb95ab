"""Lead sets (issue 9): the standard sets, the training-time mask sampler, masks by name.

A set's mask is the leads it lists and nothing else: the card's per-set metrics are
measured with exactly that mask (for "2" = I, II the derived III, aVR, aVL, aVF are
NOT added; the runtime derives limb leads only when their sources exist and then
scores with whatever mask it has, whose quality the card's "leads" lists let it look up
as the largest standard set contained in it).

Training (``tgll-train --lead-sets``) draws one mask per window: the full 12 leads with
probability ``p_full``, one of the six reduced standard sets (uniformly) with ``p_standard``,
else a random subset (each lead kept with a probability drawn per window from U(0.1, 0.9),
at least one lead): electrodes off in any combination, e.g. 11 leads with V3 off.
"""
from __future__ import annotations

import numpy as np

LEADS_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: the PhysioNet/CinC 2021 sets plus single I and single II, largest first
STANDARD_SETS = {
    "12": list(LEADS_12),
    "6": ["I", "II", "III", "aVR", "aVL", "aVF"],
    "4": ["I", "II", "III", "V2"],
    "3": ["I", "II", "V2"],
    "2": ["I", "II"],
    "I": ["I"],
    "II": ["II"],
}

P_FULL, P_STANDARD = 0.35, 0.45


def lead_mask(leads, all_leads=LEADS_12) -> np.ndarray:
    """(n,) float32 mask of 1 for the named leads (case-insensitive names), 0 elsewhere."""
    index = {name.upper(): i for i, name in enumerate(all_leads)}
    m = np.zeros(len(all_leads), np.float32)
    for name in leads:
        key = str(name).strip().upper()
        if key not in index:
            raise ValueError(f"unknown lead {name!r}; leads are {', '.join(all_leads)}")
        m[index[key]] = 1.0
    return m


def parse_leads(text: str, all_leads=LEADS_12) -> list[str]:
    """'I,II,V2' (or a standard set's name, e.g. '3') -> the leads in ``all_leads`` order."""
    text = text.strip()
    names = STANDARD_SETS[text] if text in STANDARD_SETS and text not in ("I", "II") else text.split(",")
    m = lead_mask([n for n in names if n.strip()], all_leads)
    if not m.any():
        raise ValueError("--leads names no lead")
    return [all_leads[i] for i in np.flatnonzero(m)]


class LeadSetSampler:
    """One random mask per training window (module docstring); numpy, seeded."""

    def __init__(self, n_leads: int = 12, seed: int = 0, p_full: float = P_FULL, p_standard: float = P_STANDARD,
                 all_leads=LEADS_12):
        self.rng = np.random.default_rng(seed + 9_000)
        self.n, self.p_full, self.p_standard = n_leads, p_full, p_standard
        self.reduced = np.stack([lead_mask(v, all_leads) for k, v in STANDARD_SETS.items() if k != "12"])

    def __call__(self, batch: int) -> np.ndarray:
        u = self.rng.random(batch)
        out = np.ones((batch, self.n), np.float32)
        std = (u >= self.p_full) & (u < self.p_full + self.p_standard)
        out[std] = self.reduced[self.rng.integers(len(self.reduced), size=int(std.sum()))]
        rnd = np.flatnonzero(u >= self.p_full + self.p_standard)
        for i in rnd:
            keep = self.rng.random(self.n) < self.rng.uniform(0.1, 0.9)
            if not keep.any():
                keep[self.rng.integers(self.n)] = True
            out[i] = keep
        return out


def standard_masks(all_leads=LEADS_12) -> dict:
    return {name: lead_mask(leads, all_leads) for name, leads in STANDARD_SETS.items()}
