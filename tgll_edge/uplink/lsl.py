"""Lab Streaming Layer outlets: the conditioned 12-lead signal and a marker stream.

``tgll-stream --lsl NAME`` opens two outlets:

- ``NAME`` (type ``ECG``): 12 float32 channels, the conditioned signal exactly as
  the model sees it before standardisation (leads I, II, III, aVR, aVL, aVF,
  V1..V6, millivolts) at the model rate (the card's fs, 100 Hz for the shipped
  bundles); the metadata (``desc``) lists each channel's label, unit and type, and
  the model and its preprocessing.
- ``NAME-markers`` (type ``Markers``, irregular rate, one string channel): every
  finding, gap and status as the JSON-lines object of ``tgll-stream --json``, and
  a ``{"type": "clock", ...}`` marker with the device-time mapping.

Clock (LSL timestamps are ``local_clock()`` seconds of the gateway): at the
first sample block the gateway fixes ``offset = local_clock() - t_end`` (the
block's last sample counts as acquired when it arrived), and every timestamp
is ``device time + offset``. Device time is the stream's sample index / fs
(exact across gaps), so within a stream sample timestamps are strictly
monotonic and spaced exactly 1/fs, and marker times line up with the samples
they describe; the device clock's drift against the gateway's (crystal ppm)
is not corrected, and inlets on other machines correct for clock offsets with
LSL's own time_correction as usual. Signal sample timestamps are their nominal
times (the card's causal filters delay the content by the preprocessing delay,
given in the metadata, as in the findings). A finding's marker is stamped at its
window's start (``t_end`` is in the JSON), a gap at its first missing sample, a
status at the latest marker time (markers are never out of order). A ``--fast``
replay runs device time ahead of ``local_clock``: the mapping still holds.

The library: ``liblsl`` from the ``mne-lsl`` wheel (the ``[lsl]`` extra), whose
Linux x86-64 and aarch64 wheels carry it (``pylsl`` wheels do not on Linux), loaded
with ctypes here without importing ``mne_lsl`` (which imports MNE: +40 MB RSS on
the gateway). ``TGLL_LIBLSL`` (or pylsl's ``PYLSL_LIB``) points to another copy.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import json
import os
from pathlib import Path

import numpy as np

from ..link.blocks import Gap, SampleBlock, Status
from ..signal.leads import LEADS_12
from ..stream.results import Finding, to_json
from ._base import Sink, UplinkError

CF_FLOAT32, CF_STRING = 1, 3
_LIB = None


def find_liblsl() -> str | None:
    """The liblsl shared library: $TGLL_LIBLSL, $PYLSL_LIB, the mne-lsl or pylsl wheel's copy, the system's."""
    for var in ("TGLL_LIBLSL", "PYLSL_LIB"):
        if os.environ.get(var) and Path(os.environ[var]).is_file():
            return os.environ[var]
    for pkg, sub in (("mne_lsl", ("lsl", "lib")), ("pylsl", ("lib",))):
        spec = importlib.util.find_spec(pkg)  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            libdir = Path(root, *sub)
            if libdir.is_dir():
                found = sorted(p for p in libdir.iterdir() if p.name.startswith("liblsl")
                               and (".so" in p.name or p.suffix in (".dylib", ".dll")))
                if found:
                    return str(found[-1])
    return ctypes.util.find_library("lsl")


def liblsl() -> ctypes.CDLL:
    global _LIB
    if _LIB is not None:
        return _LIB
    path = find_liblsl()
    if path is None:
        raise UplinkError("LSL needs liblsl: install the [lsl] extra (pip install 'tgll-edge[lsl]', the "
                          "mne-lsl wheel carries liblsl) or point TGLL_LIBLSL to a liblsl.so")
    lib = ctypes.CDLL(path)
    vp, cp, d, i32 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_double, ctypes.c_int32
    sig = {
        "lsl_local_clock": (d, []),
        "lsl_library_version": (i32, []),
        "lsl_create_streaminfo": (vp, [cp, cp, i32, d, i32, cp]),
        "lsl_destroy_streaminfo": (None, [vp]),
        "lsl_get_desc": (vp, [vp]),
        "lsl_append_child": (vp, [vp, cp]),
        "lsl_append_child_value": (vp, [vp, cp, cp]),
        "lsl_create_outlet": (vp, [vp, i32, i32]),
        "lsl_destroy_outlet": (None, [vp]),
        "lsl_have_consumers": (i32, [vp]),
        "lsl_push_chunk_ftnp": (i32, [vp, ctypes.POINTER(ctypes.c_float), ctypes.c_ulong,
                                      ctypes.POINTER(ctypes.c_double), i32]),
        "lsl_push_sample_strtp": (i32, [vp, ctypes.POINTER(cp), d, i32]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    # liblsl logs INFO lines to stderr on first use; keep warnings and errors only, unless the
    # integrator configures LSL (LSLAPICFG or an lsl_api.cfg where liblsl looks for one)
    cfgs = [Path("lsl_api.cfg"), Path.home() / "lsl_api" / "lsl_api.cfg", Path("/etc/lsl_api/lsl_api.cfg")]
    if hasattr(lib, "lsl_set_config_content") and not os.environ.get("LSLAPICFG") \
            and not any(p.is_file() for p in cfgs):
        lib.lsl_set_config_content.argtypes = [cp]
        lib.lsl_set_config_content(b"[log]\nlevel = -1\n")
    _LIB = lib
    return lib


def local_clock() -> float:
    """LSL's clock (seconds), the time base of every LSL timestamp on this machine."""
    return float(liblsl().lsl_local_clock())


def _b(s) -> bytes:
    return str(s).encode("utf-8")


class LslSink(Sink):
    """Two LSL outlets, ``name`` (signal) and ``name-markers`` (see the module doc)."""

    def __init__(self, name: str = "TGLL", source_id: str | None = None, max_buffered_s: int = 360):
        if not name or not name.strip():
            raise UplinkError("the LSL stream name must not be empty")
        self.name = name
        self.source_id = source_id or f"tgll-{name}"
        self.max_buffered_s = max_buffered_s
        self.lib = liblsl()
        self.offset: float | None = None
        self.signal_outlet = None
        self.marker_outlet = None
        self.last_marker_t = -np.inf
        self.last_device_t = 0.0
        self.pushed = {"samples": 0, "markers": 0}
        self._early: list[dict] = []  # status markers before the first sample: no device time yet

    def start(self, pipeline) -> None:
        model = pipeline.model
        self._open(float(model.fs), model.card if hasattr(model, "card") else {},
                   getattr(getattr(pipeline, "path", None), "pre", None))

    def _open(self, fs: float, card: dict, pre=None) -> None:
        lib = self.lib
        self.fs = fs
        info = lib.lsl_create_streaminfo(_b(self.name), b"ECG", len(LEADS_12), fs, CF_FLOAT32,
                                         _b(self.source_id + "-signal"))
        desc = lib.lsl_get_desc(info)
        chans = lib.lsl_append_child(desc, b"channels")
        for lead in LEADS_12:
            ch = lib.lsl_append_child(chans, b"channel")
            lib.lsl_append_child_value(ch, b"label", _b(lead))
            lib.lsl_append_child_value(ch, b"unit", b"millivolts")
            lib.lsl_append_child_value(ch, b"type", b"ECG")
        acq = lib.lsl_append_child(desc, b"acquisition")
        lib.lsl_append_child_value(acq, b"manufacturer", b"TGLL Edge")
        lib.lsl_append_child_value(acq, b"model", _b(card.get("name", "")))
        filt = lib.lsl_append_child(desc, b"filtering")
        lib.lsl_append_child_value(filt, b"preprocessing", _b(json.dumps(card.get("preprocessing", {}))))
        lib.lsl_append_child_value(filt, b"standardised", b"no")
        clock = lib.lsl_append_child(desc, b"clock")
        lib.lsl_append_child_value(clock, b"timestamps", b"device time + offset fixed at the first sample block; "
                                                         b"see the markers stream's clock marker")
        self.signal_outlet = lib.lsl_create_outlet(info, 0, self.max_buffered_s)
        lib.lsl_destroy_streaminfo(info)
        minfo = lib.lsl_create_streaminfo(_b(self.name + "-markers"), b"Markers", 1, 0.0, CF_STRING,
                                          _b(self.source_id + "-markers"))
        mdesc = lib.lsl_get_desc(minfo)
        ch = lib.lsl_append_child(lib.lsl_append_child(mdesc, b"channels"), b"channel")
        lib.lsl_append_child_value(ch, b"label", b"event")
        lib.lsl_append_child_value(ch, b"type", b"JSON")
        self.marker_outlet = lib.lsl_create_outlet(minfo, 0, self.max_buffered_s)
        lib.lsl_destroy_streaminfo(minfo)
        if not self.signal_outlet or not self.marker_outlet:
            raise UplinkError(f"LSL: could not create the outlets for {self.name!r}")

    # -- the clock ----------------------------------------------------------------------------
    def _anchor(self, t_device_now: float, t_first: float | None = None) -> None:
        """Fix the offset: device time ``t_device_now`` is now. The clock marker goes at ``t_first``,
        the first device time seen (the first block's start), so no later marker precedes it."""
        if self.offset is None:
            self.offset = local_clock() - t_device_now
            t_first = t_device_now if t_first is None else t_first
            early, self._early = self._early, []
            for obj in early:
                self._marker(obj, min(0.0, t_first))
            self._marker({"type": "clock", "device_time": round(t_device_now, 6),
                          "lsl_time": round(t_device_now + self.offset, 6), "offset": self.offset},
                         t_first)

    def block(self, block: SampleBlock) -> None:
        self.last_device_t = block.t_end
        self._anchor(block.t_end, block.t_start)

    def signal(self, t_start: float, fs: float, data) -> None:
        if self.signal_outlet is None:
            return
        x = np.ascontiguousarray(np.asarray(data, dtype=np.float32).T)  # (n, 12), sample-major
        n = x.shape[0]
        if n == 0:
            return
        self._anchor(t_start + n / fs, t_start)
        ts = self.offset + t_start + np.arange(n, dtype=np.float64) / fs
        self.lib.lsl_push_chunk_ftnp(self.signal_outlet, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                     x.size, ts.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), 1)
        self.pushed["samples"] += n

    def __call__(self, result) -> None:
        if isinstance(result, Finding):
            t = result.t_start
        elif isinstance(result, Gap):
            t = result.t
        elif isinstance(result, Status):
            t = None
        else:
            return
        self._marker(to_json(result), t)

    def _marker(self, obj: dict, t_device: float | None) -> None:
        if self.marker_outlet is None:
            return
        if self.offset is None:
            if t_device is None:
                self._early.append(obj)
                return
            self._anchor(t_device)
        ts = self.last_marker_t if t_device is None else t_device + self.offset
        if not np.isfinite(ts):
            ts = self.offset + self.last_device_t
        ts = max(ts, self.last_marker_t)
        self.last_marker_t = ts
        arr = (ctypes.c_char_p * 1)(json.dumps(obj, separators=(",", ":")).encode("utf-8"))
        self.lib.lsl_push_sample_strtp(self.marker_outlet, arr, ctypes.c_double(ts), 1)
        self.pushed["markers"] += 1

    def summary(self, summary: dict) -> None:
        if self.offset is None:  # a run without samples
            self._anchor(0.0)
        self._marker(summary, None)

    def close(self) -> None:
        for attr in ("signal_outlet", "marker_outlet"):
            h = getattr(self, attr)
            if h:
                self.lib.lsl_destroy_outlet(h)
                setattr(self, attr, None)
