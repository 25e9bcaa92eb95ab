"""The one WFDB reading path: find records, open one, read it in mV block by block.

``tgll-predict``, replay, recordings and the emulator all read through here, so a
record is accepted or refused the same way everywhere, with one line naming the
file: missing, unreadable (permission), a header that does not match its ``.dat``
(signal count, length, a truncated file), a unit that is not a voltage.

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

from ..errors import RecordError, Unsupported
from ..signal.leads import canonical_lead

#: what wfdb raises for a damaged record: whatever its parser hits first
WFDB_ERRORS = (ValueError, IndexError, KeyError, TypeError, OSError, EOFError)

#: physical units a channel may be in, and the factor to mV
UNITS_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "nv": 1e-6, "v": 1e3}

#: digital "no sample" value per format (WFDB signal(5))
INVALID = {"80": -(2 ** 7), "212": -(2 ** 11), "16": -(2 ** 15), "61": -(2 ** 15), "160": -(2 ** 15),
           "24": -(2 ** 23), "32": -(2 ** 31)}
_ALIGNED = {"16": ("<i2", 0), "61": (">i2", 0), "160": ("<u2", 32768), "80": ("u1", 128), "32": ("<i4", 0)}
_BYTES = {"16": 2, "61": 2, "160": 2, "80": 1, "32": 4, "24": 3}


def _strip(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".hea", ".dat", ".mat") else p


class Record:
    """A single-segment WFDB record: header fields, and ``read(start, n)`` of its samples."""

    def __init__(self, path: str | os.PathLike):
        self.path = _strip(path)
        hea = self.path.with_suffix(".hea")
        lines = [ln.strip() for ln in _read_text(hea).splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith("#")]
        if not lines:
            raise RecordError(f"{hea}: empty header")
        head = lines[0].split()
        if "/" in head[0]:
            raise Unsupported("multi-segment record")
        try:
            self.name = head[0]
            self.n_sig = int(head[1])
            fs_field = head[2].split("/")[0] if len(head) > 2 else ""
            self.fs = float(fs_field) if fs_field else 250.0
        except (IndexError, ValueError):
            raise RecordError(f"{hea}: malformed record line {lines[0]!r}") from None
        sig_len = int(head[3]) if len(head) > 3 and head[3].isdigit() else None
        if self.n_sig < 1:
            raise RecordError(f"{hea}: the record has no signals")
        if len(lines) < 1 + self.n_sig:
            raise RecordError(f"{hea}: the header declares {self.n_sig} signals but describes "
                              f"{len(lines) - 1}")
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
            raise RecordError(f"WFDB data file not found: {self.dat}")
        if not os.access(self.dat, os.R_OK):
            raise RecordError(f"{self.dat}: permission denied")
        size = self.dat.stat().st_size
        held = int(size * 2 // (3 * self.n_sig)) if self.fmt == "212" else size // (_BYTES[self.fmt] * self.n_sig)
        if sig_len is None:
            sig_len = held
        elif held < sig_len:
            raise RecordError(f"{self.dat} holds {size} bytes, fewer than the header's {self.n_sig} signals x "
                              f"{sig_len} samples in format {self.fmt} need: the .hea does not match the .dat "
                              "(signal count or length), or the .dat is truncated")
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
            raise RecordError(f"{self.dat}: expected {n} samples per signal from sample {start}, "
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
        try:
            import wfdb
        except ImportError:
            raise RecordError(f"{path}: this record's layout needs the wfdb package: "
                              "pip install 'tgll-edge[wfdb]'") from None
        try:
            r = wfdb.rdrecord(str(path), physical=True)
        except FileNotFoundError:
            raise RecordError(f"WFDB record not found: {path}") from None
        except PermissionError:
            raise RecordError(f"{path}: permission denied") from None
        except WFDB_ERRORS as exc:
            raise RecordError(f"{path}: cannot read the record ({type(exc).__name__}: {exc})") from None
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


def _read_text(hea: Path) -> str:
    try:
        return hea.read_text(errors="replace")
    except FileNotFoundError:
        raise RecordError(f"{hea.with_suffix('')}: no such WFDB record ({hea} not found)") from None
    except PermissionError:
        raise RecordError(f"{hea}: permission denied") from None
    except IsADirectoryError:
        raise RecordError(f"{hea} is a directory, not a WFDB header") from None


def mv_scale(reader) -> np.ndarray:
    """(n_sig, 1) factors from each channel's unit to mV; RecordError naming a channel in another unit."""
    out = []
    for name, unit in zip(reader.sig_name, reader.units):
        factor = UNITS_TO_MV.get(str(unit or "mV").strip().lower())
        if factor is None:
            raise RecordError(f"{reader.path}: channel {name} is in {unit!r}; expected a voltage "
                              f"(mV, uV, nV or V)")
        out.append(factor)
    return np.array(out)[:, None]


def open_record(path: str | os.PathLike):
    """A record reader (``fs``, ``n_sig``, ``sig_len``, ``sig_name``, ``units``, ``labels``,
    ``read(start, n)`` in the record's units, ``read_mv(start, n)``): numpy block reads
    where :class:`Record` supports the layout, else wfdb. RecordError for a record that
    cannot be read, naming the file."""
    try:
        reader = Record(path)
    except Unsupported:
        reader = _WfdbRecord(_strip(path))
    reader.mv = mv_scale(reader)
    reader.labels = tuple(_label(n) for n in reader.sig_name)
    return reader


def _label(name: str) -> str:
    try:
        return canonical_lead(name)
    except ValueError:  # not an ECG lead name: kept as the record has it
        return name


def read_mv(reader, start: int = 0, n: int | None = None) -> np.ndarray:
    """Samples of an :func:`open_record` reader in mV (float64; NaN where missing)."""
    return reader.read(start, n) * reader.mv


def read_record(path: str | os.PathLike) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """A whole record: ((channels, n) float64 mV, fs, labels)."""
    r = open_record(path)
    return read_mv(r), float(r.fs), r.labels


def find_records(paths) -> list[Path]:
    """Record paths (without suffix) from record paths (with or without ``.hea``) and directories,
    in order; RecordError for a path that is none of them or cannot be read."""
    out = []
    for p in map(Path, [paths] if isinstance(paths, (str, os.PathLike)) else paths):
        if p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                raise RecordError(f"{p}: permission denied")
            found = sorted(_strip(h) for h in p.rglob("*.hea"))
            if not found:
                raise RecordError(f"{p}: no WFDB records (.hea files) in this directory")
            out += found
            continue
        rec = _strip(p)
        if not rec.with_suffix(".hea").exists():
            raise RecordError(f"{p}: no such WFDB record ({rec.with_suffix('.hea')} not found)")
        out.append(rec)
    return out
