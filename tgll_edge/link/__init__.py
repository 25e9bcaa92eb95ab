"""The ECG link: protocol (COBS, CRC, packets), sources and the device emulator.

Sources are imported from their modules (``tgll_edge.link.serial.SerialSource``,
``.ble.BleSource``, ``.cyton.CytonSource``, ``.replay.ReplaySource``) so that an
optional transport's library is only needed when it is used.
"""
from .blocks import DeviceInfo, Event, Gap, SampleBlock, Status
from .receiver import LinkReceiver
from .source import LinkError, Source

__all__ = ["DeviceInfo", "Event", "Gap", "LinkError", "LinkReceiver", "SampleBlock", "Source", "Status"]
