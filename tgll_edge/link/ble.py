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
chunks from an older generation are discarded (counted in ``stale_notifications``).
"""
from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Iterator

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


class BleStreamAssembler(LinkReceiver):
    """Notification chunks (any MTU split) -> events, exactly as the serial path.

    ``notification(chunk)`` is ``feed(chunk)``; it exists so BLE code reads as BLE.
    """

    def notification(self, chunk: bytes, now: float | None = None) -> list[Event]:
        return self.feed(bytes(chunk), now)


_DISCONNECTED = object()


class BleSource(Source):
    """Events from a TGLL device over BLE.

    target: a name (exact, e.g. ``TGLL-0001``) or an address (``AA:BB:..`` / a macOS UUID).
    scan_timeout: seconds to look for the device; info_timeout: seconds to wait for INFO.
    reconnect / max_reconnect_s / backoff: as SerialSource.
    """

    name = "ble"

    def __init__(self, target: str, *, scan_timeout: float = 10.0, info_timeout: float = 5.0,
                 reconnect: bool = True, max_reconnect_s: float | None = 60.0,
                 backoff: tuple[float, float] = (0.5, 5.0)):
        super().__init__()
        self.target = target
        self.scan_timeout, self.info_timeout = scan_timeout, info_timeout
        self.reconnect, self.max_reconnect_s, self.backoff = reconnect, max_reconnect_s, backoff
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
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _find(self):
        bleak = _bleak()
        if _looks_like_address(self.target):
            dev = await bleak.BleakScanner.find_device_by_address(self.target, timeout=self.scan_timeout)
        else:
            dev = await bleak.BleakScanner.find_device_by_name(self.target, timeout=self.scan_timeout)
        if dev is None:
            raise LinkError(f"BLE device {self.target!r} not found within {self.scan_timeout:g} s")
        return dev

    async def _connect(self) -> None:
        bleak = _bleak()
        await self._drop_client()
        dev = await self._find()
        self._generation += 1
        gen = self._generation
        client = bleak.BleakClient(dev, disconnected_callback=lambda _c: self._on_disconnect(gen))
        try:
            await client.connect()
            await client.start_notify(STREAM_UUID, lambda _s, data: self._on_notify(gen, data))
        except LinkError:
            raise
        except Exception as exc:
            try:
                await client.disconnect()
            except Exception:
                pass
            raise LinkError(f"BLE device {self.target!r}: cannot connect/subscribe: {exc}") from None
        self._client = client
        self._c["subscriptions"] += 1
        await client.write_gatt_char(CONTROL_UUID, start_command(), response=True)

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
            self._q.put(_DISCONNECTED)

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
        deadline = time.monotonic() + self.info_timeout
        have = self._rx.timeline.stats["info_packets"]
        while self._rx.timeline.stats["info_packets"] == have:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkError(f"no INFO from BLE device {self.target!r} within {self.info_timeout:g} s")
            try:
                item = self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if item is _DISCONNECTED:
                raise LinkError(f"BLE device {self.target!r} disconnected during start-up")
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
            if item is _DISCONNECTED:
                if self.closed:
                    return
                yield from self._recover()
                continue
            yield from self._rx.notification(*item)

    def _recover(self) -> Iterator[Event]:
        self._c["disconnects"] += 1
        self._rx.disconnected()
        yield Status("disconnected", f"BLE {self.target} lost", {"target": self.target})
        if not self.reconnect:
            raise LinkError(f"BLE device {self.target!r} disconnected; reconnect is off")
        t0 = time.monotonic()
        delay, max_delay = self.backoff
        attempts = 0
        while not self.closed:
            if self.max_reconnect_s is not None and time.monotonic() - t0 > self.max_reconnect_s:
                raise LinkError(f"BLE device {self.target!r} did not come back within {self.max_reconnect_s:g} s")
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
            attempts += 1
            try:
                self._call(self._connect(), timeout=self.scan_timeout + 30)
                self._wait_for_info()
            except LinkError:
                continue
            self._c["reconnects"] += 1
            yield Status("reconnected", f"BLE {self.target} back after {time.monotonic() - t0:.1f} s",
                         {"target": self.target, "attempts": attempts})
            return

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
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._loop = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._shutdown()
