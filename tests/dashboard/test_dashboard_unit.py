"""The dashboard without a browser: signal ring, lead states, frames, the hub's drop policy, HTTP, CLI."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from importlib import resources

import numpy as np
import pytest

from tgll_edge.dashboard import (DashboardServer, DashboardSink, Hub, SignalRing, lead_states, leads_for_channels,
                                 parse_address)
from tgll_edge.dashboard.sink import decode_signal, dumps, encode_signal
from tgll_edge.link.blocks import Gap, SampleBlock, Status
from tgll_edge.signal.leads import LEADS_8, LEADS_12
from tgll_edge.signal.quality import Quality
from tgll_edge.stream.results import Finding


def test_ring_keeps_last_seconds_and_marks_gaps_nan():
    r = SignalRing(seconds=1.0)
    r.push(0.0, 100.0, np.ones((12, 30)))
    r.push(0.5, 100.0, 2 * np.ones((12, 20)))  # 20 samples missing (0.30 - 0.50 s)
    k0, x = r.since(0)
    assert (k0, x.shape) == (0, (12, 70))
    assert np.all(x[:, :30] == 1) and np.all(np.isnan(x[:, 30:50])) and np.all(x[:, 50:] == 2)
    r.push(0.7, 100.0, np.arange(12 * 150, dtype=float).reshape(12, 150))  # wraps: only the last 100 kept
    k0, x = r.since(0)
    assert (k0, x.shape[1], r.k_end) == (120, 100, 220)
    assert x[0, -1] == 149 and x[0, 0] == 50
    k0, x = r.since(215)
    assert (k0, x.shape[1]) == (215, 5)


def test_a_gap_is_never_bridged_even_when_the_signal_fills_it():
    """A pipeline may interpolate over a short link gap so windows still form; the page shows the gap."""
    sink = DashboardSink()
    sink.signal(0.0, 100.0, np.ones((12, 50), np.float32))
    sink(Gap(250, 25, 500.0, "link"))  # 0.50 - 0.55 s lost
    sink.signal(0.5, 100.0, np.ones((12, 50), np.float32))  # filled in (bridged) by the pipeline
    _, x = sink.ring.since(0)
    assert np.isnan(x[:, 50:55]).all() and np.isfinite(x[:, :50]).all() and np.isfinite(x[:, 55:]).all()


def test_signal_encoding_round_trip():
    x = np.array([np.linspace(-40, 40, 9)] * 12, np.float32)
    x[3, 4] = np.nan
    y = decode_signal(json.loads(dumps({"s": encode_signal(5, 100.0, x, False)}))["s"])
    assert np.isnan(y[3, 4]) and np.isnan(y).sum() == 1
    ok = np.isfinite(y)
    assert np.allclose(y[ok], np.clip(x, -32.767, 32.767)[ok], atol=5e-4)


def test_ring_restarts_on_new_rate():
    r = SignalRing(seconds=1.0)
    r.push(0.0, 100.0, np.ones((12, 50)))
    epoch = r.epoch
    r.push(1.0, 250.0, np.ones((12, 10)))
    assert r.epoch == epoch + 1 and r.n == 250 and np.isfinite(r.since(0)[1]).sum() == 12 * 10


def test_lead_states_from_quality_and_lead_off_bits():
    assert leads_for_channels(["V1"]) == {"V1"}
    assert leads_for_channels(["I"]) == {"I", "III", "aVR", "aVL", "aVF"}
    q = Quality(ok=False, flags=["flat", "saturated"], flat=["V2", "V3"], saturated=["V3", "V5"], lead_off=["V4"])
    st = lead_states(q, live_off_channels=["II"])
    assert st["V2"] == "flat" and st["V3"] == "saturated" and st["V5"] == "saturated"
    assert st["V4"] == "lead-off" and st["II"] == "lead-off" and st["aVF"] == "lead-off"
    assert st["V1"] == "attached" and set(st) == set(LEADS_12)
    st = lead_states(None, (), leads_used=[lead for lead in LEADS_12 if lead != "V6"])
    assert st["V6"] == "unused" and st["V5"] == "attached"


class _Model:
    labels = ["NORM", "MI"]
    thresholds = np.array([0.5, 0.3])
    fs, n_times, card, artifact = 100.0, 1000, {"name": "m"}, "onnx_int8"


class _Pipe:
    model, hop_s = _Model(), 1.0

    def summary(self):
        return {"type": "summary", "packets": 7, "crc_errors": 1, "device_seconds": 3.0}


def _finding(t, p=0.7):
    return Finding(t, t + 10, {"NORM": p, "MI": 0.1}, ["NORM"] if p >= 0.5 else [], Quality(), 0.5)


def test_frames_snapshot_then_deltas():
    sink = DashboardSink()
    sink.start(_Pipe())
    sink(Status("info", "dev", {"fs": 500.0, "uv_per_count": 0.05, "device_id": "EMU", "firmware": "fw"}))
    sink.block(SampleBlock(0, 500.0, np.zeros((8, 5), np.float32), LEADS_8, lead_off=0b100))
    sink.signal(0.0, 100.0, np.full((12, 40), 0.5, np.float32))
    sink(Gap(250, 100, 500.0, "link"))
    sink.signal(0.6, 100.0, np.full((12, 10), float("nan"), np.float32))
    sink(_finding(0.0))
    snap = json.loads(dumps(sink.frame(snapshot=True)))
    assert snap["type"] == "snapshot" and snap["meta"]["labels"] == ["NORM", "MI"]
    sig = snap["sig"]
    x = decode_signal(sig)
    assert sig["k0"] == 0 and sig["n"] == 70 and x.shape == (12, 70) and x[0, 0] == 0.5 and np.isnan(x[0, 45])
    assert np.isfinite(x[:, :40]).all() and np.isnan(x[:, 50:]).all()
    assert [g["t"] for g in snap["gaps"]] == [0.5] and snap["gaps"][0]["t_end"] == pytest.approx(0.7)
    assert len(snap["findings"]) == 1 and snap["live"]["counters"]["packets"] == 7
    assert snap["live"]["device"]["device_id"] == "EMU" and snap["live"]["lead_off_channels"] == ["V1"]
    assert snap["live"]["leads"]["V1"] == "lead-off"
    d1 = json.loads(dumps(sink.frame(snapshot=False)))  # everything so far, then only what is new
    assert d1["frame"] == 1 and d1["sig"]["n"] == 70 and len(d1["findings"]) == 1
    assert not sink.changed()
    sink.signal(0.7, 100.0, np.ones((12, 5), np.float32))
    sink(_finding(1.0, 0.2))
    assert sink.changed()
    d2 = json.loads(dumps(sink.frame(snapshot=False)))
    assert d2["frame"] == 2 and d2["sig"]["k0"] == 70 and d2["sig"]["n"] == 5
    assert [f["t_start"] for f in d2["findings"]] == [1.0] and d2["findings"][0]["n"] > d1["seq"] - 1
    sink.summary({"type": "summary", "windows": 2})
    assert json.loads(dumps(sink.frame(snapshot=False)))["live"]["ended"] is True


def test_a_browser_that_came_before_the_stream_started_gets_the_labels():
    sink = DashboardSink()
    assert json.loads(dumps(sink.frame(snapshot=True)))["meta"] == {}
    sink.frame(snapshot=False)
    sink.start(_Pipe())
    assert sink.changed()
    d = json.loads(dumps(sink.frame(snapshot=False)))
    assert d["meta"]["labels"] == ["NORM", "MI"]
    assert "meta" not in json.loads(dumps(sink.frame(snapshot=False)))


def test_hub_drops_for_a_slow_client_and_resyncs_with_a_snapshot():
    hub = Hub(queue_frames=3)
    slow, fast = hub.register("slow"), hub.register("fast")
    snaps = []

    def snapshot():
        snaps.append(1)
        return b"S"

    for i in range(20):
        hub.publish(b"D%d" % i, snapshot)
        while not fast.queue.empty():  # the fast client drains at once
            fast.queue.get_nowait()
            fast.sent += 1
    assert fast.dropped == 0 and fast.offered == fast.queued == 20
    assert slow.queue.qsize() == 3 and slow.max_depth == 3  # bounded
    assert slow.offered == 20 and slow.queued == 3 and slow.dropped == 17
    assert slow.stale  # the next frame it gets is a snapshot
    first = [slow.queue.get_nowait() for _ in range(3)]
    assert first == [b"S", b"D1", b"D2"]  # its first frame is always a snapshot
    hub.publish(b"D20", snapshot)
    assert slow.queue.get_nowait() == b"S" and not slow.stale
    hub.publish(None, snapshot)  # nothing new: nothing for an up-to-date client
    assert slow.queue.empty()
    hub.unregister(slow)
    hub.unregister(fast)
    st = hub.stats()
    assert st["clients"] == 0 and st["totals"]["offered"] == st["totals"]["dropped"] + slow.queued + fast.queued


def test_parse_address():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9") == ("0.0.0.0", 9)
    assert parse_address(":9") == ("127.0.0.1", 9)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in ("x", "1:2:3", "host:70000", "[::1]80", "::1:80"):
        with pytest.raises(ValueError):
            parse_address(bad)


def _get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_http_routes_and_token():
    srv = DashboardServer("127.0.0.1", 0, token="s3cret")
    sink = DashboardSink(srv)
    try:
        base = f"http://127.0.0.1:{srv.port}"
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(base + "/")
        assert e.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            _get(base + "/state?token=wrong")
        code, ctype, body = _get(base + "/?token=s3cret")
        assert code == 200 and ctype.startswith("text/html") and b"Not a medical device" in body
        assert b"http://" not in body and b"https://" not in body  # no CDN: the page loads nothing from elsewhere
        for name in ("app.js", "style.css"):
            code, _, body = _get(f"{base}/static/{name}", {"Authorization": "Bearer s3cret"})
            assert code == 200 and len(body) > 1000 and b"http://" not in body and b"https://" not in body
        sink.start(_Pipe())
        code, ctype, body = _get(base + "/state?token=s3cret")
        assert ctype == "application/json" and json.loads(body)["meta"]["labels"] == ["NORM", "MI"]
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(base + "/static/../sink.py?token=s3cret")
        assert e.value.code == 404
        assert srv.url.endswith("?token=s3cret")
    finally:
        sink.close()


def test_without_token_only_this_machines_names_are_served():
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the dashboard."""
    srv = DashboardServer("127.0.0.1", 0)
    srv.start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        assert _get(base + "/stats")[0] == 200
        assert _get(base + "/stats", {"Host": f"localhost:{srv.port}"})[0] == 200
        assert _get(base + "/stats", {"Host": f"[::1]:{srv.port}"})[0] == 200
        assert _get(base + "/stats", {"Host": f"{socket.gethostname()}:{srv.port}"})[0] == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(base + "/state", {"Host": f"evil.example:{srv.port}"})
        assert e.value.code == 403
    finally:
        srv.close()


def test_too_many_clients_are_refused():
    srv = DashboardServer("127.0.0.1", 0, max_clients=1)
    DashboardSink(srv)
    try:
        first = urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/events", timeout=10)
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(f"http://127.0.0.1:{srv.port}/events")
        assert e.value.code == 503 and srv.hub.stats()["totals"]["refused"] == 1
        first.close()
    finally:
        srv.close()


def test_event_stream_sends_snapshot_first_and_ends_on_close():
    srv = DashboardServer("127.0.0.1", 0, rate=20)
    sink = DashboardSink(srv)
    sink.start(_Pipe())
    sink.signal(0.0, 100.0, np.zeros((12, 100), np.float32))
    r = urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/events", timeout=10)
    frames = []
    while len(frames) < 2:
        line = r.readline()
        if line.startswith(b"data:"):
            frames.append(json.loads(line[5:]))
            sink.signal(1.0 + len(frames), 100.0, np.zeros((12, 10), np.float32))
    assert frames[0]["type"] == "snapshot" and frames[1]["type"] == "delta"
    sink.summary({"type": "summary", "windows": 0})
    sink.close()
    rest = r.read()  # the server ends the stream: read() returns
    assert b'"ended":true' in rest
    assert srv.hub.stats()["clients"] == 0


def test_static_files_are_package_data():
    base = resources.files("tgll_edge.dashboard").joinpath("static")
    for name in ("index.html", "app.js", "style.css"):
        assert base.joinpath(name).is_file()


def test_cli_arguments(capsys):
    from tgll_edge.cli.stream import main

    for argv, msg in ((["--emulate", "--serve-token", "t"], "--serve-token applies to --serve only"),
                      (["--emulate", "--serve", "nope"], "port must be a number"),
                      (["--emulate", "--serve", "1:2:3"], "in brackets")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and msg in capsys.readouterr().err
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        with pytest.raises(SystemExit) as e:
            main(["--emulate", "--serve", f"127.0.0.1:{busy.getsockname()[1]}"])
        assert e.value.code == 2 and "cannot listen" in capsys.readouterr().err
    finally:
        busy.close()


def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch):
    import dashkit

    monkeypatch.setattr(dashkit, "find", lambda names, env: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        dashkit.require_browser()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        dashkit.require_browser()
