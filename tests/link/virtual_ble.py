"""A TGLL device on a virtual BLE link (bumble), and a bleak-like client for it.

``VirtualBle`` puts two bumble ``Device``s, each with its own bumble ``Controller``, on
one in-process ``LocalLink`` (no radio, no OS stack; everything runs on the asyncio loop
that calls ``find_device`` first, which in the tests is BleSource's own loop):

* the peripheral ``TGLL-0001`` advertises the TGLL service (PROTOCOL.md, "BLE transport"),
  serves the stream characteristic (notify) and the control characteristic (write with
  response), decodes the COMMAND packets written to it, ACKs them, sends INFO after START
  and on GET_INFO, and streams real ECG counts as DATA packets. Its byte stream is cut into
  notifications of ATT_MTU - 3 bytes regardless of packet boundaries, so packets span
  notifications;
* the central is driven by ``BumbleClient``, which has the interface of ``bleak.BleakClient``
  that ``BleSource`` uses (connect, disconnect, start_notify, stop_notify, write_gatt_char,
  disconnected_callback), implemented with bumble's GATT client (``Peer``: discover, subscribe).

``plan`` says what the device streams after each START: ``plan[k] = (first, end)`` sample
indices for the k-th START. After every phase but the last the device waits until the central
has received every byte it notified, then drops the connection itself; its sample counter has
moved on meanwhile (``plan[k+1][0] > plan[k][1]``: the samples of the outage are never sent).
"""
from __future__ import annotations

import asyncio
import threading

import numpy as np
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Device, Peer
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from tgll_edge.link.ble import CONTROL_UUID, SERVICE_UUID, STREAM_UUID
from tgll_edge.link.blocks import DeviceInfo
from tgll_edge.link.protocol import (COMMAND_NAMES, Ack, AckStatus, CommandCode, Data, Decoder, PacketType,
                                     encode_data_payload, encode_packet)

PERIPHERAL_ADDRESS = "F0:F0:F0:F0:F0:01"
CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:02"
NAME = "TGLL-0001"


def notifications(stream: bytes, size: int) -> list[bytes]:
    """A byte stream cut into notifications of ``size`` (= ATT_MTU - 3) bytes, the last shorter."""
    return [stream[i:i + size] for i in range(0, len(stream), size)]


class VirtualBle:
    """The virtual link, its TGLL peripheral and the bookkeeping the tests assert on."""

    def __init__(self, counts: np.ndarray, info: DeviceInfo, plan: list[tuple[int, int]], *,
                 mtu: int | None = 247, samples_per_packet: int = 40, info_on_start: bool = True):
        self.counts = counts  # (n_channels, n) int
        self.info = info
        self.plan = list(plan)
        self.mtu = mtu  # the central asks for this ATT_MTU; None: keep the default 23
        self.samples_per_packet = samples_per_packet
        self.info_on_start = info_on_start  # False: a device that only sends INFO on GET_INFO
        self.commands: list[str] = []  # COMMAND names written to the control characteristic
        self.sent_notifications = 0
        self.sent_bytes = 0
        self.att_mtus: set[int] = set()  # ATT_MTU of the connections the device notified on
        self.max_notification = 0
        self.received_bytes = 0  # by BumbleClient callbacks, from live connections
        self.clients: list[BumbleClient] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.phases_done = threading.Event()  # set when the last phase has been notified
        self.got_info_request = threading.Event()  # a GET_INFO arrived
        self._starts = 0
        self._seq = 0
        self._tx = bytearray()
        self._cmd_decoder = Decoder()
        self._streaming: asyncio.Task | None = None
        self._lock: asyncio.Lock | None = None  # made on the link's loop

    # --- the world --------------------------------------------------------------

    async def _ensure_world(self) -> None:
        if self.loop is not None:
            return
        self.loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        link = LocalLink()

        def device(name: str, address: str) -> Device:
            controller = Controller(name, link=link, public_address=address)
            return Device(name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller)))

        self.peripheral = device(NAME, PERIPHERAL_ADDRESS)
        self.central = device("gateway", CENTRAL_ADDRESS)
        self.stream_char = Characteristic(STREAM_UUID, Characteristic.Properties.NOTIFY,
                                          Characteristic.READABLE, b"")
        self.control_char = Characteristic(CONTROL_UUID, Characteristic.Properties.WRITE,
                                           Characteristic.WRITEABLE, CharacteristicValue(write=self._on_control))
        self.peripheral.add_service(Service(SERVICE_UUID, [self.stream_char, self.control_char]))
        self.peripheral.on(self.peripheral.EVENT_CONNECTION, self._on_connection)
        await self.peripheral.power_on()
        await self.central.power_on()
        adv = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, NAME.encode()),
                               (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                                UUID(SERVICE_UUID).to_bytes())])
        await self.peripheral.start_advertising(advertising_data=bytes(adv), auto_restart=True,
                                                advertising_interval_min=20, advertising_interval_max=20)

    async def find_device(self, target: str, timeout: float):
        """BleSource's ``find_device``: scan the virtual link for a name or an address."""
        await self._ensure_world()
        found = self.loop.create_future()

        def on_advertisement(adv):
            name = adv.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
            if (name == target or str(adv.address).upper() == target.upper()) and not found.done():
                found.set_result(adv.address)

        self.central.on(self.central.EVENT_ADVERTISEMENT, on_advertisement)
        await self.central.start_scanning(filter_duplicates=True)
        try:
            return await asyncio.wait_for(found, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self.central.remove_listener(self.central.EVENT_ADVERTISEMENT, on_advertisement)
            await self.central.stop_scanning()

    def client_factory(self, device, disconnected_callback=None) -> BumbleClient:
        """BleSource's ``client_factory``: a new bleak-like client (as ``BleakClient(device, ...)``)."""
        client = BumbleClient(self, device, disconnected_callback)
        self.clients.append(client)
        return client

    def call(self, coro_or_fn, timeout: float = 5.0):
        """Run a coroutine (or a plain function) on the link's loop from the test's thread."""
        async def run():
            return await coro_or_fn if asyncio.iscoroutine(coro_or_fn) else coro_or_fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    # --- the peripheral -----------------------------------------------------------

    def _on_connection(self, connection) -> None:
        self._tx.clear()  # a new link starts with an empty notification buffer

    def _on_control(self, connection, value: bytes) -> None:
        for p in self._cmd_decoder.feed(bytes(value)):
            if p.type != PacketType.COMMAND:
                continue
            self.commands.append(COMMAND_NAMES.get(p.body.command, str(p.body.command)))
            self._queue(Ack(p.body.command, AckStatus.OK), 0)
            if p.body.command == CommandCode.START:
                k, self._starts = self._starts, self._starts + 1
                if self.info_on_start:
                    self._queue(self.info, 0)
                if k < len(self.plan):
                    self._streaming = self.loop.create_task(self._stream(connection, k))
                else:
                    self.loop.create_task(self._flush(connection))
            elif p.body.command == CommandCode.GET_INFO:
                self.got_info_request.set()
                self._queue(self.info, 0)
                self.loop.create_task(self._flush(connection))
            elif p.body.command == CommandCode.STOP and self._streaming is not None:
                self._streaming.cancel()  # (its ACK goes out with the next notification, if any)

    def _queue(self, body, sample_index: int) -> None:
        self._tx += encode_packet(body, seq=self._seq, sample_index=sample_index)
        self._seq = (self._seq + 1) & 0xFFFF

    async def _flush(self, connection, final: bool = True) -> None:
        """Notify the buffered stream in ATT_MTU - 3 pieces (``final``: the last, shorter one too)."""
        async with self._lock:
            size = connection.att_mtu - 3
            self.att_mtus.add(connection.att_mtu)
            while len(self._tx) >= size or (final and self._tx):
                chunk = bytes(self._tx[:size])
                del self._tx[:size]
                await self.peripheral.notify_subscriber(connection, self.stream_char, chunk)
                self.sent_notifications += 1
                self.sent_bytes += len(chunk)
                self.max_notification = max(self.max_notification, len(chunk))
                await asyncio.sleep(0)

    async def _stream(self, connection, k: int) -> None:
        first, end = self.plan[k]
        n_ch = self.counts.shape[0]
        for i in range(first, end, self.samples_per_packet):
            # a device that sends INFO only on GET_INFO: the second half of the phase waits for the
            # request (unpaced, the whole phase could otherwise be notified before the gateway's
            # GET_INFO gets through on a loaded machine, and none of it would be usable)
            if not self.info_on_start and i >= (first + end) // 2:
                for _ in range(2000):  # at most 10 s
                    if self.got_info_request.is_set():
                        break
                    await asyncio.sleep(0.005)
            j = min(i + self.samples_per_packet, end)
            self._queue(Data(n_ch, j - i, 0, encode_data_payload(self.counts[:, i:j].T)[4:]), i)
            await self._flush(connection, final=False)
        await self._flush(connection)
        if k == len(self.plan) - 1:
            self.phases_done.set()
            return
        while self.received_bytes < self.sent_bytes:  # everything notified has arrived
            await asyncio.sleep(0.005)
        await connection.disconnect()

    def stream_subscribers(self) -> int:
        """Connections whose CCCD on the stream characteristic has notifications on."""
        subs = self.peripheral.gatt_server.subscribers
        return sum(1 for cccds in subs.values()
                   if (v := cccds.get(self.stream_char.handle)) and v[0] & 1)


class BumbleClient:
    """The part of ``bleak.BleakClient`` that BleSource uses, over a bumble central."""

    def __init__(self, link: VirtualBle, address, disconnected_callback=None):
        self.link = link
        self.address = address
        self.disconnected_callback = disconnected_callback
        self.connection = None
        self.peer: Peer | None = None
        self.is_connected = False
        self.callbacks: dict[str, list] = {}  # uuid -> registered callbacks (as a backend keeps them)
        self._chars: dict[str, object] = {}

    async def connect(self) -> None:
        self.connection = await self.link.central.connect(self.address)
        self.is_connected = True
        self.connection.on(self.connection.EVENT_DISCONNECTION, self._on_disconnection)
        self.peer = Peer(self.connection)
        if self.link.mtu is not None:
            await self.peer.request_mtu(self.link.mtu)
        await self.peer.discover_services([UUID(SERVICE_UUID)])
        service = self.peer.get_services_by_uuid(UUID(SERVICE_UUID))[0]
        await service.discover_characteristics()
        for uuid in (STREAM_UUID, CONTROL_UUID):
            self._chars[uuid] = self.peer.get_characteristics_by_uuid(UUID(uuid), service)[0]

    def _on_disconnection(self, _reason) -> None:
        self.is_connected = False
        if self.disconnected_callback is not None:
            self.disconnected_callback(self)

    def _char(self, uuid: str):
        if not self.is_connected:
            raise ConnectionError("Not connected")
        return self._chars[uuid.lower()]

    async def start_notify(self, uuid: str, callback) -> None:
        char = self._char(uuid)
        self.callbacks.setdefault(uuid.lower(), []).append(callback)

        def on_value(value: bytes) -> None:
            self.link.received_bytes += len(value)
            for cb in self.callbacks.get(uuid.lower(), []):
                cb(char, bytearray(value))

        await self.peer.subscribe(char, on_value)

    async def stop_notify(self, uuid: str) -> None:
        char = self._char(uuid)  # on a dead link this raises and the callbacks stay registered
        await self.peer.unsubscribe(char)
        self.callbacks.pop(uuid.lower(), None)

    async def write_gatt_char(self, uuid: str, data: bytes, response: bool = True) -> None:
        await self.peer.write_value(self._char(uuid), bytes(data), with_response=response)

    async def disconnect(self) -> None:
        if self.is_connected:
            await self.connection.disconnect()

    def deliver_late(self, uuid: str, data: bytes) -> int:
        """A notification the backend still hands out for this (old) client: call what is registered."""
        cbs = list(self.callbacks.get(uuid.lower(), []))
        for cb in cbs:
            cb(self._chars[uuid.lower()], bytearray(data))
        return len(cbs)
