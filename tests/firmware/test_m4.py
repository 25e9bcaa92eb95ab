"""The firmware on a Cortex-M4F: the mps2-an386 target (firmware_bridge/targets/mps2_an386) runs the
real core and ADS1298 driver with the simulated chip under qemu-system-arm. DRDY is a timer
interrupt that fills the lock-free ring, the sender drains it onto the emulated UART.

Checked against the host build (targets/host) byte for byte, for the same samples and commands,
including a ring overflow; and through tgll-stream on QEMU's pty against tgll-predict.

Needs make, cc, arm-none-eabi-gcc with newlib and qemu-system-arm (Debian: gcc-arm-none-eabi,
libnewlib-arm-none-eabi, qemu-system-arm). Skipped locally when one is missing, failed when CI is set.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from stream_check import assert_findings_equal_predict
from test_uart_host import FW, HOST, UV_PER_COUNT, _stop, _test_bundle, _tgll_stream_cmd, record_counts

ELF = FW / "build" / "m4" / "tgll_m4.elf"
TOOLS = ("make", "cc", "arm-none-eabi-gcc", "arm-none-eabi-nm", "qemu-system-arm")
INFO, DATA, EVENT, ACK = 0x01, 0x02, 0x03, 0x11  # PROTOCOL.md packet types
EV_OVERFLOW = 3
RING_SLOTS = 256  # TGLL_DEVICE_RING_SLOTS
DEVICE_ID = "TGLL-M4-TEST"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the M4 tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def m4_elf() -> Path:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        _unavailable(f"missing {', '.join(missing)} (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi "
                     "qemu-system-arm)")
    proc = subprocess.run(["make", "-C", str(FW), "all", "m4"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ELF.exists() and HOST.exists()
    return ELF


def qemu_cmd(*args: str, chardev: str = "stdio", icount: int = 4) -> list[str]:
    """qemu-system-arm on mps2-an386 with UART0 on `chardev` and args as the semihosting command line.
    -icount ties virtual time to instructions, so host load cannot reorder DRDY and the sender."""
    semihosting = ",".join(["enable=on", "target=native", "arg=tgll_m4", *(f"arg={a}" for a in args)])
    chardev_opt = "stdio,id=uart0,signal=off" if chardev == "stdio" else f"{chardev},id=uart0"
    return ["qemu-system-arm", "-M", "mps2-an386", "-nodefaults", "-display", "none", "-monitor", "none",
            "-icount", f"shift={icount}", "-chardev", chardev_opt, "-serial", "chardev:uart0",
            "-semihosting-config", semihosting, "-kernel", str(ELF)]


def run_both(*args: str, host_args: tuple[str, ...] = (), m4_args: tuple[str, ...] = (),
             stdin: bytes = b"") -> tuple[bytes, bytes]:
    """The same options to the host build (stdout) and the M4 (UART0 on QEMU's stdio); their streams."""
    host = subprocess.run([str(HOST), "--device-id", DEVICE_ID, *host_args, *args], input=stdin,
                          capture_output=True, timeout=60)
    assert host.returncode == 0, host.stderr.decode(errors="replace")
    m4 = subprocess.run(qemu_cmd("--device-id", DEVICE_ID, *m4_args, *args), input=stdin, capture_output=True,
                        timeout=120)
    assert m4.returncode == 0 and b"tgll_m4: done" in m4.stderr, m4.stderr.decode(errors="replace")
    return host.stdout, m4.stdout


def decode(wire: bytes) -> list:
    from tgll_edge.link.protocol import Decoder

    dec = Decoder()
    packets = dec.feed(wire)
    assert dec.stats["crc_errors"] == 0 and dec.stats["dropped_bytes"] == 0
    assert [p.seq for p in packets] == list(range(len(packets)))
    return packets


def test_one_pass_equals_the_host_build_byte_for_byte(m4_elf):
    host, m4 = run_both("--samples", "1000", m4_args=("--autostart",))
    assert len(m4) > 25000 and m4 == host
    data = [p for p in decode(m4) if p.type == DATA]
    assert [p.sample_index for p in data] == list(range(0, 1000, 10))
    np.testing.assert_array_equal(np.concatenate([p.body.counts() for p in data]), record_counts())


def test_commands_over_the_uart_equal_the_host_build(m4_elf):
    from tgll_edge.link.protocol import encode_command, get_info_command, set_rate_command, start_command

    # garbage first (resync on 0x00), a bad rate, an unknown command, 1000 SPS, START
    commands = (b"\x13\x37garbage\xff\x00" + get_info_command(1) + set_rate_command(300, 2)
                + encode_command(9, 0, 3) + set_rate_command(1000, 4) + start_command(5))
    host, m4 = run_both("--samples", "1000", host_args=("--stdin-commands", "--wait-start"), stdin=commands)
    assert m4 == host
    packets = decode(m4)
    acks = [(p.body.command, p.body.status) for p in packets if p.type == ACK]
    assert acks == [(3, 0), (4, 2), (9, 1), (4, 0), (1, 0)]
    assert [p.body.fs for p in packets if p.type == INFO][-1] == 1000.0
    assert sum(p.body.n_samples for p in packets if p.type == DATA) == 1000


def test_ring_overflow_is_one_event_and_an_exact_jump(m4_elf):
    """The sender takes nothing from index 300 until DRDY 700: the timer interrupt fills the 256-slot
    ring, then drops 400 - 256 = 144 samples, announced by EVENT 3 before DATA jumps by exactly that."""
    stall_at, stall_for, total = 300, 400, 1500
    host, m4 = run_both("--samples", str(total), "--stall-at", str(stall_at), "--stall-for", str(stall_for),
                        m4_args=("--autostart",))
    assert m4 == host
    packets = decode(m4)
    overflow = [p for p in packets if p.type == EVENT and p.body.code == EV_OVERFLOW]
    assert [(p.sample_index, p.body.value) for p in overflow] == [(stall_at + RING_SLOTS, stall_for - RING_SLOTS)]
    data = [p for p in packets if p.type == DATA]
    ends = [p.sample_index + p.body.n_samples for p in data]
    jumps = [(end, nxt.sample_index - end) for end, nxt in zip(ends, data[1:]) if nxt.sample_index != end]
    assert jumps == [(stall_at + RING_SLOTS, stall_for - RING_SLOTS)]
    assert packets.index(overflow[0]) < packets.index(next(p for p in data if p.sample_index == stall_at + stall_for))
    expected = record_counts()
    for p in data:  # every delivered sample is the record's, at its own index
        np.testing.assert_array_equal(p.body.counts(), expected[(p.sample_index + np.arange(p.body.n_samples))
                                                                % len(expected)])
    assert sum(p.body.n_samples for p in data) + overflow[0].body.value == total


def test_no_soft_float_double_in_the_m4f_image(m4_elf):
    """-mfloat-abi=hard has single precision only: any double arithmetic links libgcc's soft-float."""
    syms = subprocess.run(["arm-none-eabi-nm", str(m4_elf)], capture_output=True, text=True, check=True).stdout
    soft = sorted({ln.split()[-1] for ln in syms.splitlines() if re.search(r" __\w*(df\d|aeabi_d|aeabi_f2d)", ln)})
    assert soft == []


def test_crc_cost_on_the_m4(m4_elf):
    """Instructions counted by QEMU (-icount shift=0); the bitwise CRC took 70 per byte."""
    proc = subprocess.run(qemu_cmd("--bench", chardev="null", icount=0), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"crc16 ([\d.]+) insn/byte; sender (\d+) insn per DATA packet", proc.stderr)
    assert m, proc.stderr
    crc, sender = float(m.group(1)), int(m.group(2))
    assert crc <= 25.0, proc.stderr
    assert 254 * crc < 0.5 * sender, proc.stderr  # the CRC is no longer most of the sender's work


def test_tgll_stream_reads_the_m4_over_qemus_pty(m4_elf, tmp_path):
    cmd = _tgll_stream_cmd()
    bundle = _test_bundle(tmp_path)
    if cmd is None or bundle is None:
        _unavailable("tgll-stream --port or the tiny test bundle is not available")
    duration_s, hop_s, fs = 12, 2, 500
    qemu = subprocess.Popen(qemu_cmd("--device-id", DEVICE_ID, chardev="pty"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = qemu.stdout.readline()  # "char device redirected to /dev/pts/N (label uart0)"
        m = re.search(r"redirected to (\S+)", line)
        assert m, line + (qemu.stderr.read() if qemu.poll() is not None else "")
        out = subprocess.run([*cmd, "--port", m.group(1), "--json", "--duration", str(duration_s), "--hop",
                              str(hop_s), "--model", str(bundle)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    finally:
        qemu_err = _stop(qemu)
    assert out.returncode == 0, out.stderr[-3000:] + qemu_err
    assert_findings_equal_predict(out.stdout, bundle, tmp_path, device_id=DEVICE_ID, duration_s=duration_s,
                                  hop_s=hop_s, fs=fs, uv_per_count=UV_PER_COUNT)
