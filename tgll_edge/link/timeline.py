"""Exact gap accounting: device packets -> SampleBlock / Gap / Status on the stream's timeline.

The device counts samples in a u32 ``sample_index`` that wraps at 2**32; the stream
index (blocks.py) is unwrapped, starts at 0 with the first sample received, and
advances across every gap by exactly the samples missing.

Conventions the consumers rely on:

* ``Gap.index`` is the stream index of the first missing sample; the next
  SampleBlock starts at ``gap.index + gap.missing_samples``. Every Gap is a
  discontinuity (reset filters, never window across it), even one with
  ``missing_samples == 0`` (device reset estimated at zero, rate change, a new
  record in a replay).
* Forward jump of the device counter by d: ``Gap(missing_samples=d)``, cause
  ``"link"`` (or ``"disconnect"`` right after a reconnect). If the device reported
  an overflow (EVENT 3, value v) before that DATA, the first min(v, d) samples are
  a separate ``Gap(cause="device_overflow")`` at the same place, the rest is
  ``"link"``. Firmware must therefore keep counting over samples it drops and
  send EVENT 3 before the next DATA.
* Backward jump (not the u32 wrap) or EVENT 4: the device restarted; its counter
  cannot tell how long it was away, so the gap is estimated from the host clock
  (the host time between the last DATA before and the first DATA after, minus the
  new packet's own samples), cause ``"device_reset"`` (``"disconnect"`` right after
  a reconnect), and a Status("gap_estimated") says it is an estimate. With no
  clock the estimate is 0.
* A change of the sampling rate in INFO rescales the stream index to the new rate
  (``index = ceil(index * new / old)``) and emits ``Gap(0, cause="rate_change")``;
  another change of channels, labels or scale emits ``Gap(0, cause="info_change")``.
* DATA before any INFO is dropped and counted (``data_without_info``) and INFO is
  requested: the scale is never guessed.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from .blocks import DeviceInfo, Event, Gap, GapCause, SampleBlock, Status, StatusKind
from .codes import AckStatus, EventCode, PacketType
from .packet import Packet
from .payloads import Ack, Data, EventMsg, int24_to_int32

U32 = 1 << 32
TIMELINE_COUNTERS = ("gaps", "missing_samples", "samples", "blocks", "data_without_info", "channel_mismatch",
                     "device_resets", "overflow_events", "overflow_samples", "overflow_unmatched", "seq_skips",
                     "info_packets", "estimated_gaps")


def lead_names(mask: int, labels: tuple[str, ...]) -> list[str]:
    return [lab for i, lab in enumerate(labels) if mask >> i & 1]


class Timeline:
    """Turns decoded device packets into events. Not thread-safe; one per link.

    ``request_info``: called (at most once a second) when INFO is needed.
    ``clock``: host time source for estimates (``time.monotonic`` in live sources).
    """

    def __init__(self, request_info: Callable[[], None] | None = None,
                 clock: Callable[[], float] | None = None):
        self.request_info = request_info
        self.clock = clock
        self.info: DeviceInfo | None = None
        self.stats = dict.fromkeys(TIMELINE_COUNTERS, 0)
        self._next = 0            # stream index of the next sample
        self._expect: int | None = None  # device sample_index (u32) expected next
        self._started = False     # any sample delivered yet
        self._pending_overflow = 0
        self._reset_pending = False
        self._disconnected = False
        self._last_arrival: float | None = None
        self._lead_off = 0
        self._last_seq: int | None = None
        self._info_requested_at = -math.inf
        self._waiting_status = False
        # the current run of contiguous DATA packets, unpacked together
        self._run: list[bytes] = []
        self._run_n = 0
        self._run_index = 0

    # --- link events from the source ----------------------------------------

    def disconnected(self) -> None:
        """The transport dropped: the next discontinuity is attributed to the outage."""
        self._disconnected = True
        self._last_seq = None

    # --- packets -------------------------------------------------------------

    def push(self, packets: Iterable[Packet], now: float | None = None) -> list[Event]:
        """Process packets received together (``now``: their host arrival time)."""
        if now is None and self.clock is not None:
            now = self.clock()
        out: list[Event] = []
        for p in packets:
            self._track_seq(p)
            if p.type == PacketType.DATA:
                self._data(p, now, out)
            elif p.type == PacketType.INFO:
                self._flush(out)
                self._info(p.body, out)
            elif p.type == PacketType.EVENT:
                self._flush(out)
                self._event(p.body, out)
            elif p.type == PacketType.ACK:
                body: Ack = p.body
                if body.status != AckStatus.OK:
                    out.append(Status(StatusKind.NACK, f"device refused command {body.command} (status {body.status})",
                                      {"command": body.command, "status": body.status}))
            # COMMAND from a device is meaningless to the host: ignored.
        self._flush(out)
        if any(isinstance(p.body, Data) for p in packets) and now is not None:
            self._last_arrival = now
        return out

    def _track_seq(self, p: Packet) -> None:
        if self._last_seq is not None:
            skip = (p.seq - self._last_seq - 1) & 0xFFFF
            if skip and skip < 0x8000:
                self.stats["seq_skips"] += skip
        self._last_seq = p.seq

    def _need_info(self, out: list[Event], why: str) -> None:
        now = self.clock() if self.clock else None
        if self.request_info is not None and (now is None or now - self._info_requested_at >= 1.0):
            self._info_requested_at = now if now is not None else -math.inf
            self.request_info()
        if not self._waiting_status:
            self._waiting_status = True
            out.append(Status(StatusKind.WAITING_FOR_INFO, why))

    def _info(self, info: DeviceInfo, out: list[Event]) -> None:
        self.stats["info_packets"] += 1
        old, self.info = self.info, info
        self._waiting_status = False
        if old == info:
            return
        out.append(Status(StatusKind.INFO, f"{info.device_id or 'device'} {info.n_channels} ch at {info.fs:g} Hz, "
                                  f"{info.uv_per_count:.6g} uV/count, firmware {info.firmware or '?'}",
                          {"fs": info.fs, "n_channels": info.n_channels, "uv_per_count": info.uv_per_count,
                           "lead_set": info.lead_set, "labels": list(info.labels),
                           "device_id": info.device_id, "firmware": info.firmware}))
        if old is None or not self._started:
            return
        if old.fs != info.fs:
            self._next = math.ceil(self._next * info.fs / old.fs)
            self._gap(0, GapCause.RATE_CHANGE, out)
        elif (old.n_channels, old.labels, old.uv_per_count, old.lead_set) != \
                (info.n_channels, info.labels, info.uv_per_count, info.lead_set):
            self._gap(0, GapCause.INFO_CHANGE, out)

    def _event(self, ev: EventMsg, out: list[Event]) -> None:
        if ev.code == EventCode.DEVICE_OVERFLOW:
            self.stats["overflow_events"] += 1
            self._pending_overflow += ev.value
        elif ev.code == EventCode.DEVICE_RESET:
            self.stats["device_resets"] += 1
            if self._started:
                self._reset_pending = True
            out.append(Status(StatusKind.DEVICE_RESET, "device reported a reset"))
        elif ev.code == EventCode.LEAD_OFF:
            self._set_lead_off(ev.value & 0xFFFF, out)
        elif ev.code == EventCode.BATTERY_MV:
            out.append(Status(StatusKind.BATTERY, f"battery {ev.value} mV", {"millivolts": ev.value}))
        else:
            out.append(Status(StatusKind.DEVICE_EVENT, f"event code {ev.code} value {ev.value}",
                              {"code": ev.code, "value": ev.value}))

    def _set_lead_off(self, mask: int, out: list[Event]) -> None:
        if mask == self._lead_off:
            return
        self._lead_off = mask
        labels = self.info.labels if self.info else ()
        off = lead_names(mask, labels)
        out.append(Status(StatusKind.LEAD_OFF, "electrodes off: " + (", ".join(off) if off else "none"),
                          {"mask": mask, "leads": off}))

    def _gap(self, missing: int, cause: GapCause, out: list[Event]) -> None:
        out.append(Gap(self._next, missing, self.info.fs, cause))
        self._next += missing
        self.stats["gaps"] += 1
        self.stats["missing_samples"] += missing

    def _data(self, p: Packet, now: float | None, out: list[Event]) -> None:
        body: Data = p.body
        info = self.info
        if info is None:
            self.stats["data_without_info"] += body.n_samples
            self._need_info(out, "DATA before INFO: dropped until the device describes its scale")
            return
        if body.n_channels != info.n_channels:
            self.stats["channel_mismatch"] += body.n_samples
            self._need_info(out, f"DATA has {body.n_channels} channels, INFO said {info.n_channels}")
            return
        s = p.sample_index
        if not self._started:
            self._started = True
        elif self._reset_pending or self._expect is None:
            self._flush(out)
            self._restart(body.n_samples, now, GapCause.DEVICE_RESET, out)
        else:
            delta = (s - self._expect) % U32
            if delta >= U32 // 2:  # backward: the device restarted
                self._flush(out)
                self.stats["device_resets"] += 1
                self._restart(body.n_samples, now, GapCause.DEVICE_RESET, out)
            elif delta:
                self._flush(out)
                self._forward_gap(delta, out)
            elif self._pending_overflow:
                self.stats["overflow_unmatched"] += self._pending_overflow
                self._pending_overflow = 0
        self._disconnected = False
        self._expect = (s + body.n_samples) % U32
        if body.lead_off != self._lead_off:
            self._flush(out)
            self._set_lead_off(body.lead_off, out)
        if not self._run:
            self._run_index = self._next
        self._run.append(body.samples)
        self._run_n += body.n_samples
        self._next += body.n_samples

    def _forward_gap(self, delta: int, out: list[Event]) -> None:
        if self._disconnected:
            self._gap(delta, GapCause.DISCONNECT, out)
            self._pending_overflow = 0
            return
        ov = min(self._pending_overflow, delta)
        if ov:
            self.stats["overflow_samples"] += ov
            self._gap(ov, GapCause.DEVICE_OVERFLOW, out)
        if self._pending_overflow > ov:
            self.stats["overflow_unmatched"] += self._pending_overflow - ov
        self._pending_overflow = 0
        if delta > ov:
            self._gap(delta - ov, GapCause.LINK, out)

    def _restart(self, n_new: int, now: float | None, cause: GapCause, out: list[Event]) -> None:
        if self._disconnected:
            cause = GapCause.DISCONNECT
        missing = 0
        if now is not None and self._last_arrival is not None and self.info is not None:
            missing = max(0, round((now - self._last_arrival) * self.info.fs) - n_new)
        self.stats["estimated_gaps"] += 1
        out.append(Status(StatusKind.GAP_ESTIMATED, f"{cause}: device counter restarted; about {missing} samples "
                                           f"missing, estimated from the host clock",
                          {"cause": cause, "missing_samples": missing}))
        self._gap(missing, cause, out)
        self._reset_pending = False
        self._pending_overflow = 0

    def _flush(self, out: list[Event]) -> None:
        if not self._run:
            return
        info = self.info
        raw = self._run[0] if len(self._run) == 1 else b"".join(self._run)
        counts = int24_to_int32(raw).reshape(self._run_n, info.n_channels)
        data = (counts.T * (info.uv_per_count / 1000.0)).astype(np.float32)
        out.append(SampleBlock(self._run_index, info.fs, data, info.labels, self._lead_off))
        self.stats["samples"] += self._run_n
        self.stats["blocks"] += 1
        self._run.clear()
        self._run_n = 0
