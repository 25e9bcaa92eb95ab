"""Writing test records as WFDB files (tests' shared helper)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_mv_record(dirname: Path, name: str, x: np.ndarray, fs: float, leads) -> Path:
    """``x`` (leads, n) in mV as a 16-bit WFDB record at 1 uV per count; returns its path without suffix."""
    import wfdb

    dirname.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(leads), sig_name=list(leads), p_signal=x.T,
                fmt=["16"] * len(leads), adc_gain=[1000.0] * len(leads), baseline=[0] * len(leads),
                write_dir=str(dirname))
    return dirname / name
