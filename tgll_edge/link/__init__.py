"""The ECG link: protocol (COBS, CRC, packets), sources and the device emulator.

Sources are imported from their modules (``tgll_edge.link.serial.SerialSource``,
``.ble.BleSource``, ``.cyton.CytonSource``, ``.replay.ReplaySource``,
``.emulated.EmulatedSource``) so that an optional transport's library is only
needed when it is used.
"""
from ..errors import LinkError
from .blocks import DeviceInfo, Event, Gap, GapCause, SampleBlock, Status, StatusKind
from .receiver import LinkReceiver
from .source import EventListSource, LinkSource, Source, TransportSource

__all__ = ["DeviceInfo", "Event", "EventListSource", "Gap", "GapCause", "LinkError", "LinkReceiver", "LinkSource",
           "SampleBlock", "Source", "Status", "StatusKind", "TransportSource"]
