"""EDF+ / BDF+ recording of the raw device samples, with findings and gaps as annotations.

``tgll-stream --record DIR --format edf|bdf`` (``--format wfdb``, the default,
keeps :class:`tgll_edge.stream.Recorder`). Layout of DIR::

    DIR/recording.edf        (or .bdf) EDF+C / BDF+C: the device's channels as sent
                             (labels "ECG I", "ECG II", "ECG V1" ...), physical unit mV,
                             at the device rate, 1-s data records, plus the
                             "EDF Annotations" / "BDF Annotations" signal
    DIR/recording_2.edf ...  a new file when the device's rate or channels change,
                             the sample index runs backward, or a gap is longer
                             than ``max_fill_s`` (default 60 s)

Resolution: EDF stores 16-bit integers over +-32.767 mV (1 uV per step; samples
beyond are clipped and counted); BDF stores 24-bit integers over the device's
full ADC range when its INFO gives ``uv_per_count`` (the device's own step: an
ADS1298 is recorded losslessly), else over +-838.861 mV (0.1 uV per step).
The scale comes from the header's own 8-character fields, so any reader gets
the values back within half a step.

Time: file time 0 is the file's first sample (device time ``t0``, given in the
first annotation ``"device time t0 s"``); device time is the stream's sample
index / fs, so it stays exact across gaps. A gap up to ``max_fill_s`` is filled
with 0 mV samples and annotated (``"gap: N samples lost (cause)"`` with the gap's
duration), so the file stays EDF+C, which every viewer opens. Findings are
annotations with the window's span as onset and duration: ``"finding: NORM 0.93"``,
``"finding: none"``, ``"skipped: <reasons>"``.

Incremental and durable: samples are cut into data records as they arrive and
handed to a writer thread (the pipeline never waits for the disk), which
appends them and, at least every ``flush_s`` (1 s) of wall time, fsyncs the data
and only then rewrites the header's record count in place. The header never
counts a record that is not on disk, so a file cut by a power loss or kill -9
opens in any reader with everything up to the last sync (readers ignore the
trailing part of a record). A power cut loses at most about ``flush_s`` plus one
data record (2 s); a killed process loses only what the writer thread had not
yet written (milliseconds).
"""
from __future__ import annotations

import math
import os
import queue
import threading
import time
from pathlib import Path

import numpy as np

from ..link.blocks import Gap, SampleBlock, Status
from ..stream.results import Finding
from ._base import Sink, UplinkError

FORMATS = ("edf", "bdf")
EDF_RANGE_MV = 32.767      # +-32767 steps: exactly 1 uV per step
BDF_DEFAULT_RANGE_MV = 838.861
ANNOTATION_BYTES = 1024    # per data record: about a dozen findings per second of signal
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _field(text: str, width: int) -> bytes:
    b = text.encode("ascii", "replace")[:width]
    return b + b" " * (width - len(b))


def _num8(x: float) -> str:
    """``x`` in at most 8 characters, as precisely as fits (EDF header numbers)."""
    if float(x).is_integer() and len(str(int(x))) <= 8:
        return str(int(x))
    for decimals in range(7, -1, -1):
        s = f"{x:.{decimals}f}"
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        if len(s) <= 8:
            return s
    raise UplinkError(f"EDF header number {x} does not fit in 8 characters")


def _subfield(text: str) -> str:
    return "_".join(str(text).split()) or "X"


def _tal(onset: float, duration: float | None, texts) -> bytes:
    """One time-stamped annotation list: +onset[\\x15duration]\\x14text\\x14...\\x00."""
    s = f"{onset:+.6f}".rstrip("0").rstrip(".")
    if s in ("+", "-"):
        s = "+0"
    out = s.encode("ascii")
    if duration is not None and duration > 0:
        out += b"\x15" + f"{duration:.6f}".rstrip("0").rstrip(".").encode("ascii")
    out += b"\x14"
    for t in texts:
        out += t.replace("\x14", " ").replace("\x15", " ").replace("\x00", " ").encode("utf-8")[:200] + b"\x14"
    return out + b"\x00"


def finding_text(f: Finding) -> str:
    if f.quality.skipped:
        return "skipped: " + "; ".join(f.quality.reasons)
    if f.labels:
        return "finding: " + ", ".join(f"{lab} {f.probabilities[lab]:.2f}" for lab in
                                       sorted(f.labels, key=lambda k: -f.probabilities[k]))
    return "finding: none"


class EdfFile:
    """One EDF+C / BDF+C file being written: header, record encoding, in-place record count."""

    def __init__(self, path: Path, fmt: str, fs: float, labels, range_mv: float, start_wall: float,
                 t0_device: float, equipment: str = "TGLL_Edge"):
        if fmt not in FORMATS:
            raise UplinkError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.path, self.fmt, self.fs, self.labels = Path(path), fmt, float(fs), tuple(labels)
        self.t0_device = t0_device
        self.width = 2 if fmt == "edf" else 3
        self.dmax = 2 ** (8 * self.width - 1) - 1
        # record duration: the shortest of 1..10 s holding a whole number of samples
        self.duration = next((d for d in range(1, 11) if abs(self.fs * d - round(self.fs * d)) < 1e-9), None)
        if self.duration is None:
            raise UplinkError(f"{fmt.upper()}: the device rate {fs:g} Hz has no whole number of samples "
                              "in a data record of 1..10 s")
        self.spr = int(round(self.fs * self.duration))
        pmax = _num8(range_mv)
        if len(_num8(-float(pmax))) > 8:
            pmax = _num8(float(pmax[:-1]) if "." in pmax else float(pmax) / 10)
        self.pmax_s, self.pmin_s = pmax, _num8(-float(pmax))
        self.pmax, self.pmin = float(self.pmax_s), float(self.pmin_s)
        self.gain = (2 * self.dmax) / (self.pmax - self.pmin)  # steps per mV, from the header's own text
        self.ann_spr = int(math.ceil(ANNOTATION_BYTES / self.width))
        self.ann_bytes = self.ann_spr * self.width
        self.ns = len(self.labels) + 1
        self.record_bytes = len(self.labels) * self.spr * self.width + self.ann_bytes
        self.header_bytes = 256 * (self.ns + 1)
        self.n_records = 0      # encoded so far
        self.n_synced = 0       # counted in the header on disk
        self.start_wall = start_wall
        self.equipment = equipment
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(self.fd, self.header(0))
        os.fsync(self.fd)

    def header(self, n_records: int) -> bytes:
        tm = time.localtime(self.start_wall)
        plus = "EDF+C" if self.fmt == "edf" else "BDF+C"
        version = b"0       " if self.fmt == "edf" else b"\xffBIOSEMI"
        h = version + _field("X X X X", 80)
        h += _field(f"Startdate {tm.tm_mday:02d}-{_MONTHS[tm.tm_mon - 1]}-{tm.tm_year} X X "
                    f"{_subfield(self.equipment)}", 80)
        h += _field(time.strftime("%d.%m.%y", tm), 8) + _field(time.strftime("%H.%M.%S", tm), 8)
        h += _field(str(self.header_bytes), 8) + _field(plus, 44) + _field(str(n_records), 8)
        h += _field(_num8(self.duration), 8) + _field(str(self.ns), 4)
        ann = "EDF Annotations" if self.fmt == "edf" else "BDF Annotations"
        sig_labels = [f"ECG {lab}" for lab in self.labels] + [ann]
        n = len(self.labels)
        h += b"".join(_field(s, 16) for s in sig_labels)
        h += b"".join(_field("ECG electrode" if i < n else "", 80) for i in range(self.ns))
        h += b"".join(_field("mV" if i < n else "", 8) for i in range(self.ns))
        h += b"".join(_field(self.pmin_s if i < n else "-1", 8) for i in range(self.ns))
        h += b"".join(_field(self.pmax_s if i < n else "1", 8) for i in range(self.ns))
        h += b"".join(_field(str(-self.dmax if i < n else -self.dmax - 1), 8) for i in range(self.ns))
        h += b"".join(_field(str(self.dmax), 8) for i in range(self.ns))
        h += b"".join(_field("none" if i < n else "", 80) for i in range(self.ns))
        h += b"".join(_field(str(self.spr if i < n else self.ann_spr), 8) for i in range(self.ns))
        h += b"".join(_field("", 32) for _ in range(self.ns))
        assert len(h) == self.header_bytes, (len(h), self.header_bytes)
        return h

    def digital(self, mv: np.ndarray) -> tuple[np.ndarray, int]:
        """mV -> integer steps (rounded, clipped); returns (steps, samples clipped or not finite)."""
        x = np.asarray(mv, dtype=np.float64)
        finite = np.isfinite(x)
        d = np.round((np.where(finite, x, 0.0) - self.pmin) * self.gain - self.dmax)
        bad = int((~finite).sum()) + int(((d > self.dmax) | (d < -self.dmax)).sum())
        return np.clip(d, -self.dmax, self.dmax).astype(np.int32), bad

    def encode(self, steps: np.ndarray, tals: list[bytes]) -> bytes:
        """One data record: (channels, spr) int steps + the annotation bytes (time-keeping TAL first)."""
        if self.width == 2:
            body = steps.astype("<i2").tobytes()
        else:
            v = np.ascontiguousarray(steps, dtype="<i4").view(np.uint8).reshape(steps.shape[0], steps.shape[1], 4)
            v = v[:, :, :3]
            body = np.ascontiguousarray(v).tobytes()
        ann = b"".join([_tal(self.n_records * self.duration, None, [""])] + tals)
        assert len(ann) <= self.ann_bytes
        self.n_records += 1
        return body + ann + b"\x00" * (self.ann_bytes - len(ann))

    def write_records(self, offset_record: int, data: bytes) -> None:
        os.pwrite(self.fd, data, self.header_bytes + offset_record * self.record_bytes)

    def sync(self, n_records: int) -> None:
        """Make ``n_records`` durable, then (only then) count them in the header."""
        if n_records == self.n_synced:
            return
        os.fsync(self.fd)
        os.pwrite(self.fd, _field(str(n_records), 8), 236)
        self.n_synced = n_records

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)


class EdfRecorder(Sink):
    """A sink writing the raw device samples to ``directory`` as EDF+ or BDF+ (see the module doc).

    directory: created; must be new or empty. fmt: "edf" or "bdf". range_mv: the
    symmetric physical range (default: EDF +-32.767 mV; BDF the device's ADC range).
    flush_s: wall seconds between syncs. max_fill_s: longest gap filled in-file.
    """

    def __init__(self, directory, fmt: str = "edf", range_mv: float | None = None, flush_s: float = 1.0,
                 max_fill_s: float = 60.0):
        if fmt not in FORMATS:
            raise UplinkError(f"format must be one of {FORMATS}, got {fmt!r}")
        self.dir = Path(directory)
        if self.dir.exists() and (not self.dir.is_dir() or any(self.dir.iterdir())):
            raise UplinkError(f"recording directory {self.dir} exists and is not empty; choose a new one")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fmt, self.range_mv, self.flush_s, self.max_fill_s = fmt, range_mv, flush_s, max_fill_s
        self.uv_per_count: float | None = None
        self.equipment = "TGLL_Edge"
        self.file: EdfFile | None = None
        self.files: list[Path] = []
        self.pending: list[np.ndarray] = []   # mV not yet in a record, (channels, k) each
        self.n_pending = 0
        self.expected: int | None = None      # device index of the next sample
        self.tals: list[bytes] = []           # annotations waiting for a record
        self.clipped = 0
        self.records = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="tgll-edf-writer", daemon=True)
        self._writer.start()
        self.closed = False

    # -- the writer thread ----------------------------------------------------------------
    def _write_loop(self) -> None:
        last_sync = time.monotonic()
        open_files: dict[int, tuple[EdfFile, int]] = {}  # id -> (file, records written)
        while True:
            try:
                item = self._queue.get(timeout=self.flush_s)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    kind, f, payload = item
                    if kind == "records":
                        written = open_files.get(id(f), (f, 0))[1]
                        f.write_records(written, payload)
                        open_files[id(f)] = (f, written + len(payload) // f.record_bytes)
                    elif kind in ("close", "stop"):
                        if f is not None:
                            done = open_files.pop(id(f), (f, 0))[1]
                            f.sync(done)
                            f.close()
                        if kind == "stop":
                            return
                if time.monotonic() - last_sync >= self.flush_s:
                    for f, n in open_files.values():
                        f.sync(n)
                    last_sync = time.monotonic()
            except BaseException as exc:  # a full disk: report at close, keep draining
                self._error = exc
                if item is not None and item[0] == "stop":
                    return

    # -- sink hooks -------------------------------------------------------------------------
    def start(self, pipeline) -> None:
        card = getattr(getattr(pipeline, "model", None), "card", None) or {}
        if card.get("name"):
            self.equipment = f"TGLL_Edge_{card['name']}"

    def block(self, block: SampleBlock) -> None:
        if self.closed:
            return
        f = self.file
        if f is not None and (float(block.fs) != f.fs or tuple(block.labels) != f.labels
                              or block.index < self.expected
                              or (block.index - self.expected) / f.fs > self.max_fill_s):
            self._end_file()
            f = None
        if f is None:
            f = self._new_file(block)
        elif block.index > self.expected:  # a gap: 0 mV so that time stays exact
            self._append(np.zeros((len(f.labels), block.index - self.expected), dtype=np.float32))
        self._append(np.array(block.data))  # mV; converted to integer steps a whole record at a time
        self.expected = block.index + block.n

    def __call__(self, result) -> None:
        if self.closed:
            return
        if isinstance(result, Finding):
            self._annotate(result.t_start, result.t_end - result.t_start, finding_text(result))
        elif isinstance(result, Gap):
            self._annotate(result.t, result.missing_samples / result.fs,
                           f"gap: {result.missing_samples} samples lost ({result.cause})")
        elif isinstance(result, Status):
            uv = (result.detail or {}).get("uv_per_count")
            if uv and self.uv_per_count is None:
                self.uv_per_count = float(uv)
            if result.kind in ("info", "lead_off", "connected", "disconnected", "reconnected", "stalled",
                               "device_reset", "battery"):
                t = self.expected / self.file.fs if self.file is not None else None
                if t is not None:
                    self._annotate(t, None, f"{result.kind}: {result.message}"[:120])

    def summary(self, summary: dict) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self._end_file()
        self.closed = True
        self._queue.put(("stop", None, None))
        self._writer.join()
        if self._error is not None:
            raise UplinkError(f"{self.fmt.upper()} recording in {self.dir} failed: {self._error}") from self._error

    # -- internals --------------------------------------------------------------------------
    def _range(self) -> float:
        if self.range_mv is not None:
            return float(self.range_mv)
        if self.fmt == "edf":
            return EDF_RANGE_MV
        if self.uv_per_count:
            return (2 ** 23 - 1) * self.uv_per_count / 1000.0
        return BDF_DEFAULT_RANGE_MV

    def _new_file(self, block: SampleBlock) -> EdfFile:
        n = len(self.files) + 1
        path = self.dir / (f"recording.{self.fmt}" if n == 1 else f"recording_{n}.{self.fmt}")
        self.file = EdfFile(path, self.fmt, block.fs, block.labels, self._range(), time.time(),
                            block.index / block.fs, self.equipment)
        self.files.append(path)
        self.expected = block.index
        self.tals = [_tal(0.0, None, [f"device time {block.index / block.fs:.6f} s"])] + self.tals
        return self.file

    def _annotate(self, t_device: float, duration: float | None, text: str) -> None:
        f = self.file
        onset = max(0.0, t_device - f.t0_device) if f is not None else 0.0
        self.tals.append(_tal(onset, duration, [text]))

    def _append(self, mv: np.ndarray, final: bool = False) -> None:
        f = self.file
        self.pending.append(mv)
        self.n_pending += mv.shape[1]
        if self.n_pending < f.spr * (1 if final else 2):
            return
        x = np.concatenate(self.pending, axis=1) if len(self.pending) > 1 else self.pending[0]
        # the last complete record waits for the next one (or close): a finding arrives just after
        # the samples that end its window, and its annotation then still finds a record to go in
        k = x.shape[1] // f.spr - (0 if final else 1)
        if k <= 0:
            self.pending, self.n_pending = [x], x.shape[1]
            return
        steps, bad = f.digital(x[:, :k * f.spr])
        self.clipped += bad
        out = [f.encode(steps[:, i * f.spr:(i + 1) * f.spr], self._take_tals(f)) for i in range(k)]
        rest = x[:, k * f.spr:]
        self.pending, self.n_pending = ([rest], rest.shape[1]) if rest.shape[1] else ([], 0)
        self.records += k
        self._queue.put(("records", f, b"".join(out)))

    def _take_tals(self, f: EdfFile) -> list[bytes]:
        room = f.ann_bytes - len(_tal(f.n_records * f.duration, None, [""]))
        out = []
        while self.tals and len(self.tals[0]) <= room:
            room -= len(self.tals[0])
            out.append(self.tals.pop(0))
        return out

    def _end_file(self) -> None:
        f = self.file
        if f is None:
            return
        pad = -self.n_pending % f.spr  # the last partial record, padded with 0 mV
        self._append(np.zeros((len(f.labels), pad), dtype=np.float32), final=True)
        while self.tals:  # annotations still waiting: records of 0 mV carry them
            self._append(np.zeros((len(f.labels), f.spr), dtype=np.float32), final=True)
        self._queue.put(("close", f, None))
        self.file = None
        self.pending, self.n_pending = [], 0
