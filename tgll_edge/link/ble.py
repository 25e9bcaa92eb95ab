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

from ..errors import LinkError
from .blocks import Event
from .protocol import get_info_command
from .receiver import LinkReceiver
from .source import LinkSource

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


def backend_errors() -> tuple[type[BaseException], ...]:
    """What a BLE backend raises when the radio, the peer or the OS refuses: bleak's BleakError
    (D-Bus, CoreBluetooth, WinRT errors derive from it), OS and timeout errors, and the
    ConnectionError/EOFError of a link that went away. Programming errors still raise."""
    errors: tuple = (OSError, asyncio.TimeoutError, EOFError)  # ConnectionError is an OSError
    try:
        from bleak.exc import BleakError
        errors += (BleakError,)
    except ImportError:  # another backend (client_factory) without bleak installed
        pass
    return errors


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


class BleSource(LinkSource):
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
    POLL_S = 0.1
    WRITE_TIMEOUT_S = 5.0

    def __init__(self, target: str, *, scan_timeout: float = 10.0, info_timeout: float = 5.0,
                 reconnect: bool = True, max_reconnect_s: float | None = 60.0,
                 backoff: tuple[float, float] = (0.5, 5.0),
                 client_factory: Callable[..., Any] | None = None,
                 find_device: Callable[[str, float], Awaitable[Any]] | None = None):
        super().__init__(info_timeout=info_timeout, reconnect=reconnect, max_reconnect_s=max_reconnect_s,
                         backoff=backoff)
        self.target = target
        self.scan_timeout = scan_timeout
        self._client_factory = client_factory or bleak_client
        self._find_device = find_device or bleak_find_device
        self.receiver = BleStreamAssembler(request_info=self._request_info)
        self._q: queue.Queue = queue.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client = None
        self._generation = 0
        self.counts.update(notifications=0, stale_notifications=0, subscriptions=0)

    @property
    def describe(self) -> str:
        return f"BLE {self.target}"

    @property
    def _detail(self) -> dict:
        return {"target": self.target}

    @property
    def _connected(self) -> bool:
        return self._client is not None

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
        except backend_errors() as exc:
            raise LinkError(f"BLE scan for {self.target!r} failed: {exc}") from None
        if dev is None:
            raise LinkError(f"BLE device {self.target!r} not found within {self.scan_timeout:g} s")
        return dev

    async def _subscribe(self) -> None:
        """Drop the old client, then connect and subscribe with a new generation."""
        self._generation += 1  # from here on, whatever the old client still delivers is stale
        gen = self._generation
        await self._drop_client()
        dev = await self._find()
        client = self._client_factory(dev, disconnected_callback=lambda _c: self._on_disconnect(gen))
        try:
            await client.connect()
            await client.start_notify(STREAM_UUID, lambda _s, data: self._on_notify(gen, data))
        except backend_errors() as exc:
            await _quietly(client.disconnect())
            raise LinkError(f"BLE device {self.target!r}: cannot connect/subscribe: {exc}") from None
        self._client = client
        self.count("subscriptions")

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        await _quietly(client.stop_notify(STREAM_UUID))
        await _quietly(client.disconnect())

    def _on_notify(self, gen: int, data) -> None:
        if gen != self._generation:
            self.count("stale_notifications")
            return
        self.count("notifications")
        self._q.put(bytes(data))

    def _on_disconnect(self, gen: int) -> None:
        if gen == self._generation:
            self._q.put((_DISCONNECTED, gen))

    async def _write_async(self, data: bytes) -> None:
        if self._client is None:
            raise LinkError(f"BLE device {self.target!r} is not connected")
        try:
            await self._client.write_gatt_char(CONTROL_UUID, data, response=True)
        except LinkError:
            raise
        except backend_errors() as exc:
            raise LinkError(f"BLE device {self.target!r}: write failed: {exc}") from None

    # --- the transport LinkSource drives -------------------------------------------

    def _open_transport(self) -> None:
        if self._loop is None:
            self._start_loop()
        self._call(self._subscribe(), timeout=self.scan_timeout + 30)

    def _read(self) -> bytes:
        try:
            item = self._q.get(timeout=self.POLL_S)
        except queue.Empty:
            return b""
        if isinstance(item, bytes):
            return item
        if item[1] == self._generation:  # a disconnect of an older client is dropped
            raise LinkError(f"BLE device {self.target!r} disconnected")
        return b""

    def _write(self, data: bytes) -> None:
        self._call(self._write_async(data), timeout=self.WRITE_TIMEOUT_S)

    def _request_info(self) -> None:
        """Asked from inside the receiver: written without waiting (a failure shows up as a disconnect)."""
        if self._loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self._write_async(get_info_command()), self._loop)
            fut.add_done_callback(lambda f: f.exception())

    def _disconnect(self) -> None:
        if self._loop is not None:
            try:
                self._call(self._drop_client(), timeout=5)
            except LinkError:
                pass

    def _release(self) -> None:
        """Stop the event loop thread (at close, or when opening failed)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(_cancel_other_tasks(), loop).result(2)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=2)
            if not self._thread.is_alive():
                loop.close()


async def _quietly(coro) -> None:
    """Await a BLE teardown step whose failure changes nothing (the link is going anyway)."""
    try:
        await coro
    except backend_errors():  # the link is going anyway
        pass
