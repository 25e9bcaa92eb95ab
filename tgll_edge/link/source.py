"""The lifecycle every source shares: open, iterate events, recover, close; and its counters.

Three layers, each owning one part of it:

- ``Source``: open on first iteration (or ``open()`` to fail early), ``close()`` from
  any thread, one counters dict reported by ``stats``. Replay, recordings, the
  emulator and in-memory event lists are Sources at this level.
- ``TransportSource``: a device that delivers bytes. It owns the read loop, the
  events decoded while connecting, stall detection and reconnect with backoff (the
  outage becomes one Gap, see timeline.py). A transport supplies only
  ``_connect``, ``_read``, ``_write`` and ``_disconnect``.
- ``LinkSource``: the TGLL protocol on a transport (serial, BLE): START, wait for
  INFO asking again with GET_INFO every second, STOP on close.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from ..errors import LinkError
from .blocks import Event, Status, StatusKind
from .protocol import get_info_command, start_command, stop_command
from .receiver import LinkReceiver

#: Counters every source reports (zero where a counter does not apply).
STATS_KEYS = ("packets", "bytes", "crc_errors", "dropped_bytes", "gaps", "missing_samples", "samples",
              "blocks", "reconnects")


class Source:
    """Base class: subclasses implement ``_events()``; ``_open()`` / ``_close()`` if they hold
    a resource. Counters go in ``self.counts`` (or come from ``_counters()``, for those a
    receiver keeps)."""

    name = "source"

    def __init__(self):
        self.closed = False
        self._opened = False
        self.counts: dict[str, int] = {}

    def open(self) -> None:
        """Connect now (to fail early with a clear error); iteration calls it otherwise."""
        if not self._opened:
            self._open()
            self._opened = True

    def _open(self) -> None:
        pass

    def __iter__(self) -> Iterator[Event]:
        self.open()
        return self._events()

    def _events(self) -> Iterator[Event]:
        raise NotImplementedError

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _counters(self) -> dict:
        return {}

    @property
    def stats(self) -> dict:
        out = dict.fromkeys(STATS_KEYS, 0)
        out.update(self._counters())
        out.update(self.counts)
        return out

    def close(self) -> None:
        """Stop (safe from another thread, and to call twice); releases the device."""
        if self.closed:
            return
        self.closed = True
        self._close()

    def _close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EventListSource(Source):
    """Any iterable of events as a Source (an app's own generator, a list in tests)."""

    name = "events"

    def __init__(self, events: Iterable[Event], stats: dict | None = None):
        super().__init__()
        self.events = events
        self.counts.update(stats or {})

    def _events(self) -> Iterator[Event]:
        for event in self.events:
            if self.closed:
                return
            yield event


def as_source(source) -> Source:
    """A Source as is; any other iterable of events wrapped in one."""
    return source if isinstance(source, Source) else EventListSource(source)


class TransportSource(Source):
    """A byte-stream device: the read loop, recovery and the counters.

    reconnect: after the device disappears, connect again; False -> LinkError at once.
    max_reconnect_s: give up (LinkError) when the device stays away this long; None = never.
    backoff: (first, max) delay between reconnect attempts, doubling each time.
    stall_s: no byte for this long while streaming -> ``_restart()`` (None: never).

    ``self.receiver`` turns bytes into events: ``feed(chunk, now)``, ``disconnected()``,
    ``stats``. Subclasses implement ``describe`` (for messages), ``_connect()`` (open the
    transport and start the device; LinkError naming it), ``_read()`` (the next chunk,
    b"" after a short poll; LinkError when the transport is lost), ``_write(data)`` and
    ``_disconnect()`` (drop the transport; never raises); ``_release()`` frees what
    outlives a connection (an event loop) at close.
    """

    receiver: LinkReceiver
    stall_s: float | None = None

    def __init__(self, *, reconnect: bool, max_reconnect_s: float | None, backoff: tuple[float, float]):
        super().__init__()
        self.reconnect, self.max_reconnect_s, self.backoff = reconnect, max_reconnect_s, backoff
        self._pending: list[Event] = []
        self.counts.update(reconnects=0, disconnects=0)

    # --- what a transport supplies ------------------------------------------------
    @property
    def describe(self) -> str:
        raise NotImplementedError

    def _connect(self) -> None:
        raise NotImplementedError

    def _read(self) -> bytes:
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        pass

    def _restart(self) -> None:
        """What a stall calls for (LinkSource: START again)."""

    def _goodbye(self) -> None:
        """The last words to the device before close (LinkSource: STOP)."""

    @property
    def _hello(self) -> str:
        """The connected message."""
        return self.describe

    @property
    def _detail(self) -> dict:
        return {}

    # --- lifecycle ------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._connect()
        except BaseException:
            self._release()
            raise

    def _receive(self) -> None:
        """Read once while connecting; the events are kept for the iterator."""
        self._pending += self.receiver.feed(self._read(), time.monotonic())

    def _events(self) -> Iterator[Event]:
        yield Status(StatusKind.CONNECTED, self._hello, self._detail)
        last_rx = time.monotonic()
        while not self.closed:
            if self._pending:
                events, self._pending = self._pending, []
                yield from events
                continue
            try:
                data = self._read()
            except LinkError as exc:
                if self.closed:
                    break
                yield from self._recover(exc)
                last_rx = time.monotonic()
                continue
            now = time.monotonic()
            if data:
                last_rx = now
                yield from self.receiver.feed(data, now)
            elif self.stall_s is not None and now - last_rx > self.stall_s:
                yield Status(StatusKind.STALLED, f"no data from {self.describe} for {self.stall_s:g} s; "
                                                 "re-sending START")
                try:
                    self._restart()
                except LinkError as exc:
                    yield from self._recover(exc)
                last_rx = time.monotonic()

    def _recover(self, exc: Exception) -> Iterator[Event]:
        self.count("disconnects")
        self._disconnect()
        self.receiver.disconnected()
        yield Status(StatusKind.DISCONNECTED, f"{self.describe} lost: {exc}", self._detail)
        if not self.reconnect:
            raise LinkError(f"{self.describe} disconnected ({exc}); reconnect is off")
        result = self._reconnect()
        if result is None:
            return
        attempts, outage = result
        self.count("reconnects")
        yield Status(StatusKind.RECONNECTED, f"{self.describe} back after {outage:.1f} s",
                     {**self._detail, "attempts": attempts, "outage_s": outage})

    def _reconnect(self) -> tuple[int, float] | None:
        """``_connect()`` with exponential backoff until it stops raising LinkError; return
        (attempts, outage seconds), None if the source was closed meanwhile. Raises
        LinkError after ``max_reconnect_s``."""
        t0 = time.monotonic()
        delay, max_delay = self.backoff
        attempts = 0
        while not self.closed:
            if self.max_reconnect_s is not None and time.monotonic() - t0 > self.max_reconnect_s:
                raise LinkError(f"{self.describe} did not come back within {self.max_reconnect_s:g} s "
                                f"({attempts} attempts)")
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
            attempts += 1
            try:
                self._connect()
            except LinkError:
                continue
            return attempts, time.monotonic() - t0
        return None

    def _counters(self) -> dict:
        return dict(self.receiver.stats)

    def _close(self) -> None:
        try:
            self._goodbye()
        except LinkError:
            pass
        self._disconnect()
        self._release()


class LinkSource(TransportSource):
    """A TGLL-protocol device (PROTOCOL.md) on a transport.

    info_timeout: seconds to wait for INFO after START before giving up (LinkError);
    GET_INFO is sent every ``INFO_RETRY_S`` meanwhile, since START or INFO may be lost.
    """

    INFO_RETRY_S = 1.0

    def __init__(self, *, info_timeout: float, **kw):
        super().__init__(**kw)
        self.info_timeout = info_timeout
        self.receiver = LinkReceiver(request_info=self._request_info)
        self._seq = 0

    @property
    def info(self):
        return self.receiver.info

    def _open_transport(self) -> None:
        raise NotImplementedError

    def _connect(self) -> None:
        """Open the transport, send START, wait for INFO; LinkError naming the device otherwise."""
        self._open_transport()
        try:
            self._command(start_command)
            self._wait_for_info()
        except LinkError:
            self._disconnect()
            raise

    def _wait_for_info(self) -> None:
        deadline = time.monotonic() + self.info_timeout
        next_ask = time.monotonic() + self.INFO_RETRY_S
        have = self.receiver.timeline.stats["info_packets"]
        while self.receiver.timeline.stats["info_packets"] == have:
            now = time.monotonic()
            if now > deadline:
                raise LinkError(f"no INFO from {self.describe} within {self.info_timeout:g} s after START"
                                f"{self._no_info_hint}")
            if now > next_ask:
                self._command(get_info_command)
                next_ask = now + self.INFO_RETRY_S
            self._receive()

    _no_info_hint = ""

    def send(self, packet: bytes) -> None:
        """Write an encoded COMMAND packet (e.g. ``set_rate_command(250)``); LinkError if the link is down."""
        self._write(packet)

    def _command(self, make: Callable[[int], bytes]) -> None:
        self._write(make(self._seq))
        self._seq = (self._seq + 1) & 0xFFFF

    def _request_info(self) -> None:
        """The timeline asks for INFO (data before any INFO): a failing write shows up on the next read."""
        try:
            self._command(get_info_command)
        except LinkError:
            pass

    def _restart(self) -> None:
        self._command(start_command)

    def _goodbye(self) -> None:
        if self._connected:
            self._command(stop_command)

    @property
    def _connected(self) -> bool:
        raise NotImplementedError
