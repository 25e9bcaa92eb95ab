"""OpenBCI Cyton (ADS1299, 8 channels, 250 Hz) as an ECG source.

Packet (33 bytes, OpenBCI "Cyton data format"): 0xA0 header, sample counter
(u8, +1 per sample, wraps at 256), 8 channels x int24 big-endian, 6 bytes aux
(accelerometer or other, by footer), footer 0xC0..0xCF. Counts to volts:
``4.5 V / gain / (2**23 - 1)`` (OpenBCI's documented scale factor; gain 24 by
default). Lost packets are counted from the sample counter:
``Gap(cause="cyton_counter")``; more than 255 consecutive lost packets cannot be
seen (the counter wraps).

Electrode wiring this mapping assumes (the Cyton has no built-in ECG lead
network; set it up with the channel settings commands, SRB2 off on channels 1-2):
channel 1 N1P = left arm, N1N = right arm -> lead I; channel 2 N2P = left leg,
N2N = right arm -> lead II; channels 3-8 NxP = chest electrodes V1..V6 with the
reference (SRB2, channels 3-8 only) at a Wilson central terminal made from RA, LA,
LL through equal resistors; BIAS to the right leg. Channels map to I, II, V1..V6,
so the host derives III, aVR, aVL, aVF as for lead_set 0.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from ..signal.leads import LEADS_8
from ..errors import LinkError
from .blocks import Event, Gap, GapCause, SampleBlock
from .serial import SerialPort
from .source import TransportSource

PACKET_SIZE = 33
HEADER = 0xA0
FS = 250.0
DEFAULT_GAIN = 24
CYTON_BAUD = 115200


def volts_per_count(gain: int = DEFAULT_GAIN) -> float:
    return 4.5 / gain / (2 ** 23 - 1)


def int24_be_to_int32(raw: bytes) -> np.ndarray:
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    v = (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2]
    return (v ^ 0x800000) - 0x800000


class CytonDecoder:
    """Bytes -> (sample counters, (n, 8) int32 counts); resyncs on header + footer."""

    def __init__(self):
        self._buf = bytearray()
        self.stats = {"bytes": 0, "packets": 0, "dropped_bytes": 0}

    def feed(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        self.stats["bytes"] += len(data)
        buf = self._buf
        buf += data
        counters, chans = [], []
        i, n = 0, len(buf)
        while n - i >= PACKET_SIZE:
            if buf[i] == HEADER and 0xC0 <= buf[i + 32] <= 0xCF:
                counters.append(buf[i + 1])
                chans.append(bytes(buf[i + 2:i + 26]))
                i += PACKET_SIZE
            else:  # not a packet start: skip to the next header byte
                j = buf.find(HEADER, i + 1)
                j = n if j < 0 else j
                self.stats["dropped_bytes"] += j - i
                i = j
        del buf[:i]
        self.stats["packets"] += len(counters)
        if not counters:
            return np.zeros(0, np.int32), np.zeros((0, 8), np.int32)
        return np.array(counters, np.int32), int24_be_to_int32(b"".join(chans)).reshape(-1, 8)


class CytonReceiver:
    """Cyton bytes -> SampleBlock (mV, LEADS_8 labels, 250 Hz) and Gap(cause="cyton_counter")."""

    def __init__(self, gain: int = DEFAULT_GAIN):
        self.decoder = CytonDecoder()
        self.mv_per_count = volts_per_count(gain) * 1e3
        self._next = 0
        self._expect: int | None = None
        self.stats = {"gaps": 0, "missing_samples": 0, "samples": 0, "blocks": 0}

    def feed(self, data: bytes, now: float | None = None) -> list[Event]:
        counters, counts = self.decoder.feed(data)
        out: list[Event] = []
        if not len(counters):
            return out
        # split into runs wherever the counter skips
        expected = np.empty_like(counters)
        expected[0] = counters[0] if self._expect is None else self._expect
        expected[1:] = (counters[:-1] + 1) % 256
        skips = (counters - expected) % 256
        start = 0
        for k in np.flatnonzero(skips).tolist() + [len(counters)]:
            if k > start:
                self._block(counts[start:k], out)
            if k < len(counters):
                missing = int(skips[k])
                out.append(Gap(self._next, missing, FS, GapCause.CYTON_COUNTER))
                self._next += missing
                self.stats["gaps"] += 1
                self.stats["missing_samples"] += missing
                start = k
        self._expect = int(counters[-1] + 1) % 256
        return out

    def disconnected(self) -> None:
        """Nothing to carry over: a Cyton that comes back restarts its counter."""

    @property
    def all_stats(self) -> dict:
        return {**self.decoder.stats, **self.stats}

    def _block(self, counts: np.ndarray, out: list[Event]) -> None:
        data = (counts.T * self.mv_per_count).astype(np.float32)
        out.append(SampleBlock(self._next, FS, data, LEADS_8))
        self._next += counts.shape[0]
        self.stats["samples"] += counts.shape[0]
        self.stats["blocks"] += 1


class CytonSource(TransportSource):
    """A Cyton on a serial port (its USB dongle): 's' to stop, 'b' to start streaming.

    gain: the ADS1299 gain the channels are set to (default 24, the board default).
    A lost port raises LinkError (no reconnect: the Cyton restarts its counter
    and needs its channel settings again).
    """

    name = "cyton"

    def __init__(self, port: str, baud: int = CYTON_BAUD, gain: int = DEFAULT_GAIN, poll_s: float = 0.05,
                 first_data_timeout: float = 3.0):
        if gain not in (1, 2, 4, 6, 8, 12, 24):
            raise ValueError(f"ADS1299 gain must be 1, 2, 4, 6, 8, 12 or 24, got {gain}")
        super().__init__(reconnect=False, max_reconnect_s=None, backoff=(0.0, 0.0))
        self.port, self.baud, self.poll_s = port, baud, poll_s
        self.first_data_timeout = first_data_timeout
        self.receiver = CytonReceiver(gain)
        self._port = SerialPort(port, baud, poll_s)

    @property
    def describe(self) -> str:
        return f"OpenBCI Cyton on {self.port}"

    @property
    def _detail(self) -> dict:
        return {"port": self.port, "fs": FS, "labels": list(LEADS_8)}

    def _connect(self) -> None:
        """Open the port, stop and flush, start streaming, and wait for the first packet."""
        try:
            self._port.open()
            self._port.write(b"s")
            time.sleep(0.05)
            self._port.reset_input()
            self._port.write(b"b")
        except LinkError as exc:
            self._port.close()
            raise LinkError(f"cannot open OpenBCI Cyton on {self.port}: {exc}") from None
        deadline = time.monotonic() + self.first_data_timeout
        while self.receiver.decoder.stats["packets"] == 0:
            if time.monotonic() > deadline:
                self._port.close()
                raise LinkError(f"no Cyton packets from {self.port} within {self.first_data_timeout:g} s "
                                f"after 'b' (is it a Cyton at {self.baud} baud?)")
            self._receive()

    def _read(self) -> bytes:
        return self._port.read()

    def _write(self, data: bytes) -> None:
        self._port.write(data)

    def _goodbye(self) -> None:
        if self._port.is_open:
            self._write(b"s")

    def _disconnect(self) -> None:
        self._port.close()

    def _counters(self) -> dict:
        return self.receiver.all_stats
