"""What every source yields: timestamped sample blocks, explicit gaps, status.

Everything after a source (lead derivation, filters, windows, inference) is
transport-agnostic and only sees these three event types.

Time base: ``index`` counts samples per channel on the *stream's* continuous
timeline, 0 at the first sample the gateway received. It is unwrapped (never
wraps at 2**32) and advanced across every gap by exactly the samples missing,
so ``index / fs`` is device time in seconds since the stream started.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class GapCause(StrEnum):
    """Why samples are missing (a ``str``: JSON shows the value)."""

    LINK = "link"                          # sample_index jump: CRC drop, lost bytes
    DEVICE_OVERFLOW = "device_overflow"    # EVENT code 3
    DISCONNECT = "disconnect"              # outage estimated from wall-clock time
    DEVICE_RESET = "device_reset"          # sample_index jumped backward
    RATE_CHANGE = "rate_change"            # INFO with another fs
    INFO_CHANGE = "info_change"            # INFO with other channels, labels or scale
    CYTON_COUNTER = "cyton_counter"        # OpenBCI Cyton sample counter skipped
    RECORD_BOUNDARY = "record_boundary"    # replay: the next record starts (nothing missing)
    RECORDING = "recording"                # a recording's gap whose logged cause is lost


class StatusKind(StrEnum):
    """What a Status reports (a ``str``: JSON shows the value)."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTED = "reconnected"
    STALLED = "stalled"
    INFO = "info"
    WAITING_FOR_INFO = "waiting_for_info"
    LEAD_OFF = "lead_off"
    BATTERY = "battery"
    DEVICE_EVENT = "device_event"
    DEVICE_RESET = "device_reset"
    GAP_ESTIMATED = "gap_estimated"
    NACK = "nack"
    EMULATOR = "emulator"
    RECORD = "record"
    REPLAY = "replay"
    NO_WINDOW = "no_window"                # the stream ended before a first full window


@dataclass(frozen=True)
class DeviceInfo:
    """The INFO packet's content (PROTOCOL.md)."""

    fs: float
    n_channels: int
    uv_per_count: float
    lead_set: int
    labels: tuple[str, ...]
    device_id: str = ""
    firmware: str = ""
    sample_format: int = 1


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive samples of all channels, in millivolts, ``data`` shape (channels, n)."""

    index: int
    fs: float
    data: np.ndarray
    labels: tuple[str, ...]
    lead_off: int = 0  # bit i set: channel i electrode off / saturated during the block

    @property
    def n(self) -> int:
        return int(self.data.shape[1])

    @property
    def t_start(self) -> float:
        return self.index / self.fs

    @property
    def t_end(self) -> float:
        return (self.index + self.n) / self.fs


@dataclass(frozen=True)
class Gap:
    """``missing_samples`` per channel were lost, from the sample at ``index`` on (the next
    sample that arrives has index ``index + missing_samples``).

    ``cause``: a :class:`GapCause`.
    """

    index: int
    missing_samples: int
    fs: float
    cause: GapCause

    @property
    def t(self) -> float:
        return self.index / self.fs


@dataclass(frozen=True)
class Status:
    """Connects, reconnects, INFO, lead-off changes, battery: for people and logs."""

    kind: StatusKind
    message: str = ""
    detail: dict = field(default_factory=dict)


Event = SampleBlock | Gap | Status
