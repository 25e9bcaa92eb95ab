"""Signal quality gate for one window of ECG (numpy only).

Checks, each reported per lead so a person can see what to fix:

- ``lead_off``: the device's lead-off bits were set during the window (per
  channel, as the device reports them);
- ``nonfinite``: NaN or inf anywhere (a window like that cannot be classified);
- ``flat``: a lead whose standard deviation over some stretch of
  ``flat_stretch_s`` seconds stays below ``flat_std_mv`` (a disconnected or
  shorted electrode: real ECG, even a quiet lead, moves more than that);
- ``saturated``: samples at the ADC rails (when the full scale is known) or
  further than ``saturation_mv`` from the lead's median (a clipped or railing
  amplifier; the median removes the electrode DC offset a raw stream carries).

``severe`` problems skip the window (no inference); the rest only mark it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class QualitySettings:
    flat_std_mv: float = 0.01            # 10 uV: below any real lead's variation over seconds
    flat_stretch_s: float = 2.0
    saturation_mv: float = 25.0          # |x - median| beyond this: no ECG is that large at the skin
    rail_fraction: float = 0.999         # of the ADC full scale, when known
    saturated_fraction_severe: float = 0.05  # of a lead's samples
    flat_leads_severe: int = 3           # this many flat leads: the window is not an ECG
    lead_off_fraction_severe: float = 0.5    # of the window's samples, on any channel
    min_sqi: float | None = None             # windows whose SQI is below this (or has none) ...
    low_sqi_skips: bool = False              # ... are marked "low_sqi"; skipped too when this is set


@dataclass
class Quality:
    """The gate's verdict on one window; ``to_dict`` is what the JSON output shows."""

    ok: bool = True
    skipped: bool = False
    flags: list[str] = field(default_factory=list)
    lead_off: list[str] = field(default_factory=list)
    flat: list[str] = field(default_factory=list)
    saturated: list[str] = field(default_factory=list)
    nonfinite: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why it was skipped
    sqi: float | None = None             # published SQI (signal/rhythm.py), 0..1; None: not computed
    sqi_method: str | None = None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "skipped": self.skipped, "flags": list(self.flags),
                "lead_off": list(self.lead_off), "flat": list(self.flat),
                "saturated": list(self.saturated), "nonfinite": list(self.nonfinite),
                "reasons": list(self.reasons),
                "sqi": None if self.sqi is None else round(float(self.sqi), 4), "sqi_method": self.sqi_method}

    def apply_sqi(self, sqi: float | None, method: str | None, settings: "QualitySettings") -> None:
        """Record the window's SQI; below ``settings.min_sqi`` (or none where one is required)
        flag ``low_sqi``, and skip the window when ``settings.low_sqi_skips``."""
        self.sqi, self.sqi_method = sqi, method
        if settings.min_sqi is None:
            return
        if sqi is None or sqi < settings.min_sqi:
            self.flags.append("low_sqi")
            self.ok = False
            if settings.low_sqi_skips:
                self.reasons.append(f"SQI {'none' if sqi is None else f'{sqi:.2f}'} below {settings.min_sqi:g}")
                self.skipped = True


def flat_leads(x: np.ndarray, fs: float, std_mv: float, stretch_s: float) -> np.ndarray:
    """Boolean per lead: some non-overlapping stretch has std below ``std_mv``.

    A stretch's range R bounds its (population) std: R / sqrt(2 n) <= std <= R / 2.
    Min and max decide almost every stretch (real ECG: clearly not flat; a
    disconnected lead: clearly flat); the std is computed only for the others.
    """
    n = x.shape[1]
    step = max(2, int(round(stretch_s * fs)))
    if n < step:
        step = n
    k = n // step
    if k == 0:
        return np.zeros(x.shape[0], dtype=bool)
    seg = x[:, : k * step].reshape(x.shape[0], k, step)
    with np.errstate(invalid="ignore"):
        spread = seg.max(axis=2) - seg.min(axis=2)  # (leads, k); NaN where a stretch has a NaN
        # a 1% margin keeps the decision clear of rounding in std; NaN stretches stay undecided
        flat = spread < 2 * std_mv * (1 - 0.01)
        not_flat = spread >= np.sqrt(2 * step) * std_mv * (1 + 0.01)
        undecided = ~(flat | not_flat)
        if undecided.any():
            li, si = np.nonzero(undecided)
            flat[li, si] = seg[li, si].std(axis=1) < std_mv
    return np.any(flat, axis=1)


def saturated_fraction(x: np.ndarray, threshold_mv: float, rail_mv: float | None,
                       rail_fraction: float, *, lo: np.ndarray | None = None,
                       hi: np.ndarray | None = None) -> np.ndarray:
    """Per lead, the fraction of samples at the rails or beyond ``threshold_mv`` from the median.
    ``lo``/``hi``: each lead's min and max of ``x``, when the caller has them."""
    if not x.shape[1]:
        return np.zeros(x.shape[0])
    with np.errstate(invalid="ignore"):
        # min/max first (cheap); the median and the sample counts only on leads that can have any
        if lo is None or hi is None:
            lo, hi = x.min(axis=1), x.max(axis=1)
        # a lead whose whole range is within the threshold cannot be that far from its median
        # (the median of finite samples lies between their min and max)
        suspect = ~(hi - lo <= threshold_mv)  # also NaN/inf
        rails = np.maximum(np.abs(lo), np.abs(hi)) >= rail_fraction * rail_mv if rail_mv \
            else np.zeros(x.shape[0], dtype=bool)
        out = np.zeros(x.shape[0])
        med = np.zeros(x.shape[0], dtype=np.result_type(x.dtype, np.float32))
        cand = np.flatnonzero(suspect)
        at_rails = np.flatnonzero(rails & ~suspect)  # within the threshold, but at the rails
        if cand.size:
            # the baseline from every 8th sample: as robust as the full median, 8x cheaper
            sub = x[cand, ::8]
            if np.isfinite(sub).all():
                med[cand] = np.median(sub, axis=1)
            else:
                with warnings.catch_warnings():  # an all-NaN lead has no median: NaN, flagged below
                    warnings.simplefilter("ignore", RuntimeWarning)
                    med[cand] = np.nanmedian(sub, axis=1)
            suspect[cand] = (hi[cand] - med[cand] > threshold_mv) | (med[cand] - lo[cand] > threshold_mv) | \
                ~np.isfinite(lo[cand] + hi[cand])
        if at_rails.size:  # their median too
            med[at_rails] = np.median(x[at_rails, ::8], axis=1)
        suspect |= rails
        for i in np.flatnonzero(suspect):
            bad = np.abs(x[i] - med[i]) > threshold_mv
            if rail_mv:
                bad |= np.abs(x[i]) >= rail_fraction * rail_mv
            out[i] = np.count_nonzero(bad) / x.shape[1]
    return out


def assess(raw: np.ndarray, fs: float, leads, *, lead_off_counts: np.ndarray | None = None,
           channel_labels=None, processed: np.ndarray | None = None, rail_mv: float | None = None,
           settings: QualitySettings = QualitySettings()) -> Quality:
    """Judge one window.

    raw: ``(leads, n)`` millivolts at the device rate, before filtering (what the
    electrodes gave, derived leads included); leads: their names.
    lead_off_counts: per device channel, how many of the window's samples had the
    lead-off bit set; channel_labels: the channel names for those bits.
    processed: the model input window (checked for NaN/inf too).
    rail_mv: the ADC full scale in mV if known (int24 full scale x uV/count / 1000).
    """
    q = Quality()
    raw = np.asarray(raw)
    if raw.dtype not in (np.float32, np.float64):
        raw = raw.astype(np.float64)
    leads = list(leads)
    n = raw.shape[1]

    # min and max are finite exactly when every sample is (NaN propagates through both)
    lo, hi = (raw.min(axis=1), raw.max(axis=1)) if n else (None, None)
    finite = np.isfinite(lo) & np.isfinite(hi) if n else np.ones(raw.shape[0], bool)
    if processed is not None:
        proc = np.asarray(processed)
        finite &= np.isfinite(proc.sum(axis=1, dtype=np.float64)) if proc.shape[0] == raw.shape[0] \
            else bool(np.isfinite(proc).all())
    q.nonfinite = [leads[i] for i in np.flatnonzero(~finite)]
    if q.nonfinite:
        q.flags.append("nonfinite")
        q.reasons.append(f"NaN/inf in {', '.join(q.nonfinite)}")
        clean = np.where(np.isfinite(raw), raw, np.nan)
    else:
        clean = raw  # the usual case: no copies

    flat = flat_leads(clean if not q.nonfinite else np.nan_to_num(clean), fs, settings.flat_std_mv,
                      settings.flat_stretch_s) & finite
    q.flat = [leads[i] for i in np.flatnonzero(flat)]
    if q.flat:
        q.flags.append("flat")
        if len(q.flat) >= settings.flat_leads_severe:
            q.reasons.append(f"flat line on {len(q.flat)} leads ({', '.join(q.flat)})")

    sat = saturated_fraction(clean, settings.saturation_mv, rail_mv, settings.rail_fraction,
                             **({} if q.nonfinite else {"lo": lo, "hi": hi}))
    q.saturated = [leads[i] for i in np.flatnonzero(sat > 0)]
    if q.saturated:
        q.flags.append("saturated")
        worst = [leads[i] for i in np.flatnonzero(sat > settings.saturated_fraction_severe)]
        if worst:
            q.reasons.append(f"saturated on {', '.join(worst)}")

    if lead_off_counts is not None and n:
        counts = np.asarray(lead_off_counts)
        labels = list(channel_labels) if channel_labels is not None else [f"ch{i}" for i in range(len(counts))]
        q.lead_off = [labels[i] for i in np.flatnonzero(counts > 0)]
        if q.lead_off:
            q.flags.append("lead_off")
            long_off = [labels[i] for i in np.flatnonzero(counts > settings.lead_off_fraction_severe * n)]
            if long_off:
                q.reasons.append(f"lead off on {', '.join(long_off)}")

    q.skipped = bool(q.reasons)
    q.ok = not q.flags
    return q
