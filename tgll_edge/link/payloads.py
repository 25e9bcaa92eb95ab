"""The payload of each packet type (PROTOCOL.md, "Packet types"; firmware: tgll_packet).

Each layout is one ``struct.Struct``, used by both parse and encode, so the two
cannot drift apart. INFO (``DeviceInfo``, defined in blocks.py) is a fixed head
and three length-prefixed ASCII strings; DATA is a fixed head and int24 samples.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import ClassVar

import numpy as np

from ..errors import PayloadError
from ..signal.leads import LEADS_8, LEADS_12
from .blocks import DeviceInfo
from .codes import (COMMAND_NAMES, EVENT_NAMES, LEAD_SET_8, LEAD_SET_12, MAX_CHANNELS, MAX_PAYLOAD,
                    SAMPLE_FORMAT_INT24, PacketType)

_INFO_HEAD = struct.Struct("<HBBfB")  # fs_hz, n_channels, sample_format, uv_per_count, lead_set
_INFO_STRINGS = 3  # labels, device_id, firmware: each a u8 length then ASCII
_DATA_HEAD = struct.Struct("<BBH")    # n_channels, n_samples, lead_off; then the int24 samples

_STATED_MAX_SAMPLES = {8: 40, 12: 28, 16: 20}  # PROTOCOL.md's limits for the common channel counts


def max_samples_per_packet(n_channels: int) -> int:
    """Most samples per channel a sender puts in one DATA packet: PROTOCOL.md's 40 / 28 / 20
    for 8 / 12 / 16 channels, else as many as fit in 1024 bytes. (Receivers accept any
    DATA packet that fits in 1024 bytes.)"""
    fit = (MAX_PAYLOAD - _DATA_HEAD.size) // (3 * n_channels)
    return min(fit, _STATED_MAX_SAMPLES.get(n_channels, fit))


def int24_to_int32(raw: bytes | np.ndarray) -> np.ndarray:
    """Signed 24-bit little-endian values -> int32 array (vectorised)."""
    b = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw
    b = b.reshape(-1, 3).astype(np.int32)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    return (v ^ 0x800000) - 0x800000  # sign-extend bit 23


def int32_to_int24(values: np.ndarray) -> bytes:
    """int values in [-2**23, 2**23) -> signed 24-bit little-endian bytes."""
    v = np.asarray(values, dtype=np.int64).ravel()
    if v.size and (v.min() < -(1 << 23) or v.max() >= (1 << 23)):
        raise ValueError("value outside the signed 24-bit range")
    u = (v & 0xFFFFFF).astype("<u4")
    return u.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


# --- DATA --------------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    """A DATA payload. ``samples`` stays raw int24 LE bytes (sample-major) so a
    run of packets can be unpacked in one vectorised step (see ``int24_to_int32``)."""

    TYPE: ClassVar[PacketType] = PacketType.DATA

    n_channels: int
    n_samples: int
    lead_off: int
    samples: bytes

    def counts(self) -> np.ndarray:
        """(n_samples, n_channels) int32 counts."""
        return int24_to_int32(self.samples).reshape(self.n_samples, self.n_channels)

    @classmethod
    def parse(cls, payload: bytes) -> Data:
        if len(payload) < _DATA_HEAD.size:
            raise PayloadError("DATA payload too short")
        n_ch, n_s, lead_off = _DATA_HEAD.unpack_from(payload, 0)
        if not 1 <= n_ch <= MAX_CHANNELS or n_s < 1:
            raise PayloadError(f"DATA with {n_ch} channels x {n_s} samples")
        if len(payload) != _DATA_HEAD.size + 3 * n_ch * n_s:
            raise PayloadError("DATA length does not match channels x samples")
        return cls(n_ch, n_s, lead_off, bytes(payload[_DATA_HEAD.size:]))

    def encode(self) -> bytes:
        return _DATA_HEAD.pack(self.n_channels, self.n_samples, self.lead_off) + self.samples


def encode_data_payload(counts: np.ndarray, lead_off: int = 0) -> bytes:
    """``counts`` (n_samples, n_channels) ints -> DATA payload."""
    counts = np.asarray(counts)
    n_s, n_ch = counts.shape
    if not 1 <= n_ch <= MAX_CHANNELS or not 1 <= n_s <= max_samples_per_packet(n_ch):
        raise ValueError(f"DATA cannot carry {n_s} samples x {n_ch} channels")
    return Data(n_ch, n_s, lead_off, int32_to_int24(counts)).encode()


# --- EVENT, COMMAND, ACK: one struct each --------------------------------------

class _Fixed:
    """A payload that is exactly ``LAYOUT``, whose fields are the dataclass fields in order."""

    TYPE: ClassVar[PacketType]
    LAYOUT: ClassVar[struct.Struct]

    @classmethod
    def parse(cls, payload: bytes):
        if len(payload) != cls.LAYOUT.size:
            raise PayloadError(f"{cls.TYPE.name} payload has {len(payload)} bytes")
        return cls(*cls.LAYOUT.unpack(payload))

    def encode(self) -> bytes:
        return self.LAYOUT.pack(*astuple(self))


@dataclass(frozen=True)
class EventMsg(_Fixed):
    TYPE: ClassVar[PacketType] = PacketType.EVENT
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BI")

    code: int
    value: int

    @property
    def name(self) -> str:
        return EVENT_NAMES.get(self.code, f"event_{self.code}")


@dataclass(frozen=True)
class Command(_Fixed):
    TYPE: ClassVar[PacketType] = PacketType.COMMAND
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BI")

    command: int
    arg: int = 0

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"command_{self.command}")


@dataclass(frozen=True)
class Ack(_Fixed):
    TYPE: ClassVar[PacketType] = PacketType.ACK
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BB")

    command: int
    status: int


# --- INFO ----------------------------------------------------------------------

def _read_ascii(payload: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(payload):
        raise PayloadError("INFO truncated")
    n = payload[pos]
    end = pos + 1 + n
    if end > len(payload):
        raise PayloadError("INFO string runs past the payload")
    try:
        return payload[pos + 1:end].decode("ascii"), end
    except UnicodeDecodeError:
        raise PayloadError("INFO string is not ASCII") from None


def _write_ascii(text: str) -> bytes:
    b = text.encode("ascii")
    if len(b) > 255:
        raise ValueError("INFO string longer than 255 bytes")
    return bytes([len(b)]) + b


def _labels_for(lead_set: int, n_channels: int, text: str) -> tuple[str, ...]:
    given = tuple(s.strip() for s in text.split(",")) if text else ()
    if lead_set == LEAD_SET_8:
        if n_channels != 8:
            raise PayloadError(f"lead_set 0 needs 8 channels, INFO says {n_channels}")
        return LEADS_8
    if lead_set == LEAD_SET_12:
        if n_channels != 12:
            raise PayloadError(f"lead_set 1 needs 12 channels, INFO says {n_channels}")
        return LEADS_12
    if len(given) != n_channels:
        raise PayloadError(f"INFO has {len(given)} labels for {n_channels} channels")
    return given


def parse_info(payload: bytes) -> DeviceInfo:
    if len(payload) < _INFO_HEAD.size + _INFO_STRINGS:
        raise PayloadError("INFO payload too short")
    fs, n_ch, fmt, uv, lead_set = _INFO_HEAD.unpack_from(payload, 0)
    if not 1 <= n_ch <= MAX_CHANNELS:
        raise PayloadError(f"INFO n_channels {n_ch} outside 1..{MAX_CHANNELS}")
    if fmt != SAMPLE_FORMAT_INT24:
        raise PayloadError(f"unsupported sample_format {fmt}")
    if fs == 0 or not np.isfinite(uv) or uv <= 0:
        raise PayloadError("INFO fs or uv_per_count not positive")
    labels_text, pos = _read_ascii(payload, _INFO_HEAD.size)
    device_id, pos = _read_ascii(payload, pos)
    firmware, pos = _read_ascii(payload, pos)
    if pos != len(payload):
        raise PayloadError("INFO has trailing bytes")
    return DeviceInfo(fs=float(fs), n_channels=n_ch, uv_per_count=float(uv), lead_set=lead_set,
                      labels=_labels_for(lead_set, n_ch, labels_text), device_id=device_id,
                      firmware=firmware, sample_format=fmt)


def encode_info_payload(info: DeviceInfo) -> bytes:
    head = _INFO_HEAD.pack(int(info.fs), info.n_channels, info.sample_format, info.uv_per_count, info.lead_set)
    return head + _write_ascii(",".join(info.labels)) + _write_ascii(info.device_id) + _write_ascii(info.firmware)


# --- by type -------------------------------------------------------------------

Body = DeviceInfo | Data | EventMsg | Command | Ack

PARSERS: dict[int, Callable[[bytes], Body]] = {
    PacketType.INFO: parse_info,
    PacketType.DATA: Data.parse,
    PacketType.EVENT: EventMsg.parse,
    PacketType.COMMAND: Command.parse,
    PacketType.ACK: Ack.parse,
}


def encode_body(body: Body) -> tuple[PacketType, bytes]:
    """A payload object -> (type, payload bytes)."""
    if isinstance(body, DeviceInfo):
        return PacketType.INFO, encode_info_payload(body)
    if isinstance(body, (Data, EventMsg, Command, Ack)):
        return body.TYPE, body.encode()
    raise TypeError(f"not a packet body: {type(body).__name__}")
