"""Helpers for streaming tests: synthetic ECG-like signals and in-memory sources."""
from __future__ import annotations

import numpy as np

from tgll_edge.link.blocks import Gap, SampleBlock, Status
from tgll_edge.link.source import EventListSource

LEADS_8 = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def synthetic_ecg(n: int, fs: float, n_ch: int = 8, seed: int = 0) -> np.ndarray:
    """(n_ch, n) mV: a QRS-like spike train at ~72 bpm, respiration wander, noise, DC offsets."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    beat = 60 / 72
    phase = (t % beat) / beat
    qrs = np.exp(-((phase - 0.3) / 0.015) ** 2) - 0.25 * np.exp(-((phase - 0.33) / 0.02) ** 2)
    tw = 0.3 * np.exp(-((phase - 0.6) / 0.06) ** 2)
    gains = rng.uniform(0.5, 1.5, n_ch) * rng.choice([-1, 1], n_ch)
    x = gains[:, None] * (qrs + tw)[None, :]
    x += 0.2 * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6, n_ch)[:, None])
    x += rng.uniform(-5, 5, n_ch)[:, None]  # electrode DC offsets
    x += 0.01 * rng.standard_normal((n_ch, n))
    return x.astype(np.float32)


class ListSource(EventListSource):
    """A source over a list of events, with link-like counters (tests set more with ``counts.update``)."""

    def __init__(self, events):
        events = list(events)
        super().__init__(events, {"packets": len(events)})


def blocks(x: np.ndarray, fs: float, labels=LEADS_8, sizes=None, start: int = 0, lead_off: int = 0, seed: int = 0):
    """Cut ``x`` into SampleBlocks of the given sizes (cycled) or random sizes 1..80."""
    rng = np.random.default_rng(seed)
    out, a, k = [], 0, 0
    while a < x.shape[1]:
        n = sizes[k % len(sizes)] if sizes else int(rng.integers(1, 81))
        out.append(SampleBlock(start + a, fs, x[:, a:a + n], tuple(labels), lead_off))
        a += n
        k += 1
    return out


def with_gaps(x: np.ndarray, fs: float, gaps: dict, labels=LEADS_8, size: int = 40):
    """Events for ``x`` with samples removed: gaps = {start sample: missing}. Returns (events, kept mask)."""
    events, keep = [], np.ones(x.shape[1], dtype=bool)
    a = 0
    for g0 in sorted(gaps) + [x.shape[1]]:
        if g0 > a:
            events += blocks(x[:, a:g0], fs, labels, [size], start=a)
        if g0 < x.shape[1]:
            m = gaps[g0]
            events.append(Gap(g0, m, fs, "link"))
            keep[g0:g0 + m] = False
            a = g0 + m
    return [Status("info", "test", {"fs": fs})] + events, keep
