"""Serial source (USB CDC / UART / pseudo-terminal) for the TGLL link protocol.

Opens the port, sends START, waits for INFO, then yields events. When the device
disappears (read error, port closed, cable pulled) it yields
``Status("disconnected")``, reopens the port with exponential backoff, sends START
again and yields ``Status("reconnected")``; the outage becomes a Gap whose size
comes from the device's sample counter when it kept counting, else from the host
clock (see timeline.py). The lifecycle is ``LinkSource``'s; this module supplies
the port.
"""
from __future__ import annotations

from ..errors import LinkError
from .source import LinkSource

DEFAULT_BAUD = 921600


def _serial_module():
    import serial  # pyserial; imported here so the protocol layer does not need it
    return serial


class SerialPort:
    """A pyserial port whose failures are LinkErrors naming it (shared by SerialSource and CytonSource)."""

    def __init__(self, port: str, baud: int, poll_s: float):
        self.port, self.baud, self.poll_s = port, int(baud), poll_s
        self._ser = None

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def open(self) -> None:
        serial = _serial_module()
        try:
            self._ser = serial.Serial(self.port, self.baud, timeout=self.poll_s, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._ser = None
            raise LinkError(f"cannot open serial port {self.port}: {exc}") from None

    def read(self) -> bytes:
        """What has arrived: waits up to ``poll_s`` for the first byte, then takes the rest."""
        serial = _serial_module()
        ser = self._ser
        if ser is None:
            raise LinkError(f"serial port {self.port} is closed")
        try:
            data = ser.read(1)
            if data:
                waiting = ser.in_waiting
                if waiting:
                    data += ser.read(waiting)
            return data
        # TypeError/AttributeError: pyserial internals after close() from another thread
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise LinkError(f"serial port {self.port}: {exc}") from None

    def write(self, data: bytes) -> None:
        serial = _serial_module()
        if self._ser is None:
            raise LinkError(f"serial port {self.port} is not open")
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"serial port {self.port}: {exc}") from None

    def reset_input(self) -> None:
        serial = _serial_module()
        try:
            self._ser.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"serial port {self.port}: {exc}") from None

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except OSError:  # SerialException is an OSError
                pass


class SerialSource(LinkSource):
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
        super().__init__(info_timeout=info_timeout, reconnect=reconnect, max_reconnect_s=max_reconnect_s,
                         backoff=backoff)
        self.port, self.baud = port, int(baud)
        self.stall_s, self.poll_s = stall_s, poll_s
        self._port = SerialPort(port, self.baud, poll_s)

    @property
    def describe(self) -> str:
        return f"serial {self.port}"

    @property
    def _detail(self) -> dict:
        return {"port": self.port}

    @property
    def _no_info_hint(self) -> str:
        return f" (is it a TGLL device at {self.baud} baud?)"

    @property
    def _connected(self) -> bool:
        return self._port.is_open

    @property
    def _hello(self) -> str:
        return f"serial {self.port} at {self.baud} baud"

    def _open_transport(self) -> None:
        self._port.open()

    def _read(self) -> bytes:
        return self._port.read()

    def _write(self, data: bytes) -> None:
        self._port.write(data)

    def _disconnect(self) -> None:
        self._port.close()
