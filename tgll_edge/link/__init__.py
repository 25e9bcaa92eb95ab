"""The ECG link: protocol (COBS, CRC, packets), sources and the device emulator."""
from .blocks import DeviceInfo, Event, Gap, SampleBlock, Status

__all__ = ["DeviceInfo", "Event", "Gap", "SampleBlock", "Status"]
