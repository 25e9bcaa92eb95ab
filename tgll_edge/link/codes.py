"""The numbers PROTOCOL.md fixes: version, sizes, and the codes of packet types,
commands, ACK statuses and events (firmware_bridge/core/tgll_protocol.h's twin).

The codes are ``IntEnum``s, so they go on the wire and into JSON as plain ints.
Parsed payloads keep the raw ints, since a device may send a code this side does
not know (an ACK echoes an unknown command); compare them with the enums.
"""
from __future__ import annotations

import struct
from enum import IntEnum

VERSION = 1
HEADER = struct.Struct("<BBHIH")  # version, type, seq, sample_index, payload_len
HEADER_SIZE = HEADER.size  # 10
CRC_SIZE = 2
MAX_PACKET = 1024  # decoded bytes, header and CRC included
MAX_PAYLOAD = MAX_PACKET - HEADER_SIZE - CRC_SIZE
# Longest COBS encoding of a MAX_PACKET packet (one code byte per 254 data bytes).
MAX_ENCODED = MAX_PACKET + (MAX_PACKET + 253) // 254
MAX_CHANNELS = 16

SAMPLE_FORMAT_INT24 = 1
LEAD_SET_8, LEAD_SET_12, LEAD_SET_CUSTOM = 0, 1, 255


class PacketType(IntEnum):
    INFO = 0x01
    DATA = 0x02
    EVENT = 0x03
    COMMAND = 0x10
    ACK = 0x11


class CommandCode(IntEnum):
    START = 1
    STOP = 2
    GET_INFO = 3
    SET_RATE = 4  # arg = fs_hz


class AckStatus(IntEnum):
    OK = 0
    UNSUPPORTED = 1
    BAD_ARGUMENT = 2


class EventCode(IntEnum):
    LEAD_OFF = 1         # value = lead-off mask
    BATTERY_MV = 2       # value = millivolts
    DEVICE_OVERFLOW = 3  # value = samples dropped
    DEVICE_RESET = 4


COMMAND_NAMES = {c.value: c.name for c in CommandCode}
EVENT_NAMES = {e.value: e.name.lower() for e in EventCode}
