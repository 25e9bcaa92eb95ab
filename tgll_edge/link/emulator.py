"""A TGLL device emulator: an ADS1298 12-lead front end streaming a real recording.

It speaks PROTOCOL.md over a pseudo-terminal (or a real serial port): answers
START / STOP / GET_INFO / SET_RATE with ACK, sends INFO after START, GET_INFO and
every 10 s of streaming, and streams 8 channels (I, II, V1..V6) as int24 counts.

Faults (all from one seeded RNG, so a run is reproducible; ``summary`` says what
was injected):

* drop: a DATA packet is never written (its samples are lost; the counter moves on);
* flip: one bit of a DATA packet's wire bytes is flipped (the host must drop it);
* garbage: random bytes and a 0x00 are written between packets (they cost no packet);
* disconnect: after ``disconnect_after`` s of streaming the port vanishes for
  ``disconnect_for`` s (pty: master closed, the public symlink removed, then a new
  pty and the symlink re-pointed to it). The device keeps acquiring: its counter
  runs on, and after the port is back it sends nothing until the host sends START;
* reset: after ``reset_after`` s the counter restarts at 0 (EVENT 4 + INFO, as a reboot);
* overflow: in real time, if the host does not read, the device buffer fills and
  DATA is dropped with an EVENT 3 (value = samples dropped) before the next DATA.
"""
from __future__ import annotations

import errno
import fcntl
import os
import random
import select
import struct
import termios
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RecordError
from ..signal.leads import LEADS_8, LEADS_12, canonical_lead, derive_12
from .blocks import DeviceInfo
from .codes import COMMAND_NAMES, AckStatus, CommandCode, EventCode, PacketType
from .decoder import Decoder
from .framing import frame
from .packet import build_packet
from .payloads import Ack, Data, EventMsg, encode_body, int32_to_int24, max_samples_per_packet

#: ADS1298: 1 LSB = (2 VREF / gain) / 2**24 (datasheet, "Data Format"), VREF 2.4 V, gain 6.
ADS1298_VREF, ADS1298_GAIN = 2.4, 6
ADS1298_UV_PER_COUNT = 2 * ADS1298_VREF / ADS1298_GAIN / 2 ** 24 * 1e6  # 0.0476837... uV
SUPPORTED_RATES = (250, 500, 1000)
INFO_EVERY_S = 10.0
DEVICE_BUFFER = 16384  # bytes the emulated MCU can queue before it drops DATA
DEFAULT_RECORD = Path(__file__).resolve().parent.parent / "data" / "records" / "00001_hr"


def load_record(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """A WFDB record -> ((8, n) float64 mV in LEADS_8 order, fs); NaN where a sample is missing.
    Accepts 'rec', 'rec.hea', 'rec.dat'."""
    from .wfdbio import read_record

    x, fs, labels = read_record(path)
    missing = [lead for lead in LEADS_8 if lead not in labels]
    if missing:
        raise RecordError(f"record {path} lacks leads {', '.join(missing)} (has {', '.join(labels)})")
    return x[[labels.index(lead) for lead in LEADS_8]], fs


def to_counts(mv: np.ndarray, uv_per_count: float) -> np.ndarray:
    counts = np.round(mv * 1000.0 / uv_per_count)
    return np.clip(counts, -(1 << 23), (1 << 23) - 1).astype(np.int32)


@dataclass
class Faults:
    drop_prob: float = 0.0
    drop_every: int = 0          # drop every Nth DATA packet (N >= 2), 0 = off
    flip_prob: float = 0.0
    garbage_prob: float = 0.0
    disconnect_after: float | None = None  # device seconds of streaming
    disconnect_for: float = 2.0            # wall seconds away
    reset_after: float | None = None       # device seconds of streaming
    seed: int = 0


@dataclass
class Summary:
    """What the emulator did; exact, so tests can compare the host's gap counts."""

    packets: int = 0
    data_packets: int = 0
    bytes_written: int = 0
    samples_generated: int = 0   # device samples per channel since the first START, lost ones included
    samples_delivered: int = 0   # in DATA packets written intact
    dropped_packets: int = 0
    dropped_samples: int = 0
    flipped_packets: int = 0
    flipped_samples: int = 0
    lost_runs: int = 0           # runs of consecutive lost DATA (drop/flip): what the host sees as gaps
    trailing_lost_samples: int = 0  # lost after the last intact DATA (the host cannot see them)
    garbage_bursts: int = 0
    garbage_bytes: int = 0
    overflow_events: int = 0
    overflow_samples: int = 0
    disconnects: int = 0
    disconnect_samples: int = 0  # generated while the port was away or before the host re-sent START
    resets: int = 0
    info_sent: int = 0
    commands: dict = field(default_factory=dict)
    bad_commands: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class PtyTransport:
    """A pseudo-terminal; with ``link`` a symlink that always points at the current one."""

    def __init__(self, link: str | None = None):
        self.link = link
        self.master = self.slave = -1
        self.path = ""
        self.reopen()

    @property
    def public_path(self) -> str:
        return self.link or self.path

    @property
    def connected(self) -> bool:
        return self.master >= 0

    def reopen(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no newline translation: a byte pipe
        fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.path = os.ttyname(self.slave)
        if self.link:
            tmp = f"{self.link}.{os.getpid()}.tmp"
            os.symlink(self.path, tmp)
            os.replace(tmp, self.link)  # atomic re-point

    def disconnect(self) -> None:
        if self.link:
            try:
                os.unlink(self.link)
            except FileNotFoundError:
                pass
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    close = disconnect

    def fileno(self) -> int:
        return self.master

    def unread(self) -> int:
        """Bytes written but not yet read by the host."""
        if self.slave < 0:
            return 0
        buf = fcntl.ioctl(self.slave, termios.TIOCINQ, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]


class SerialPortTransport:
    """A real serial port (e.g. a USB-UART loopback to the gateway)."""

    def __init__(self, port: str, baud: int):
        import serial
        self.port, self.baud, self.link = port, baud, None
        self._serial = serial
        self.ser = None
        self.reopen()

    @property
    def public_path(self) -> str:
        return self.port

    @property
    def connected(self) -> bool:
        return self.ser is not None

    def reopen(self) -> None:
        self.ser = self._serial.Serial(self.port, self.baud, timeout=0)

    def disconnect(self) -> None:
        if self.ser is not None:
            self.ser.close()
        self.ser = None

    close = disconnect

    def fileno(self) -> int:
        return self.ser.fileno()

    def unread(self) -> int:
        return self.ser.out_waiting if self.ser is not None else 0


class Emulator:
    """The device. ``run()`` serves the transport until ``stop()``, the end of a
    non-looping record, or ``duration`` seconds of streaming."""

    def __init__(self, transport, record: str | os.PathLike | None = None, *, fs: int = 500,
                 samples_per_packet: int = 10, speed: float = 1.0, loop: bool = True,
                 duration: float | None = None, faults: Faults | None = None, linger: float = 2.0,
                 device_id: str = "TGLL-EMU", firmware: str = "emulator-1", leads=None, electrode_off=()):
        self.transport = transport
        self.record_path = str(record or DEFAULT_RECORD)
        self.mv, self.record_fs = load_record(self.record_path)
        # ``leads`` (e.g. I,II,V2): a reduced device, INFO lead_set 255 with those labels
        # (taken from the record's 12 leads); ``electrode_off``: [(electrode, t0, t1)] in seconds
        # of device time, during which the channels that use the electrode carry 0 and their
        # lead-off bits are set, by the firmware's rule (signal/electrodes.channel_off_bits)
        self.labels = LEADS_8 if leads is None else tuple(canonical_lead(str(lead)) for lead in leads)
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise ValueError(f"--leads must name each lead once; got {', '.join(self.labels) or 'none'}")
        self.lead_set = 0 if self.labels == LEADS_8 else 1 if self.labels == LEADS_12 else 255
        self.n_channels = len(self.labels)
        self.electrode_off = [(str(e), float(a), float(b)) for e, a, b in electrode_off]
        if fs not in SUPPORTED_RATES:
            raise ValueError(f"fs must be one of {SUPPORTED_RATES}, got {fs}")
        if not 1 <= samples_per_packet <= max_samples_per_packet(self.n_channels):
            raise ValueError(f"samples_per_packet must be 1..{max_samples_per_packet(self.n_channels)}")
        self.spp, self.speed, self.loop, self.duration = samples_per_packet, speed, loop, duration
        self.faults = faults or Faults()
        self.linger = linger
        self.device_id, self.firmware = device_id, firmware
        self.rng = random.Random(self.faults.seed)
        self.summary = Summary()
        self.decoder = Decoder()
        self._stop = False
        self._out = bytearray()
        self._seq = 0
        self._counter = 0          # u32 sample_index of the next sample
        self._streaming = False    # host asked for data (START)
        self._ever_started = False
        self._awaiting_start = False  # back from a disconnect: acquire, but send nothing until START
        self._away_until: float | None = None
        self._disconnect_done = self._reset_done = False
        self._overflow_pending = 0
        self._last_lost = False    # was the previous DATA lost (drop/flip)?
        self._since_info = 0.0
        self._streamed = 0         # samples generated since the first START (device time)
        self._set_rate(fs)

    # --- signal ----------------------------------------------------------------

    def _set_rate(self, fs: int) -> None:
        from ..signal.resample import resample
        # a missing (NaN) sample goes out as 0 with its channel's lead-off bit set, as a
        # front end flags an electrode it cannot measure: never as a valid 0 mV
        src_mv = self.mv if self.labels == LEADS_8 else derive_12(self.mv)[[LEADS_12.index(x) for x in self.labels]]
        missing = ~np.isfinite(src_mv)
        mv = np.where(missing, 0.0, src_mv)
        if fs != self.record_fs:
            mv = resample(mv, self.record_fs, fs)
            src = np.minimum((np.arange(mv.shape[1]) * self.record_fs / fs).astype(np.int64), missing.shape[1] - 1)
            missing = missing[:, src]
        self.fs = fs
        self._raw = int32_to_int24(to_counts(mv, ADS1298_UV_PER_COUNT).T)  # sample-major int24
        bits = (1 << np.arange(missing.shape[0], dtype=np.uint32))[:, None]
        self._off = (missing * bits).sum(axis=0).astype(np.uint32)  # per sample: channels without a value
        self._n = mv.shape[1]
        self._pos = min(getattr(self, "_pos", 0), self._n - 1)
        self._clock_base = (time.monotonic(), self._streamed)

    def info(self) -> DeviceInfo:
        return DeviceInfo(fs=float(self.fs), n_channels=self.n_channels, uv_per_count=ADS1298_UV_PER_COUNT,
                          lead_set=self.lead_set, labels=self.labels, device_id=self.device_id,
                          firmware=self.firmware)

    def _take(self, n: int) -> tuple[bytes, int] | None:
        """The next n samples of the record as int24 bytes and their lead-off bits; None at the end
        of a non-looping record."""
        width = 3 * self.n_channels
        a = self._pos
        if a + n <= self._n:
            self._pos += n
            return self._raw[a * width:(a + n) * width], int(np.bitwise_or.reduce(self._off[a:a + n]))
        if not self.loop:
            return None
        rest = n - (self._n - a)
        self._pos = rest
        off = np.bitwise_or.reduce(self._off[a:]) | np.bitwise_or.reduce(self._off[:rest])
        return self._raw[a * width:] + self._raw[: rest * width], int(off)

    # --- output ------------------------------------------------------------------

    def _packet(self, body, sample_index: int | None = None) -> bytes:
        ptype, payload = encode_body(body)
        wire = frame(build_packet(ptype, self._seq, self._counter if sample_index is None else sample_index,
                                  payload))
        self._seq = (self._seq + 1) & 0xFFFF
        return wire

    def _send(self, wire: bytes) -> None:
        self._out += wire
        self.summary.packets += 1

    def _send_info(self) -> None:
        self._send(self._packet(self.info()))
        self.summary.info_sent += 1
        self._since_info = 0.0

    def _flush(self) -> None:
        if not self._out or not self.transport.connected:
            return
        try:
            n = os.write(self.transport.fileno(), self._out)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return
            raise
        del self._out[:n]
        self.summary.bytes_written += n

    # --- commands ------------------------------------------------------------

    def _read_commands(self) -> None:
        try:
            data = os.read(self.transport.fileno(), 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):  # EIO: no host has the pty open
                return
            raise
        for p in self.decoder.feed(data):
            if p.type != PacketType.COMMAND:
                self.summary.bad_commands += 1
                continue
            self._command(p.body.command, p.body.arg)

    def _command(self, cmd: int, arg: int) -> None:
        name = COMMAND_NAMES.get(cmd, str(cmd))
        self.summary.commands[name] = self.summary.commands.get(name, 0) + 1
        status = AckStatus.OK
        if cmd == CommandCode.START:
            self._send(self._packet(Ack(cmd, AckStatus.OK)))
            self._send_info()
            # (Re)start the device clock here: after STOP acquisition was paused, after a
            # reconnect the silent acquisition ran at 1x, now it runs at the chosen speed.
            self._streaming = self._ever_started = True
            self._awaiting_start = False
            self._clock_base = (time.monotonic(), self._streamed)
            return
        if cmd == CommandCode.STOP:
            self._streaming = False
        elif cmd == CommandCode.GET_INFO:
            self._send(self._packet(Ack(cmd, AckStatus.OK)))
            self._send_info()
            return
        elif cmd == CommandCode.SET_RATE:
            if arg in SUPPORTED_RATES:
                self._pos = int(self._pos * arg / self.fs)
                self._set_rate(arg)
                self._send(self._packet(Ack(cmd, AckStatus.OK)))
                self._send_info()
                return
            status = AckStatus.BAD_ARGUMENT
        else:
            status = AckStatus.UNSUPPORTED
        self._send(self._packet(Ack(cmd, status)))

    # --- streaming -----------------------------------------------------------

    def _pace(self) -> float | None:
        """Device seconds per wall second now; None when unpaced (``speed <= 0``: as fast
        as the host reads). While silent the device acquires in real time, whatever the speed."""
        if self._silent():
            return 1.0
        return None if self.speed <= 0 else self.speed

    def _due_samples(self, now: float) -> int:
        """Samples the device should have acquired by ``now`` since its clock base."""
        t0, s0 = self._clock_base
        pace = self._pace()
        if pace is None:
            return 1 << 62
        return s0 + int((now - t0) * self.fs * pace)

    def _silent(self) -> bool:
        """Acquiring but not sending (port away, or back but no START yet)."""
        return self._away_until is not None or self._awaiting_start

    def _produce(self, now: float) -> bool:
        """Generate due DATA packets; False when the stream has ended."""
        produced = 0
        while self._streaming and produced < 64:
            if self.duration is not None and self._streamed >= self.duration * self.fs:
                return False
            if self._streamed + self.spp > self._due_samples(now):
                break
            if self._pace() is None and self._out:
                break  # as fast as the host reads: wait for the buffer to drain
            if not self._one_packet():
                return False
            produced += 1
        return True

    def _one_packet(self) -> bool:
        """Acquire one DATA packet's samples and send them through the faults due now;
        False at the end of a non-looping record."""
        self._reset_counter_if_due()
        self._disconnect_if_due()
        if self._since_info >= INFO_EVERY_S and not self._silent():
            self._send_info()
        taken = self._take(self.spp)
        if taken is None:
            return False
        samples, lead_off = taken
        n = self.spp
        if self.electrode_off:
            samples, lead_off = self._electrodes_off(samples, lead_off, n)
        sample_index = self._acquire(n)
        if self._silent():
            self.summary.disconnect_samples += n
            self._last_lost = False  # the host sees the outage as its own gap, not a lost run
        elif len(self._out) > DEVICE_BUFFER:
            self._overflow_pending += n
            self.summary.overflow_samples += n
        else:
            self._send_overflow_event()
            self._send_data(Data(self.n_channels, n, lead_off, samples), sample_index)
        return True

    def _electrodes_off(self, samples: bytes, lead_off: int, n: int) -> tuple[bytes, int]:
        """The electrode-off schedule over this packet's samples (device time ``_streamed / fs``):
        channels that use an electrode off carry 0, and their lead-off bits are set."""
        from ..signal.electrodes import channel_off_bits

        t = (self._streamed + np.arange(n)) / self.fs
        arr = None
        for electrode, t0, t1 in self.electrode_off:
            on = (t >= t0) & (t < t1)
            if not on.any():
                continue
            bits = channel_off_bits(self.labels, [electrode])
            lead_off |= bits
            if arr is None:
                arr = np.frombuffer(samples, dtype=np.uint8).reshape(n, self.n_channels, 3).copy()
            chans = [c for c in range(self.n_channels) if bits >> c & 1]
            arr[np.ix_(np.flatnonzero(on), chans)] = 0
        return (samples if arr is None else arr.tobytes()), lead_off

    def _acquire(self, n: int) -> int:
        """Advance the device's counters by n samples; returns the sample_index of the first."""
        first = self._counter
        self._counter = (self._counter + n) & 0xFFFFFFFF
        self._streamed += n
        self._since_info += n / self.fs
        self.summary.samples_generated += n
        return first

    def _reset_counter_if_due(self) -> None:
        """Fault "reset": once, after ``reset_after`` s, the counter restarts at 0 (EVENT 4 + INFO)."""
        f = self.faults
        if f.reset_after is None or self._reset_done or self._streamed < f.reset_after * self.fs:
            return
        self._reset_done = True
        self.summary.resets += 1
        self._counter = 0
        self._send(self._packet(EventMsg(EventCode.DEVICE_RESET, 0)))
        self._send_info()

    def _disconnect_if_due(self) -> None:
        """Fault "disconnect": once, after ``disconnect_after`` s, the port vanishes for ``disconnect_for`` s."""
        f = self.faults
        if f.disconnect_after is None or self._disconnect_done or self._streamed < f.disconnect_after * self.fs:
            return
        self._disconnect_done = True
        self.summary.disconnects += 1
        self.transport.disconnect()
        self._out.clear()  # what the MCU had queued is lost with the link
        self._away_until = time.monotonic() + f.disconnect_for
        self._clock_base = (time.monotonic(), self._streamed)

    def _send_overflow_event(self) -> None:
        """Fault "overflow": DATA the full buffer refused is reported (EVENT 3) before the next DATA."""
        if not self._overflow_pending:
            return
        self._send(self._packet(EventMsg(EventCode.DEVICE_OVERFLOW, self._overflow_pending)))
        self.summary.overflow_events += 1
        self._overflow_pending = 0

    def _send_data(self, body: Data, sample_index: int) -> None:
        """One DATA packet, through the garbage, drop and bit-flip faults (in that RNG order)."""
        s = self.summary
        wire = self._packet(body, sample_index)
        s.data_packets += 1
        self._garbage_if_drawn()
        if self._drop_drawn():
            s.dropped_packets += 1
            s.dropped_samples += body.n_samples
            lost = True
        elif self._flip_drawn():
            self._send(self._flip_one_bit(wire))
            s.flipped_packets += 1
            s.flipped_samples += body.n_samples
            lost = True
        else:
            self._send(wire)
            lost = False
        self._count_loss(lost, body.n_samples)

    def _garbage_if_drawn(self) -> None:
        """Fault "garbage": random bytes and a 0x00 between packets (no packet is lost)."""
        f, rng = self.faults, self.rng
        if not (f.garbage_prob and rng.random() < f.garbage_prob):
            return
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32))) + b"\x00"
        self._out += junk
        self.summary.garbage_bursts += 1
        self.summary.garbage_bytes += len(junk)

    def _drop_drawn(self) -> bool:
        """Fault "drop": every ``drop_every``-th DATA packet, or each with ``drop_prob``."""
        f = self.faults
        return bool(f.drop_every and self.summary.data_packets % f.drop_every == 0
                    or f.drop_prob and self.rng.random() < f.drop_prob)

    def _flip_drawn(self) -> bool:
        f = self.faults
        return bool(f.flip_prob and self.rng.random() < f.flip_prob)

    def _flip_one_bit(self, wire: bytes) -> bytes:
        """Fault "flip": one bit of the packet (not its delimiter) flipped; the host must drop it."""
        bit = self.rng.randrange((len(wire) - 1) * 8)
        flipped = bytearray(wire)
        flipped[bit // 8] ^= 1 << (bit % 8)
        return bytes(flipped)

    def _count_loss(self, lost: bool, n: int) -> None:
        """Runs of consecutive lost DATA are what the host sees as gaps."""
        s = self.summary
        if lost:
            if not self._last_lost:
                s.lost_runs += 1
            s.trailing_lost_samples += n
        else:
            s.samples_delivered += n
            s.trailing_lost_samples = 0
        self._last_lost = lost

    def _maybe_return(self, now: float) -> None:
        if self._away_until is not None and now >= self._away_until:
            self._away_until = None
            self.transport.reopen()
            self._awaiting_start = True

    # --- main loop -------------------------------------------------------------

    def stop(self) -> None:
        self._stop = True

    def run(self) -> Summary:
        """Serve until stopped or the stream ends; then let the host read what is queued."""
        self._send_info()  # power-up INFO (a host that opens the port later never sees it)
        while not self._stop:
            now = time.monotonic()
            self._maybe_return(now)
            if self.transport.connected:
                self._read_commands()
            if not self._produce(now):
                break
            self._flush()
            self._wait(now)
        self._drain()
        return self.summary

    def _wait(self, now: float) -> None:
        timeout = 0.05
        pace = self._pace()
        if pace is not None and (self._streaming or self._silent()):
            t0, s0 = self._clock_base
            next_due = t0 + (self._streamed + self.spp - s0) / (self.fs * pace)
            timeout = min(timeout, max(0.0, next_due - now))
        if self._away_until is not None:
            timeout = min(timeout, max(0.0, self._away_until - now))
        if not self.transport.connected:
            time.sleep(timeout)
            return
        fd = self.transport.fileno()
        wlist = [fd] if self._out else []
        if self._streaming and pace is None and not self._out:
            return  # as fast as possible: produce again right away
        try:
            select.select([fd], wlist, [], timeout)
        except (OSError, ValueError):
            time.sleep(timeout)

    def _drain(self) -> None:
        # TIOCINQ does not count bytes still in the tty layer between master and slave, so a
        # single "nothing unread" can come too early: wait until it holds for a while
        deadline = time.monotonic() + self.linger
        quiet_since = None
        while self.transport.connected and time.monotonic() < deadline:
            self._flush()
            now = time.monotonic()
            if self._out or self.transport.unread() > 0:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 0.25:
                break
            time.sleep(0.005)
