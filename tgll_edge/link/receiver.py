"""Bytes in, events out: the Decoder and the Timeline of one link, as every
packet source (serial, BLE) uses them."""
from __future__ import annotations

import time
from collections.abc import Callable

from .blocks import DeviceInfo, Event
from .decoder import Decoder
from .timeline import Timeline


class LinkReceiver:
    """``feed(chunk) -> list[Event]`` for any split of the byte stream (serial reads,
    BLE notifications of any MTU): packets are reassembled on the 0x00 delimiters."""

    def __init__(self, request_info: Callable[[], None] | None = None,
                 clock: Callable[[], float] | None = time.monotonic):
        self.decoder = Decoder()
        self.timeline = Timeline(request_info=request_info, clock=clock)

    @property
    def info(self) -> DeviceInfo | None:
        return self.timeline.info

    def feed(self, chunk: bytes, now: float | None = None) -> list[Event]:
        packets = self.decoder.feed(chunk)
        if not packets:
            return []
        return self.timeline.push(packets, now)

    def disconnected(self) -> None:
        """The transport dropped: forget any partial frame, attribute the next gap to the outage."""
        self.decoder.reset()
        self.timeline.disconnected()

    @property
    def stats(self) -> dict:
        return {**self.decoder.stats, **self.timeline.stats}
