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
    """

    t_start: float
    t_end: float
    probabilities: dict
    labels: list
    quality: Quality
    latency_ms: float
    bridged_gaps: int = 0
    bridged_ms: float = 0.0

    @property
    def skipped(self) -> bool:
        return self.quality.skipped

    def to_json(self) -> dict:
        return {"type": "window", "t_start": round(self.t_start, 6), "t_end": round(self.t_end, 6),
                "probabilities": {k: float(v) for k, v in self.probabilities.items()},
                "labels": list(self.labels), "quality": self.quality.to_dict(),
                "latency_ms": round(self.latency_ms, 3), "bridged_gaps": int(self.bridged_gaps),
                "bridged_ms": round(float(self.bridged_ms), 3)}


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
