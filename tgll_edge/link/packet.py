"""One packet: header, payload, CRC (PROTOCOL.md, "Packet layout"; firmware: tgll_packet).

A decoded packet is ``version u8, type u8, seq u16, sample_index u32, payload_len u16,
payload, crc u16`` (little-endian), CRC-16/CCITT-FALSE over everything before the CRC.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import PacketError, PayloadError
from .codes import CRC_SIZE, HEADER, HEADER_SIZE, MAX_PAYLOAD, VERSION, CommandCode
from .framing import crc16_ccitt_false, frame
from .payloads import PARSERS, Body, Command, encode_body

_CRC = struct.Struct("<H")


@dataclass(frozen=True)
class Packet:
    """A decoded, CRC-checked packet; ``body`` is the parsed payload."""

    type: int
    seq: int
    sample_index: int
    body: Body
    version: int = VERSION


def build_packet(ptype: int, seq: int, sample_index: int, payload: bytes, version: int = VERSION) -> bytes:
    """The decoded packet bytes (header, payload, CRC), before COBS."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = HEADER.pack(version, ptype, seq & 0xFFFF, sample_index & 0xFFFFFFFF, len(payload)) + payload
    return head + _CRC.pack(crc16_ccitt_false(head))


def parse_packet(packet: bytes) -> Packet:
    """Validate and parse one decoded packet; raises ``PacketError`` with a ``kind``."""
    n = len(packet)
    if n < HEADER_SIZE + CRC_SIZE:
        raise PacketError("bad_length", f"packet of {n} bytes is shorter than a header")
    version, ptype, seq, sample_index, payload_len = HEADER.unpack_from(packet, 0)
    if HEADER_SIZE + payload_len + CRC_SIZE != n:
        raise PacketError("bad_length", f"payload_len {payload_len} does not match a {n}-byte packet")
    (crc,) = _CRC.unpack_from(packet, n - CRC_SIZE)
    if crc16_ccitt_false(packet[: n - CRC_SIZE]) != crc:
        raise PacketError("crc_errors", "CRC mismatch")
    if version != VERSION:
        raise PacketError("bad_version", f"protocol version {version}, expected {VERSION}")
    parser = PARSERS.get(ptype)
    if parser is None:
        raise PacketError("bad_type", f"unknown packet type 0x{ptype:02x}")
    try:
        body = parser(packet[HEADER_SIZE: n - CRC_SIZE])
    except (PayloadError, struct.error) as exc:
        raise PacketError("bad_payload", str(exc)) from None
    return Packet(ptype, seq, sample_index, body, version)


def encode_packet(body: Body, seq: int = 0, sample_index: int = 0) -> bytes:
    """A payload object -> wire bytes."""
    ptype, payload = encode_body(body)
    return frame(build_packet(ptype, seq, sample_index, payload))


# --- host -> device commands -------------------------------------------------

def encode_command(command: int, arg: int = 0, seq: int = 0) -> bytes:
    """Host -> device command, wire bytes (START, STOP, GET_INFO, SET_RATE)."""
    return encode_packet(Command(command, arg), seq=seq)


def start_command(seq: int = 0) -> bytes:
    return encode_command(CommandCode.START, 0, seq)


def stop_command(seq: int = 0) -> bytes:
    return encode_command(CommandCode.STOP, 0, seq)


def get_info_command(seq: int = 0) -> bytes:
    return encode_command(CommandCode.GET_INFO, 0, seq)


def set_rate_command(fs_hz: int, seq: int = 0) -> bytes:
    return encode_command(CommandCode.SET_RATE, int(fs_hz), seq)
