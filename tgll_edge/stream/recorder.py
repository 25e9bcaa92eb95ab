"""Record every decoded sample to disk as it arrives, and replay recordings.

Layout of a recording directory (standard WFDB, readable by any WFDB tool)::

    DIR/recording.hea        multi-segment WFDB header: one segment per contiguous
                             run, a "~" null segment for every gap (its length =
                             the samples lost), so time stays exact
    DIR/layout.hea           its layout segment (the channels; no samples)
    DIR/seg_0000.hea/.dat    each run: WFDB format 32 (int32 LE), the device's
                             channels (labels as sent), physical unit mV
    DIR/events.jsonl         one JSON object per line: gaps with their cause,
                             status events, lead-off mask changes (with sample index)

Durability: data and headers are flushed and fsync'ed at least every
``flush_s`` (default 1 s) of wall time, so a power cut loses at most about a
second; headers are rewritten atomically (write + rename), so whatever is on
disk is always a valid record of what was flushed.

Values are stored as integers at the device's own resolution when its INFO
gave ``uv_per_count`` (lossless for int24 devices), else at 10 nV.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import RecordError
from ..link.blocks import Gap, GapCause, SampleBlock, Status, StatusKind
from ..link.source import Source
from ..link.wfdbio import open_record
from .results import to_json
from .sinks import Sink

MASTER = "recording"
LAYOUT = "layout"
INVALID = -(2 ** 31)  # WFDB format 32 "no sample" value: stores NaN


def _fsync_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Segment:
    def __init__(self, directory: Path, name: str, fs: float, labels, gain: float, start_index: int):
        self.dir, self.name, self.fs, self.labels, self.gain = directory, name, fs, tuple(labels), gain
        self.start_index = start_index
        self.n = 0
        self.init = np.zeros(len(self.labels), dtype=np.int64)
        self.checksum = np.zeros(len(self.labels), dtype=np.int64)
        self.file = open(directory / f"{name}.dat", "wb")
        # what the header describes: only samples known to be on disk (a failed write
        # must not leave a header that promises more than the .dat holds)
        self.flushed, self.flushed_checksum = 0, self.checksum.copy()
        self.flush()

    @property
    def end_index(self) -> int:
        return self.start_index + self.n

    def write(self, data: np.ndarray) -> None:
        x = np.asarray(data, dtype=np.float64) * self.gain
        finite = np.isfinite(x)
        d = np.where(finite, np.clip(np.round(np.where(finite, x, 0)), INVALID + 1, 2 ** 31 - 1), INVALID)
        d = d.astype("<i4")
        if self.n == 0:
            self.init = d[:, 0].astype(np.int64)
        self.checksum += d.astype(np.int64).sum(axis=1)
        self.file.write(d.T.tobytes())  # sample-major (frame by frame)
        self.n += d.shape[1]

    def header(self) -> str:
        fs = f"{self.fs:g}"
        lines = [f"{self.name} {len(self.labels)} {fs} {self.flushed}"]
        for i, lab in enumerate(self.labels):
            cks = int(((self.flushed_checksum[i] + 32768) % 65536) - 32768)
            lines.append(f"{self.name}.dat 32 {self.gain:.10g}(0)/mV 32 0 {int(self.init[i])} {cks} 0 {lab}")
        return "\n".join(lines) + "\n"

    def flush(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.flushed, self.flushed_checksum = self.n, self.checksum.copy()
        _fsync_write(self.dir / f"{self.name}.hea", self.header())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.file.close()

    def abandon(self) -> None:
        """After a failed write: close without writing more (the header stays at the last flush)."""
        try:
            self.file.close()
        except OSError:
            pass


class Recorder(Sink):
    """Writes a stream's events into ``directory`` (created; must be empty or new)."""

    def __init__(self, directory: str | Path, flush_s: float = 1.0):
        self.dir = Path(directory)
        try:
            if self.dir.exists() and any(self.dir.iterdir()):
                raise RecordError(f"recording directory {self.dir} is not empty; choose a new one")
            self.dir.mkdir(parents=True, exist_ok=True)
            self.events = open(self.dir / "events.jsonl", "a")
        except OSError as exc:
            raise RecordError(f"cannot record to {self.dir}: {exc.strerror or exc}") from None
        self.flush_s = flush_s
        self.gain: float | None = None
        self.parts: list[tuple[str, int]] = []  # (segment name or "~", samples)
        self.seg: _Segment | None = None
        self.start_index: int | None = None
        self.lead_off = 0
        self._last_flush = time.monotonic()
        self.closed = False

    def _event(self, obj: dict) -> None:
        self.events.write(json.dumps(obj) + "\n")

    def __call__(self, result) -> None:
        if self.closed:
            return
        try:
            if isinstance(result, Gap):
                self.gap(result)
            elif isinstance(result, Status):
                self.status(result)
        except OSError as exc:
            self._fail(exc)

    def status(self, status: Status) -> None:
        uv = (status.detail or {}).get("uv_per_count")
        if uv and self.gain is None:
            self.gain = 1000.0 / float(uv)  # counts per mV: integers round-trip exactly
        self._event({**to_json(status)})

    def gap(self, gap: Gap) -> None:
        self._event({"type": "gap", "index": gap.index, "missing_samples": gap.missing_samples,
                     "fs": gap.fs, "cause": gap.cause})
        self._end_segment()

    def block(self, block: SampleBlock) -> None:
        if self.closed:
            return
        try:
            self._write_block(block)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError):
        """A write failed (disk full, device gone): stop recording, keep what was flushed, say so once."""
        self.closed = True
        if self.seg is not None:
            self.seg.abandon()
        try:
            self.events.close()
        except OSError:
            pass
        raise RecordError(f"recording to {self.dir} stopped: {exc.strerror or exc}; what was written "
                          "up to the last flush (at most about a second earlier) stays readable") from None

    def _write_block(self, block: SampleBlock) -> None:
        seg = self.seg
        if seg is not None and (block.index != seg.end_index or block.fs != seg.fs or tuple(block.labels) != seg.labels):
            self._end_segment()
            seg = None
        if seg is None:
            seg = self._new_segment(block)
        if block.lead_off != self.lead_off:
            self.lead_off = block.lead_off
            self._event({"type": "lead_off", "index": block.index, "mask": block.lead_off})
        seg.write(block.data)
        if time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def _new_segment(self, block: SampleBlock) -> _Segment:
        prev_end = self._last_end()
        if prev_end is None:
            self.start_index = block.index
            if block.index > 0:
                self.parts.append(("~", block.index))
        elif block.index > prev_end:
            self.parts.append(("~", block.index - prev_end))
        name = f"seg_{sum(1 for p in self.parts if p[0] != '~'):04d}"
        self.seg = _Segment(self.dir, name, float(block.fs), block.labels, self.gain or 1e5, block.index)
        self.parts.append((name, 0))
        self._write_master()  # the header comes first: the recording is readable from its first flush
        return self.seg

    def _last_end(self):
        if not self.parts:
            return None
        return sum(n for _, n in self.parts) if self.seg is None else self.seg.end_index

    def _end_segment(self) -> None:
        if self.seg is not None:
            self.seg.close()
            self.parts[-1] = (self.seg.name, self.seg.flushed)
            self.seg = None
            self._write_master()

    def _write_master(self) -> None:
        parts = list(self.parts)
        if self.seg is not None:
            parts[-1] = (self.seg.name, self.seg.flushed)
        segs = [p for p in parts if p[0] != "~"]
        if not segs:
            return
        first = next(s for s in self.parts if s[0] != "~")
        ref = self.seg if self.seg is not None else None
        fs = ref.fs if ref else float(_read_fs(self.dir / f"{first[0]}.hea"))
        n_sig = len(ref.labels) if ref else int((self.dir / f"{first[0]}.hea").read_text().split()[1])
        total = sum(n for _, n in parts)
        # variable layout (a 0-length layout segment first): the form WFDB allows "~" gaps in
        if not (self.dir / f"{LAYOUT}.hea").is_file():
            hea = (self.dir / f"{first[0]}.hea").read_text().splitlines() if ref is None else ref.header().splitlines()
            sig = ["~ " + ln.split(" ", 1)[1] for ln in hea[1:]]
            _fsync_write(self.dir / f"{LAYOUT}.hea", "\n".join([f"{LAYOUT} {n_sig} {fs:g} 0"] + sig) + "\n")
        parts = [(LAYOUT, 0)] + parts
        lines = [f"{MASTER}/{len(parts)} {n_sig} {fs:g} {total}"] + [f"{name} {n}" for name, n in parts]
        _fsync_write(self.dir / f"{MASTER}.hea", "\n".join(lines) + "\n")

    def flush(self) -> None:
        if self.seg is not None:
            self.seg.flush()
        self.events.flush()
        os.fsync(self.events.fileno())
        self._write_master()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._end_segment()
            self.flush()
        except OSError as exc:
            self._fail(exc)
        self.events.close()
        self.closed = True


def _read_fs(hea: Path) -> float:
    return float(hea.read_text().split()[2])


def is_recording(path: str | Path) -> bool:
    """A directory written by :class:`Recorder`."""
    p = Path(path)
    return p.is_dir() and (p / f"{MASTER}.hea").is_file() and (p / "events.jsonl").is_file()


class RecordingSource(Source):
    """Replays a :class:`Recorder` directory with its gaps, gap causes and lead-off masks.

    speed: 1.0 = real time, N = N times faster, None = as fast as possible.
    block: samples per SampleBlock (40 = one 8-channel DATA packet).
    """

    name = "recording"

    def __init__(self, directory: str | Path, speed: float | None = None, block: int = 40):
        super().__init__()
        self.dir = Path(directory)
        if not is_recording(self.dir):
            raise RecordError(f"{self.dir} is not a tgll-stream recording (no {MASTER}.hea + events.jsonl)")
        self.speed, self.block = speed, block
        lines = [ln.split() for ln in (self.dir / f"{MASTER}.hea").read_text().splitlines() if ln.strip()]
        self.fs = float(lines[0][2])
        self.parts = [(name, int(n)) for name, n in lines[1:] if name != LAYOUT]
        self.events = [json.loads(ln) for ln in (self.dir / "events.jsonl").read_text().splitlines() if ln.strip()]

    def _events(self):
        gaps = [e for e in self.events if e.get("type") == "gap"]
        lead_offs = sorted(((e["index"], e["mask"]) for e in self.events if e.get("type") == "lead_off"))
        index, t0, mask = 0, time.monotonic(), 0
        yield Status(StatusKind.REPLAY, f"replaying recording {self.dir}", {"fs": self.fs, "path": str(self.dir)})
        info = next((e for e in self.events if e.get("type") == "status" and e.get("kind") == "info"), None)
        if info is not None:  # the device's INFO: its scale (ADC rails, recording resolution) applies again
            yield Status(StatusKind.INFO, info.get("message", ""), dict(info.get("detail") or {}))
        for name, n in self.parts:
            if self.closed:
                return
            if name == "~":
                if not gaps and index > 0:  # a recording without its log: the gap's cause is unknown
                    self.count("gaps")
                    self.count("missing_samples", n)
                    yield Gap(index + n, n, self.fs, GapCause.RECORDING)
                index += n
                continue
            # the logged gaps before this run, in order (also those that lost no samples)
            while gaps and gaps[0]["index"] <= index:
                g = gaps.pop(0)
                self.count("gaps")
                self.count("missing_samples", int(g["missing_samples"]))
                yield Gap(int(g["index"]), int(g["missing_samples"]), float(g["fs"]), GapCause(g["cause"]))
            rec = open_record(self.dir / name)
            labels = tuple(rec.sig_name)
            # a few thousand samples at a time (whole blocks): memory stays bounded
            per_read = self.block * max(1, 8192 // self.block)
            for first in range(0, rec.sig_len, per_read):
                x = rec.read(first, per_read).astype(np.float32)
                for b in range(0, x.shape[1], self.block):
                    if self.closed:
                        return
                    i = index + first + b
                    while lead_offs and lead_offs[0][0] <= i:
                        mask = lead_offs.pop(0)[1]
                    chunk = x[:, b:b + self.block]
                    if self.speed:
                        due = t0 + (i + chunk.shape[1]) / self.fs / self.speed
                        delay = due - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    self.count("blocks")
                    yield SampleBlock(i, self.fs, np.ascontiguousarray(chunk), labels, mask)
            index += n
        for g in gaps:  # gaps after the last run
            if self.closed:
                return
            self.count("gaps")
            self.count("missing_samples", int(g["missing_samples"]))
            yield Gap(int(g["index"]), int(g["missing_samples"]), float(g["fs"]), GapCause(g["cause"]))
