"""Argument types the CLIs share: a bad value exits 2 with a message naming it."""
from __future__ import annotations

import argparse
import math


def lead_list(text: str) -> tuple[str, ...]:
    """Comma-separated lead names, each once (``I,II,V2``), canonicalised (``avr`` -> ``aVR``)."""
    from ..signal.leads import canonical_lead

    names = [t.strip() for t in text.split(",") if t.strip()]
    try:
        out = tuple(canonical_lead(n) for n in names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not out or len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"name each lead once, e.g. I,II,V2; got {text!r}")
    return out


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, a speed): ``--hop 0``, ``-1``, ``nan`` and ``inf`` are refused."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (a delay, a speed where 0 means unpaced)."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1] (a probability, a share)."""
    value = _finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1]; got {text}")
    return value
