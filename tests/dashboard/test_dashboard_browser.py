"""The dashboard in a real browser (Debian's headless Chromium through Selenium), and many clients at once.

Screenshots are test artifacts: written under pytest's tmp dir, and also to
$TGLL_DASHBOARD_ARTIFACTS when that is set.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dashkit import Browser, require_browser
from tgll_edge.dashboard import DashboardServer, DashboardSink

ROOT = Path(__file__).resolve().parents[2]


def keep(path: Path) -> None:
    out = os.environ.get("TGLL_DASHBOARD_ARTIFACTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)


@pytest.fixture
def browser(tmp_path):
    require_browser()
    b = Browser(download_dir=str(tmp_path / "downloads"))
    yield b
    b.close()


def _numbers(b, *ids):
    return [int((b.js(f"return document.getElementById('{i}').textContent") or "0").replace(",", "") or 0)
            if (b.js(f"return document.getElementById('{i}').textContent") or "-") != "-" else -1 for i in ids]


def test_page_from_tgll_stream_emulate(browser, tmp_path):
    """tgll-stream --emulate --serve: the 12 traces, the findings and the counters are drawn and update;
    the snapshot button downloads a PNG; Ctrl-C still ends the stream cleanly with its summary."""
    exe = Path(sys.executable).with_name("tgll-stream")
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "tgll_edge.cli.stream"]),
           "--emulate", "--speed", "2", "--hop", "1", "--json", "--serve", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    err_lines: list[str] = []
    url = None
    try:
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            err_lines.append(line)
            m = re.search(r"dashboard at (http://\S+)", line)
            url = m.group(1) if m else None
        assert url, "no dashboard URL on stderr: " + "".join(err_lines)
        threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True).start()
        b = browser
        b.driver.get(url)
        assert "Not a medical device" in b.js("return document.getElementById('notice').textContent")
        b.wait("window.tgll && tgll.findings.length > 0", 90, "the first window")
        b.wait("tgll.renders > 0 && Object.values(tgll.drawn).every(n => n > 100)", 20, "12 traces drawn")
        drawn = b.js("return tgll.drawn")
        assert sorted(drawn) == sorted(["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"])
        assert b.js("return document.querySelectorAll('#findings .row').length") == 5
        assert b.js("return document.querySelectorAll('#leads .chip.attached').length") == 12
        assert b.js("return document.querySelectorAll('#electrodes .chip').length") == 8
        assert b.js("return document.getElementById('d-device_id').textContent") == "TGLL-EMU"
        assert b.js("return document.getElementById('d-fs').textContent") == "500 Hz"
        assert b.js("return document.getElementById('conn').textContent") == "live"
        assert not b.js("return tgll.errors || 0")
        assert not [e for e in b.driver.get_log("browser") if e["level"] == "SEVERE"]
        packets0, windows0 = _numbers(b, "c-packets", "c-windows")
        assert packets0 > 0 and windows0 > 0
        n0, k0 = b.js("return [tgll.findings.length, tgll.kEnd]")
        b.wait(f"tgll.findings.length >= {n0 + 2} && tgll.kEnd > {k0}", 30, "new windows and signal")
        b.wait(f"Number(document.getElementById('c-packets').textContent.replace(/,/g, '')) > {packets0}", 10,
               "the packet counter to update")
        b.js("document.getElementById('rows12').click()")
        b.wait("Object.values(tgll.drawn).every(n => n > 600)", 20, "12 full rows")
        b.js("document.getElementById('rows12').click()")
        time.sleep(0.5)
        shot = tmp_path / "dashboard.png"
        b.driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
        keep(shot)
        # the snapshot button: a PNG of the current 10 s with the findings
        b.js("document.getElementById('snapshot').click()")
        dl = Path(b.download_dir)
        deadline = time.monotonic() + 20
        pngs = []
        while time.monotonic() < deadline and not pngs:
            pngs = [p for p in dl.glob("tgll-snapshot-*.png")] if dl.exists() else []
            time.sleep(0.2)
        assert pngs, f"no snapshot downloaded (page says {b.js('return tgll.snapshotBytes')} bytes)"
        data = pngs[0].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
        keep(pngs[0])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, "".join(err_lines)[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["windows"] >= windows0


def _record_with_v1_off(directory: Path, off_from_s: float = 16.0, seconds: float = 60.0) -> Path:
    """The bundled record looped to ``seconds``, V1 missing (NaN) from ``off_from_s`` on: the emulator sends
    missing samples with the channel's lead-off bit set, as a front end does when an electrode comes off."""
    import wfdb

    from tgll_edge.link.emulator import DEFAULT_RECORD, load_record
    from tgll_edge.signal.leads import LEADS_8

    mv, fs = load_record(DEFAULT_RECORD)
    x = np.tile(mv, int(np.ceil(seconds * fs / mv.shape[1])))[:, : int(seconds * fs)].copy()
    x[LEADS_8.index("V1"), int(off_from_s * fs):] = np.nan
    directory.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp("v1off", fs=fs, units=["mV"] * 8, sig_name=list(LEADS_8), p_signal=x.T, fmt=["16"] * 8,
                adc_gain=[1000.0] * 8, baseline=[0] * 8, write_dir=str(directory))
    return directory / "v1off"


def _script(name: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    module = {"tgll-stream": "tgll_edge.cli.stream", "tgll-emulate": "tgll_edge.cli.emulate"}[name]
    return [str(exe)] if exe.exists() else [sys.executable, "-m", module]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_page_shows_gaps_and_lead_off(browser, tmp_path):
    """tgll-emulate --drop-packets (a gap every 12 s) on a record whose V1 electrode comes off at 16 s,
    read by tgll-stream --port ... --serve: the page shows the gap and the lead-off state."""
    record = _record_with_v1_off(tmp_path / "rec")
    link = tmp_path / "device"
    emu = subprocess.Popen(_script("tgll-emulate") + ["--record", str(record), "--link", str(link), "--speed", "4",
                                                      "--drop-packets", "every:600"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    stream = None
    try:
        deadline = time.monotonic() + 60
        while not link.exists() and time.monotonic() < deadline and emu.poll() is None:
            time.sleep(0.1)
        assert link.exists(), f"tgll-emulate made no device: {emu.stderr.read() if emu.poll() is not None else ''}"
        stream = subprocess.Popen(_script("tgll-stream") + ["--port", str(link), "--hop", "1", "--json",
                                                            "--serve", "127.0.0.1:0"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        url = None
        while url is None:
            line = stream.stderr.readline()
            if not line:
                break
            m = re.search(r"dashboard at (http://\S+)", line)
            url = m.group(1) if m else None
        assert url, "no dashboard URL from tgll-stream"
        b = browser
        b.driver.get(url)
        # the gap is a gap: shaded on the strip, and NaN samples (a broken trace) inside the 10 s on the page
        b.wait("window.tgll && tgll.gaps.length > 0 && tgll.gapBands > 0 && tgll.buf[0].some(v => Number.isNaN(v))",
               120, "a gap drawn on the strip")
        gap_shot = tmp_path / "dashboard-gap.png"
        b.driver.save_screenshot(str(gap_shot))
        keep(gap_shot)
        b.wait("document.querySelector('#electrodes .chip[data-channel=\"V1\"]').classList.contains('lead-off')",
               90, "electrode V1 shown off")
        b.wait("document.querySelector('#leads .chip[data-lead=\"V1\"]').classList.contains('lead-off')", 30,
               "lead V1 shown lead-off")
        b.wait("tgll.findings.length > 0 && tgll.findings[tgll.findings.length - 1].quality.lead_off.includes('V1')",
               60, "a window flagged lead-off on V1")
        assert b.js("return document.querySelector('#leads .chip[data-lead=\"V2\"]').className") == "chip attached"
        gaps, missing = _numbers(b, "c-gaps", "c-missing_samples")
        assert gaps >= 1 and missing >= 10
        assert "gap at" in b.js("return document.getElementById('events').textContent")
        assert not b.js("return tgll.errors || 0")
        time.sleep(0.5)
        shot = tmp_path / "dashboard-gap-lead-off.png"
        b.driver.save_screenshot(str(shot))
        keep(shot)
    finally:
        if stream is not None:
            _stop(stream)
        _stop(emu)
    assert stream.returncode == 0


def _sse_client(url: str, frames: int, stop: threading.Event, log: list) -> None:
    """Connect, read ``frames`` frames (or until stop), disconnect; again and again."""
    while not stop.is_set():
        got = 0
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                while got < frames and not stop.is_set():
                    line = r.readline()
                    if not line:
                        break
                    if line.startswith(b"data:"):
                        json.loads(line[5:])
                        got += 1
        except OSError as exc:
            log.append(repr(exc))
        log.append(got)


def test_ten_clients_churning_do_not_change_the_pipeline():
    """Ten clients connect and disconnect in a loop while one more never reads: the findings and counters
    equal a run without the dashboard, every frame is accounted for (queued or dropped), queues stay
    bounded, and nothing is left behind when they are gone."""
    from tgll_edge.link.emulator import DEFAULT_RECORD
    from tgll_edge.link.replay import ReplaySource
    from tgll_edge.runtime import load_model
    from tgll_edge.stream import Pipeline

    model = load_model()
    base = Pipeline(ReplaySource(DEFAULT_RECORD, speed=None, loop=True), model, hop_s=1.0, duration_s=60.0)
    want = [(f.t_start, tuple(f.probabilities.values())) for f in base if hasattr(f, "probabilities")]
    want_summary = base.summary()

    threads0 = threading.active_count()
    server = DashboardServer("127.0.0.1", 0, rate=20, queue_frames=4, send_buffer=4096)
    sink = DashboardSink(server)
    pipe = Pipeline(ReplaySource(DEFAULT_RECORD, speed=12.0, loop=True), model, hop_s=1.0, duration_s=60.0,
                    sinks=[sink])
    got = []
    stop = threading.Event()
    logs = [[] for _ in range(10)]
    clients = [threading.Thread(target=_sse_client, args=(server.url + "events", 3 + i % 5, stop, logs[i]),
                                daemon=True) for i in range(10)]
    # one browser that never reads (a sleeping phone): a tiny receive window, so its frames back up
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stalled.connect(("127.0.0.1", server.port))
    stalled.sendall(b"GET /events HTTP/1.0\r\n\r\n")
    # the stalled browser is registered first (client id 1) before the churning ones connect:
    # otherwise a fast client's handler could register first and take its id
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.hub.stats()["clients"] < 1:
        time.sleep(0.01)
    for c in clients:
        c.start()
    samples = []
    for result in pipe:
        if hasattr(result, "probabilities"):
            got.append((result.t_start, tuple(result.probabilities.values())))
            samples.append(server.hub.stats())
    stop.set()
    for c in clients:
        c.join(timeout=20)
    stalled_stats = [c for s in samples for c in s["per_client"] if c["id"] == 1]
    stalled.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.hub.stats()["clients"]:
        time.sleep(0.1)
    final = server.hub.stats()
    # the pipeline is unchanged: the same windows, the same probabilities, the same counters
    assert got == want
    s = pipe.summary()
    assert {k: s[k] for k in ("windows", "skipped_windows", "gaps", "missing_samples")} == \
        {k: want_summary[k] for k in ("windows", "skipped_windows", "gaps", "missing_samples")}
    # the clients really churned and got frames
    cycles = sum(sum(1 for x in log if isinstance(x, int) and x > 0) for log in logs)
    assert cycles >= 30 and sum(x for log in logs for x in log if isinstance(x, int)) >= 100
    assert final["totals"]["connects"] >= cycles + 1
    # accounting: every frame offered to a client was queued or dropped; queues never beyond their bound
    t = final["totals"]
    assert t["offered"] == t["queued"] + t["dropped"]
    assert all(c["max_depth"] <= 4 for s in samples for c in s["per_client"])
    assert stalled_stats and stalled_stats[-1]["dropped"] > 0, "the stalled client's frames were never dropped"
    # nothing left behind: no clients, no handler threads; the sink's memory is bounded by design
    assert final["clients"] == 0 and t["connects"] == t["disconnects"]
    assert len(sink.findings) <= sink.n_windows and sink.ring.buf.shape == (12, 1000)
    assert sink._events.maxlen is not None and len(sink._events) <= sink._events.maxlen
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and threading.active_count() > threads0:
        time.sleep(0.1)
    assert threading.active_count() <= threads0, [th.name for th in threading.enumerate()]
    assert np.isfinite(s["device_seconds"])
