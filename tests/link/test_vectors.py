"""The shared link vectors (also checked by the C firmware tests) match the Python codec byte for byte."""
import json
from pathlib import Path

import pytest

from tgll_edge.link.protocol import Decoder, build_packet, cobs_decode, cobs_encode, crc16_ccitt_false, encode_body, frame

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "firmware_bridge" / "test_vectors" / "link_vectors.json"
V = json.loads(VECTORS.read_text())


def test_crc_check():
    assert V["crc_check"] == {"input_ascii": "123456789", "crc": 0x29B1}
    assert crc16_ccitt_false(V["crc_check"]["input_ascii"].encode()) == V["crc_check"]["crc"]


def test_required_cobs_cases_present():
    names = {c["name"] for c in V["cobs"]}
    assert {"empty", "single_zero", "all_zero_16", "run_253_nonzero", "run_254_nonzero", "run_255_nonzero",
            "run_256_nonzero"} <= names


@pytest.mark.parametrize("case", V["cobs"], ids=lambda c: c["name"])
def test_cobs_vectors(case):
    dec, enc = bytes.fromhex(case["decoded_hex"]), bytes.fromhex(case["encoded_hex"])
    assert cobs_encode(dec) == enc
    assert cobs_decode(enc) == dec


@pytest.mark.parametrize("case", V["packets"], ids=lambda c: c["name"])
def test_packet_vectors(case):
    packet, wire = bytes.fromhex(case["packet_hex"]), bytes.fromhex(case["wire_hex"])
    assert build_packet(case["type"], case["seq"], case["sample_index"], bytes.fromhex(case["payload_hex"])) == packet
    assert frame(packet) == wire
    [p] = Decoder().feed(wire)
    assert (p.type, p.seq, p.sample_index) == (case["type"], case["seq"], case["sample_index"])
    assert encode_body(p.body) == (case["type"], bytes.fromhex(case["payload_hex"]))


def test_every_type_and_full_data_packet_present():
    types = {c["type"] for c in V["packets"]}
    assert types == {0x01, 0x02, 0x03, 0x10, 0x11}
    full = [c for c in V["packets"] if c["name"] == "data_8ch_40_samples_full"][0]
    assert len(bytes.fromhex(full["payload_hex"])) == 4 + 40 * 8 * 3


def test_file_is_what_the_generator_writes():
    import make_link_vectors
    assert make_link_vectors.render() == VECTORS.read_text()
