"""What the pipeline reports, and its JSON-lines form."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..link.blocks import Gap, Status
from ..signal.quality import Quality


@dataclass
class Finding:
    """The result for one window.

    probabilities: label -> probability ({} when the quality gate skipped the window);
    labels: the labels at or above their card threshold; quality: the gate's verdict;
    latency_ms: from the arrival of the block completing the window to this result;
    bridged_gaps / bridged_ms: short link gaps inside the window filled by interpolation.
    rhythm: heart rate, mean RR, RMSSD, RR CV, beats (``tgll_edge.signal.rhythm.Rhythm``), or
    None when the pipeline runs without it; the SQI is in ``quality.sqi``.
    """

    t_start: float
    t_end: float
    probabilities: dict
    labels: list
    quality: Quality
    latency_ms: float
    bridged_gaps: int = 0
    bridged_ms: float = 0.0
    rhythm: object | None = None
    # the leads the model used (LEADS_12 order; [] when skipped), the largest standard
    # lead set of the card contained in them and its fold-9 macro-AUC (None: the card lists no
    # lead sets, a 12-lead bundle), and the electrodes found off in the window
    leads_used: list | None = None
    lead_set: str | None = None
    lead_set_auc: float | None = None
    electrodes_off: list | None = None

    @property
    def skipped(self) -> bool:
        return self.quality.skipped

    @property
    def heart_rate_bpm(self) -> float | None:
        return None if self.rhythm is None else self.rhythm.heart_rate_bpm

    def rhythm_json(self) -> dict:
        """heart_rate_bpm, rr_ms, rmssd_ms, rr_cv, n_beats, rhythm_lead and rhythm_reason (why
        there is no heart rate; null when there is one): the keys are always there."""
        if self.rhythm is None:
            return {"heart_rate_bpm": None, "rr_ms": None, "rmssd_ms": None, "rr_cv": None, "n_beats": None,
                    "rhythm_lead": None, "rhythm_reason": "rhythm analysis off"}
        d = self.rhythm.to_dict()
        out = {k: d[k] for k in ("heart_rate_bpm", "rr_ms", "rmssd_ms", "rr_cv", "n_beats")}
        out["rhythm_lead"] = d["lead"]
        out["rhythm_reason"] = d.get("reason") or None
        return out

    def to_json(self) -> dict:
        return {"type": "window", "t_start": round(self.t_start, 6), "t_end": round(self.t_end, 6),
                "probabilities": {k: float(v) for k, v in self.probabilities.items()},
                "labels": list(self.labels), "quality": self.quality.to_dict(),
                "latency_ms": round(self.latency_ms, 3), "bridged_gaps": int(self.bridged_gaps),
                "bridged_ms": round(float(self.bridged_ms), 3), **self.rhythm_json(), **self.leads_json()}

    def leads_json(self) -> dict:
        """leads_used, lead_set, lead_set_auc, electrodes_off."""
        return {"leads_used": None if self.leads_used is None else list(self.leads_used),
                "lead_set": self.lead_set,
                "lead_set_auc": None if self.lead_set_auc is None else round(float(self.lead_set_auc), 4),
                "electrodes_off": list(self.electrodes_off or [])}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def to_json(result) -> dict:
    """Finding / Gap / Status -> the dict printed as one JSON line."""
    if isinstance(result, Finding):
        return result.to_json()
    if isinstance(result, Gap):
        return {"type": "gap", "t": round(result.t, 6), "missing_samples": int(result.missing_samples),
                "cause": result.cause}
    if isinstance(result, Status):
        return {"type": "status", "kind": result.kind, "message": result.message,
                "detail": _jsonable(result.detail)}
    raise TypeError(f"not a pipeline result: {result!r}")


SUMMARY_KEYS = ("packets", "bytes", "crc_errors", "dropped_bytes", "gaps", "missing_samples",
                "windows", "skipped_windows")
