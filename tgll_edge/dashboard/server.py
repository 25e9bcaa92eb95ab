"""The dashboard's HTTP server: the standard library only (a Pi needs nothing more for a few browsers).

Routes:

* ``GET /``: the page (``static/index.html``; JS and CSS beside it, shipped in the wheel);
* ``GET /static/<file>``: the page's files;
* ``GET /events``: the push channel, Server-Sent Events (one JSON frame per event);
* ``GET /state``: one snapshot frame as JSON (for scripts and tests);
* ``GET /stats``: the server's own counters (clients, frames sent and dropped).

Threads: ``serve_forever`` in one daemon thread, one daemon thread per request
(``ThreadingHTTPServer``), and one publisher thread that asks the sink for a
frame ``rate`` times a second, encodes it once, and offers it to every browser.

Drop policy: each browser has its own queue of at most ``queue_frames``
frames. The publisher never waits: when a browser's queue is full (a slow
network, a sleeping tab), that frame is dropped for that browser, counted, and
the browser is marked stale; its next frame is a full snapshot, so its view is
never stitched across frames it did not get. A browser whose socket stays
unwritable for ``send_timeout`` s is disconnected. The pipeline thread never
touches any of this: it only calls the sink's hooks.

Access: by default the server listens on 127.0.0.1 only. With a token, every
request must carry it (``?token=...``, or ``Authorization: Bearer ...``);
the page forwards the token it was opened with.
"""
from __future__ import annotations

import hmac
import ipaddress
import http.server
import json
import mimetypes
import queue
import socket
import threading
import time
import urllib.parse
from importlib import resources

from ..errors import TgllError
from .sink import dumps


class DashboardError(TgllError, OSError):
    """The dashboard cannot serve (address in use, bad address)."""


STATIC_FILES = ("index.html", "app.js", "style.css")


def _static(name: str) -> bytes:
    return resources.files("tgll_edge.dashboard").joinpath("static", name).read_bytes()


class Client:
    """One connected browser: a bounded queue and its accounting."""

    def __init__(self, cid: int, peer: str, maxsize: int):
        self.id = cid
        self.peer = peer
        self.queue: queue.Queue = queue.Queue(maxsize)
        self.stale = True          # needs a snapshot before any delta
        self.offered = 0           # frames the publisher had for it
        self.queued = 0            # of those, queued (the rest dropped)
        self.dropped = 0
        self.sent = 0              # written to its socket
        self.max_depth = 0
        self.connected_at = time.monotonic()
        self.closed = False

    def as_dict(self) -> dict:
        return {"id": self.id, "peer": self.peer, "offered": self.offered, "queued": self.queued,
                "dropped": self.dropped, "sent": self.sent, "depth": self.queue.qsize(),
                "max_depth": self.max_depth, "seconds": round(time.monotonic() - self.connected_at, 1)}


class Hub:
    """Fans frames out to clients without ever blocking the publisher."""

    def __init__(self, queue_frames: int = 8, max_clients: int = 16):
        self.queue_frames = queue_frames
        self.max_clients = max_clients
        self.clients: dict[int, Client] = {}
        self._lock = threading.Lock()
        self._next_id = 0
        self.totals = {"connects": 0, "disconnects": 0, "refused": 0, "frames": 0, "snapshots": 0,
                       "offered": 0, "queued": 0, "dropped": 0, "sent": 0}

    def register(self, peer: str) -> Client | None:
        with self._lock:
            if len(self.clients) >= self.max_clients:
                self.totals["refused"] += 1
                return None
            self._next_id += 1
            c = Client(self._next_id, peer, self.queue_frames)
            self.clients[c.id] = c
            self.totals["connects"] += 1
            return c

    def unregister(self, c: Client) -> None:
        with self._lock:
            if self.clients.pop(c.id, None) is not None:
                self.totals["disconnects"] += 1
                self.totals["sent"] += c.sent
            c.closed = True

    def publish(self, delta: bytes | None, snapshot) -> None:
        """Offer one delta (None: nothing new) to every client; ``snapshot()`` builds the
        encoded snapshot, at most once per call, for clients that need one."""
        with self._lock:
            clients = list(self.clients.values())
        snap = None
        if delta is not None:
            self.totals["frames"] += 1
        for c in clients:
            if delta is None and not c.stale:
                continue
            c.offered += 1
            self.totals["offered"] += 1
            if c.queue.full():
                c.dropped += 1
                self.totals["dropped"] += 1
                c.stale = True
                continue
            if c.stale:
                if snap is None:
                    snap = snapshot()
                    self.totals["snapshots"] += 1
                item = snap
            else:
                item = delta
            try:
                c.queue.put_nowait(item)
            except queue.Full:  # only this thread puts, but be safe
                c.dropped += 1
                self.totals["dropped"] += 1
                c.stale = True
                continue
            c.stale = False
            c.queued += 1
            self.totals["queued"] += 1
            c.max_depth = max(c.max_depth, c.queue.qsize())

    def stats(self) -> dict:
        with self._lock:
            clients = [c.as_dict() for c in self.clients.values()]
            totals = dict(self.totals)
        totals["sent"] += sum(c["sent"] for c in clients)
        return {"clients": len(clients), "queue_frames": self.queue_frames, "totals": totals,
                "per_client": clients}


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """'8080' -> ('127.0.0.1', 8080); '0.0.0.0:8080'; '[::1]:8080'. ValueError when malformed."""
    text = text.strip()
    host, port = default_host, text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1:].startswith(":"):
            raise ValueError(f"expected [HOST]:PORT, got {text!r}")
        host, port = text[1:end], text[end + 2:]
    elif ":" in text:
        host, port = text.rsplit(":", 1)
        if ":" in host:
            raise ValueError(f"an IPv6 host goes in brackets: [HOST]:PORT, got {text!r}")
        host = host or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port must be a number 0..65535, got {port!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "tgll-dashboard"
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # no request log on the gateway's stderr
        pass

    @property
    def dash(self) -> "DashboardServer":
        return self.server.dashboard

    def _host_ok(self) -> bool:
        """Without a token, only requests naming this machine (an IP address, localhost, its host name):
        a web page elsewhere cannot reach the dashboard through a rebound DNS name."""
        host = self.headers.get("Host", "")
        name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 \
            else host
        name = name.lower().rstrip(".")
        if not name:  # no Host header: not a browser, so not a rebound page either
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        me = socket.gethostname().lower()
        return name in ("localhost", me, me + ".local", socket.getfqdn().lower())

    def _authorized(self, query: dict) -> bool:
        token = self.dash.token
        if not token:
            return self._host_ok()
        given = (query.get("token") or [""])[0]
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            given = given or auth[7:].strip()
        return hmac.compare_digest(given.encode(), token.encode())

    def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        if not self._authorized(query):
            self._send(401 if self.dash.token else 403,
                       b"dashboard token required: open the page as /?token=...\n" if self.dash.token else
                       b"unknown Host: open the dashboard by this machine's address or name\n", "text/plain")
            return
        try:
            if path in ("/", "/index.html"):
                self._send(200, _static("index.html"), "text/html; charset=utf-8")
            elif path.startswith("/static/") and path[8:] in STATIC_FILES:
                name = path[8:]
                ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
                self._send(200, _static(name), ctype + ("; charset=utf-8" if ctype.startswith("text") or
                                                         name.endswith(".js") else ""))
            elif path == "/events":
                self._events()
            elif path == "/state":
                self._send(200, dumps(self.dash.sink_state()), "application/json")
            elif path == "/stats":
                stats = self.dash.hub.stats()
                stats.update(publish_errors=self.dash.publish_errors, last_publish_error=self.dash.last_publish_error,
                             last_publish_ms=round(self.dash.last_publish_ms, 3))
                self._send(200, json.dumps(stats).encode(), "application/json")
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._send(404, b"not found\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass

    def _events(self) -> None:
        hub = self.dash.hub
        client = hub.register(f"{self.client_address[0]}:{self.client_address[1]}")
        if client is None:
            self._send(503, b"too many dashboard clients\n", "text/plain", {"Retry-After": "5"})
            return
        try:
            self.connection.settimeout(self.dash.send_timeout)
            if self.dash.send_buffer:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(self.dash.send_buffer))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            self.dash.wake()  # the snapshot goes out now, not at the next tick
            while True:
                try:
                    item = client.queue.get(timeout=1.0)
                except queue.Empty:
                    if self.dash.closing.is_set():
                        break
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                    continue
                if item is None:
                    break
                self.wfile.write(item)
                self.wfile.flush()
                client.sent += 1
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, OSError):
            pass
        finally:
            hub.unregister(client)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32


class DashboardServer:
    """Serves the page and pushes the attached sink's frames.

    ``DashboardServer(host, port, token)`` binds at once (``port`` 0: any free
    port; see ``.port``), so a busy address fails before the stream starts; the
    threads start with ``start()`` (the sink calls it when attached).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None, *,
                 rate: float = 10.0, queue_frames: int = 8, max_clients: int = 16, send_timeout: float = 20.0,
                 send_buffer: int | None = None):
        self.host, self.token = host, token or None
        self.send_buffer = send_buffer  # SO_SNDBUF for event streams (None: the kernel's); tests make it small
        self.rate = float(rate)
        self.send_timeout = send_timeout
        self.hub = Hub(queue_frames, max_clients)
        self.sink = None
        self.closing = threading.Event()
        self._stop_publisher = threading.Event()
        self._wake = threading.Event()
        cls = _HTTPServer
        if ":" in host:
            cls = type("_HTTPServer6", (_HTTPServer,), {"address_family": socket.AF_INET6})
        try:
            self.httpd = cls((host, port), _Handler)
        except (OSError, OverflowError) as exc:
            raise DashboardError(f"dashboard cannot listen on {host}:{port}: {exc}") from exc
        self.httpd.dashboard = self
        self.port = self.httpd.server_address[1]
        self._threads: list[threading.Thread] = []
        self.publish_errors = 0
        self.last_publish_error = ""
        self.last_publish_ms = 0.0

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/" + (f"?token={urllib.parse.quote(self.token)}" if self.token else "")

    def attach(self, sink) -> None:
        self.sink = sink
        self.start()

    def start(self) -> None:
        if self._threads:
            return
        for target, name in ((self.httpd.serve_forever, "tgll-dashboard-http"),
                             (self._publisher, "tgll-dashboard-publisher")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        self._wake.set()

    def sink_state(self) -> dict:
        return self.sink.state() if self.sink is not None else {"type": "snapshot", "meta": {}, "live": {}}

    def _publisher(self) -> None:
        period = 1.0 / self.rate
        last_beat = 0.0
        while not self._stop_publisher.is_set():
            self._wake.wait(period)
            self._wake.clear()
            if self._stop_publisher.is_set() or self.sink is None:
                continue
            t0 = time.perf_counter()
            try:
                with self.hub._lock:
                    anyone = bool(self.hub.clients)
                if not anyone:
                    continue
                now = time.monotonic()
                delta = None
                # a delta when something changed, or once a second (counters, uptime)
                if self.sink.changed() or now - last_beat >= 1.0:
                    delta = dumps(self.sink.frame(snapshot=False))
                    last_beat = now
                self.hub.publish(None if delta is None else b"data: " + delta + b"\n\n",
                                 lambda: b"data: " + dumps(self.sink.frame(snapshot=True)) + b"\n\n")
            except (ValueError, TypeError, KeyError, RuntimeError) as exc:  # one bad frame must not end the view
                self.publish_errors += 1
                self.last_publish_error = f"{type(exc).__name__}: {exc}"
            self.last_publish_ms = (time.perf_counter() - t0) * 1000.0

    def close(self, grace: float = 0.5) -> None:
        """Send a last frame (the final summary), end every stream, stop serving."""
        if self.closing.is_set():
            return
        self._stop_publisher.set()
        self._wake.set()
        for t in self._threads[1:]:
            t.join(timeout=2.0)
        if self.sink is not None and self._threads:
            try:
                self.hub.publish(b"data: " + dumps(self.sink.frame(snapshot=False)) + b"\n\n",
                                 lambda: b"data: " + dumps(self.sink.frame(snapshot=True)) + b"\n\n")
            except (ValueError, TypeError, KeyError, RuntimeError) as exc:
                self.publish_errors += 1
                self.last_publish_error = f"{type(exc).__name__}: {exc}"
        self.closing.set()
        with self.hub._lock:
            clients = list(self.hub.clients.values())
        for c in clients:
            try:
                c.queue.put_nowait(None)
            except queue.Full:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(not c.queue.empty() and not c.closed for c in clients):
            time.sleep(0.02)
        if self._threads:
            self.httpd.shutdown()
            self._threads[0].join(timeout=2.0)
        self.httpd.server_close()
