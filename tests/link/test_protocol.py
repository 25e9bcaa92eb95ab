import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tgll_edge.link.blocks import DeviceInfo
from tgll_edge.link.protocol import (MAX_PACKET, Ack, AckStatus, Command, CommandCode, Data, Decoder, EventCode,
                                     EventMsg, PacketError, PacketType, build_packet, cobs_decode, cobs_encode,
                                     crc16_ccitt_false, encode_data_payload, encode_packet, frame, int24_to_int32,
                                     int32_to_int24, max_samples_per_packet, parse_packet, set_rate_command,
                                     start_command)
from tgll_edge.signal.leads import LEADS_8

INFO8 = DeviceInfo(500.0, 8, 0.0476837158203125, 0, LEADS_8, "dev", "1.0")


def data_packet(seq=0, index=0, n=10, fill=None):
    counts = np.arange(n * 8).reshape(n, 8) - 40 if fill is None else np.full((n, 8), fill)
    return encode_packet(Data(8, n, 0, encode_data_payload(counts)[4:]), seq=seq, sample_index=index)


def test_crc_check_value():
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x00" * 5, b"\x01" * 254, b"\x01" * 255, bytes(range(256))])
def test_cobs_roundtrip_has_no_zero(raw):
    enc = cobs_encode(raw)
    assert b"\x00" not in enc
    assert cobs_decode(enc) == raw


def test_cobs_decode_rejects_truncated():
    with pytest.raises(ValueError):
        cobs_decode(b"\x05\x01")


def test_int24_roundtrip_edges():
    v = np.array([0, 1, -1, 2**23 - 1, -(2**23), 123456, -654321])
    assert int24_to_int32(int32_to_int24(v)).tolist() == v.tolist()
    with pytest.raises(ValueError):
        int32_to_int24(np.array([2**23]))


def test_max_samples_per_packet_matches_protocol():
    assert (max_samples_per_packet(8), max_samples_per_packet(12), max_samples_per_packet(16)) == (40, 28, 20)
    with pytest.raises(ValueError):
        encode_data_payload(np.zeros((41, 8)))


@pytest.mark.parametrize("body", [INFO8, EventMsg(EventCode.DEVICE_OVERFLOW, 120),
                                  Command(CommandCode.SET_RATE, 1000), Ack(CommandCode.START, AckStatus.OK),
                                  DeviceInfo(250.0, 3, 0.5, 255, ("X", "Y", "Z"), "c", "f")])
def test_encode_parse_roundtrip(body):
    wire = encode_packet(body, seq=65535, sample_index=2**32 - 1)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    p = parse_packet(cobs_decode(wire[:-1]))
    assert p.body == body and p.seq == 65535 and p.sample_index == 2**32 - 1


def test_data_roundtrip_values():
    counts = np.random.default_rng(0).integers(-(2**23), 2**23, size=(40, 8))
    wire = encode_packet(Data(8, 40, 0x81, encode_data_payload(counts)[4:]), sample_index=7)
    assert len(cobs_decode(wire[:-1])) <= MAX_PACKET
    [p] = Decoder().feed(wire)
    assert p.type == PacketType.DATA and p.body.lead_off == 0x81
    assert np.array_equal(p.body.counts(), counts)


def _raw(ptype, payload, version=1, seq=0, index=0, crc=None, payload_len=None):
    head = struct.pack("<BBHIH", version, ptype, seq, index, len(payload) if payload_len is None else payload_len)
    body = head + payload
    c = crc16_ccitt_false(body) if crc is None else crc
    return frame(body + struct.pack("<H", c))


@pytest.mark.parametrize("wire, counter", [
    (_raw(0x03, struct.pack("<BI", 1, 2), crc=0x1234), "crc_errors"),
    (_raw(0x03, struct.pack("<BI", 1, 2), version=2), "bad_version"),
    (_raw(0x03, struct.pack("<BI", 1, 2), payload_len=4), "bad_length"),
    (_raw(0x7F, b"\x01"), "bad_type"),
    (_raw(0x03, struct.pack("<BIB", 1, 2, 3)), "bad_payload"),      # EVENT with 6 bytes
    (_raw(0x02, struct.pack("<BBH", 8, 2, 0) + bytes(24)), "bad_payload"),  # DATA short of samples
    (_raw(0x02, struct.pack("<BBH", 8, 0, 0)), "bad_payload"),     # zero samples
    (frame(b"\x01\x02"), "bad_length"),
    (b"\x05\x01\x00", "cobs_errors"),
    (b"\x01" * 1500 + b"\x00", "oversize"),
])
def test_decoder_drops_and_counts(wire, counter):
    good = data_packet()
    d = Decoder()
    out = d.feed(good + wire + good)
    assert len(out) == 2
    assert d.stats[counter] >= 1
    assert d.stats["packets"] == 2
    assert d.stats["dropped_bytes"] == len(wire)
    assert d.stats["bytes"] == 2 * len(good) + len(wire)


def test_decoder_oversize_without_delimiter_stays_bounded():
    d = Decoder()
    for _ in range(100):
        assert d.feed(b"\x01" * 1000) == []
    assert len(d._buf) <= 1100
    assert d.stats["oversize"] == 1
    out = d.feed(b"\x00" + data_packet())
    assert len(out) == 1 and d.stats["dropped_bytes"] == 100 * 1000 + 1


def test_decoder_byte_by_byte_equals_whole():
    stream = b"junk" + b"\x00" + b"".join(data_packet(seq=i, index=10 * i) for i in range(20))
    d1, d2 = Decoder(), Decoder()
    whole = d1.feed(stream)
    pieces = [p for b in stream for p in d2.feed(bytes([b]))]
    assert whole == pieces and len(whole) == 20
    assert d1.stats == d2.stats


def test_commands_encode():
    p = parse_packet(cobs_decode(set_rate_command(1000, seq=5)[:-1]))
    assert p.body == Command(CommandCode.SET_RATE, 1000) and p.seq == 5
    assert parse_packet(cobs_decode(start_command()[:-1])).body == Command(CommandCode.START, 0)


def test_build_packet_rejects_oversize_payload():
    with pytest.raises(ValueError):
        build_packet(PacketType.DATA, 0, 0, bytes(MAX_PACKET))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_fuzz_never_raises_and_never_emits_bad_crc(chunks):
    d = Decoder()
    for c in chunks:
        for p in d.feed(c):
            # anything emitted re-encodes to a packet with a valid CRC
            ptype_payload = encode_packet(p.body, p.seq, p.sample_index)
            raw = cobs_decode(ptype_payload[:-1])
            assert crc16_ccitt_false(raw[:-2]) == struct.unpack("<H", raw[-2:])[0]
    assert d.stats["bytes"] == sum(map(len, chunks))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=80), st.integers(0, 2**32 - 1)), min_size=1, max_size=12),
       st.integers(1, 64))
def test_fuzz_valid_packets_between_garbage_all_recovered(items, split):
    stream, expected = b"", []
    for i, (junk, idx) in enumerate(items):
        stream += junk + b"\x00" + data_packet(seq=i, index=idx, n=1 + i % 5)
        expected.append((i, idx))
    d = Decoder()
    got = []
    for k in range(0, len(stream), split):
        got += d.feed(stream[k:k + split])
    assert [(p.seq, p.sample_index) for p in got] == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 7))
def test_single_bit_flip_never_passes(pos, bit):
    wire = bytearray(data_packet(n=5))
    i = pos % (len(wire) - 1)
    wire[i] ^= 1 << bit
    d = Decoder()
    out = d.feed(bytes(wire) + data_packet(seq=1, index=5, n=5))
    assert [p.seq for p in out] == [1]
