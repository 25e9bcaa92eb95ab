"""Serial source (USB CDC / UART / pseudo-terminal) for the TGLL link protocol.

Opens the port, sends START, waits for INFO, then yields events. When the device
disappears (read error, port closed, cable pulled) it yields
``Status("disconnected")``, reopens the port with exponential backoff, sends START
again and yields ``Status("reconnected")``; the outage becomes a Gap whose size
comes from the device's sample counter when it kept counting, else from the host
clock (see timeline.py).
"""
from __future__ import annotations

import time
from collections.abc import Iterator

from .blocks import Event, Status
from .protocol import get_info_command, start_command, stop_command
from .receiver import LinkReceiver
from .source import LinkError, Source

DEFAULT_BAUD = 921600


def _serial_module():
    import serial  # pyserial; imported here so the protocol layer does not need it
    return serial


class SerialSource(Source):
    """Events from a TGLL device on a serial port.

    port: device path (``/dev/ttyUSB0``, a pty, or a symlink to one).
    info_timeout: seconds to wait for INFO after START before giving up (LinkError).
    reconnect: reopen the port after the device disappears; False -> LinkError at once.
    max_reconnect_s: give up (LinkError) when the device stays away this long; None = never.
    backoff: (first, max) delay between reconnect attempts, doubling each time.
    stall_s: no byte for this long while streaming -> re-send START (and say so).
    """

    name = "serial"

    def __init__(self, port: str, baud: int = DEFAULT_BAUD, *, info_timeout: float = 3.0,
                 reconnect: bool = True, max_reconnect_s: float | None = 60.0,
                 backoff: tuple[float, float] = (0.05, 2.0), stall_s: float = 5.0, poll_s: float = 0.05):
        super().__init__()
        self.port, self.baud = port, int(baud)
        self.info_timeout, self.reconnect = info_timeout, reconnect
        self.max_reconnect_s, self.backoff = max_reconnect_s, backoff
        self.stall_s, self.poll_s = stall_s, poll_s
        self._ser = None
        self._rx = LinkReceiver(request_info=self._request_info)
        self._pending: list[Event] = []
        self._reconnects = 0
        self._disconnects = 0
        self._seq = 0

    # --- port handling -------------------------------------------------------

    def _connect(self) -> None:
        """Open the port, send START, wait for INFO; LinkError naming the port otherwise."""
        serial = _serial_module()
        try:
            self._ser = serial.Serial(self.port, self.baud, timeout=self.poll_s, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._ser = None
            raise LinkError(f"cannot open serial port {self.port}: {exc}") from None
        try:
            self._send(start_command)
            self._wait_for_info()
        except LinkError:
            self._drop_port()
            raise
        except (serial.SerialException, OSError) as exc:
            self._drop_port()
            raise LinkError(f"serial port {self.port} failed during start-up: {exc}") from None

    def _wait_for_info(self) -> None:
        """Read until an INFO arrives (its events are kept for the iterator)."""
        deadline = time.monotonic() + self.info_timeout
        next_ask = time.monotonic() + 1.0
        have = self._rx.timeline.stats["info_packets"]
        while self._rx.timeline.stats["info_packets"] == have:
            now = time.monotonic()
            if now > deadline:
                raise LinkError(f"no INFO from the device on {self.port} within {self.info_timeout:g} s "
                                f"after START (is it a TGLL device at {self.baud} baud?)")
            if now > next_ask:  # START or INFO may have been lost on the link
                self._send(get_info_command)
                next_ask = now + 1.0
            self._pending += self._rx.feed(self._read())

    def _read(self) -> bytes:
        ser = self._ser
        data = ser.read(1)
        if data:
            waiting = ser.in_waiting
            if waiting:
                data += ser.read(waiting)
        return data

    def _send(self, make) -> None:
        self._ser.write(make(self._seq))
        self._seq = (self._seq + 1) & 0xFFFF

    def _request_info(self) -> None:
        try:
            if self._ser is not None:
                self._send(get_info_command)
        except Exception:  # a failing port shows up on the next read
            pass

    def _drop_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:
                pass

    def _open(self) -> None:
        self._connect()

    # --- iteration -----------------------------------------------------------

    def _events(self) -> Iterator[Event]:
        serial = _serial_module()
        yield Status("connected", f"serial {self.port} at {self.baud} baud", {"port": self.port})
        last_rx = time.monotonic()
        while not self.closed:
            if self._pending:
                events, self._pending = self._pending, []
                yield from events
                continue
            try:
                data = self._read()
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                # TypeError/AttributeError: pyserial internals after close() from another thread
                if self.closed:
                    break
                yield from self._recover(exc)
                last_rx = time.monotonic()
                continue
            now = time.monotonic()
            if data:
                last_rx = now
                yield from self._rx.feed(data, now)
            elif now - last_rx > self.stall_s:
                yield Status("stalled", f"no data from {self.port} for {self.stall_s:g} s; re-sending START")
                try:
                    self._send(start_command)
                except (serial.SerialException, OSError) as exc:
                    yield from self._recover(exc)
                last_rx = time.monotonic()

    def _recover(self, exc: Exception) -> Iterator[Event]:
        self._disconnects += 1
        self._drop_port()
        self._rx.disconnected()
        yield Status("disconnected", f"serial {self.port} lost: {exc}", {"port": self.port})
        if not self.reconnect:
            raise LinkError(f"serial device {self.port} disconnected ({exc}); reconnect is off")
        result = self._reconnect(self._connect, f"serial device {self.port}")
        if result is None:
            return
        attempts, outage = result
        self._reconnects += 1
        yield Status("reconnected", f"serial {self.port} back after {outage:.1f} s",
                     {"port": self.port, "attempts": attempts, "outage_s": outage})

    def _counters(self) -> dict:
        return {**self._rx.stats, "reconnects": self._reconnects, "disconnects": self._disconnects}

    @property
    def info(self):
        return self._rx.info

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._ser is not None:
            try:
                self._ser.write(stop_command(self._seq))
            except Exception:
                pass
        self._drop_port()
