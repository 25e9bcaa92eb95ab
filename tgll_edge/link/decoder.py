"""The incremental stream decoder: a byte stream in any split -> valid packets
(the firmware's receive side is tgll_cmd). It never raises on input bytes: what
it drops, it counts, one counter per reason."""
from __future__ import annotations

from ..errors import PacketError
from .codes import MAX_ENCODED, MAX_PACKET
from .framing import cobs_decode
from .packet import Packet, parse_packet

DECODER_COUNTERS = ("bytes", "frames", "packets", "crc_errors", "bad_version", "bad_length", "bad_type",
                    "bad_payload", "oversize", "cobs_errors", "empty_frames", "dropped_bytes")


class Decoder:
    """Incremental stream decoder: ``feed(bytes) -> list[Packet]``.

    Splits on 0x00, COBS-decodes, validates and parses each frame. Frames that fail
    are dropped and counted in ``stats`` (one counter per reason); every byte of a
    dropped frame, its delimiter included, is added to ``dropped_bytes``. A run
    without a delimiter longer than the largest legal encoded packet is discarded as
    ``oversize`` up to the next 0x00, so memory stays bounded on any input.
    """

    def __init__(self):
        self.stats = dict.fromkeys(DECODER_COUNTERS, 0)
        self._buf = bytearray()
        self._discarding = False  # inside an oversize run: skip to the next 0x00
        self.last_error: str = ""

    def reset(self) -> None:
        """Forget a partial frame (e.g. after a reconnect); counters are kept."""
        if self._buf:
            self.stats["dropped_bytes"] += len(self._buf)
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[Packet]:
        stats = self.stats
        stats["bytes"] += len(data)
        out: list[Packet] = []
        start = 0
        n = len(data)
        while start < n:
            end = data.find(b"\x00", start)
            if end < 0:
                self._extend(data, start, n)
                break
            if self._discarding:
                stats["dropped_bytes"] += end - start + 1
                self._discarding = False
            elif self._buf:
                self._buf += data[start:end]
                self._frame(bytes(self._buf), out)
                self._buf.clear()
            else:
                self._frame(data[start:end], out)
            start = end + 1
        return out

    def _extend(self, data: bytes, start: int, end: int) -> None:
        if self._discarding:
            self.stats["dropped_bytes"] += end - start
            return
        self._buf += data[start:end]
        if len(self._buf) > MAX_ENCODED:
            self.stats["oversize"] += 1
            self.stats["dropped_bytes"] += len(self._buf)
            self._buf.clear()
            self._discarding = True

    def _frame(self, encoded: bytes, out: list[Packet]) -> None:
        stats = self.stats
        stats["frames"] += 1
        if not encoded:
            stats["empty_frames"] += 1
            stats["dropped_bytes"] += 1
            return
        kind = None
        if len(encoded) > MAX_ENCODED:
            kind, self.last_error = "oversize", f"frame of {len(encoded)} encoded bytes"
        else:
            try:
                decoded = cobs_decode(encoded)
                if len(decoded) > MAX_PACKET:
                    raise PacketError("oversize", f"decoded packet of {len(decoded)} bytes")
                packet = parse_packet(decoded)
            except PacketError as exc:
                kind, self.last_error = exc.kind, str(exc)
            except ValueError as exc:  # COBS
                kind, self.last_error = "cobs_errors", str(exc)
        if kind is not None:
            stats[kind] += 1
            stats["dropped_bytes"] += len(encoded) + 1
            return
        stats["packets"] += 1
        out.append(packet)
