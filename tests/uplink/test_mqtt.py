"""MQTT uplink against a real mosquitto broker started by the tests (no mocks).

The gateway is ``tgll-stream`` as a subprocess, replaying the bundled record
(looped to 60 s) at a few times real time, with the broker credentials from the
environment and a queue file per test.
"""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pytest
from uplinkkit import PASSWORD, USER, Broker, Collector, LineReader, dedupe, gateway, need

PREFIX = "tgll-test"
DEVICE = "dev-1"


def env(tmp_path, **extra):
    e = {"TGLL_MQTT_USERNAME": USER, "TGLL_MQTT_PASSWORD": PASSWORD, "TGLL_MQTT_DEVICE_ID": DEVICE,
         "TGLL_MQTT_QUEUE": str(tmp_path / "queue.sqlite")}
    e.update(extra)
    return e


def run_args(record, broker, speed="6", hop="1"):
    return ["--replay", str(record), "--speed", speed, "--json", "--hop", hop,
            "--mqtt", broker.url, "--mqtt-topic", PREFIX]


def queue_rows(path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM queue").fetchone()[0]
    finally:
        db.close()


def check_in_order_once(received: list[dict], expected_windows: list[dict]) -> None:
    got = dedupe(received)
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs), "findings out of order"
    assert [(m["t_start"], m["t_end"]) for m in got] == [(w["t_start"], w["t_end"]) for w in expected_windows]
    for m in got:
        assert m["type"] == "window" and m["device_id"] == DEVICE and m["gateway_time"].endswith("Z")


def test_broker_restart_mid_stream_every_finding_once_in_order(broker, long_record, tmp_path):
    col = Collector(broker.port, PREFIX)
    gw = gateway(run_args(long_record, broker, speed="4"), env(tmp_path))  # 15 s of wall time
    out = LineReader(gw.stdout)
    try:
        col.wait(lambda: len(col.payloads("finding")) >= 8, 60, "first findings")
        broker.stop()                               # the broker goes away mid-stream ...
        n_at_stop = len(out.json())
        col.wait(lambda: len(out.json()) >= n_at_stop + 8, 60, "the gateway keeps producing while it is down")
        broker.start()                              # ... and comes back
        assert gw.wait(timeout=120) == 0, gw.stderr.read()
    finally:
        if gw.poll() is None:
            gw.kill()
    windows = [o for o in out.json() if o["type"] == "window"]
    assert len(windows) == 51
    col.wait(lambda: len(dedupe(col.payloads("finding"))) >= len(windows), 30, "every finding delivered")
    col.wait(lambda: len(col.payloads("summary")) >= 1, 10, "the summary")
    check_in_order_once(col.payloads("finding"), windows)
    stderr = gw.stderr.read()
    assert "connection to mqtt://127.0.0.1" in stderr and "lost" in stderr  # it noticed, and said so
    summary = col.payloads("summary")[-1]
    assert summary["windows"] == 51 and summary["uplink"]["dropped"] == 0
    assert queue_rows(tmp_path / "queue.sqlite") == 0
    assert [p for p, _ in col.raw("presence")][-1] == b"offline"  # a clean exit says goodbye
    col.close()


def test_gateway_killed_while_broker_down_queue_drains_after_restart(broker, long_record, tmp_path):
    col = Collector(broker.port, PREFIX)
    gw = gateway(run_args(long_record, broker), env(tmp_path))
    out = LineReader(gw.stdout)
    try:
        col.wait(lambda: len(col.payloads("finding")) >= 5, 60, "first findings")
        broker.stop()
        n_at_stop = len([o for o in out.json() if o["type"] == "window"])
        col.wait(lambda: len([o for o in out.json() if o["type"] == "window"]) >= n_at_stop + 10, 60,
                 "findings produced while the broker is down")
    finally:
        gw.send_signal(signal.SIGKILL)             # the gateway dies with the broker still down
        gw.wait(timeout=10)
    printed = [o for o in out.json() if o["type"] == "window"]
    queued = queue_rows(tmp_path / "queue.sqlite")
    assert queued >= 10, "the findings made while the broker was down must be on disk"
    db = sqlite3.connect(tmp_path / "queue.sqlite")
    last_seq_run1 = db.execute("SELECT seq FROM sqlite_sequence WHERE name='queue'").fetchone()[0]
    db.close()
    broker.start()
    # the gateway comes back (a short run) with the same queue: the backlog goes first, then the new run
    gw2 = gateway(["--replay", str(long_record), "--fast", "--json", "--hop", "5", "--duration", "20",
                   "--mqtt", broker.url, "--mqtt-topic", PREFIX], env(tmp_path))
    out2, err2 = gw2.communicate(timeout=120)
    assert gw2.returncode == 0, err2
    new = [o for o in map(json.loads, (ln for ln in out2.splitlines() if ln.startswith("{")))
           if o["type"] == "window"]
    col.wait(lambda: len(col.payloads("summary")) >= 1, 30, "the second run's summary")
    everything = dedupe([m for k in ("finding", "gap", "status", "summary") for m in col.payloads(k)])
    seqs = sorted(m["seq"] for m in everything)
    assert seqs == list(range(1, seqs[-1] + 1)), "a message of the sequence never arrived"
    got = dedupe(col.payloads("finding"))
    assert [m["seq"] for m in got] == sorted(m["seq"] for m in got), "findings out of order"
    first_run = [m for m in got if m["seq"] <= last_seq_run1]
    # every finding the killed gateway printed arrived (the very last one may have been printed
    # an instant before it was queued), exactly once, in order; then the second run's
    assert len(first_run) >= len(printed) - 1
    check_in_order_once(first_run, printed[:len(first_run)])
    assert [m["t_start"] for m in got[len(first_run):]] == [w["t_start"] for w in new]
    assert queue_rows(tmp_path / "queue.sqlite") == 0
    col.close()


def test_wrong_credentials_clear_error(broker, tmp_path):
    from uplinkkit import RECORD
    gw = gateway(["--replay", str(RECORD), "--fast", "--json", "--mqtt", broker.url],
                 env(tmp_path, TGLL_MQTT_PASSWORD="wrong"))
    out, err = gw.communicate(timeout=60)
    assert gw.returncode == 1
    assert "refused the connection" in err and "user name or password" in err and "'gateway'" in err, err
    assert PASSWORD not in err and "wrong" not in err.split("(")[0]
    assert "Traceback" not in err


def test_last_will_offline_when_gateway_dies(broker, long_record, tmp_path):
    cfg = tmp_path / "mqtt.toml"
    cfg.write_text(f'[mqtt]\nurl = "{broker.url}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
                   f'topic = "{PREFIX}"\ndevice_id = "{DEVICE}"\nkeepalive = 1\nqueue = "{tmp_path / "q.sqlite"}"\n')
    col = Collector(broker.port, PREFIX)
    gw = gateway(["--replay", str(long_record), "--speed", "1", "--json", "--mqtt-config", str(cfg)])
    try:
        col.wait(lambda: (b"online", False) in col.raw("presence") or (b"online", True) in col.raw("presence"),
                 30, "presence online")
        gw.send_signal(signal.SIGKILL)
        gw.wait(timeout=10)
        t0 = time.monotonic()
        col.wait(lambda: [p for p, _ in col.raw("presence")][-1] == b"offline", 15, "the last will")
        assert time.monotonic() - t0 < 10
    finally:
        if gw.poll() is None:
            gw.kill()
    # retained: a client that subscribes later still sees the gateway offline
    late = Collector(broker.port, PREFIX, client_id="late")
    late.wait(lambda: (b"offline", True) in late.raw("presence"), 10, "retained offline")
    late.close()
    col.close()


def test_tls_with_password(tmp_path, long_record):
    import shutil
    need("openssl", shutil.which("openssl") is not None)
    d = tmp_path / "pki"
    d.mkdir()
    def ssl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    ssl("req", *ec, "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.crt")
    from uplinkkit import mosquitto_bin, need_module
    need("mosquitto", mosquitto_bin() is not None)
    need_module("paho.mqtt", "mqtt")
    b = Broker(tmp_path, tls={"ca": d / "ca.crt", "cert": d / "server.crt", "key": d / "server.key"})
    try:
        col = Collector(b.port, PREFIX, tls_ca=str(d / "ca.crt"))
        gw = gateway(["--replay", str(long_record), "--fast", "--json", "--hop", "5", "--duration", "20",
                      "--mqtt", f"mqtts://localhost:{b.port}", "--mqtt-topic", PREFIX],
                     env(tmp_path, TGLL_MQTT_CA_FILE=str(d / "ca.crt")))
        out, err = gw.communicate(timeout=120)
        assert gw.returncode == 0, err
        col.wait(lambda: len(col.payloads("summary")) == 1, 20, "summary over TLS")
        assert len(dedupe(col.payloads("finding"))) == 3
        col.close()
        # the same broker without the CA: the gateway refuses the unverified certificate
        gw = gateway(["--replay", str(long_record), "--fast", "--json", "--duration", "20",
                      "--mqtt", f"mqtts://localhost:{b.port}"], env(tmp_path, TGLL_MQTT_QUEUE=str(tmp_path / "q2")))
        out, err = gw.communicate(timeout=120)
        assert "certificate verify failed" in err or "CERTIFICATE_VERIFY_FAILED" in err, err
    finally:
        b.stop(signal.SIGKILL)


@pytest.mark.parametrize("argv, message", [
    (["--mqtt", "ftp://host"], "scheme must be mqtt:// or mqtts://"),
    (["--mqtt", "mqtt://host:99999"], "port"),
    (["--mqtt-topic", "x"], "--mqtt-topic needs --mqtt"),
    (["--mqtt"], "no MQTT broker given"),
    (["--mqtt-config", "/nonexistent.toml"], "does not exist"),
    (["--format", "edf"], "--format applies to --record only"),
    (["--lsl", " "], "--lsl needs a stream name"),
])
def test_bad_uplink_flags_exit_2(argv, message, tmp_path):
    from uplinkkit import RECORD
    need_paho = __import__("importlib").util.find_spec("paho") is not None
    need("paho-mqtt", need_paho)
    gw = gateway(["--replay", str(RECORD), "--fast"] + argv, env(tmp_path))
    out, err = gw.communicate(timeout=60)
    assert gw.returncode == 2, err
    assert message in err, err
