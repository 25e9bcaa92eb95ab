"""Helpers for the uplink tests: a real mosquitto broker, an MQTT collector, a long record, the gateway CLI.

mosquitto comes from Debian's package (tools/test-packages.txt, installed by .ci/run).
Locally a missing broker or extra skips these tests; with CI set it fails them.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "tgll_edge" / "data" / "records" / "00001_hr"
USER, PASSWORD = "gateway", "s3cret-pw"


def need(what: str, ok: bool) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: CI must run the uplink tests")
        pytest.skip(f"{what} is missing (install it to run this test)")


def need_module(name: str, extra: str):
    try:
        return __import__(name)
    except ImportError:
        need(f"python module {name} (the [{extra}] extra)", False)


def mosquitto_bin() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1:port with a password file (and TLS when certs are given); stop/start keep
    its persistence (subscriptions and queued messages of persistent sessions survive a restart)."""

    def __init__(self, tmp: Path, tls: dict | None = None):
        self.dir = tmp / "broker"
        self.dir.mkdir()
        self.port = free_port()
        pw = self.dir / "passwd"
        pw.write_text("")
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([passwd, "-b", str(pw), USER, PASSWORD], check=True, capture_output=True)
        subprocess.run([passwd, "-b", str(pw), "collector", "collector-pw"], check=True, capture_output=True)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous false", f"password_file {pw}",
                 "persistence true", f"persistence_location {self.dir}/", "autosave_interval 1",
                 "max_queued_messages 100000", "log_type error", "log_type warning",
                 f"log_dest file {self.dir / 'log.txt'}"]
        if os.geteuid() == 0:  # else mosquitto drops to user "mosquitto", which cannot read the temp dir
            lines.append("user root")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        (self.dir / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        os.chmod(pw, 0o600)
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([mosquitto_bin(), "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}"
                                   f"{(self.dir / 'log.txt').read_text() if (self.dir / 'log.txt').exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    need("mosquitto (Debian package mosquitto)", mosquitto_bin() is not None)
    need_module("paho.mqtt", "mqtt")
    b = Broker(tmp_path)
    yield b
    b.stop(signal.SIGKILL)


class Collector:
    """A persistent-session QoS 1 subscriber to PREFIX/#: keeps every message, reconnects by itself."""

    def __init__(self, port: int, prefix: str, tls_ca: str | None = None, client_id: str = "collector"):
        import paho.mqtt.client as mqtt
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.prefix = prefix
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        c.username_pw_set("collector", "collector-pw")
        if tls_ca:
            c.tls_set(ca_certs=tls_ca)
        c.reconnect_delay_set(0.1, 0.5)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(f"{prefix}/#", qos=1)
        c.on_message = self._on_message
        self.client = c
        c.connect("127.0.0.1" if not tls_ca else "localhost", port, keepalive=5)
        c.loop_start()
        self.wait(lambda: c.is_connected(), 10, "collector connected")
        time.sleep(0.3)  # the SUBACK

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def payloads(self, suffix: str) -> list[dict]:
        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith("/" + suffix)]

    def raw(self, suffix: str) -> list[tuple[bytes, bool]]:
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t.endswith("/" + suffix)]

    @staticmethod
    def wait(cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for: {what}")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def dedupe(msgs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for m in msgs:
        if m["msg_id"] not in seen:
            seen.add(m["msg_id"])
            out.append(m)
    return out


@pytest.fixture(scope="session")
def long_record(tmp_path_factory):
    """The bundled 10-s record looped to 60 s (a WFDB record path without extension)."""
    import wfdb
    from tgll_edge.link.replay import read_record
    x, fs, labels = read_record(RECORD)
    x = np.tile(x, 6)
    d = tmp_path_factory.mktemp("longrec")
    wfdb.wrsamp("long", fs=int(fs), units=["mV"] * x.shape[0], sig_name=list(labels), p_signal=x.T.astype(np.float64),
                fmt=["16"] * x.shape[0], adc_gain=[1000.0] * x.shape[0], baseline=[0] * x.shape[0],
                write_dir=str(d))
    return d / "long"


def gateway(args: list[str], env_extra: dict | None = None, **kw) -> subprocess.Popen:
    """``tgll-stream ARGS`` as a subprocess (the gateway), stdout JSON lines piped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGLL_MQTT_")}
    env.update(env_extra or {})
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen([sys.executable, "-m", "tgll_edge.cli.stream"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT), **kw)


class LineReader:
    """Reads a process's stdout lines in a thread (so a test can watch them while it runs)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.t.start()

    def _run(self, stream):
        for line in stream:
            self.lines.append(line)

    def json(self) -> list[dict]:
        out = []
        for ln in list(self.lines):
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
        return out
