"""MQTT uplink with a disk queue (store-and-forward), paho-mqtt 2.x, QoS 1.

Topics (``PREFIX`` default ``tgll``; ``DEVICE`` the configured device id, else the
gateway's host name)::

    PREFIX/DEVICE/finding    every window: the JSON-lines "window" object
    PREFIX/DEVICE/gap        every gap
    PREFIX/DEVICE/status     every status event (connects, INFO, lead-off, battery, ...)
    PREFIX/DEVICE/summary    the run's counters, at exit
    PREFIX/DEVICE/presence   retained "online" / "offline"; "offline" is also the
                             connection's last will, so a dead gateway shows offline

Each payload is the JSON-lines object of ``tgll-stream --json`` plus
``device_id``, ``gateway_time`` (UTC ISO 8601, when the gateway produced it),
``seq`` (1, 2, 3 ... per queue, never reused) and ``msg_id`` (``<queue id>-<seq>``,
unique across queues and restarts): QoS 1 may deliver a message twice, a
consumer drops repeated ``msg_id`` s.

Store-and-forward: every message is first committed to a SQLite queue on disk
(WAL; an insert costs tens of microseconds and never waits for the network), then
published in queue order by a worker thread, and deleted once the broker
acknowledged it (PUBACK). After a reconnect or a restart of the gateway, sending
resumes at the oldest unacknowledged message, so delivery stays in order; the
ones the broker had already received but not acknowledged come again (same
``msg_id``). A killed process loses nothing that was queued; a power cut loses at
most the last second (the WAL is synced every second).

Queue bound (``queue_max_mb``, default 64 MiB of SQLite pages, about a day of
1-s-hop windows or five days at the default 5-s hop): when full, the oldest
*routine* messages (windows with no finding above threshold, or skipped) are
dropped first, then, if only important ones are left (windows with findings,
gaps, status, summaries), the oldest of those. Drops are counted, reported once
per overflow episode as a status message ``uplink_overflow`` and in the summary
message's ``uplink`` counters.

Configuration (later wins): a TOML file (``--mqtt-config FILE`` or
``TGLL_MQTT_CONFIG``, table ``[mqtt]``), then the environment (``TGLL_MQTT_URL``,
``TGLL_MQTT_USERNAME``, ``TGLL_MQTT_PASSWORD``, ``TGLL_MQTT_TOPIC``,
``TGLL_MQTT_DEVICE_ID``, ``TGLL_MQTT_CA_FILE``, ``TGLL_MQTT_QUEUE``), then command-line
flags. Credentials belong in the file or the environment: a command line is
visible to every user (``ps``).
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..link.blocks import Gap, Status
from ..stream.results import Finding, to_json
from ._base import Sink, UplinkAuthError, UplinkConfigError, UplinkError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
ENV = {"url": "TGLL_MQTT_URL", "username": "TGLL_MQTT_USERNAME", "password": "TGLL_MQTT_PASSWORD",
       "topic": "TGLL_MQTT_TOPIC", "device_id": "TGLL_MQTT_DEVICE_ID", "ca_file": "TGLL_MQTT_CA_FILE",
       "queue": "TGLL_MQTT_QUEUE"}
MAX_BACKOFF_S = 5.0  # reconnect attempts: 0.5, 1, 2, 4, 5, 5 ... s apart
AUTH_CODES = {4: "bad user name or password", 5: "not authorized (wrong user name or password, or no access)",
              134: "bad user name or password", 135: "not authorized (wrong user name or password, or no access)",
              140: "bad authentication method"}


@dataclass
class MqttConfig:
    """Everything the uplink needs; ``from_sources`` merges file, environment and flags."""

    host: str = "localhost"
    port: int | None = None
    tls: bool = False
    username: str | None = None
    password: str | None = None
    topic: str = "tgll"
    device_id: str = ""
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False          # TLS without host name / chain check (test brokers only)
    keepalive: int = 30
    queue: str | None = None        # SQLite file; default ~/.local/state/tgll-edge/mqtt-DEVICE.sqlite
    queue_max_mb: float = 64.0
    client_id: str | None = None
    connect_timeout: float = 5.0
    drain_s: float = 5.0            # at close: wait this long for the queue to empty
    url: str | None = field(default=None, repr=False)

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port or DEFAULT_PORTS['mqtts' if self.tls else 'mqtt']}"

    def apply_url(self, url: str) -> None:
        u = urlsplit(url if "://" in url else "mqtt://" + url)
        if u.scheme not in DEFAULT_PORTS:
            raise UplinkConfigError(f"MQTT URL {url!r}: the scheme must be mqtt:// or mqtts://")
        if not u.hostname:
            raise UplinkConfigError(f"MQTT URL {url!r} has no host")
        try:
            port = u.port
        except ValueError:
            raise UplinkConfigError(f"MQTT URL {url!r}: the port is not a number in 1..65535") from None
        self.tls = u.scheme == "mqtts"
        self.host, self.port = u.hostname, port
        if u.username is not None:
            self.username = unquote(u.username)
        if u.password is not None:
            self.password = unquote(u.password)
        if u.path and u.path.strip("/"):
            self.topic = u.path.strip("/")

    @classmethod
    def from_sources(cls, url: str | None = None, topic: str | None = None, config_file: str | None = None,
                     environ=None) -> "MqttConfig":
        env = os.environ if environ is None else environ
        cfg = cls()
        names = {f.name for f in fields(cls)}
        path = config_file or env.get("TGLL_MQTT_CONFIG")
        if path:
            import tomllib
            try:
                data = tomllib.loads(Path(path).read_text())
            except OSError as exc:
                raise UplinkConfigError(f"MQTT config {path}: {exc.strerror or exc}") from None
            except tomllib.TOMLDecodeError as exc:
                raise UplinkConfigError(f"MQTT config {path} is not valid TOML: {exc}") from None
            table = data.get("mqtt", data)
            unknown = sorted(set(table) - names)
            if unknown:
                raise UplinkConfigError(f"MQTT config {path}: unknown keys {', '.join(unknown)} "
                                        f"(known: {', '.join(sorted(names))})")
            if table.get("url"):
                cfg.apply_url(str(table["url"]))
            for k, v in table.items():
                if k != "url":
                    setattr(cfg, k, v)
        if env.get(ENV["url"]):
            cfg.apply_url(env[ENV["url"]])
        for k, var in ENV.items():
            if k != "url" and env.get(var):
                setattr(cfg, k, env[var])
        if url:
            cfg.apply_url(url)
        if topic:
            cfg.topic = topic
        if cfg.host == "localhost" and not (url or path or env.get(ENV["url"])):
            raise UplinkConfigError("no MQTT broker given: --mqtt URL, a config file with url = ..., "
                                    "or TGLL_MQTT_URL")
        cfg.topic = cfg.topic.strip("/")
        if not cfg.topic or any(c in cfg.topic for c in "+#"):
            raise UplinkConfigError(f"MQTT topic prefix {cfg.topic!r} must be non-empty without + or #")
        cfg.device_id = str(cfg.device_id or socket.gethostname()).replace("/", "_")
        try:
            cfg.keepalive, cfg.queue_max_mb = int(cfg.keepalive), float(cfg.queue_max_mb)
            cfg.port = None if cfg.port is None else int(cfg.port)
            cfg.connect_timeout, cfg.drain_s = float(cfg.connect_timeout), float(cfg.drain_s)
        except (TypeError, ValueError):
            raise UplinkConfigError("MQTT port, keepalive, queue_max_mb, connect_timeout and drain_s "
                                    "must be numbers") from None
        if isinstance(cfg.insecure, str):
            cfg.insecure = cfg.insecure.lower() in ("1", "true", "yes")
        if cfg.keepalive < 1 or cfg.queue_max_mb <= 0:
            raise UplinkConfigError("MQTT keepalive must be >= 1 s and queue_max_mb > 0")
        for k in ("ca_file", "cert_file", "key_file"):
            p = getattr(cfg, k)
            if p and not Path(p).is_file():
                raise UplinkConfigError(f"MQTT {k} {p} does not exist")
        return cfg


def default_queue_path(device_id: str) -> Path:
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "tgll-edge" / f"mqtt-{device_id}.sqlite"


def _now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class DiskQueue:
    """The SQLite store-and-forward queue: one writer (``put``, the pipeline's thread), one sender
    (the uplink's worker thread, its own connection)."""

    CHECK_EVERY = 16

    def __init__(self, path, max_bytes: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.lock = threading.Lock()
        self.db = self._connect()
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                            "topic TEXT NOT NULL, payload BLOB NOT NULL, priority INTEGER NOT NULL)")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('queue_id', ?)", (uuid.uuid4().hex[:12],))
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('dropped', '0')")
        self.queue_id = self.db.execute("SELECT value FROM meta WHERE key='queue_id'").fetchone()[0]
        self.dropped = int(self.db.execute("SELECT value FROM meta WHERE key='dropped'").fetchone()[0])
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name='queue'").fetchone()
        self.seq = int(row[0]) if row else 0
        self.page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        self.overflowing = False
        self._puts = 0  # the bound is checked every CHECK_EVERY messages (two PRAGMAs each time)

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")    # WAL: a killed process loses nothing
            db.execute("PRAGMA journal_size_limit=4194304")
        except sqlite3.Error as exc:
            raise UplinkError(f"MQTT queue {self.path}: {exc}") from None
        return db

    def used_bytes(self, db=None) -> int:
        db = db or self.db
        pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages * self.page_size)

    def put(self, topic_suffix: str, obj: dict, priority: int) -> tuple[int, int]:
        """Commit one message; returns (seq, messages dropped to make room)."""
        with self.lock:
            self.seq += 1
            obj["seq"] = self.seq
            obj["msg_id"] = f"{self.queue_id}-{self.seq}"
            payload = json.dumps(obj, separators=(",", ":")).encode()
            self.db.execute("INSERT INTO queue (id, topic, payload, priority) VALUES (?, ?, ?, ?)",
                            (self.seq, topic_suffix, payload, priority))
            self._puts += 1
            dropped = 0
            if self._puts % self.CHECK_EVERY == 0 and self.used_bytes() > self.max_bytes:
                dropped = self._trim()
            elif self._puts % self.CHECK_EVERY == 0:
                self.overflowing = False
            return self.seq, dropped

    def _trim(self) -> int:
        """Drop the oldest routine messages, then the oldest of any kind, to 90% of the bound."""
        n = 0
        while self.used_bytes() > 0.9 * self.max_bytes:
            cur = self.db.execute("DELETE FROM queue WHERE id IN (SELECT id FROM queue WHERE priority=0 "
                                  "ORDER BY id LIMIT 64)")
            if cur.rowcount <= 0:
                cur = self.db.execute("DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT 64)")
            if cur.rowcount <= 0:
                break
            n += cur.rowcount
        self.dropped += n
        self.db.execute("UPDATE meta SET value=? WHERE key='dropped'", (str(self.dropped),))
        return n

    def pending(self, db=None) -> int:
        return (db or self.db).execute("SELECT COUNT(*) FROM queue").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _priority(result) -> int:
    if isinstance(result, Finding):
        return 1 if (result.labels and not result.skipped) else 0
    return 1


class MqttUplink(Sink):
    """The MQTT sink: every result -> disk queue -> broker (see the module doc).

    ``start()`` tries the broker once (``connect_timeout``): refused credentials
    raise :class:`UplinkAuthError` there, so a misconfigured gateway stops with a
    clear message; an unreachable broker only means queueing until it is back.
    """

    def __init__(self, config: MqttConfig, log=None):
        self.cfg = config
        self.log = log or (lambda msg: print(f"tgll-stream: mqtt: {msg}", file=sys.stderr, flush=True))
        self.prefix = f"{config.topic}/{config.device_id}"
        self.presence_topic = f"{self.prefix}/presence"
        self.queue = DiskQueue(config.queue or default_queue_path(config.device_id),
                               int(config.queue_max_mb * 1024 * 1024))
        self.counters = {"queued": 0, "sent": 0, "dropped": 0, "connects": 0, "connect_failures": 0}
        self.connected = threading.Event()
        self._tried = threading.Event()  # the first connection attempt is over (either way)
        self.auth_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._draining_until = 0.0

    # -- sink hooks ---------------------------------------------------------------------------
    def start(self, pipeline=None) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tgll-mqtt", daemon=True)
        self._thread.start()
        self._tried.wait(self.cfg.connect_timeout + 1.0)
        if self.auth_error is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self.queue.close()
            self._closed = True
            raise UplinkAuthError(f"MQTT broker {self.cfg.broker} refused the connection: {self.auth_error} "
                                  f"(user {self.cfg.username!r}; set the credentials in the config file or "
                                  "TGLL_MQTT_USERNAME / TGLL_MQTT_PASSWORD)")
        if not self.connected.is_set():
            self.log(f"broker {self.cfg.broker} not reachable yet; queueing to {self.queue.path}")

    def __call__(self, result) -> None:
        if isinstance(result, Finding):
            kind = "finding"
        elif isinstance(result, Gap):
            kind = "gap"
        elif isinstance(result, Status):
            kind = "status"
        else:
            return
        self.publish(kind, to_json(result), _priority(result))

    def summary(self, summary: dict) -> None:
        self.publish("summary", {**summary, "uplink": self.stats()}, 1)

    def publish(self, kind: str, obj: dict, priority: int = 1) -> int:
        """Queue one message for ``PREFIX/DEVICE/kind``; returns its seq."""
        if self._closed:
            raise UplinkError("the MQTT uplink is closed")
        obj = {**obj, "device_id": self.cfg.device_id, "gateway_time": _now_iso()}
        try:
            seq, dropped = self.queue.put(kind, obj, priority)
        except sqlite3.Error as exc:  # a full or failing disk: the stream goes on, the loss is counted
            self.counters["dropped"] += 1
            self.counters["queue_errors"] = self.counters.get("queue_errors", 0) + 1
            if self.counters["queue_errors"] in (1, 100) or self.counters["queue_errors"] % 10000 == 0:
                self.log(f"cannot queue to {self.queue.path}: {exc} ({self.counters['queue_errors']} lost)")
            return -1
        self.counters["queued"] += 1
        if dropped:
            self.counters["dropped"] += dropped
            if not self.queue.overflowing:
                self.queue.overflowing = True
                self.log(f"queue full ({self.cfg.queue_max_mb:g} MiB): dropped {dropped} oldest messages")
                self.queue.put("status", {"type": "status", "kind": "uplink_overflow",
                                          "message": f"MQTT queue full: {dropped} oldest messages dropped",
                                          "detail": {"dropped": dropped, "dropped_total": self.queue.dropped},
                                          "device_id": self.cfg.device_id, "gateway_time": _now_iso()}, 1)
        self._wake.set()
        return seq

    def stats(self) -> dict:
        return {**self.counters, "dropped_total": self.queue.dropped, "queue_path": str(self.queue.path)}

    def close(self) -> None:
        """Wait up to ``drain_s`` for the queue to empty, publish "offline", disconnect."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._draining_until = time.monotonic() + self.cfg.drain_s
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=self.cfg.drain_s + self.cfg.connect_timeout + 5)
        self.queue.close()

    # -- the worker thread -------------------------------------------------------------------
    def _client(self):
        try:
            import paho.mqtt.client as mqtt
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise UplinkError("the MQTT uplink needs the [mqtt] extra: pip install 'tgll-edge[mqtt]'") from exc
        cid = self.cfg.client_id or f"tgll-{self.cfg.device_id}"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311,
                        clean_session=True)
        c.connect_timeout = self.cfg.connect_timeout
        if self.cfg.username is not None:
            c.username_pw_set(self.cfg.username, self.cfg.password)
        c.will_set(self.presence_topic, "offline", qos=1, retain=True)
        if self.cfg.tls:
            c.tls_set(ca_certs=self.cfg.ca_file, certfile=self.cfg.cert_file, keyfile=self.cfg.key_file)
            if self.cfg.insecure:
                c.tls_insecure_set(True)
        c.max_inflight_messages_set(self.WINDOW)
        c.max_queued_messages_set(0)
        return c

    WINDOW = 100

    def _run(self) -> None:
        db = self.queue._connect()  # the sender's own connection
        st = {"client": None, "inflight": {}, "acked": [], "cursor": 0}
        backoff, next_try, last_sync = 0.5, 0.0, time.monotonic()

        def on_connect(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                code = reason_code.value
                st["refused"] = AUTH_CODES.get(code, str(reason_code))
                if code in AUTH_CODES:
                    self.auth_error = AUTH_CODES[code]
            else:
                st["ok"] = True

        def on_disconnect(client, userdata, flags, reason_code, properties):
            st["lost"] = True

        def on_publish(client, userdata, mid, reason_code, properties):
            row = st["inflight"].pop(mid, None)
            if row is not None:
                st["acked"].append(row)

        try:
            while True:
                if time.monotonic() - last_sync > 1.0:  # the WAL to disk (connected or not): a power cut
                    with self.queue.lock:                 # loses at most the last second
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    last_sync = time.monotonic()
                stopping = self._stop.is_set()
                if stopping and (time.monotonic() > self._draining_until
                                 or (not st["inflight"] and self.queue.pending(db) == 0)):
                    break  # (while disconnected, closing keeps trying to deliver for drain_s)
                c = st["client"]
                if c is None:
                    if time.monotonic() < next_try:
                        self._wake.wait(min(0.2, next_try - time.monotonic()))
                        self._wake.clear()
                        continue
                    c = self._client()
                    st.update(client=c, ok=False, lost=False, refused=None, inflight={}, cursor=0)
                    c.on_connect, c.on_disconnect, c.on_publish = on_connect, on_disconnect, on_publish
                    t0 = time.monotonic()
                    try:
                        c.connect(self.cfg.host, self.cfg.port or DEFAULT_PORTS["mqtts" if self.cfg.tls else "mqtt"],
                                  keepalive=self.cfg.keepalive)
                        while not (st["ok"] or st["refused"] or st["lost"]) and \
                                time.monotonic() - t0 < self.cfg.connect_timeout:
                            c.loop(timeout=0.05)
                    except (OSError, ValueError) as exc:
                        st["refused"] = str(exc) or type(exc).__name__
                    if not st["ok"]:
                        self._tried.set()
                        self.counters["connect_failures"] += 1
                        if self.auth_error is not None and self.counters["connects"] == 0:
                            return  # start() reports it
                        if self.counters["connect_failures"] in (1, 10) or self.counters["connect_failures"] % 100 == 0:
                            why = st["refused"] or "no answer"
                            self.log(f"cannot connect to {self.cfg.broker}: {why}; retrying (queue kept on disk)")
                        try:
                            c.disconnect()
                        except Exception:
                            pass
                        st["client"] = None
                        next_try = time.monotonic() + backoff
                        backoff = min(backoff * 2, MAX_BACKOFF_S)
                        continue
                    backoff = 0.5
                    self.counters["connects"] += 1
                    if self.counters["connects"] > 1:
                        self.log(f"reconnected to {self.cfg.broker}")
                    c.publish(self.presence_topic, "online", qos=1, retain=True)
                    self.connected.set()
                    self._tried.set()
                # connected: keep the window of unacknowledged messages full, in queue order
                room = self.WINDOW - len(st["inflight"])
                if room > 0:
                    rows = db.execute("SELECT id, topic, payload FROM queue WHERE id > ? ORDER BY id LIMIT ?",
                                      (st["cursor"], room)).fetchall()
                    for rid, suffix, payload in rows:
                        info = c.publish(f"{self.prefix}/{suffix}", payload, qos=1)
                        if info.rc != 0:
                            st["lost"] = True
                            break
                        st["inflight"][info.mid] = rid
                        st["cursor"] = rid
                c.loop(timeout=0.01 if st["inflight"] else 0.05)
                if st["acked"]:
                    acked, st["acked"] = st["acked"], []
                    with self.queue.lock:
                        db.execute("BEGIN")
                        db.executemany("DELETE FROM queue WHERE id=?", [(r,) for r in acked])
                        db.execute("COMMIT")
                    self.counters["sent"] += len(acked)
                if st["lost"]:
                    self.connected.clear()
                    st["client"] = None
                    if not stopping:
                        self.log(f"connection to {self.cfg.broker} lost; queueing to disk")
                    next_try = time.monotonic() + backoff
        finally:
            c = st["client"]
            if c is not None and self.connected.is_set():
                try:  # a clean goodbye: "offline" (the will is not sent on a clean disconnect)
                    info = c.publish(self.presence_topic, "offline", qos=1, retain=True)
                    t0 = time.monotonic()
                    while not info.is_published() and time.monotonic() - t0 < 2.0:
                        c.loop(timeout=0.05)
                    c.disconnect()
                    c.loop(timeout=0.05)
                except Exception:
                    pass
            self.connected.clear()
            db.close()
