"""The dashboard's sink: keeps what the page shows, and turns it into frames for the push channel.

The pipeline thread only calls the hooks below; each one copies a little into
memory under a lock and returns (no encoding, no I/O, no waiting on browsers).
A publisher thread of the server (``server.Hub``) asks for a frame about ten
times a second and hands it to every connected browser through that browser's
own bounded queue.

Frames (JSON, one per Server-Sent Event):

* ``snapshot``: everything, sent first to each browser and again whenever a
  browser fell behind and frames were dropped for it (so it never shows a
  stream stitched across missing frames);
* ``delta``: what is new since the previous frame (signal samples, findings,
  gaps, status) plus the small live state (counters, lead states, device).

Signal: the conditioned 12 leads at the model rate, kept for the last
``seconds`` seconds in a ring indexed by the absolute sample number
``k = round(t * fs)``; samples that never arrived (gaps) are NaN and travel as
``null``, so the page draws gaps as gaps. Values travel as integer microvolts.
"""
from __future__ import annotations

import base64
import collections
import json
import math
import threading
import time

import numpy as np

from ..link.blocks import Gap, SampleBlock, Status
from ..signal.leads import LEADS_12, canonical_lead
from ..stream.results import Finding, to_json
from ..stream.sinks import Sink

#: Leads computed from channels I and II (Einthoven, Goldberger): off with either of them.
LIMB_DERIVED = ("III", "aVR", "aVL", "aVF")
#: Lead states, from the most to the least severe (a lead shows the most severe that applies).
STATES = ("lead-off", "saturated", "flat", "attached")


def leads_for_channels(channels) -> set[str]:
    """The 12-lead names affected by the given device channels being off.

    A channel named like a lead affects that lead; channels I and II also feed the
    derived limb leads III, aVR, aVL and aVF. Unknown channel names affect nothing.
    """
    out: set[str] = set()
    for ch in channels:
        try:
            lead = canonical_lead(str(ch))
        except ValueError:
            continue
        out.add(lead)
        if lead in ("I", "II"):
            out.update(LIMB_DERIVED)
    return out


def lead_states(quality=None, live_off_channels=(), leads_used=None) -> dict:
    """Per lead of LEADS_12: 'attached', 'lead-off', 'flat' or 'saturated' (and
    'unused' for a lead a finding's ``leads_used`` left out).

    From the last window's quality verdict (lead-off channels, flat and saturated
    leads, NaN counted as saturated) and the device's current lead-off bits."""
    states = dict.fromkeys(LEADS_12, "attached")
    if leads_used is not None:
        used = set(leads_used)
        for lead in LEADS_12:
            if lead not in used:
                states[lead] = "unused"

    rank = {s: i for i, s in enumerate(STATES)}

    def mark(leads, state):
        for lead in leads:
            if lead in states and (states[lead] not in rank or rank[state] < rank[states[lead]]):
                states[lead] = state

    if quality is not None:
        mark(quality.flat, "flat")
        mark(list(quality.saturated) + list(quality.nonfinite), "saturated")
        mark(leads_for_channels(quality.lead_off), "lead-off")
    mark(leads_for_channels(live_off_channels), "lead-off")
    return states


def _finite(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


class SignalRing:
    """The last ``n`` samples of 12 leads on an absolute sample grid (slot ``k % n``); NaN = no sample."""

    def __init__(self, seconds: float = 10.0):
        self.seconds = float(seconds)
        self.fs: float | None = None
        self.n = 0
        self.buf = np.zeros((12, 0), np.float32)
        self.k_end = 0      # one past the newest sample
        self.epoch = 0      # bumped when the grid restarts (new rate, time going backward)

    def _reset(self, fs: float, k: int) -> None:
        self.fs = float(fs)
        self.n = max(1, int(round(self.seconds * self.fs)))
        self.buf = np.full((12, self.n), np.nan, np.float32)
        self.k_end = k
        self.epoch += 1

    def push(self, t_start: float, fs: float, data) -> None:
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2 or data.shape[0] != 12:
            return
        k0 = int(round(t_start * fs))
        m = data.shape[1]
        if self.fs != float(fs) or k0 < self.k_end - self.n:
            self._reset(fs, k0)
        n = self.n
        if k0 > self.k_end:  # samples that never came: a gap
            self._write_nan(max(self.k_end, k0 - n), k0)
        if m > n:
            data, k0, m = data[:, -n:], k0 + m - n, n
        a = k0 % n
        first = min(m, n - a)
        self.buf[:, a:a + first] = data[:, :first]
        if first < m:
            self.buf[:, :m - first] = data[:, first:]
        self.k_end = max(self.k_end, k0 + m)

    def _write_nan(self, k_from: int, k_to: int) -> None:
        n = self.n
        if k_to - k_from >= n:
            self.buf[:] = np.nan
            return
        a, b = k_from % n, k_to % n
        if a < b:
            self.buf[:, a:b] = np.nan
        elif k_to > k_from:
            self.buf[:, a:] = np.nan
            self.buf[:, :b] = np.nan

    def blank(self, t0: float, t1: float) -> None:
        """NaN over device times [t0, t1) (at least one sample), where they are in the ring."""
        if not self.fs:
            return
        k0 = int(math.floor(t0 * self.fs + 1e-6))
        k1 = max(k0 + 1, int(math.ceil(t1 * self.fs - 1e-6)))
        k0, k1 = max(k0, self.k_end - self.n), min(k1, self.k_end)
        if k1 > k0:
            self._write_nan(k0, k1)

    def since(self, k_from: int) -> tuple[int, np.ndarray]:
        """(k0, samples from max(k_from, oldest kept) to the newest), a copy."""
        n = self.n
        k0 = max(k_from, self.k_end - n, 0)
        m = self.k_end - k0
        if m <= 0 or n == 0:
            return self.k_end, np.zeros((12, 0), np.float32)
        idx = np.arange(k0, self.k_end) % n
        return k0, self.buf[:, idx]


#: int16 microvolts: +-32.767 mV covers any ECG at the skin; NaN (a gap) travels as this value
MISSING = -32768


def encode_signal(k0: int, fs: float, data: np.ndarray, reset: bool) -> dict:
    """Samples as int16 microvolts, little-endian, lead after lead, base64 (NaN as ``MISSING``):
    about 2.7 characters a sample, and numpy encodes it without a Python loop."""
    uv = np.round(np.nan_to_num(data.astype(np.float64) * 1000.0, nan=MISSING))
    uv = np.clip(uv, -32767, 32767)
    uv[~np.isfinite(data)] = MISSING
    raw = np.ascontiguousarray(uv, dtype="<i2").tobytes()
    return {"k0": int(k0), "fs": float(fs), "n": int(data.shape[1]), "reset": bool(reset),
            "i16": base64.b64encode(raw).decode("ascii"), "missing": MISSING}


def decode_signal(sig: dict) -> np.ndarray:
    """The inverse of encode_signal, in mV with NaN (for tests and scripts)."""
    x = np.frombuffer(base64.b64decode(sig["i16"]), dtype="<i2").reshape(12, sig["n"]).astype(np.float64)
    x[x == sig["missing"]] = np.nan
    return x / 1000.0


class DashboardSink(Sink):
    """A pipeline sink that keeps the dashboard's state (the last ``seconds`` of signal,
    the last ``n_windows`` findings, gaps, status, lead states, counters).

    Hooks (``start``, ``block``, ``signal``, ``__call__``, ``summary``, ``close``)
    run on the pipeline thread and only copy; ``frame(snapshot)`` runs on the
    publisher thread and builds the JSON. ``server``: a
    :class:`tgll_edge.dashboard.server.DashboardServer` to start with the sink
    and stop on ``close`` (None: the state only, e.g. for tests).
    """

    def __init__(self, server=None, *, seconds: float = 10.0, n_windows: int = 60, n_status: int = 30):
        self.server = server
        self.ring = SignalRing(seconds)
        self.n_windows = n_windows
        self.findings: collections.deque = collections.deque(maxlen=n_windows)
        self.gaps: collections.deque = collections.deque(maxlen=200)
        self.statuses: collections.deque = collections.deque(maxlen=n_status)
        self._lock = threading.Lock()
        self._seq = 0               # events seen (findings, gaps, status): the delta cursor
        self._events: collections.deque = collections.deque(maxlen=n_windows + 200 + n_status)
        self._sent_seq = 0
        self._sent_k = 0
        self._sent_epoch = 0
        self._gap_spans: list[tuple[float, float]] = []  # device-time spans never drawn as signal
        self._meta_version = self._meta_sent = 0  # a browser that came before start() gets the labels
        self._frame_no = 0          # deltas built so far: a browser counts the ones it missed
        self.pipeline = None
        self.meta: dict = {}
        self.device: dict = {}
        self.lead_off_mask = 0
        self.channel_labels: tuple = ()
        self.block_fs: float | None = None
        self.final_summary: dict | None = None
        self.started_at = time.monotonic()
        self.ended = False
        self.counts = {"blocks": 0, "signal_chunks": 0, "findings": 0, "gaps": 0, "status": 0}
        if server is not None:
            server.attach(self)

    # -- pipeline hooks (pipeline thread: copy and return) -------------------------
    def start(self, pipeline) -> None:
        model = getattr(pipeline, "model", None)
        meta = {"labels": [], "thresholds": [], "fs": None, "window_s": None, "model": "", "artifact": ""}
        if model is not None:
            labels = [str(x) for x in model.labels]
            meta.update(labels=labels, thresholds=[float(t) for t in np.asarray(model.thresholds).ravel()],
                        fs=float(model.fs), window_s=float(model.n_times) / float(model.fs),
                        model=str((getattr(model, "card", None) or {}).get("name", "")),
                        artifact=str(getattr(model, "artifact", "")))
        meta["hop_s"] = getattr(pipeline, "hop_s", None)
        meta["leads"] = list(LEADS_12)
        with self._lock:
            self.pipeline = pipeline
            self.meta = meta
            self._meta_version += 1
            self.started_at = time.monotonic()

    def block(self, block: SampleBlock) -> None:
        with self._lock:
            self.counts["blocks"] += 1
            self.lead_off_mask = int(block.lead_off)
            if block.labels != self.channel_labels:
                self.channel_labels = tuple(block.labels)
            self.block_fs = float(block.fs)

    def signal(self, t_start: float, fs: float, data) -> None:
        with self._lock:
            self.counts["signal_chunks"] += 1
            self.ring.push(t_start, fs, data)
            if self._gap_spans:  # never bridged on the page, even where the pipeline fills a short gap
                t_end = t_start + np.shape(data)[-1] / fs
                for g0, g1 in self._gap_spans:
                    if g0 < t_end and g1 > t_start:
                        self.ring.blank(g0, g1)
                oldest = self.ring.k_end / fs - self.ring.seconds
                self._gap_spans = [(g0, g1) for g0, g1 in self._gap_spans if g1 >= oldest]

    def __call__(self, result) -> None:
        with self._lock:
            if isinstance(result, Finding):
                kind, name = self.findings, "findings"
            elif isinstance(result, Gap):
                kind, name = self.gaps, "gaps"
                if result.fs and result.missing_samples:
                    span = (result.t, result.t + result.missing_samples / result.fs)
                    self._gap_spans.append(span)
                    self.ring.blank(*span)
            elif isinstance(result, Status):
                kind, name = self.statuses, "status"
                if result.kind == "info" and result.detail:
                    self.device = dict(result.detail)
            else:
                return
            self._seq += 1
            kind.append((self._seq, result))
            self._events.append((self._seq, result))
            self.counts[name] += 1

    def summary(self, summary: dict) -> None:
        with self._lock:
            self.final_summary = dict(summary)
            self.ended = True

    def close(self) -> None:
        with self._lock:
            self.ended = True
        if self.server is not None:
            self.server.close()

    # -- frames (publisher thread) -------------------------------------------------
    @staticmethod
    def _event_json(n: int, result) -> dict:
        d = DashboardSink._result_json(result)
        d["n"] = n
        return d

    @staticmethod
    def _result_json(result) -> dict:
        if isinstance(result, Finding):
            d = to_json(result)
            used = getattr(result, "leads_used", None)
            if used is not None and "leads_used" not in d:
                d["leads_used"] = list(used)
            return d
        if isinstance(result, Gap):
            return {"type": "gap", "t": round(result.t, 6),
                    "t_end": round(result.t + result.missing_samples / result.fs, 6) if result.fs else result.t,
                    "missing_samples": int(result.missing_samples), "cause": result.cause}
        d = to_json(result)
        d["wall"] = time.time()
        return d

    def _live(self) -> dict:
        """Small state sent with every frame (caller holds the lock)."""
        pipe = self.pipeline
        counters = None
        if pipe is not None:
            try:
                counters = pipe.summary()
            except RuntimeError:  # its counters dict changed size under us: the last known ones
                counters = None
        if counters is None:
            counters = self.final_summary or {}
        last = self.findings[-1][1] if self.findings else None
        quality = last.quality if last is not None else None
        used = getattr(last, "leads_used", None) if last is not None else None
        off_channels = [lab for i, lab in enumerate(self.channel_labels) if self.lead_off_mask >> i & 1]
        return {"counters": {k: _finite(v) if isinstance(v, float) else v for k, v in counters.items()},
                "device": {k: v for k, v in self.device.items() if isinstance(v, (str, int, float, list))},
                "channels": list(self.channel_labels), "lead_off_mask": self.lead_off_mask,
                "lead_off_channels": off_channels, "device_fs": self.block_fs,
                "leads": lead_states(quality, off_channels, used),
                "leads_used": list(used) if used is not None else None,
                "uptime_s": round(time.monotonic() - self.started_at, 1),
                "ended": self.ended, "final_summary": self.final_summary}

    def frame(self, snapshot: bool) -> dict:
        """The next delta (advances the cursor), or a snapshot of everything (does not).

        Call from one thread only (the publisher)."""
        with self._lock:
            ring = self.ring
            live = self._live()
            if snapshot:
                k0, data = ring.since(0)
                events = list(self.statuses) + list(self.gaps) + list(self.findings)
                out = {"type": "snapshot", "meta": self.meta, "seq": self._seq, "frame": self._frame_no}
                reset = True
            else:
                reset = ring.epoch != self._sent_epoch
                k0, data = ring.since(0 if reset else self._sent_k)
                events = [(s, r) for s, r in self._events if s > self._sent_seq]
                self._frame_no += 1
                out = {"type": "delta", "seq": self._seq, "frame": self._frame_no}
                if self._meta_sent != self._meta_version:
                    out["meta"] = self.meta
                    self._meta_sent = self._meta_version
                self._sent_seq, self._sent_k, self._sent_epoch = self._seq, ring.k_end, ring.epoch
            fs = ring.fs
        # encoding outside the lock: the pipeline thread never waits for JSON
        out["sig"] = encode_signal(k0, fs, data, reset) if fs and (data.shape[1] or reset) else None
        events.sort(key=lambda e: e[0])
        out["findings"] = [self._event_json(n, r) for n, r in events if isinstance(r, Finding)][-self.n_windows:]
        out["gaps"] = [self._event_json(n, r) for n, r in events if isinstance(r, Gap)]
        out["status"] = [self._event_json(n, r) for n, r in events if isinstance(r, Status)]
        out["live"] = live
        return out

    def changed(self) -> bool:
        """Anything new since the last delta (publisher thread)."""
        with self._lock:
            return self._seq != self._sent_seq or self.ring.k_end != self._sent_k \
                or self._meta_sent != self._meta_version \
                or self.ring.epoch != self._sent_epoch

    def state(self) -> dict:
        """A snapshot frame as a dict (``GET /state``)."""
        return self.frame(snapshot=True)


def _clean(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(frame: dict) -> bytes:
    """Compact JSON; NaN/inf (never valid JSON for a browser) become null."""
    try:
        return json.dumps(frame, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_clean(frame), separators=(",", ":"), allow_nan=False).encode()
