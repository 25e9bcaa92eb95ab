"""Per-window heart rate, RR irregularity and a published signal-quality index (issue 14).

neurokit2 (the ``[analysis]`` extra) does the work; it is imported lazily, so a
runtime without it still streams: :func:`available` says whether it is there
and :data:`MISSING_HINT` is the one line to show when it is not.

What runs, on one window:

1. the lead: II, unless the quality gate marked it (flat, saturated, lead off,
   NaN) or it is flat itself; then the first usable lead of ``FALLBACK_LEADS``;
2. ``neurokit2.ecg_clean`` (the ``neurokit`` cleaner: 0.5 Hz high-pass, 50 Hz
   notch) and ``neurokit2.ecg_peaks`` with ``DEFAULT_METHOD``, chosen by
   measurement (``tools/rhythm_detectors.py``, results in
   ``tools/results/rhythm_detectors.md``);
3. with at least ``MIN_BEATS`` R peaks: the heart rate from the RR intervals
   within 30 % of their median (a missed or extra beat is left out), the mean RR, RMSSD and the coefficient of variation of RR; with fewer, none
   of these and a reason;
4. the SQI: ``neurokit2.ecg_quality`` (``DEFAULT_SQI``) on the same cleaned
   lead and peaks.

It runs on the raw window (device rate, mV, before the model's conditioning):
the model input is resampled to 100 Hz (10 ms RR resolution, and neurokit2's
detectors are tuned for higher rates) and standardised; neurokit2 does its own
cleaning for detection.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

DEFAULT_METHOD = "neurokit"
DEFAULT_SQI = "templatematch"
SQI_METHODS = ("templatematch", "templatematch_nk", "averageQRS", "zhao2018")
MIN_BEATS = 3
DEFAULT_LEAD = "II"
FALLBACK_LEADS = ("II", "I", "V5", "aVF", "V6", "V4", "V2", "III", "V3", "V1", "aVL", "aVR")
FLAT_STD_MV = 0.01
MISSING_HINT = ("heart rate, rhythm and SQI need neurokit2: pip install 'tgll-edge[analysis]'")

_available: bool | None = None


def available() -> bool:
    """Whether neurokit2 can be imported (checked once)."""
    global _available
    if _available is None:
        try:
            import neurokit2  # noqa: F401
            _available = True
        except ImportError:
            _available = False
    return _available


def _nk():
    try:
        import neurokit2
    except ImportError as exc:
        raise ImportError(MISSING_HINT) from exc
    return neurokit2


@dataclass
class Rhythm:
    """Rhythm of one window; the numbers are None (and ``reason`` says why) below ``MIN_BEATS`` beats."""

    heart_rate_bpm: float | None = None
    rr_ms: float | None = None          # mean RR interval
    rmssd_ms: float | None = None
    rr_cv: float | None = None          # std / mean of RR
    n_beats: int = 0
    lead: str | None = None
    reason: str | None = None
    sqi: float | None = None            # ecg_quality, 0 (bad) .. 1 (good); None when not computed
    sqi_method: str | None = None
    sqi_reason: str | None = None

    def to_dict(self) -> dict:
        r = lambda v, d: None if v is None else round(float(v), d)  # noqa: E731
        out = {"heart_rate_bpm": r(self.heart_rate_bpm, 1), "rr_ms": r(self.rr_ms, 1),
               "rmssd_ms": r(self.rmssd_ms, 1), "rr_cv": r(self.rr_cv, 4), "n_beats": int(self.n_beats),
               "lead": self.lead}
        if self.reason:
            out["reason"] = self.reason
        return out


def choose_lead(x: np.ndarray, leads, unusable=()) -> tuple[int | None, str | None]:
    """Index of the lead to analyse (II unless unusable) or (None, reason)."""
    leads = list(leads)
    bad = set(unusable)
    for name in FALLBACK_LEADS:
        if name not in leads or name in bad:
            continue
        i = leads.index(name)
        v = x[i]
        if not np.all(np.isfinite(v)):
            continue
        if v.std() < FLAT_STD_MV:
            continue
        return i, None
    return None, "no usable lead (all flat, saturated, off or NaN)"


def rr_stats(peaks: np.ndarray, fs: float) -> dict:
    """Heart rate, mean RR, RMSSD and RR CV from R-peak sample indices.

    The heart rate is 60 / the mean of the RR intervals within 30 % of their
    median: a missed beat (one RR doubled) or an extra detection (two short RRs)
    is left out, and averaging the rest cancels the sampling grid's rounding
    (one RR at 100 Hz is +-10 ms, +-5 bpm at 170 bpm).
    """
    rr = np.diff(np.asarray(peaks, dtype=np.float64)) / fs * 1000.0
    med = float(np.median(rr))
    typical = rr[np.abs(rr - med) <= 0.3 * med]
    return {"heart_rate_bpm": 60000.0 / float(typical.mean()), "rr_ms": float(rr.mean()),
            "rmssd_ms": float(np.sqrt(np.mean(np.diff(rr) ** 2))) if len(rr) > 1 else 0.0,
            "rr_cv": float(rr.std() / rr.mean())}


_CLEAN_CACHE: dict = {}


def ecg_clean(signal: np.ndarray, fs: float) -> np.ndarray:
    """``neurokit2.ecg_clean(method="neurokit")``, the same filters with their coefficients cached:
    5th-order Butterworth high-pass at 0.5 Hz (zero phase), then a one-period 50 Hz moving
    average (zero phase). ``tests/signal/test_rhythm.py`` checks it equals neurokit2's."""
    from scipy.signal import butter, filtfilt, sosfiltfilt

    fs_i = int(round(fs))
    coef = _CLEAN_CACHE.get(fs_i)
    if coef is None:
        sos = butter(5, 0.5, btype="highpass", output="sos", fs=fs_i)
        box = np.ones(int(fs_i / 50)) if fs_i >= 100 else np.ones(2)
        coef = _CLEAN_CACHE[fs_i] = (sos, box)
    sos, box = coef
    y = sosfiltfilt(sos, np.asarray(signal, dtype=np.float64))
    return filtfilt(box, [len(box)], y, method="pad")


def detect_peaks(signal: np.ndarray, fs: float, method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned signal, R-peak sample indices): :func:`ecg_clean`, then ``neurokit2.ecg_findpeaks``
    with ``method`` (what ``neurokit2.ecg_peaks`` runs, without building its DataFrame)."""
    nk = _nk()
    cleaned = ecg_clean(signal, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            info = nk.ecg_findpeaks(cleaned, sampling_rate=int(round(fs)), method=method)
            peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        except Exception:  # noqa: BLE001 - third-party detectors raise anything on degenerate input
            peaks = np.zeros(0, dtype=np.int64)
    peaks = peaks[(peaks >= 0) & (peaks < len(cleaned))]
    return cleaned, np.unique(peaks)


def templatematch_sqi(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> float | None:
    """Template-matching SQI (Orphanidou et al. 2015, as ``neurokit2.ecg_quality(method="templatematch")``
    computes it), vectorised: each beat is the cleaned signal from half a mean RR before its R peak
    to half after; the template is the mean of the beats that fit in the window; each beat's
    quality is its Pearson correlation with the template (all but the last, as neurokit2);
    the window's SQI is the per-sample mean of the beat qualities held until the next beat.
    neurokit2's own version builds pandas frames per call (~60 ms per window); this one
    agrees with it (measured in tools/rhythm_detectors.py) at a fraction of the cost."""
    peaks = np.asarray(peaks, dtype=np.int64)
    n = len(cleaned)
    if len(peaks) < 2:
        return None
    w = float(np.mean(np.diff(peaks)))  # samples per beat
    before, after = int(0.5 * w), int(0.5 * w)
    inside = peaks[(peaks - before >= 0) & (peaks + after < n)]
    if len(inside) < 2:
        return None
    idx = inside[:, None] + np.arange(-before, after)[None, :]
    beats = cleaned[idx]
    template = beats.mean(axis=0)
    b = beats - beats.mean(axis=1, keepdims=True)
    t = template - template.mean()
    denom = np.sqrt((b * b).sum(axis=1) * (t * t).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        cc = (b @ t) / denom
    cc, at = cc[:-1], inside[:-1]
    ok = np.isfinite(cc)
    if not ok.any():
        return None
    cc, at = cc[ok], at[ok]
    # per-sample value of the last beat at or before the sample (the first beat's before it)
    edges = np.r_[0, at[1:], n]
    weights = np.diff(edges)
    return float(np.clip(np.sum(cc * weights) / n, 0.0, 1.0))


def sqi_value(cleaned: np.ndarray, peaks: np.ndarray, fs: float, method: str = DEFAULT_SQI) -> float | None:
    """neurokit2.ecg_quality of a cleaned lead as one number in [0, 1] (None if it cannot be computed).

    templatematch (Orphanidou 2015) and averageQRS give a value per sample: their
    mean over the window; zhao2018 gives a class: Excellent 1, Barely acceptable
    0.5, Unacceptable 0. ``templatematch`` runs :func:`templatematch_sqi`;
    ``templatematch_nk`` calls neurokit2's own (the reference, slow).
    """
    if len(peaks) < 2:
        return None
    if method == "templatematch":
        return templatematch_sqi(cleaned, peaks, fs)
    nk = _nk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            q = nk.ecg_quality(cleaned, rpeaks=peaks, sampling_rate=int(round(fs)),
                               method=method.removesuffix("_nk"))
        except Exception:  # noqa: BLE001 - neurokit2's segmentation raises on some peak sets
            return None
    if isinstance(q, str):
        return {"Excellent": 1.0, "Barely acceptable": 0.5, "Unacceptable": 0.0}.get(q)
    q = np.asarray(q, dtype=np.float64)
    q = q[np.isfinite(q)]
    return float(np.clip(q.mean(), 0.0, 1.0)) if q.size else None


def analyze(x: np.ndarray, fs: float, leads, *, unusable=(), method: str = DEFAULT_METHOD,
            sqi_method: str | None = DEFAULT_SQI) -> Rhythm:
    """Rhythm and SQI of one window ``x`` ``(leads, n)`` in mV at ``fs`` (the raw device-rate window)."""
    x = np.asarray(x)
    i, reason = choose_lead(x, leads, unusable)
    if i is None:
        return Rhythm(reason=reason, sqi_method=sqi_method, sqi_reason=reason)
    lead = list(leads)[i]
    cleaned, peaks = detect_peaks(x[i], fs, method)
    out = Rhythm(n_beats=int(len(peaks)), lead=lead, sqi_method=sqi_method)
    if len(peaks) < MIN_BEATS:
        out.reason = f"{len(peaks)} beats found on lead {lead}; heart rate needs at least {MIN_BEATS}"
    else:
        for k, v in rr_stats(peaks, fs).items():
            setattr(out, k, v)
    if sqi_method:
        out.sqi = sqi_value(cleaned, peaks, fs, sqi_method)
        if out.sqi is None:
            out.sqi_reason = f"too few beats on lead {lead} for {sqi_method}"
    return out
