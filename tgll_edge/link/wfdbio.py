"""Read WFDB records block by block with numpy alone (replay, recordings).

The ``wfdb`` package reads a whole record into float64 arrays and imports
pandas (together about 60 MB of resident memory before the first sample); a
gateway replaying a long record needs neither. This reader covers the common
single-segment layouts: every signal in one ``.dat`` file, one sample per
frame, no skew, formats 16, 61, 160, 80, 24, 32 and 212 (PTB-XL, MIT-BIH,
tgll-stream recordings). It returns the values ``wfdb.rdrecord(...,
physical=True)`` returns, bit for bit: ``(digital - baseline) / gain`` in
float64, NaN where the digital value is the format's "no sample" value.
:func:`open_record` falls back to ``wfdb`` for everything else.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: digital "no sample" value per format (WFDB signal(5))
INVALID = {"80": -(2 ** 7), "212": -(2 ** 11), "16": -(2 ** 15), "61": -(2 ** 15), "160": -(2 ** 15),
           "24": -(2 ** 23), "32": -(2 ** 31)}
_ALIGNED = {"16": ("<i2", 0), "61": (">i2", 0), "160": ("<u2", 32768), "80": ("u1", 128), "32": ("<i4", 0)}
_BYTES = {"16": 2, "61": 2, "160": 2, "80": 1, "32": 4, "24": 3}


class Unsupported(ValueError):
    """A record this reader does not handle (``open_record`` then uses wfdb)."""


def _strip(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".hea", ".dat", ".mat") else p


class Record:
    """A single-segment WFDB record: header fields, and ``read(start, n)`` of its samples."""

    def __init__(self, path: str | os.PathLike):
        self.path = _strip(path)
        hea = self.path.with_suffix(".hea")
        if not hea.is_file():
            raise FileNotFoundError(f"WFDB record not found: {path}")
        lines = [ln.strip() for ln in hea.read_text(errors="replace").splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("#")]
        head = lines[0].split()
        if "/" in head[0]:
            raise Unsupported("multi-segment record")
        self.name = head[0]
        self.n_sig = int(head[1])
        fs_field = head[2].split("/")[0] if len(head) > 2 else ""
        self.fs = float(fs_field) if fs_field else 250.0
        sig_len = int(head[3]) if len(head) > 3 and head[3].isdigit() else None
        if self.n_sig < 1 or len(lines) < 1 + self.n_sig:
            raise Unsupported("no signals")
        files, fmts = set(), set()
        self.gain, self.baseline, self.units, self.sig_name = [], [], [], []
        for ln in lines[1:1 + self.n_sig]:
            tok = ln.split(None, 8)
            if len(tok) < 9:  # without every field up to the description, leave it to wfdb
                raise Unsupported("signal line without a description")
            fmt = tok[1]
            if not fmt.isdigit() or fmt not in INVALID:
                raise Unsupported(f"format {fmt}")
            files.add(tok[0])
            fmts.add(fmt)
            gain_field = tok[2]
            units = "mV"
            if "/" in gain_field:
                gain_field, units = gain_field.split("/", 1)
            baseline = int(tok[4])  # adc_zero: the baseline unless one is given
            if "(" in gain_field:
                gain_field, b = gain_field.split("(", 1)
                baseline = int(b.rstrip(")"))
            gain = float(gain_field) if gain_field else 200.0
            self.gain.append(gain if gain != 0 else 200.0)
            self.baseline.append(baseline)
            self.units.append(units)
            self.sig_name.append(tok[8])
        if len(files) != 1 or len(fmts) != 1:
            raise Unsupported("signals in several files or formats")
        self.fmt = fmts.pop()
        self.dat = self.path.parent / files.pop()
        if not self.dat.is_file():
            raise FileNotFoundError(f"WFDB data file not found: {self.dat}")
        if sig_len is None:
            size = self.dat.stat().st_size
            sig_len = int(size * 2 // (3 * self.n_sig)) if self.fmt == "212" else size // (_BYTES[self.fmt] * self.n_sig)
        self.sig_len = sig_len
        self._gain = np.array(self.gain)[:, None]
        self._baseline = np.array(self.baseline, dtype=np.int64)[:, None]

    def _digital(self, start: int, n: int) -> np.ndarray:
        """(n_sig, n) digital values of frames [start, start + n)."""
        c = self.n_sig
        with open(self.dat, "rb") as f:
            if self.fmt == "212":  # two 12-bit samples in three bytes, over the interleaved samples
                s0 = start * c
                skip = s0 % 2
                n_samples = skip + n * c
                f.seek(s0 // 2 * 3)
                buf = f.read((n_samples + 1) // 2 * 3)
                buf += bytes(-len(buf) % 3)  # an odd last sample may be stored in two bytes
                raw = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
                d = np.empty(2 * raw.shape[0], dtype=np.int32)
                d[0::2] = raw[:, 0] | ((raw[:, 1] & 0x0F) << 8)
                d[1::2] = raw[:, 2] | ((raw[:, 1] & 0xF0) << 4)
                d = np.where(d > 2047, d - 4096, d)[skip:skip + n * c]
            elif self.fmt == "24":
                f.seek(start * c * 3)
                raw = np.frombuffer(f.read(n * c * 3), dtype=np.uint8).reshape(-1, 3).astype(np.int32)
                v = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
                d = (v ^ 0x800000) - 0x800000
            else:
                dtype, offset = _ALIGNED[self.fmt]
                dt = np.dtype(dtype)
                f.seek(start * c * dt.itemsize)
                d = np.frombuffer(f.read(n * c * dt.itemsize), dtype=dt)
                if offset:
                    d = d.astype(np.int32) - offset
        if d.size != n * c:
            raise ValueError(f"{self.dat}: expected {n} samples per signal from sample {start}, "
                             f"the file holds fewer")
        return d.reshape(n, c).T

    def read(self, start: int = 0, n: int | None = None) -> np.ndarray:
        """Physical values of frames [start, start + n) as (n_sig, n) float64 (NaN: no sample)."""
        n = self.sig_len - start if n is None else min(n, self.sig_len - start)
        if n <= 0:
            return np.zeros((self.n_sig, 0))
        d = self._digital(start, n)
        p = d.astype(np.float64)
        np.subtract(p, self._baseline, p)
        np.divide(p, self._gain, p)
        p[d == INVALID[self.fmt]] = np.nan
        return p


class _WfdbRecord:
    """The same interface over ``wfdb.rdrecord`` (any record wfdb reads; whole record in memory)."""

    def __init__(self, path: Path):
        import wfdb

        try:
            r = wfdb.rdrecord(str(path), physical=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"WFDB record not found: {path}") from None
        self.path = path
        self.fs = float(r.fs)
        self.n_sig = int(r.n_sig)
        self.sig_name = list(r.sig_name)
        self.units = list(r.units)
        self._p = r.p_signal.T if r.p_signal is not None else np.zeros((self.n_sig, 0))
        self.sig_len = self._p.shape[1]

    def read(self, start: int = 0, n: int | None = None) -> np.ndarray:
        stop = self.sig_len if n is None else min(self.sig_len, start + n)
        return np.array(self._p[:, start:stop], dtype=np.float64)


def open_record(path: str | os.PathLike):
    """A record reader (``fs``, ``n_sig``, ``sig_len``, ``sig_name``, ``units``, ``read(start, n)``):
    numpy block reads where :class:`Record` supports the layout, else wfdb."""
    try:
        return Record(path)
    except Unsupported:
        return _WfdbRecord(_strip(path))
