"""The ECG link protocol, version 1 (PROTOCOL.md), in one import.

Split as the firmware is: ``codes`` (version, sizes, the code enums), ``framing``
(CRC-16/CCITT-FALSE, COBS), ``payloads`` (one struct per layout), ``packet`` (header,
CRC check, commands) and ``decoder`` (the incremental ``Decoder``). This module
re-exports their public names for the sources, tools and tests.
"""
from ..errors import PacketError, PayloadError
from .codes import (COMMAND_NAMES, CRC_SIZE, EVENT_NAMES, HEADER, HEADER_SIZE, LEAD_SET_8, LEAD_SET_12,
                    LEAD_SET_CUSTOM, MAX_CHANNELS, MAX_ENCODED, MAX_PACKET, MAX_PAYLOAD, SAMPLE_FORMAT_INT24,
                    VERSION, AckStatus, CommandCode, EventCode, PacketType)
from .decoder import DECODER_COUNTERS, Decoder
from .framing import cobs_decode, cobs_encode, crc16_ccitt_false, frame
from .packet import (Packet, build_packet, encode_command, encode_packet, get_info_command, parse_packet,
                     set_rate_command, start_command, stop_command)
from .payloads import (Ack, Body, Command, Data, EventMsg, encode_body, encode_data_payload, encode_info_payload,
                       int24_to_int32, int32_to_int24, max_samples_per_packet, parse_info)

__all__ = [
    "COMMAND_NAMES", "CRC_SIZE", "DECODER_COUNTERS", "EVENT_NAMES", "HEADER", "HEADER_SIZE", "LEAD_SET_8",
    "LEAD_SET_12", "LEAD_SET_CUSTOM", "MAX_CHANNELS", "MAX_ENCODED", "MAX_PACKET", "MAX_PAYLOAD",
    "SAMPLE_FORMAT_INT24", "VERSION", "Ack", "AckStatus", "Body", "Command", "CommandCode", "Data", "Decoder",
    "EventCode", "EventMsg", "Packet", "PacketError", "PacketType", "PayloadError", "build_packet",
    "cobs_decode", "cobs_encode", "crc16_ccitt_false", "encode_body", "encode_command", "encode_data_payload",
    "encode_info_payload", "encode_packet", "frame", "get_info_command", "int24_to_int32", "int32_to_int24",
    "max_samples_per_packet", "parse_info", "parse_packet", "set_rate_command", "start_command", "stop_command",
]
