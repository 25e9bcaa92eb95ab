"""Multilabel metrics of the PTB-XL benchmark (numpy/scipy only, no torch, no sklearn).

``y``: (N, C) 0/1 targets; ``p``: (N, C) scores (probabilities).

A class with no positive (or no negative) example in ``y`` has no AUC and no
F1: its per-class value is NaN and macro averages run over the other classes
(the subsets used here leave rare classes absent from a fold; the benchmark's
``roc_auc_score`` would refuse such a fold outright).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _check(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim == 1:
        y, p = y[:, None], p.reshape(-1, 1)
    if y.shape != p.shape or y.ndim != 2:
        raise ValueError(f"targets {y.shape} and scores {p.shape} must both be (N, C)")
    if not np.all(np.isfinite(p)):
        raise ValueError("scores contain NaN or inf")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("targets must be 0/1")
    return y, p


def _auc_columns(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of every column (ties count 1/2), NaN where undefined; axis 0 = samples."""
    n_pos = y.sum(axis=0)
    n_neg = y.shape[0] - n_pos
    ranks = rankdata(p, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def per_class_auc(y, p) -> np.ndarray:
    """ROC AUC per class, (C,), NaN for classes without both positives and negatives."""
    y, p = _check(y, p)
    return _auc_columns(y, p)


def macro_auc(y, p) -> float:
    """Mean of the defined per-class AUCs (the benchmark's primary metric)."""
    auc = per_class_auc(y, p)
    if np.all(np.isnan(auc)):
        raise ValueError("macro AUC undefined: no class has both positive and negative examples")
    return float(np.nanmean(auc))


def fmax(y, p, thresholds=None) -> float:
    """Sample-centric F-max (Strodthoff et al. 2021, after CAFA).

    For each threshold t: precision averaged over the samples with at least one
    score >= t, recall averaged over the samples with at least one label; F(t)
    their harmonic mean; F-max the best F(t). Thresholds: 0.00, 0.01 .. 1.00.
    """
    y, p = _check(y, p)
    thresholds = np.linspace(0, 1, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    labelled = y.sum(axis=1) > 0
    if not labelled.any():
        raise ValueError("F-max undefined: no sample has a label")
    best = 0.0
    for t in thresholds:
        pred = p >= t
        tp = (pred & (y == 1)).sum(axis=1)
        n_pred = pred.sum(axis=1)
        has_pred = n_pred > 0
        if not has_pred.any():
            continue
        precision = np.mean(tp[has_pred] / n_pred[has_pred])
        recall = np.mean(tp[labelled] / y[labelled].sum(axis=1))
        if precision + recall > 0:
            best = max(best, 2 * precision * recall / (precision + recall))
    return float(best)


def f1_at(y, p, thresholds, average: str | None = "macro"):
    """F1 with per-class thresholds (positive where p >= threshold).

    ``average="macro"``: mean over classes with positives (float); ``None``:
    per-class array, NaN for classes without positives.
    """
    y, p = _check(y, p)
    thr = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (y.shape[1],))
    pred = p >= thr
    tp = (pred & (y == 1)).sum(axis=0)
    fp = (pred & (y == 0)).sum(axis=0)
    fn = (~pred & (y == 1)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(y.sum(axis=0) > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    if average is None:
        return f1
    if average != "macro":
        raise ValueError(f"average must be 'macro' or None; got {average!r}")
    if np.all(np.isnan(f1)):
        raise ValueError("F1 undefined: no class has a positive example")
    return float(np.nanmean(f1))


def choose_thresholds(y, p, default: float = 0.5) -> np.ndarray:
    """Per-class threshold maximising that class's F1 on (validation) data.

    The threshold lies midway between the last score taken as positive and the
    next lower one (the whole tie group is taken together); classes without
    positives get ``default``.
    """
    y, p = _check(y, p)
    out = np.full(y.shape[1], float(default))
    for c in range(y.shape[1]):
        n_pos = y[:, c].sum()
        if n_pos == 0:
            continue
        order = np.argsort(-p[:, c], kind="stable")
        s, t = p[order, c], y[order, c]
        tp = np.cumsum(t)
        k = np.arange(1, len(s) + 1)
        cut = np.r_[s[1:] < s[:-1], True]  # a cut after position i keeps ties together
        f1 = np.where(cut, 2 * tp / (k + n_pos), -1.0)
        i = int(np.argmax(f1))
        out[c] = s[i] if i == len(s) - 1 else (s[i] + s[i + 1]) / 2
    return out


def bootstrap_ci(y, p, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (default 95 %) for the macro AUC.

    Records are resampled with replacement; each resample's macro AUC is taken
    over the classes defined in it (a rare class can drop out of a resample;
    the benchmark instead redraws such resamples, impractical with classes that
    have one or two positives).
    """
    y, p = _check(y, p)
    macro_auc(y, p)  # raises if undefined
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        auc = _auc_columns(y[idx], p[idx])
        stats[b] = np.nanmean(auc) if not np.all(np.isnan(auc)) else np.nan
    stats = stats[~np.isnan(stats)]
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _jsonable(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def evaluation_report(y, p, labels, thresholds, n_boot: int = 1000, seed: int = 0) -> dict:
    """Every metric of one evaluation as a JSON-able dict (NaN -> None).

    Keys: n_records, macro_auc, macro_auc_ci95 [low, high], fmax,
    f1_at_thresholds (macro), per_class_auc / per_class_f1 / n_positive ({label: value}).
    """
    y, p = _check(y, p)
    labels = list(labels)
    if len(labels) != y.shape[1]:
        raise ValueError(f"{len(labels)} labels for {y.shape[1]} score columns")
    auc = per_class_auc(y, p)
    f1 = f1_at(y, p, thresholds, average=None)
    lo, hi = bootstrap_ci(y, p, n_boot=n_boot, seed=seed)
    return {
        "n_records": int(len(y)),
        "macro_auc": macro_auc(y, p),
        "macro_auc_ci95": [lo, hi],
        "fmax": fmax(y, p),
        "f1_at_thresholds": float(np.nanmean(f1)) if not np.all(np.isnan(f1)) else None,
        "per_class_auc": dict(zip(labels, _jsonable(auc))),
        "per_class_f1": dict(zip(labels, _jsonable(f1))),
        "n_positive": {lab: int(n) for lab, n in zip(labels, y.sum(axis=0))},
    }
