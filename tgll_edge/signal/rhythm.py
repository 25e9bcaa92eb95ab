"""Per-window heart rate, RR irregularity and a published signal-quality index.

neurokit2's algorithms, chosen by measurement (``tools/rhythm_detectors.py``,
``tools/results/rhythm_detectors.md``):

1. the lead: II, unless the quality gate marked it (flat, saturated, lead off,
   NaN) or it is flat itself, or fewer than ``MIN_BEATS`` beats are found on it;
   then the next usable lead of ``FALLBACK_LEADS``;
2. neurokit2's ``ecg_clean(method="neurokit")`` (0.5 Hz high-pass, 50 Hz moving
   average) and its ``neurokit`` R-peak detector (``DEFAULT_METHOD``);
3. with at least ``MIN_BEATS`` R peaks: the heart rate from the RR intervals
   within 30 % of their median (a missed or extra beat is left out), the mean RR,
   RMSSD and the coefficient of variation of RR; with fewer, none of these and a reason;
4. the SQI: ``neurokit2.ecg_quality(method="templatematch")`` (Orphanidou et al.
   2015: correlation of each beat with the window's average beat) on the same
   cleaned lead and peaks.

The cleaner, the ``neurokit`` detector and the template-matching SQI run here in
numpy, re-implemented from neurokit2's code and checked against neurokit2 itself
by ``tests/signal/test_rhythm.py`` (same peaks; cleaner to 1e-9): importing
neurokit2 (pandas, scikit-learn, matplotlib, scipy) raises a gateway's resident
memory from 73 to 245 MB, and its per-call overheads cost ~10x the 3 ms this
takes, which the stream budgets (< 150 MB, >= 200x real time at a 1-s hop) do not
allow. neurokit2 (the ``[analysis]`` extra) is needed for the other detectors
(``method=`` any ``neurokit2.ecg_findpeaks`` method), the other SQIs, the noise
tools and noise-aware training; it is imported only then.

It runs on the raw window (device rate, mV, before the model's conditioning): on
the conditioned 100 Hz window (the card's resampler low-passes the QRS) the
detector found no beat in simulated records it finds at 500 Hz, and RR is
resolved to 2 ms instead of 10 ms. A device rate of 500 Hz or more is first
brought to ``ANALYSIS_FS`` (250 Hz, the usual QRS-detection rate; RR to 4 ms) by
averaging blocks of samples on the analysed lead only: that halves the step's cost
at 500 Hz, which the 1 s-hop stream budget needs on an AVX2 gateway, and the
detector's parameters are in seconds, so it finds the same beats.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

DEFAULT_METHOD = "neurokit"
DEFAULT_SQI = "templatematch"
SQI_METHODS = ("templatematch", "templatematch_nk", "averageQRS", "zhao2018")
MIN_BEATS = 3
ANALYSIS_FS = 250.0
DEFAULT_LEAD = "II"
FALLBACK_LEADS = ("II", "I", "V5", "aVF", "V6", "V4", "V2", "III", "V3", "V1", "aVL", "aVR")
FLAT_STD_MV = 0.01
MISSING_HINT = ("this heart-rate detector or SQI needs neurokit2: pip install 'tgll-edge[analysis]'")

_available: bool | None = None


def available(method: str | None = None, sqi_method: str | None = None) -> bool:
    """Whether rhythm analysis with these methods (default: ``DEFAULT_METHOD``, ``DEFAULT_SQI``)
    can run: the defaults always can (numpy); the others need neurokit2 (checked once)."""
    global _available
    if (method or DEFAULT_METHOD) == "neurokit" and (sqi_method or DEFAULT_SQI) == "templatematch":
        return True
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
    (one RR at 100 Hz is +-10 ms, +-5 bpm at 170 bpm). When no RR is that close to the
    median (two very different RRs), the rate is 60 / the median RR.
    """
    # a window holds a few dozen beats at most: plain Python floats, ~10x faster than numpy's
    # per-call overhead here (the stream runs this once per window)
    p = [float(v) for v in np.asarray(peaks).tolist()]
    rr = [(b - a) / fs * 1000.0 for a, b in zip(p, p[1:])]
    n = len(rr)
    srt = sorted(rr)
    med = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    typical = [r for r in rr if abs(r - med) <= 0.3 * med]
    if not typical:  # e.g. two RRs far apart (median = their mean, near neither): the median
        typical = [med]
    mean = sum(rr) / n
    rmssd = math.sqrt(sum((b - a) ** 2 for a, b in zip(rr, rr[1:])) / (n - 1)) if n > 1 else 0.0
    return {"heart_rate_bpm": 60000.0 / (sum(typical) / len(typical)), "rr_ms": mean, "rmssd_ms": rmssd,
            "rr_cv": math.sqrt(sum((r - mean) ** 2 for r in rr) / n) / mean}


_CLEAN_CACHE: dict = {}


def _odd_ext(x: np.ndarray, n: int) -> np.ndarray:
    """scipy.signal's odd extension by ``n`` samples at each end."""
    return np.concatenate([2 * x[0] - x[n:0:-1], x, 2 * x[-1] - x[-2:-n - 2:-1]])


_POW_CACHE: dict = {}


def _state_powers(sec, k: int):
    """For k blocks of the cascade ``sec`` (state size S, block matrix P = PT[L]): the state each
    block starts from, as two matrices: from the initial state, ``zi @ A`` with A (S, k*S) =
    [P^0 ... P^(k-1)]; from the blocks' own inputs, ``S_in.ravel() @ B`` with B (k*S, k*S),
    block (m, j) = P^(j-1-m) for m < j (else 0): the recursion s' = s P + S_in, unrolled."""
    key = (id(sec), k)
    got = _POW_CACHE.get(key)
    if got is None:
        P = sec.PT[sec.L]
        S = len(P)
        pw = np.empty((k + 1, S, S))
        pw[0] = np.eye(S)
        for j in range(1, k + 1):
            pw[j] = pw[j - 1] @ P
        A = np.ascontiguousarray(pw[:k].transpose(1, 0, 2).reshape(S, k * S))
        lag = np.arange(k)[None, :] - 1 - np.arange(k)[:, None]  # [m, j] = j - 1 - m
        M = np.where((lag >= 0)[:, :, None, None], pw[np.clip(lag, 0, None)], 0.0)  # (m, j, a, b)
        B = np.ascontiguousarray(M.transpose(0, 2, 1, 3).reshape(k * S, k * S))
        got = _POW_CACHE[key] = (A, B)
    return got


def _sos_steady(filt, x: np.ndarray) -> np.ndarray:
    """scipy.signal.sosfilt(sos, x, zi=sosfilt_zi(sos) * x[0]) for one 1-D signal, every block of
    ``L`` samples at once, with the filter's sections as one cascade operator: the zero-state
    responses of all blocks in one matrix product, then the state carried from block to block,
    then each block's response to its initial state. Exact for the linear recursion (to rounding)."""
    sec = filt._cascade
    L = sec.L
    n = len(x)
    k = -(-n // L)
    X = np.zeros(k * L)
    X[:n] = x
    X = X.reshape(k, L)
    zi = filt._zi_unit.ravel() * x[0]
    # at most 16 x L x L multiply-adds per call: OpenBLAS runs those on the calling thread
    # (larger products start its thread pool: slower for sizes this small, and not one core)
    Y = np.concatenate([X[r:r + 16] @ sec.T for r in range(0, k, 16)])
    S_in = X @ sec.G  # each block's own contribution to the state after it
    A, B = _state_powers(sec, k)
    # state entering block j: zi P^j + sum_{m<j} S_in[m] P^(j-1-m)
    starts = (zi @ A + S_in.ravel() @ B).reshape(k, -1)
    return (Y + starts @ sec.Z).ravel()[:n]


def _sosfiltfilt(filt, sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scipy.signal.sosfiltfilt (odd padding, steady-state initial conditions) in numpy, with the
    section matrices of :class:`tgll_edge.signal.filters.StreamingFilter` (scipy's section form)."""
    ntaps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    pad = 3 * ntaps
    ext = _odd_ext(x, pad)
    y = _sos_steady(filt, ext)
    y = _sos_steady(filt, y[::-1])[::-1]
    return y[pad:-pad]


def _fir_steady(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """lfilter(h, 1, x, zi=lfilter_zi(h, 1) * x[0]): the FIR as if x had been constant before."""
    return np.convolve(np.concatenate([np.full(len(h) - 1, x[0]), x]), h, mode="valid")


def _filtfilt_fir(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scipy.signal.filtfilt(h, [1], x, method="pad")."""
    pad = 3 * len(h)
    ext = _odd_ext(x, pad)
    y = _fir_steady(h, ext)
    y = _fir_steady(h, y[::-1])[::-1]
    return y[pad:-pad]


def ecg_clean(signal: np.ndarray, fs: float) -> np.ndarray:
    """``neurokit2.ecg_clean(method="neurokit")`` in numpy: 5th-order Butterworth high-pass at
    0.5 Hz (zero phase), then a one-period 50 Hz moving average (zero phase). The same filters,
    without importing neurokit2 or scipy (their imports alone cost the gateway 170 MB of
    resident memory); ``tests/signal/test_rhythm.py`` checks it against neurokit2's."""
    from .filters import StreamingFilter, design

    fs_i = int(round(fs))
    coef = _CLEAN_CACHE.get(fs_i)
    if coef is None:
        sos = design("highpass", fs_i, cutoff_hz=0.5, order=5)
        box = np.ones(int(fs_i / 50)) if fs_i >= 100 else np.ones(2)
        coef = _CLEAN_CACHE[fs_i] = (StreamingFilter(sos), sos, box / len(box))
    filt, sos, h = coef
    x = np.asarray(signal, dtype=np.float64)
    return _filtfilt_fir(h, _sosfiltfilt(filt, sos, x))


def _uniform_filter1d(x: np.ndarray, size: int) -> np.ndarray:
    """scipy.ndimage.uniform_filter1d(x, size, mode="nearest") (its running sum, to rounding)."""
    h = size // 2
    ext = np.empty(len(x) + size)
    ext[:h], ext[h:h + len(x)], ext[h + len(x):] = x[0], x, x[-1]
    d = ext[size - 1:size + len(x) - 1].copy()  # running sum: first window's sum, then the steps
    d[0] = ext[:size].sum()
    d[1:] -= ext[:len(x) - 1]
    return np.cumsum(d) / size


def _most_prominent_peak(data: np.ndarray) -> int | None:
    """Index of the local maximum of ``data`` with the largest prominence, as
    ``scipy.signal.find_peaks(data, prominence=(None, None))`` + argmax finds it (plateaus:
    their middle sample; the first of equal prominences)."""
    n = len(data)
    if n < 3:
        return None
    d = np.diff(data)
    if np.all(d != 0):  # no plateau: local maxima are strict, prominences from a few slices each
        peaks = np.flatnonzero((d[:-1] > 0) & (d[1:] < 0)) + 1
        best, best_prom = None, -np.inf
        for pk in peaks:
            v = data[pk]
            higher_l = np.flatnonzero(data[:pk] > v)
            higher_r = np.flatnonzero(data[pk + 1:] > v)
            lo = higher_l[-1] + 1 if higher_l.size else 0
            hi = pk + 1 + higher_r[0] if higher_r.size else n
            prom = v - max(data[lo:pk + 1].min(), data[pk:hi].min())
            if prom > best_prom:
                best, best_prom = int(pk), prom
        return best
    best, best_prom = None, -np.inf
    i = 1
    while i < n - 1:
        if data[i - 1] < data[i]:
            ahead = i + 1
            while ahead < n - 1 and data[ahead] == data[i]:
                ahead += 1
            if data[ahead] < data[i]:
                peak = (i + ahead - 1) // 2
                v = data[peak]
                j = peak
                left_min = v
                while j >= 0 and data[j] <= v:
                    left_min = min(left_min, data[j])
                    j -= 1
                j = peak
                right_min = v
                while j < n and data[j] <= v:
                    right_min = min(right_min, data[j])
                    j += 1
                prom = v - max(left_min, right_min)
                if prom > best_prom:
                    best, best_prom = peak, prom
                i = ahead
        i += 1
    return best


def _most_prominent_peaks(data: np.ndarray, beg: np.ndarray, end: np.ndarray) -> np.ndarray:
    """:func:`_most_prominent_peak` of every segment ``data[beg[i]:end[i]]`` (offset in it, or -1),
    all segments at once: the segments side by side in one array padded with -inf, and each local
    maximum's prominence from masks over its own row. A segment with a plateau (equal neighbours,
    rare on a filtered signal) goes through the one-segment version."""
    n_seg = len(beg)
    out = np.full(n_seg, -1, dtype=np.int64)
    if n_seg == 0:
        return out
    lens = (end - beg).astype(np.int64)
    width = int(lens.max())
    pos = np.arange(width)
    inside = pos[None, :] < lens[:, None]
    D = np.where(inside, data[np.minimum(beg[:, None] + pos[None, :], len(data) - 1)], -np.inf)
    with np.errstate(invalid="ignore"):  # -inf - -inf in the padding, masked below
        d = np.diff(D, axis=1)
    real_d = pos[None, :-1] < (lens[:, None] - 1)
    plateau = ((d == 0) & real_d).any(axis=1)
    # strict local maxima, not at a segment's first or last sample
    is_max = np.zeros_like(inside)
    is_max[:, 1:-1] = (d[:, :-1] > 0) & (d[:, 1:] < 0) & (pos[None, 1:-1] < lens[:, None] - 1)
    is_max &= ~plateau[:, None]
    # a segment with one local maximum: that is the most prominent one (most QRS segments)
    single = is_max.sum(axis=1) == 1
    out[single] = is_max[single].argmax(axis=1)
    seg, pk = np.nonzero(is_max & ~single[:, None])
    if len(seg):
        rows = D[seg]
        v = rows[np.arange(len(seg)), pk]
        higher = rows > v[:, None]
        lo = np.where(higher & (pos[None, :] < pk[:, None]), pos[None, :], -1).max(axis=1) + 1
        hi = np.where(higher & (pos[None, :] > pk[:, None]), pos[None, :], lens[seg][:, None]).min(axis=1)
        left = np.where((pos[None, :] >= lo[:, None]) & (pos[None, :] <= pk[:, None]), rows, np.inf).min(axis=1)
        right = np.where((pos[None, :] >= pk[:, None]) & (pos[None, :] < hi[:, None]), rows, np.inf).min(axis=1)
        prom = v - np.maximum(left, right)
        # per segment, the largest prominence; the first of equal ones (as argmax)
        order = np.lexsort((pk, -prom, seg))
        first = np.concatenate(([True], seg[order][1:] != seg[order][:-1]))
        out[seg[order][first]] = pk[order][first]
    for i in np.flatnonzero(plateau):
        k = _most_prominent_peak(data[beg[i]:end[i]])
        out[i] = -1 if k is None else k
    return out


def findpeaks_neurokit(cleaned: np.ndarray, fs: float, smoothwindow: float = 0.1, avgwindow: float = 0.75,
                       gradthreshweight: float = 1.5, minlenweight: float = 0.4, mindelay: float = 0.3
                       ) -> np.ndarray:
    """neurokit2's ``neurokit`` QRS detector (``ecg_findpeaks(method="neurokit")``) in numpy:
    QRS complexes where the smoothed absolute gradient exceeds 1.5 x its 0.75-s average, the most
    prominent maximum in each long-enough complex, at least ``mindelay`` s apart. Same
    parameters; the tests check it finds neurokit2's peaks."""
    grad = np.abs(np.gradient(cleaned))
    smooth_kernel = int(np.rint(smoothwindow * fs))
    avg_kernel = int(np.rint(avgwindow * fs))
    if not 1 <= avg_kernel <= len(cleaned):
        return np.zeros(0, dtype=np.int64)
    smoothgrad = _uniform_filter1d(grad, smooth_kernel)
    threshold = gradthreshweight * _uniform_filter1d(smoothgrad, avg_kernel)
    mindelay = int(np.rint(fs * mindelay))
    qrs = smoothgrad > threshold
    beg = np.flatnonzero(~qrs[:-1] & qrs[1:])
    end = np.flatnonzero(qrs[:-1] & ~qrs[1:])
    if len(beg) == 0:
        return np.zeros(0, dtype=np.int64)
    end = end[end > beg[0]]
    num = min(beg.size, end.size)
    min_len = np.mean(end[:num] - beg[:num]) * minlenweight
    keep = (end[:num] - beg[:num]) >= min_len
    beg, end = beg[:num][keep], end[:num][keep]
    found = _most_prominent_peaks(cleaned, beg, end)
    peaks = [0]
    for b, k in zip(beg, found):
        if k >= 0 and b + k - peaks[-1] > mindelay:
            peaks.append(b + k)
    return np.asarray(peaks[1:], dtype=np.int64)


def detect_peaks(signal: np.ndarray, fs: float, method: str = DEFAULT_METHOD) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned signal, R-peak sample indices): :func:`ecg_clean`, then the ``method`` detector:
    ``neurokit`` runs :func:`findpeaks_neurokit` (numpy), any other ``neurokit2.ecg_findpeaks``
    (what ``neurokit2.ecg_peaks`` runs, without building its DataFrame; needs neurokit2)."""
    cleaned = ecg_clean(signal, fs)
    if method == "neurokit":
        return cleaned, findpeaks_neurokit(cleaned, fs)  # increasing, in range by construction
    else:
        nk = _nk()
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
    edges = np.concatenate(([0], at[1:], [n]))
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


def to_analysis_rate(signal: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    """One lead at ``fs`` -> (the lead at ``fs / q``, ``fs / q``), q = fs // ANALYSIS_FS block means
    (the block mean is the anti-alias filter; the cleaner's 50 Hz moving average follows)."""
    q = int(fs // ANALYSIS_FS)
    if q < 2:
        return np.asarray(signal, dtype=np.float64), fs
    x = np.asarray(signal, dtype=np.float64)
    n = len(x) // q * q
    return sum(x[k:n:q] for k in range(q)) / q, fs / q  # strided sums: ~10x faster than reshape().mean()


def analyze(x: np.ndarray, fs: float, leads, *, unusable=(), method: str = DEFAULT_METHOD,
            sqi_method: str | None = DEFAULT_SQI) -> Rhythm:
    """Rhythm and SQI of one window ``x`` ``(leads, n)`` in mV at ``fs`` (the raw device-rate window)."""
    x = np.asarray(x)
    leads = list(leads)
    i, reason = choose_lead(x, leads, unusable)
    if i is None:
        return Rhythm(reason=reason, sqi_method=sqi_method, sqi_reason=reason)
    lead = leads[i]
    fs_in = fs
    sig, fs = to_analysis_rate(x[i], fs_in)
    cleaned, peaks = detect_peaks(sig, fs, method)
    if len(peaks) < MIN_BEATS:  # the detector failed on this lead: one more usable lead
        j, _ = choose_lead(x, leads, list(unusable) + [lead])
        if j is not None:
            c2, p2 = detect_peaks(to_analysis_rate(x[j], fs_in)[0], fs, method)
            if len(p2) >= MIN_BEATS:
                lead, cleaned, peaks = leads[j], c2, p2
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
