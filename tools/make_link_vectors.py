#!/usr/bin/env python3
"""Write firmware_bridge/test_vectors/link_vectors.json from the Python link encoder.

The C firmware tests and tests/link/test_vectors.py both check their encoders and
decoders against this file byte for byte. Deterministic: rerunning it reproduces
the file exactly (tests check that too).

    python tools/make_link_vectors.py [--out PATH] [--check]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from tgll_edge.link.blocks import DeviceInfo
from tgll_edge.link.emulator import ADS1298_UV_PER_COUNT
from tgll_edge.link.protocol import (Ack, AckStatus, Command, CommandCode, Data, EventCode, EventMsg, build_packet,
                                     cobs_encode, crc16_ccitt_false, encode_body, encode_data_payload, frame)
from tgll_edge.signal.leads import LEADS_8, LEADS_12

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "firmware_bridge" / "test_vectors" / "link_vectors.json"


def cobs_cases() -> list[dict]:
    cases = [
        ("empty", b""),
        ("single_zero", b"\x00"),
        ("two_zeros", b"\x00\x00"),
        ("all_zero_16", bytes(16)),
        ("single_nonzero", b"\x11"),
        ("zero_in_middle", b"\x11\x22\x00\x33"),
        ("trailing_zero", b"\x11\x22\x33\x44\x00"),
        ("leading_zero", b"\x00\x11\x00"),
    ]
    for n in (253, 254, 255, 256):
        cases.append((f"run_{n}_nonzero", bytes((i % 255) + 1 for i in range(n))))
    cases.append(("run_254_nonzero_then_zero", bytes((i % 255) + 1 for i in range(254)) + b"\x00"))
    cases.append(("all_bytes_0_to_255", bytes(range(256))))
    return [{"name": name, "decoded_hex": d.hex(), "encoded_hex": cobs_encode(d).hex()} for name, d in cases]


def packet_cases() -> list[dict]:
    rng = np.random.default_rng(20250101)
    full = rng.integers(-(1 << 23), 1 << 23, size=(40, 8))
    full[0] = [0, -1, (1 << 23) - 1, -(1 << 23), 1, 256, 65536, -65536]  # edge values in the first sample
    small = np.array([[100, -100, 0, 1, -1, 8388607, -8388608, 42]])
    info8 = DeviceInfo(fs=500.0, n_channels=8, uv_per_count=ADS1298_UV_PER_COUNT, lead_set=0, labels=LEADS_8,
                       device_id="TGLL-0001", firmware="1.0.0")
    info12 = DeviceInfo(fs=1000.0, n_channels=12, uv_per_count=0.5, lead_set=1, labels=LEADS_12,
                        device_id="", firmware="")
    info_custom = DeviceInfo(fs=250.0, n_channels=3, uv_per_count=0.02235, lead_set=255,
                             labels=("X", "Y", "Z"), device_id="cust", firmware="0.1")
    cases = [
        ("info_8ch_500hz", info8, 0, 0),
        ("info_12ch_1000hz", info12, 1, 123456),
        ("info_custom_3ch", info_custom, 2, 7),
        ("data_8ch_1_sample", Data.parse(encode_data_payload(small, lead_off=0x0005)), 3, 1000),
        ("data_8ch_40_samples_full", Data.parse(encode_data_payload(full, lead_off=0)), 65535, 0xFFFFFFF0),
        ("event_lead_off", EventMsg(EventCode.LEAD_OFF, 0x0003), 4, 5000),
        ("event_battery", EventMsg(EventCode.BATTERY_MV, 3700), 5, 5000),
        ("event_overflow", EventMsg(EventCode.DEVICE_OVERFLOW, 120), 6, 6000),
        ("event_reset", EventMsg(EventCode.DEVICE_RESET, 0), 7, 0),
        ("command_start", Command(CommandCode.START, 0), 0, 0),
        ("command_stop", Command(CommandCode.STOP, 0), 1, 0),
        ("command_get_info", Command(CommandCode.GET_INFO, 0), 2, 0),
        ("command_set_rate_1000", Command(CommandCode.SET_RATE, 1000), 3, 0),
        ("ack_start_ok", Ack(CommandCode.START, AckStatus.OK), 8, 0),
        ("ack_set_rate_bad_argument", Ack(CommandCode.SET_RATE, AckStatus.BAD_ARGUMENT), 9, 0),
    ]
    out = []
    for name, body, seq, sample_index in cases:
        ptype, payload = encode_body(body)
        packet = build_packet(ptype, seq, sample_index, payload)
        out.append({"name": name, "type": int(ptype), "type_name": ptype.name, "seq": seq,
                    "sample_index": sample_index, "payload_hex": payload.hex(), "packet_hex": packet.hex(),
                    "wire_hex": frame(packet).hex()})
    return out


def build() -> dict:
    return {
        "protocol_version": 1,
        "generated_by": "tools/make_link_vectors.py",
        "crc_check": {"input_ascii": "123456789", "crc": crc16_ccitt_false(b"123456789")},
        "cobs": cobs_cases(),
        "packets": packet_cases(),
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        same = args.out.exists() and args.out.read_text() == text
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
