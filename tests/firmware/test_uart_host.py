"""The C firmware end to end: its host build streams a real PTB-XL record from a
simulated ADS1298, and the Python side (tgll_edge.link, tgll-stream) decodes it.

Builds with ``make -C firmware_bridge`` (needs a C compiler and make; skipped
with the reason when they are missing).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware_bridge"
HOST = FW / "build" / "tgll_uart_host"
FIXTURE = FW / "tests" / "data" / "ptbxl_00001_hr_2s.h"
SHARED_RECORD = Path("/work/shared/data/ptb-xl/records500/00000/00001_hr")
UV_PER_COUNT = 2.4 / 6 / (2**23 - 1) * 1e6


def record_counts() -> np.ndarray:
    """The (1000, 8) int32 counts the simulated ADS1298 serves, read from the committed fixture."""
    text = FIXTURE.read_text()
    body = text[text.index("tgll_record_counts"):]
    body = body[body.index("{") + 1:body.rindex("}")]
    n = int(re.search(r"#define TGLL_RECORD_SAMPLES (\d+)", text).group(1))
    vals = np.array([int(v) for v in re.findall(r"-?\d+", body)], dtype=np.int64)
    return vals.reshape(n, 8).astype(np.int32)


@pytest.fixture(scope="module")
def host_binary() -> Path:
    if shutil.which("make") is None or (shutil.which("cc") is None and shutil.which("gcc") is None):
        pytest.skip("no C toolchain (make + cc) to build firmware_bridge")
    proc = subprocess.run(["make", "-C", str(FW)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert HOST.exists()
    return HOST


def run_host(binary: Path, *args: str) -> bytes:
    proc = subprocess.run([str(binary), *args], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def test_c_unit_tests_pass(host_binary):
    proc = subprocess.run(["make", "-C", str(FW), "test"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert re.search(r"\d+ checks, 0 failed", proc.stdout)
    assert "vectors    ok" in proc.stdout  # the shared link vectors were checked, not skipped


def test_fixture_is_the_ptbxl_record():
    """The committed counts are PTB-XL 00001_hr (I, II, V1..V6) at the firmware's scale."""
    if not SHARED_RECORD.with_suffix(".hea").exists():
        pytest.skip(f"{SHARED_RECORD} not available (the fixture itself is committed)")
    wfdb = pytest.importorskip("wfdb")
    rec = wfdb.rdrecord(str(SHARED_RECORD), sampto=1000, physical=False)
    names = [n.upper() for n in rec.sig_name]
    cols = [names.index(lead) for lead in ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")]
    microvolts = (rec.d_signal[:, cols] - np.asarray(rec.baseline)[cols]) / np.asarray(rec.adc_gain)[cols] * 1000
    np.testing.assert_array_equal(record_counts(), np.rint(microvolts / UV_PER_COUNT).astype(np.int32))


def test_stdout_stream_decodes_to_the_record_exactly(host_binary):
    from tgll_edge.link.blocks import Gap, SampleBlock
    from tgll_edge.link.protocol import Decoder, PacketType
    from tgll_edge.link.receiver import LinkReceiver

    expected = record_counts()
    wire = run_host(host_binary)  # one pass of the record, as fast as possible
    dec = Decoder()
    packets = dec.feed(wire)
    assert dec.stats["crc_errors"] == 0 and dec.stats["dropped_bytes"] == 0
    assert dec.stats["packets"] == len(packets) > 0
    seqs = [p.seq for p in packets]
    assert seqs == list(range(len(packets)))

    info = next(p.body for p in packets if p.type == PacketType.INFO)
    assert (info.fs, info.n_channels, info.lead_set, info.sample_format) == (500.0, 8, 0, 1)
    assert info.labels == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    assert info.uv_per_count == pytest.approx(UV_PER_COUNT, rel=1e-7)

    data = [p for p in packets if p.type == PacketType.DATA]
    starts = [p.sample_index for p in data]
    assert starts == list(range(0, 1000, 10))  # no jumps: nothing lost
    counts = np.concatenate([p.body.counts() for p in data])
    np.testing.assert_array_equal(counts, expected)
    assert all(p.body.lead_off == 0 for p in data)

    rx = LinkReceiver(clock=None)
    events = rx.feed(wire)
    assert rx.stats["gaps"] == 0 and rx.stats["missing_samples"] == 0
    assert not [e for e in events if isinstance(e, Gap)]
    blocks = [e for e in events if isinstance(e, SampleBlock)]
    assert sum(b.n for b in blocks) == 1000 and blocks[0].index == 0
    mv = np.concatenate([b.data for b in blocks], axis=1).T
    np.testing.assert_array_equal(np.rint(mv * 1000 / info.uv_per_count).astype(np.int32), expected)


def test_ring_overflow_becomes_an_exact_gap(host_binary):
    from tgll_edge.link.blocks import Gap
    from tgll_edge.link.protocol import Decoder, EventCode, PacketType
    from tgll_edge.link.receiver import LinkReceiver

    expected = record_counts()
    # the sender stops draining for 400 DRDY periods; the ring holds 256 samples
    wire = run_host(host_binary, "--samples", "1500", "--stall-at", "300", "--stall-for", "400")
    packets = Decoder().feed(wire)
    overflow = [p for p in packets if p.type == PacketType.EVENT and p.body.code == EventCode.DEVICE_OVERFLOW]
    assert len(overflow) == 1
    dropped, at = overflow[0].body.value, overflow[0].sample_index
    assert 0 < dropped < 400
    data = [p for p in packets if p.type == PacketType.DATA]
    kept = 0
    for prev, nxt in zip(data, data[1:]):
        jump = nxt.sample_index - (prev.sample_index + prev.body.n_samples)
        if jump:
            assert (jump, prev.sample_index + prev.body.n_samples) == (dropped, at)
    for p in data:  # every delivered sample is the record's, at its own index
        idx = (p.sample_index + np.arange(p.body.n_samples)) % len(expected)
        np.testing.assert_array_equal(p.body.counts(), expected[idx])
        kept += p.body.n_samples
    assert kept + dropped == 1500
    # the EVENT precedes the jump, so the host names the cause
    rx = LinkReceiver(clock=None)
    gaps = [e for e in rx.feed(wire) if isinstance(e, Gap)]
    assert [(g.index, g.missing_samples, g.cause) for g in gaps] == [(at, dropped, "device_overflow")]


def _open_pty_host(binary: Path, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    link = tmp_path / "ttyTGLL"
    proc = subprocess.Popen([str(binary), "--pty", "--link", str(link), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("PTY "), proc.stderr.read() if proc.poll() is not None else line
    return proc, str(link)


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_commands_over_a_pseudo_terminal(host_binary, tmp_path):
    serial = pytest.importorskip("serial")
    from tgll_edge.link.protocol import (AckStatus, CommandCode, Decoder, PacketType, encode_command,
                                         get_info_command, set_rate_command, start_command, stop_command)

    proc, port = _open_pty_host(host_binary, tmp_path)
    try:
        ser = serial.Serial(port, 921600, timeout=0.05)
        dec = Decoder()
        got = []

        def read_until(pred, timeout=5.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                got.extend(dec.feed(ser.read(4096)))
                if pred():
                    return
            raise AssertionError(f"timed out; acks {acks()}, last {[(p.type, p.body) for p in got[-5:]]}, "
                                 f"{dec.stats}")

        def acks():
            return [(p.body.command, p.body.status) for p in got if p.type == PacketType.ACK]

        # garbage on the line first: the device resynchronises on the next 0x00
        ser.write(b"\x13\x37garbage\xff\x00" + get_info_command(1))
        read_until(lambda: (CommandCode.GET_INFO, AckStatus.OK) in acks())
        ser.write(set_rate_command(300, 2) + encode_command(9, 0, 3))
        read_until(lambda: (9, AckStatus.UNSUPPORTED) in acks())
        assert (CommandCode.SET_RATE, AckStatus.BAD_ARGUMENT) in acks()
        ser.write(set_rate_command(1000, 4) + start_command(5))
        read_until(lambda: sum(p.type == PacketType.DATA for p in got) >= 20)
        assert acks()[-2:] == [(CommandCode.SET_RATE, AckStatus.OK), (CommandCode.START, AckStatus.OK)], \
            (acks(), dec.stats)
        infos = [p.body for p in got if p.type == PacketType.INFO]
        assert infos[-1].fs == 1000.0
        ser.write(stop_command(6))
        read_until(lambda: (CommandCode.STOP, AckStatus.OK) in acks())
        # after STOP's ACK nothing more streams
        n_data = sum(p.type == PacketType.DATA for p in got)
        time.sleep(0.3)
        got.extend(dec.feed(ser.read(65536)))
        assert sum(p.type == PacketType.DATA for p in got) == n_data
        assert dec.stats["crc_errors"] == 0
        ser.close()
    finally:
        _stop(proc)


def _tgll_stream_cmd() -> list[str] | None:
    exe = shutil.which("tgll-stream") or str(Path(sys.executable).with_name("tgll-stream"))
    cmd = [exe] if Path(exe).exists() else [sys.executable, "-m", "tgll_edge.cli.stream"]
    try:
        help_text = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return cmd if "--port" in help_text else None


def _test_bundle(tmp_path: Path) -> Path:
    from bundle_factory import make_tiny_bundle
    return Path(make_tiny_bundle(tmp_path / "tiny"))


def _predict_all_windows(bundle: Path, record: Path, hop_s: float) -> list[dict]:
    cmd = [sys.executable, "-m", "tgll_edge.cli.predict", "--model", str(bundle), "--all-windows",
           "--hop", str(hop_s), str(record)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[0])["windows"]


def test_tgll_stream_reads_the_c_firmware(host_binary, tmp_path):
    """C firmware (host build) -> pty -> tgll-stream: the findings are those of tgll-predict on the
    very samples the simulated ADS1298 served, window by window, with nothing lost on the way."""
    cmd = _tgll_stream_cmd()
    if cmd is None:
        pytest.skip("tgll-stream with --port is not available yet")
    bundle = _test_bundle(tmp_path)
    duration_s, hop_s, fs = 12, 2, 500
    proc, port = _open_pty_host(host_binary, tmp_path)  # waits for tgll-stream's START
    try:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        out = subprocess.run([*cmd, "--port", port, "--json", "--duration", str(duration_s), "--hop", str(hop_s),
                              "--model", str(bundle)], capture_output=True, text=True, timeout=120, env=env)
    finally:
        host_err = _stop(proc)
    assert out.returncode == 0, out.stderr[-3000:] + host_err
    from stream_check import assert_findings_equal_predict
    windows = assert_findings_equal_predict(out.stdout, bundle, tmp_path, device_id="TGLL-HOST-SIM",
                                            duration_s=duration_s, hop_s=hop_s, fs=fs, uv_per_count=UV_PER_COUNT)
    assert [(w["t_start"], w["t_end"]) for w in windows] == [(0.0, 10.0), (2.0, 12.0)]
