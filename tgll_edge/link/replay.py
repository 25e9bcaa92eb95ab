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

import numpy as np

from .blocks import Event, Gap, GapCause, SampleBlock, Status, StatusKind
from .source import Source
from .wfdbio import find_records, open_record, read_mv, read_record

#: frames read from disk at a time (about 16 s at 500 Hz)
READ_FRAMES = 8192

__all__ = ["ReplaySource", "find_records", "read_record"]


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
                fs, labels, n_ch, n_total = float(r.fs), r.labels, r.n_sig, r.sig_len
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
                    x = read_mv(r, first, per_read).astype(np.float32)
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
