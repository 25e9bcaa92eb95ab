"""The nRF52 + Zephyr target, checked without the Zephyr SDK (no board, no west).

What can drift silently between the target and the rest of the project is
checked here: the GATT UUIDs and characteristic properties against
PROTOCOL.md (and the C and Python copies), the advertised name, the
devicetree properties the HAL reads against the binding and app.overlay, the
application's Kconfig symbols, the core sources in CMakeLists.txt, and the
BLE packet size that decides samples per packet. Building it needs Zephyr:
see firmware_bridge/README.md.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware_bridge"
NRF = FW / "targets" / "nrf52_zephyr"
PROTOCOL = Path("/work/shared/PROTOCOL.md")
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def read(rel: str) -> str:
    return (NRF / rel).read_text()


def strip_c_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def ble_uuids() -> dict[str, str]:
    """role -> UUID string, rebuilt from the BT_UUID_128_ENCODE fields of transport_ble.c."""
    text = read("src/transport_ble.c")
    out = {}
    for role, fields in re.findall(r"#define TGLL_(\w+)_UUID_VAL BT_UUID_128_ENCODE\(([^)]*)\)", text):
        w = [int(f, 16) for f in fields.split(",")]
        out[role.lower()] = f"{w[0]:08x}-{w[1]:04x}-{w[2]:04x}-{w[3]:04x}-{w[4]:012x}"
    return out


def test_gatt_uuids_match_the_protocol():
    uuids = ble_uuids()
    assert set(uuids) == {"service", "stream", "control"}
    from tgll_edge.link import ble
    assert (uuids["service"], uuids["stream"], uuids["control"]) == (ble.SERVICE_UUID, ble.STREAM_UUID,
                                                                     ble.CONTROL_UUID)
    proto_h = (FW / "core" / "tgll_protocol.h").read_text()
    for role in uuids:
        assert f'#define TGLL_BLE_{role.upper()}_UUID "{uuids[role]}"' in proto_h
    if PROTOCOL.exists():  # the contract itself (outside the repository)
        table = dict(re.findall(rf"\|\s*(service|stream|control)\s*\|\s*`({UUID_RE})`", PROTOCOL.read_text()))
        assert table == uuids


def test_gatt_service_layout_and_advertising():
    src = strip_c_comments(read("src/transport_ble.c"))
    svc = src[src.index("BT_GATT_SERVICE_DEFINE("):]
    svc = svc[:svc.index(");") + 2]
    attrs = re.findall(r"BT_GATT_(PRIMARY_SERVICE|CHARACTERISTIC|CCC)\(", svc)
    # attrs[1] (the stream declaration) is what transport_write notifies on
    assert attrs == ["PRIMARY_SERVICE", "CHARACTERISTIC", "CCC", "CHARACTERISTIC"]
    assert "#define STREAM_ATTR (&tgll_svc.attrs[1])" in src
    stream, control = svc.split("BT_GATT_CCC(")
    assert "TGLL_STREAM_UUID_VAL" in stream and "BT_GATT_CHRC_NOTIFY" in stream
    assert "BT_GATT_CHRC_WRITE_WITHOUT_RESP" not in stream and "BT_GATT_CHRC_WRITE" not in stream
    # control: write WITH response only (the host writes with response=True)
    assert "TGLL_CONTROL_UUID_VAL" in control and "BT_GATT_CHRC_WRITE," in control
    assert "WITHOUT_RESP" not in control and "on_control_write" in control
    # advertised: the service UUID, and a name starting TGLL- (main.c builds it)
    assert "BT_DATA_BYTES(BT_DATA_UUID128_ALL, TGLL_SERVICE_UUID_VAL)" in src
    assert "bt_set_name(device_id)" in src and "BT_DATA_NAME_COMPLETE" in src
    assert re.search(r'"TGLL-%02X%02X"', read("src/main.c"))
    # chunks of at most ATT_MTU - 3
    assert "bt_gatt_get_mtu(conn) - 3u" in src


def test_devicetree_properties_agree():
    hal = read("src/ads1298_hal_zephyr.c")
    used = set(re.findall(r"GPIO_DT_SPEC_GET\(ADS_NODE, (\w+)_gpios\)", hal))
    assert used == {"chip_select", "drdy", "start", "reset", "pwdn"}
    assert "DT_NODELABEL(ads1298)" in hal
    binding = read("dts/bindings/tgll,ads1298.yaml")
    declared = set(re.findall(r"^  ([\w-]+)-gpios:", binding, flags=re.M))
    assert declared == {p.replace("_", "-") for p in used}
    compat = re.search(r'^compatible: "([^"]+)"', binding, flags=re.M).group(1)
    vendor = compat.split(",")[0]
    assert re.search(rf"^{vendor}\t", read("dts/bindings/vendor-prefixes.txt"), flags=re.M)
    overlay = read("app.overlay")
    node = overlay[overlay.index("ads1298: ads1298@0"):]
    assert f'compatible = "{compat}"' in node
    for prop in declared:
        assert re.search(rf"\b{prop}-gpios = <", node), prop
    assert "spi-max-frequency" in node and "/delete-property/ cs-gpios;" in overlay
    assert "tgll,stream-uart = &uart0;" in overlay
    assert "DT_CHOSEN(tgll_stream_uart)" in read("src/transport_uart.c")


def test_kconfig_symbols_are_defined():
    kconfig = read("Kconfig")
    defined = set(re.findall(r"^config (TGLL_\w+)", kconfig, flags=re.M))
    defined |= set(re.findall(r"^choice (TGLL_\w+)", kconfig, flags=re.M))
    used = set()
    for path in [*NRF.glob("src/*.[ch]"), NRF / "CMakeLists.txt", NRF / "prj.conf", NRF / "ble.conf"]:
        used |= set(re.findall(r"CONFIG_(TGLL_\w+)", path.read_text()))
    assert used and used <= defined, used - defined
    assert 'source "Kconfig.zephyr"' in kconfig


def test_cmake_builds_every_core_source():
    cmake = read("CMakeLists.txt")
    listed = set(re.findall(r"\$\{FW\}/([\w/]+\.c)", cmake))
    portable = {str(p.relative_to(FW)) for d in ("core", "driver", "targets/common") for p in (FW / d).glob("*.c")}
    assert listed == portable
    for src in NRF.glob("src/*.c"):
        assert f"src/{src.name}" in cmake


def test_ble_default_packet_fits_one_notification():
    """9 samples/packet: the whole DATA packet in one 244-byte notification (ATT MTU 247), even
    when COBS finds no zero byte; 10 would spill into a second one."""
    from tgll_edge.link.protocol import PacketType, build_packet, encode_data_payload, frame

    kconfig = read("Kconfig")
    spp = int(re.search(r"default (\d+) if TGLL_TRANSPORT_BLE", kconfig).group(1))
    mtu = int(re.search(r"CONFIG_BT_L2CAP_TX_MTU=(\d+)", read("ble.conf")).group(1))

    def worst_wire(n: int) -> int:
        payload = encode_data_payload(np.full((n, 8), 0x010101), lead_off=0x0101)  # no zero byte
        return len(frame(build_packet(PacketType.DATA, 0x0101, 0x01010101, payload)))

    assert worst_wire(spp) <= mtu - 3 < worst_wire(spp + 1)
    assert 10 + 4 + 24 * spp + 2 + 1 + 1 == worst_wire(spp)  # header, payload, CRC, COBS, delimiter
