"""Replay WFDB records as a stream: SampleBlocks in mV with the record's own leads.

A directory replays every record under it (sorted by path) one after another.
Between records the signal is discontinuous but nothing is *missing*, so the
boundary is a ``Gap(missing_samples=0, cause="record_boundary")`` (every Gap tells
the pipeline to reset its filters and never window across it) preceded by
``Status("record", ...)`` naming the next record. The stream index runs on across
records; if the next record has another fs, the index is rescaled to it as on a
device rate change (``ceil(index * new / old)``).
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..signal.leads import canonical_lead
from .blocks import Event, Gap, GapCause, SampleBlock, Status, StatusKind
from .source import Source
from .wfdbio import open_record

#: frames read from disk at a time (about 16 s at 500 Hz)
READ_FRAMES = 8192


def _strip_ext(p: Path) -> Path:
    return p.with_suffix("") if p.suffix in (".hea", ".dat", ".mat") else p


def find_records(path: str | os.PathLike) -> list[Path]:
    """A record path ('rec', 'rec.hea') or a directory -> record paths without extension."""
    p = Path(path)
    if p.is_dir():
        records = sorted(_strip_ext(h) for h in p.rglob("*.hea"))
        if not records:
            raise FileNotFoundError(f"no WFDB records (*.hea) under {p}")
        return records
    rec = _strip_ext(p)
    if not rec.with_suffix(".hea").exists():
        raise FileNotFoundError(f"WFDB record not found: {path} (no {rec.with_suffix('.hea')})")
    return [rec]


def _labels(names: list[str]) -> tuple[str, ...]:
    out = []
    for n in names:
        try:
            out.append(canonical_lead(n))
        except ValueError:
            out.append(n)
    return tuple(out)


def _mv_scale(units) -> np.ndarray:
    return np.array([1e-3 if (u or "").lower() in ("uv", "µv") else 1e3 if (u or "").lower() == "v" else 1.0
                     for u in units])


def read_record(rec: Path) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """-> ((channels, n) float32 mV, fs, labels): a whole record (ReplaySource reads block by block)."""
    r = open_record(rec)
    x = r.read()
    return (x * _mv_scale(r.units)[:, None]).astype(np.float32), float(r.fs), _labels(list(r.sig_name))


class ReplaySource(Source):
    """Replay a record or a directory of records.

    speed: 1.0 = real time, N = N times faster, None (or 0) = as fast as consumed.
    block_s: seconds of signal per SampleBlock (default 0.1).
    loop: start again after the last record (with a record_boundary gap).
    """

    name = "replay"

    def __init__(self, path: str | os.PathLike, speed: float | None = 1.0, block_s: float = 0.1,
                 loop: bool = False):
        super().__init__()
        if speed is not None and speed < 0:
            raise ValueError(f"speed must be >= 0 or None, got {speed}")
        if not block_s > 0:
            raise ValueError(f"block_s must be > 0, got {block_s}")
        self.records = find_records(path)
        self.speed = speed or None
        self.block_s, self.loop = block_s, loop
        self.counts.update(records=0, samples=0, blocks=0, gaps=0, missing_samples=0, bytes=0)

    def _events(self) -> Iterator[Event]:
        index, fs_prev = 0, None
        t0 = time.monotonic()
        played = 0.0  # seconds of signal emitted (for pacing)
        while not self.closed:
            for rec in self.records:
                if self.closed:
                    return
                r = open_record(rec)
                fs, labels, n_ch, n_total = float(r.fs), _labels(list(r.sig_name)), r.n_sig, r.sig_len
                scale = _mv_scale(r.units)[:, None]
                self.counts["records"] += 1
                self.counts["bytes"] += n_ch * n_total * 4  # as float32 samples
                yield Status(StatusKind.RECORD, f"replaying {rec.name}: {n_ch} ch, {fs:g} Hz, "
                                       f"{n_total / fs:.1f} s", {"record": str(rec), "fs": fs,
                                                                 "labels": list(labels)})
                if fs_prev is not None:
                    index = math.ceil(index * fs / fs_prev)
                    self.counts["gaps"] += 1
                    yield Gap(index, 0, fs, GapCause.RECORD_BOUNDARY)
                fs_prev = fs
                step = max(1, round(self.block_s * fs))
                # read a few seconds at a time (a whole number of blocks): memory stays bounded
                # whatever the record's length
                per_read = step * max(1, READ_FRAMES // step)
                for first in range(0, n_total, per_read):
                    x = (r.read(first, per_read) * scale).astype(np.float32)
                    for start in range(0, x.shape[1], step):
                        if self.closed:
                            return
                        block = np.ascontiguousarray(x[:, start:start + step])
                        if self.speed:
                            delay = t0 + played / self.speed - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                        yield SampleBlock(index, fs, block, labels)
                        n = block.shape[1]
                        index += n
                        played += n / fs
                        self.counts["samples"] += n
                        self.counts["blocks"] += 1
            if not self.loop:
                return
