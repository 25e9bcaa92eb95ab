"""The ECG link protocol, version 1 (PROTOCOL.md): COBS framing, CRC, packets.

Wire format: each packet is COBS-encoded and followed by one 0x00. A decoded
packet is ``version u8, type u8, seq u16, sample_index u32, payload_len u16,
payload, crc u16`` (little-endian), CRC-16/CCITT-FALSE over everything before
the CRC. ``Decoder`` turns an arbitrary byte stream into valid packets and
counts every byte and frame it had to drop; it never raises on input bytes.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

import numpy as np
from cobs import cobs as _cobs

from ..signal.leads import LEADS_8, LEADS_12
from .blocks import DeviceInfo

VERSION = 1
HEADER = struct.Struct("<BBHIH")  # version, type, seq, sample_index, payload_len
HEADER_SIZE = HEADER.size  # 10
CRC_SIZE = 2
MAX_PACKET = 1024  # decoded bytes, header and CRC included
MAX_PAYLOAD = MAX_PACKET - HEADER_SIZE - CRC_SIZE
MAX_CHANNELS = 16
# Longest COBS encoding of a MAX_PACKET packet (one code byte per 254 data bytes).
MAX_ENCODED = MAX_PACKET + (MAX_PACKET + 253) // 254

INFO, DATA, EVENT, COMMAND, ACK = 0x01, 0x02, 0x03, 0x10, 0x11
TYPE_NAMES = {INFO: "INFO", DATA: "DATA", EVENT: "EVENT", COMMAND: "COMMAND", ACK: "ACK"}

# COMMAND codes
CMD_START, CMD_STOP, CMD_GET_INFO, CMD_SET_RATE = 1, 2, 3, 4
COMMAND_NAMES = {CMD_START: "START", CMD_STOP: "STOP", CMD_GET_INFO: "GET_INFO", CMD_SET_RATE: "SET_RATE"}
# ACK status
ACK_OK, ACK_UNSUPPORTED, ACK_BAD_ARGUMENT = 0, 1, 2
# EVENT codes
EV_LEAD_OFF, EV_BATTERY, EV_OVERFLOW, EV_RESET = 1, 2, 3, 4
EVENT_NAMES = {EV_LEAD_OFF: "lead_off", EV_BATTERY: "battery_mv", EV_OVERFLOW: "device_overflow",
               EV_RESET: "device_reset"}

SAMPLE_FORMAT_INT24 = 1
LEAD_SET_8, LEAD_SET_12, LEAD_SET_CUSTOM = 0, 1, 255


_STATED_MAX_SAMPLES = {8: 40, 12: 28, 16: 20}  # PROTOCOL.md's limits for the common channel counts


def max_samples_per_packet(n_channels: int) -> int:
    """Most samples per channel a sender puts in one DATA packet: PROTOCOL.md's 40 / 28 / 20
    for 8 / 12 / 16 channels, else as many as fit in 1024 bytes. (Receivers accept any
    DATA packet that fits in 1024 bytes.)"""
    fit = (MAX_PAYLOAD - 4) // (3 * n_channels)
    return min(fit, _STATED_MAX_SAMPLES.get(n_channels, fit))


# --- CRC and COBS -----------------------------------------------------------

def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.

    ``binascii.crc_hqx`` is exactly this polynomial, unreflected, with a caller-chosen
    initial value, and runs in C.
    """
    return binascii.crc_hqx(data, crc)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no trailing delimiter)."""
    return _cobs.encode(data)


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS frame (without its delimiter); raises ValueError if malformed."""
    try:
        return _cobs.decode(data)
    except _cobs.DecodeError as exc:
        raise ValueError(f"bad COBS frame: {exc}") from None


# --- payloads ---------------------------------------------------------------

@dataclass(frozen=True)
class Data:
    """A DATA payload. ``samples`` stays raw int24 LE bytes (sample-major) so a
    run of packets can be unpacked in one vectorised step (see ``int24_to_int32``)."""

    n_channels: int
    n_samples: int
    lead_off: int
    samples: bytes

    def counts(self) -> np.ndarray:
        """(n_samples, n_channels) int32 counts."""
        return int24_to_int32(self.samples).reshape(self.n_samples, self.n_channels)


@dataclass(frozen=True)
class EventMsg:
    code: int
    value: int

    @property
    def name(self) -> str:
        return EVENT_NAMES.get(self.code, f"event_{self.code}")


@dataclass(frozen=True)
class Command:
    command: int
    arg: int = 0

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"command_{self.command}")


@dataclass(frozen=True)
class Ack:
    command: int
    status: int


Body = DeviceInfo | Data | EventMsg | Command | Ack


@dataclass(frozen=True)
class Packet:
    """A decoded, CRC-checked packet; ``body`` is the parsed payload."""

    type: int
    seq: int
    sample_index: int
    body: Body
    version: int = VERSION


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


class PayloadError(ValueError):
    """The payload does not match its type's layout."""


def _ascii_field(payload: bytes, pos: int) -> tuple[str, int]:
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
    if len(payload) < 12:
        raise PayloadError("INFO payload too short")
    fs, n_ch, fmt, uv, lead_set = struct.unpack_from("<HBBfB", payload, 0)
    if not 1 <= n_ch <= MAX_CHANNELS:
        raise PayloadError(f"INFO n_channels {n_ch} outside 1..{MAX_CHANNELS}")
    if fmt != SAMPLE_FORMAT_INT24:
        raise PayloadError(f"unsupported sample_format {fmt}")
    if fs == 0 or not np.isfinite(uv) or uv <= 0:
        raise PayloadError("INFO fs or uv_per_count not positive")
    labels_text, pos = _ascii_field(payload, 9)
    device_id, pos = _ascii_field(payload, pos)
    firmware, pos = _ascii_field(payload, pos)
    if pos != len(payload):
        raise PayloadError("INFO has trailing bytes")
    return DeviceInfo(fs=float(fs), n_channels=n_ch, uv_per_count=float(uv), lead_set=lead_set,
                      labels=_labels_for(lead_set, n_ch, labels_text), device_id=device_id,
                      firmware=firmware, sample_format=fmt)


def parse_data(payload: bytes) -> Data:
    if len(payload) < 4:
        raise PayloadError("DATA payload too short")
    n_ch, n_s, lead_off = struct.unpack_from("<BBH", payload, 0)
    if not 1 <= n_ch <= MAX_CHANNELS or n_s < 1:
        raise PayloadError(f"DATA with {n_ch} channels x {n_s} samples")
    if len(payload) != 4 + 3 * n_ch * n_s:
        raise PayloadError("DATA length does not match channels x samples")
    return Data(n_ch, n_s, lead_off, bytes(payload[4:]))


def _parse_fixed(fmt: str, payload: bytes, what: str) -> tuple:
    if len(payload) != struct.calcsize(fmt):
        raise PayloadError(f"{what} payload has {len(payload)} bytes")
    return struct.unpack(fmt, payload)


_PARSERS = {
    INFO: parse_info,
    DATA: parse_data,
    EVENT: lambda p: EventMsg(*_parse_fixed("<BI", p, "EVENT")),
    COMMAND: lambda p: Command(*_parse_fixed("<BI", p, "COMMAND")),
    ACK: lambda p: Ack(*_parse_fixed("<BB", p, "ACK")),
}


# --- encoding ---------------------------------------------------------------

def encode_info_payload(info: DeviceInfo) -> bytes:
    def field(s: str) -> bytes:
        b = s.encode("ascii")
        if len(b) > 255:
            raise ValueError("INFO string longer than 255 bytes")
        return bytes([len(b)]) + b
    return (struct.pack("<HBBfB", int(info.fs), info.n_channels, info.sample_format,
                        info.uv_per_count, info.lead_set)
            + field(",".join(info.labels)) + field(info.device_id) + field(info.firmware))


def encode_data_payload(counts: np.ndarray, lead_off: int = 0) -> bytes:
    """``counts`` (n_samples, n_channels) ints -> DATA payload."""
    counts = np.asarray(counts)
    n_s, n_ch = counts.shape
    if not 1 <= n_ch <= MAX_CHANNELS or not 1 <= n_s <= max_samples_per_packet(n_ch):
        raise ValueError(f"DATA cannot carry {n_s} samples x {n_ch} channels")
    return struct.pack("<BBH", n_ch, n_s, lead_off) + int32_to_int24(counts)


def encode_body(body: Body) -> tuple[int, bytes]:
    """A payload object -> (type, payload bytes)."""
    if isinstance(body, DeviceInfo):
        return INFO, encode_info_payload(body)
    if isinstance(body, Data):
        return DATA, struct.pack("<BBH", body.n_channels, body.n_samples, body.lead_off) + body.samples
    if isinstance(body, EventMsg):
        return EVENT, struct.pack("<BI", body.code, body.value)
    if isinstance(body, Command):
        return COMMAND, struct.pack("<BI", body.command, body.arg)
    if isinstance(body, Ack):
        return ACK, struct.pack("<BB", body.command, body.status)
    raise TypeError(f"not a packet body: {type(body).__name__}")


def build_packet(ptype: int, seq: int, sample_index: int, payload: bytes, version: int = VERSION) -> bytes:
    """The decoded packet bytes (header, payload, CRC), before COBS."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = HEADER.pack(version, ptype, seq & 0xFFFF, sample_index & 0xFFFFFFFF, len(payload)) + payload
    return head + struct.pack("<H", crc16_ccitt_false(head))


def frame(packet: bytes) -> bytes:
    """Decoded packet -> wire bytes: COBS + 0x00."""
    return cobs_encode(packet) + b"\x00"


def encode_packet(body: Body, seq: int = 0, sample_index: int = 0) -> bytes:
    """A payload object -> wire bytes."""
    ptype, payload = encode_body(body)
    return frame(build_packet(ptype, seq, sample_index, payload))


def encode_command(command: int, arg: int = 0, seq: int = 0) -> bytes:
    """Host -> device command, wire bytes (START, STOP, GET_INFO, SET_RATE)."""
    return encode_packet(Command(command, arg), seq=seq)


def start_command(seq: int = 0) -> bytes:
    return encode_command(CMD_START, 0, seq)


def stop_command(seq: int = 0) -> bytes:
    return encode_command(CMD_STOP, 0, seq)


def get_info_command(seq: int = 0) -> bytes:
    return encode_command(CMD_GET_INFO, 0, seq)


def set_rate_command(fs_hz: int, seq: int = 0) -> bytes:
    return encode_command(CMD_SET_RATE, int(fs_hz), seq)


# --- decoding ---------------------------------------------------------------

DECODER_COUNTERS = ("bytes", "frames", "packets", "crc_errors", "bad_version", "bad_length", "bad_type",
                    "bad_payload", "oversize", "cobs_errors", "empty_frames", "dropped_bytes")


def parse_packet(packet: bytes) -> Packet:
    """Validate and parse one decoded packet; raises ``PacketError`` with a ``kind``."""
    n = len(packet)
    if n < HEADER_SIZE + CRC_SIZE:
        raise PacketError("bad_length", f"packet of {n} bytes is shorter than a header")
    version, ptype, seq, sample_index, payload_len = HEADER.unpack_from(packet, 0)
    if HEADER_SIZE + payload_len + CRC_SIZE != n:
        raise PacketError("bad_length", f"payload_len {payload_len} does not match a {n}-byte packet")
    (crc,) = struct.unpack_from("<H", packet, n - CRC_SIZE)
    if crc16_ccitt_false(packet[: n - CRC_SIZE]) != crc:
        raise PacketError("crc_errors", "CRC mismatch")
    if version != VERSION:
        raise PacketError("bad_version", f"protocol version {version}, expected {VERSION}")
    parser = _PARSERS.get(ptype)
    if parser is None:
        raise PacketError("bad_type", f"unknown packet type 0x{ptype:02x}")
    try:
        body = parser(packet[HEADER_SIZE: n - CRC_SIZE])
    except (PayloadError, struct.error) as exc:
        raise PacketError("bad_payload", str(exc)) from None
    return Packet(ptype, seq, sample_index, body, version)


class PacketError(ValueError):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Decoder:
    """Incremental stream decoder: ``feed(bytes) -> list[Packet]``.

    Splits on 0x00, COBS-decodes, validates and parses each frame. Frames that fail
    are dropped and counted in ``stats`` (one counter per reason); every byte of a
    dropped frame, its delimiter included, is added to ``dropped_bytes``. A run
    without a delimiter longer than the largest legal encoded packet is discarded as
    ``oversize`` up to the next 0x00, so memory stays bounded on any input.
    """

    def __init__(self):
        self.stats = dict.fromkeys(DECODER_COUNTERS, 0)
        self._buf = bytearray()
        self._discarding = False  # inside an oversize run: skip to the next 0x00
        self.last_error: str = ""

    def reset(self) -> None:
        """Forget a partial frame (e.g. after a reconnect); counters are kept."""
        if self._buf:
            self.stats["dropped_bytes"] += len(self._buf)
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[Packet]:
        stats = self.stats
        stats["bytes"] += len(data)
        out: list[Packet] = []
        start = 0
        n = len(data)
        while start < n:
            end = data.find(b"\x00", start)
            if end < 0:
                self._extend(data, start, n)
                break
            if self._discarding:
                stats["dropped_bytes"] += end - start + 1
                self._discarding = False
            elif self._buf:
                self._buf += data[start:end]
                self._frame(bytes(self._buf), out)
                self._buf.clear()
            else:
                self._frame(data[start:end], out)
            start = end + 1
        return out

    def _extend(self, data: bytes, start: int, end: int) -> None:
        if self._discarding:
            self.stats["dropped_bytes"] += end - start
            return
        self._buf += data[start:end]
        if len(self._buf) > MAX_ENCODED:
            self.stats["oversize"] += 1
            self.stats["dropped_bytes"] += len(self._buf)
            self._buf.clear()
            self._discarding = True

    def _frame(self, encoded: bytes, out: list[Packet]) -> None:
        stats = self.stats
        stats["frames"] += 1
        if not encoded:
            stats["empty_frames"] += 1
            stats["dropped_bytes"] += 1
            return
        kind = None
        if len(encoded) > MAX_ENCODED:
            kind, self.last_error = "oversize", f"frame of {len(encoded)} encoded bytes"
        else:
            try:
                decoded = cobs_decode(encoded)
                if len(decoded) > MAX_PACKET:
                    raise PacketError("oversize", f"decoded packet of {len(decoded)} bytes")
                packet = parse_packet(decoded)
            except PacketError as exc:
                kind, self.last_error = exc.kind, str(exc)
            except ValueError as exc:  # COBS
                kind, self.last_error = "cobs_errors", str(exc)
        if kind is not None:
            stats[kind] += 1
            stats["dropped_bytes"] += len(encoded) + 1
            return
        stats["packets"] += 1
        out.append(packet)
