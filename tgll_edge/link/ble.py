"""BLE source (bleak, the ``[ble]`` extra) for the TGLL link protocol.

The device notifies the byte stream on the stream characteristic in chunks of at
most ATT_MTU - 3 bytes; a packet may span notifications, so the chunks go through
the same ``LinkReceiver`` (Decoder + Timeline) as a serial port: reassembly is on
the 0x00 delimiters, independent of how the stream was cut. Commands are written
to the control characteristic with response.

bleak is asyncio; this source runs its own event loop in a daemon thread and hands
notification chunks to the iterating thread through a queue. On a disconnect it
yields ``Status("disconnected")``, reconnects with backoff, re-subscribes and sends
START. Callbacks are never duplicated: the old client is unsubscribed
(``stop_notify``) and dropped, and every subscription carries a generation number;
chunks (and disconnect callbacks) from an older generation are discarded (counted in
``stale_notifications``), even where a backend still delivers them late.

``client_factory`` / ``find_device`` replace bleak's ``BleakClient`` / ``BleakScanner``
(another backend, or a virtual BLE link in tests); by default bleak is used.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from .blocks import Event, Status
from .protocol import get_info_command, start_command, stop_command
from .receiver import LinkReceiver
from .source import LinkError, Source

SERVICE_UUID = "7e1a0001-5c1d-4b6e-9a57-2f0c3b8e1d01"
STREAM_UUID = "7e1a0002-5c1d-4b6e-9a57-2f0c3b8e1d01"
CONTROL_UUID = "7e1a0003-5c1d-4b6e-9a57-2f0c3b8e1d01"
NAME_PREFIX = "TGLL-"


def _bleak():
    try:
        import bleak
    except ImportError:
        raise LinkError("BLE needs bleak: pip install 'tgll-edge[ble]'") from None
    return bleak


def _looks_like_address(s: str) -> bool:
    parts = s.split(":")
    return (len(parts) == 6 and all(len(p) == 2 for p in parts)) or (len(s) == 36 and s.count("-") == 4)


async def bleak_find_device(target: str, timeout: float):
    """The default ``find_device``: bleak's scanner, by address (or macOS UUID) or by exact name."""
    scanner = _bleak().BleakScanner
    if _looks_like_address(target):
        return await scanner.find_device_by_address(target, timeout=timeout)
    return await scanner.find_device_by_name(target, timeout=timeout)


def bleak_client(device, disconnected_callback=None):
    """The default ``client_factory``: ``bleak.BleakClient``."""
    return _bleak().BleakClient(device, disconnected_callback=disconnected_callback)


class BleStreamAssembler(LinkReceiver):
    """Notification chunks (any MTU split) -> events, exactly as the serial path.

    ``notification(chunk)`` is ``feed(chunk)``; it exists so BLE code reads as BLE.
    """

    def notification(self, chunk: bytes, now: float | None = None) -> list[Event]:
        return self.feed(bytes(chunk), now)


_DISCONNECTED = object()


async def _cancel_other_tasks() -> None:
    """Cancel what the BLE backend left running on this source's loop, before it closes."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class BleSource(Source):
    """Events from a TGLL device over BLE.

    target: a name (exact, e.g. ``TGLL-0001``) or an address (``AA:BB:..`` / a macOS UUID).
    scan_timeout: seconds to look for the device; info_timeout: seconds to wait for INFO.
    reconnect / max_reconnect_s / backoff: as SerialSource.
    client_factory: ``factory(device, disconnected_callback=cb)`` -> an object with bleak's
    ``BleakClient`` interface (``connect``, ``disconnect``, ``start_notify(uuid, cb(sender, data))``,
    ``stop_notify(uuid)``, ``write_gatt_char(uuid, data, response=True)``); ``cb(client)`` on a
    disconnect. Default: ``bleak.BleakClient``.
    find_device: ``async find_device(target, timeout)`` -> the device to hand to ``client_factory``,
    or None if not found. Default: ``bleak.BleakScanner`` by address or name.
    """

    name = "ble"

    def __init__(self, target: str, *, scan_timeout: float = 10.0, info_timeout: float = 5.0,
                 reconnect: bool = True, max_reconnect_s: float | None = 60.0,
                 backoff: tuple[float, float] = (0.5, 5.0),
                 client_factory: Callable[..., Any] | None = None,
                 find_device: Callable[[str, float], Awaitable[Any]] | None = None):
        super().__init__()
        self.target = target
        self.scan_timeout, self.info_timeout = scan_timeout, info_timeout
        self.reconnect, self.max_reconnect_s, self.backoff = reconnect, max_reconnect_s, backoff
        self._client_factory = client_factory or bleak_client
        self._find_device = find_device or bleak_find_device
        self._rx = BleStreamAssembler(request_info=lambda: self._write_soon(get_info_command()))
        self._q: queue.Queue = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client = None
        self._generation = 0
        self._c = {"reconnects": 0, "disconnects": 0, "notifications": 0, "stale_notifications": 0,
                   "subscriptions": 0}
        self._pending: list[Event] = []

    # --- the asyncio side (runs in the loop thread) ----------------------------------

    def _start_loop(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tgll-ble", daemon=True)
        self._thread.start()

    def _call(self, coro, timeout: float | None = None):
        loop = self._loop
        if loop is None:  # closed meanwhile
            coro.close()
            raise LinkError(f"BLE source for {self.target!r} is closed")
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise LinkError(f"BLE device {self.target!r}: no answer within {timeout:g} s") from None

    async def _find(self):
        try:
            dev = await self._find_device(self.target, self.scan_timeout)
        except LinkError:
            raise
        except Exception as exc:
            raise LinkError(f"BLE scan for {self.target!r} failed: {exc}") from None
        if dev is None:
            raise LinkError(f"BLE device {self.target!r} not found within {self.scan_timeout:g} s")
        return dev

    async def _connect(self) -> None:
        """Drop the old client, then connect, subscribe and send START with a new generation."""
        self._generation += 1  # from here on, whatever the old client still delivers is stale
        gen = self._generation
        await self._drop_client()
        dev = await self._find()
        client = self._client_factory(dev, disconnected_callback=lambda _c: self._on_disconnect(gen))
        try:
            await client.connect()
            await client.start_notify(STREAM_UUID, lambda _s, data: self._on_notify(gen, data))
            await client.write_gatt_char(CONTROL_UUID, start_command(), response=True)
        except Exception as exc:
            try:
                await client.disconnect()
            except Exception:
                pass
            raise LinkError(f"BLE device {self.target!r}: cannot connect/subscribe/start: {exc}") from None
        self._client = client
        self._c["subscriptions"] += 1

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.stop_notify(STREAM_UUID)
        except Exception:
            pass
        try:
            await client.disconnect()
        except Exception:
            pass

    def _on_notify(self, gen: int, data) -> None:
        if gen != self._generation:
            self._c["stale_notifications"] += 1
            return
        self._c["notifications"] += 1
        self._q.put((bytes(data), time.monotonic()))

    def _on_disconnect(self, gen: int) -> None:
        if gen == self._generation:
            self._q.put((_DISCONNECTED, gen))

    def _is_disconnect(self, item) -> bool:
        """A disconnect of the current client? (One from an older client is dropped.)"""
        return item[0] is _DISCONNECTED and item[1] == self._generation

    async def _write(self, data: bytes) -> None:
        if self._client is not None:
            await self._client.write_gatt_char(CONTROL_UUID, data, response=True)

    def _write_soon(self, data: bytes) -> None:
        if self._loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self._write(data), self._loop)
            fut.add_done_callback(lambda f: f.exception())  # a failed write shows up as a disconnect

    # --- the iterating side ---------------------------------------------------------

    def _open(self) -> None:
        self._start_loop()
        try:
            self._call(self._connect(), timeout=self.scan_timeout + 30)
            self._wait_for_info()
        except BaseException:
            self._shutdown()
            raise

    def _wait_for_info(self) -> None:
        """Until INFO arrives (sent after START; asked for with GET_INFO half-way through the wait)."""
        deadline = time.monotonic() + self.info_timeout
        nudge_at = deadline - self.info_timeout / 2
        have = self._rx.timeline.stats["info_packets"]
        while self._rx.timeline.stats["info_packets"] == have:
            now = time.monotonic()
            if now >= deadline:
                raise LinkError(f"no INFO from BLE device {self.target!r} within {self.info_timeout:g} s")
            if nudge_at is not None and now >= nudge_at:
                nudge_at = None
                self._write_soon(get_info_command())
            try:
                item = self._q.get(timeout=min(deadline - now, 0.1))
            except queue.Empty:
                continue
            if item[0] is _DISCONNECTED:
                if self._is_disconnect(item):
                    raise LinkError(f"BLE device {self.target!r} disconnected during start-up")
                continue
            self._pending += self._rx.notification(*item)

    def _events(self) -> Iterator[Event]:
        yield Status("connected", f"BLE {self.target}", {"target": self.target})
        while not self.closed:
            if self._pending:
                events, self._pending = self._pending, []
                yield from events
                continue
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item[0] is _DISCONNECTED:
                if self.closed:
                    return
                if self._is_disconnect(item):
                    yield from self._recover()
                continue
            yield from self._rx.notification(*item)

    def _recover(self) -> Iterator[Event]:
        self._c["disconnects"] += 1
        self._rx.disconnected()
        yield Status("disconnected", f"BLE {self.target} lost", {"target": self.target})
        if not self.reconnect:
            raise LinkError(f"BLE device {self.target!r} disconnected; reconnect is off")
        def connect():
            self._call(self._connect(), timeout=self.scan_timeout + 30)
            self._wait_for_info()

        result = self._reconnect(connect, f"BLE device {self.target!r}")
        if result is None:
            return
        attempts, outage = result
        self._c["reconnects"] += 1
        yield Status("reconnected", f"BLE {self.target} back after {outage:.1f} s",
                     {"target": self.target, "attempts": attempts})

    def _counters(self) -> dict:
        return {**self._rx.stats, **self._c}

    def _shutdown(self) -> None:
        if self._loop is None:
            return
        try:
            if self._client is not None:
                try:
                    self._call(self._write(stop_command()), timeout=2)
                except Exception:
                    pass
            self._call(self._drop_client(), timeout=5)
            self._call(_cancel_other_tasks(), timeout=2)
        except Exception:
            pass
        loop, self._loop = self._loop, None
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=2)
            if not self._thread.is_alive():
                loop.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._shutdown()
