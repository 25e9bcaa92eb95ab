"""CRC-16/CCITT-FALSE and COBS framing (firmware: tgll_crc, tgll_cobs).

On the wire each packet is COBS-encoded and followed by one 0x00, so a receiver
that loses bytes resynchronises at the next delimiter.
"""
from __future__ import annotations

import binascii

from cobs import cobs as _cobs


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


def frame(packet: bytes) -> bytes:
    """Decoded packet -> wire bytes: COBS + 0x00."""
    return cobs_encode(packet) + b"\x00"
