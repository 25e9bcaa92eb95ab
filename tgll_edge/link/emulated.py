"""The built-in device emulator on a pseudo-terminal, read by the ordinary serial source.

The emulator (``tgll_edge.link.emulator``, what ``tgll-emulate`` runs) serves a new
pty from a daemon thread of this process, so the whole real path is exercised:
pty bytes -> COBS/CRC decoder -> timeline -> pipeline.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator

from .blocks import Event, Status, StatusKind
from .source import Source


class EmulatedSource(Source):
    """``tgll-stream --emulate``: a record (default: the bundled one) streamed as a device would."""

    name = "emulate"

    def __init__(self, record=None, speed: float = 1.0, **emulator_options):
        super().__init__()
        from .emulator import Emulator, PtyTransport
        from .serial import SerialSource

        self.transport = PtyTransport()
        self.emulator = Emulator(self.transport, record, speed=speed, loop=True, linger=0.0, **emulator_options)
        self.thread = threading.Thread(target=self.emulator.run, name="tgll-emulator", daemon=True)
        self.serial = SerialSource(self.transport.public_path, reconnect=False)

    def _counters(self) -> dict:
        return self.serial.stats

    def _open(self) -> None:
        self.thread.start()

    def _events(self) -> Iterator[Event]:
        yield Status(StatusKind.EMULATOR, f"built-in emulator streaming {self.emulator.record_path} on "
                                          f"{self.transport.public_path} at {self.emulator.speed:g}x real time",
                     {"port": self.transport.public_path, "record": self.emulator.record_path})
        yield from self.serial

    def _close(self) -> None:
        self.serial.close()
        self.emulator.stop()
        if self.thread.is_alive():
            self.thread.join(timeout=2.0)
        try:
            self.transport.close()
        except OSError:
            pass
