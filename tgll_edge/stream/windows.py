"""The streaming signal path: sample blocks in, model-ready windows out.

Per block: channels -> 12 leads (derived when the device measures 8; a device giving
only some leads, e.g. ``I,II,V2``, leaves the others 0 and says so in ``Window.present``,
III/aVR/aVL/aVF derived only where I and II are measured) -> the
card's Preprocessor (resample device fs -> card fs, causal filters; state kept
across blocks) -> ring buffer -> a window of the card's ``n_times`` every
``hop`` seconds.

Gaps: a Gap (or any sample_index discontinuity) resets the ring buffers and the
Preprocessor state: a window never spans a gap, and the first window after it
ends only once a full window of post-gap samples has arrived. The exception is
a short gap on a clock that kept running (a lost packet: cause ``link``,
``device_overflow`` or ``cyton_counter``) of at most ``max_bridge_s``: it is
bridged by linear interpolation between the samples on either side, and every
window that covers it says how many gaps and milliseconds it bridged. A lossy
radio link (2% of packets lost) would otherwise never give a gap-free window.

Timing: output sample ``j`` of a contiguous run that began at device sample
``s0`` (rate ``fs_in``) has the nominal time ``s0 / fs_in + j / fs`` (device
seconds since the stream started). A window's ``t_start``/``t_end`` are the
nominal times of its first sample and one past its last, the same alignment
``tgll-predict`` uses for a record that starts at ``s0``. The resampler's FIR is
causal: the window's content is the signal of ``[t_start, t_end)`` delayed by
``Preprocessor.delay_s`` (0.1 s for 500 -> 100 Hz), exactly as in training and
offline prediction, so it is not compensated; a window is ready when the
device sample at its last output sample's nominal time has arrived.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..link.blocks import Gap, GapCause, SampleBlock
from ..signal.electrodes import available_leads
from ..signal.leads import LEADS_8, LEADS_12, canonical_lead, derive_12, to_12_leads
from .ring import RingBuffer


@dataclass
class Window:
    """One model input window and what the quality gate needs about it."""

    data: np.ndarray            # (12, n_times) preprocessed mV at the card's fs
    t_start: float
    t_end: float
    raw: np.ndarray             # (12, n) mV at the device fs over the window's span, unfiltered
    fs_in: float
    lead_off_counts: np.ndarray  # (channels,) samples in the window with each channel's lead-off bit set
    channel_labels: tuple
    arrival: float = 0.0        # perf_counter() when the block completing the window arrived
    quality: object = None
    bridged_gaps: int = 0       # short gaps inside the window filled by interpolation
    bridged_ms: float = 0.0     # and the signal time they filled
    present: np.ndarray | None = None  # (12,) bool: the leads the device gives (None: all 12); the others are 0


#: gaps whose length is exact and whose clock kept running: safe to bridge
BRIDGEABLE = frozenset({GapCause.LINK, GapCause.DEVICE_OVERFLOW, GapCause.CYTON_COUNTER})


class SignalPath:
    """Explicit state of the per-block signal path.

    ``preprocessor_factory(fs_in)`` returns a fresh Preprocessor for the card
    (``Model.preprocessor``); ``fs``/``n_times`` are the card's; ``hop_s`` the
    window hop in seconds. ``on_signal(t_start, fs, data)``, when set, sees every
    conditioned chunk (mV at the card's fs) as it is produced.
    """

    on_signal: Callable[[float, float, np.ndarray], None] | None = None

    def __init__(self, preprocessor_factory, fs: float, n_times: int, hop_s: float = 5.0,
                 max_bridge_s: float = 0.0, subsets: bool = False, lead_off_hold_s: float = 0.0):
        # subsets: accept a device that gives only some of the 12 leads (PROTOCOL.md lead_set 255,
        # labels such as I,II,V2): its missing leads are 0 and marked in Window.present; False:
        # such a device is refused with the error naming what is missing (a 12-lead model's need)
        self.subsets = bool(subsets)
        # lead_off_hold_s: a channel's lead-off bit is held this long after it clears (the filters
        # settle from the step an electrode makes when it comes back: 4 s takes a 300 mV step of
        # the card's 0.5 Hz high-pass below 0.06 mV); 0: the bits as the device sent them
        if not lead_off_hold_s >= 0:
            raise ValueError(f"lead_off_hold_s must be >= 0; got {lead_off_hold_s}")
        self.lead_off_hold_s = float(lead_off_hold_s)
        if not max_bridge_s >= 0:
            raise ValueError(f"max_bridge_s must be >= 0; got {max_bridge_s}")
        self.max_bridge_s = float(max_bridge_s)
        self.preprocessor_factory = preprocessor_factory
        self.fs = float(fs)
        self.n_times = int(n_times)
        self.window_s = self.n_times / self.fs
        if not (hop_s > 0 and hop_s <= self.window_s + 1e-9):
            raise ValueError(f"hop must be > 0 and <= the window length {self.window_s:g} s; got {hop_s}")
        self.hop = max(1, int(round(hop_s * self.fs)))
        self.fs_in: float | None = None
        self.labels: tuple | None = None
        self.pre = None
        self._reset_run(None)

    # -- state --------------------------------------------------------------------
    def _configure(self, block: SampleBlock) -> None:
        """(Re)build the per-device state for a block's rate and channels."""
        self.fs_in = float(block.fs)
        self.labels = tuple(block.labels)
        available, derived = available_leads(self.labels)  # ValueError naming an unknown label
        names = [canonical_lead(lab) for lab in self.labels]
        self._identity12 = tuple(names) == LEADS_12
        self._subset = not all(name in names for name in LEADS_8)  # 8 measured (or all 12): as before
        if not self._subset or not self.subsets:
            # raises the clear error if these channels cannot make 12 leads
            try:
                to_12_leads(np.zeros((len(names), 1)), self.labels)
            except ValueError as exc:
                raise ValueError(f"{exc}; this model needs all 12 leads: score a reduced device with a "
                                 "lead-set-aware bundle, e.g. --model models/tgllnet-edge-leadsets-superdiagnostic"
                                 ) from None
        self.present = np.array([lead in available for lead in LEADS_12], dtype=bool)
        # the channel order, computed once per device rather than per block
        self._derive = not all(name in names for name in LEADS_12)
        if self._subset:  # (12-lead row, device channel) pairs; then the leads derived from I and II
            self._pairs = [(j, names.index(lead)) for j, lead in enumerate(LEADS_12) if lead in names]
            self._derived = [LEADS_12.index(lead) for lead in derived]
            self._i_ii = (names.index("I"), names.index("II")) if derived else None
        else:
            self._order = [names.index(n) for n in (LEADS_8 if self._derive else LEADS_12)]
        self.pre = self.preprocessor_factory(self.fs_in)
        self.n_raw = int(round(self.window_s * self.fs_in))
        # chunks of at most a hop keep the rings small whatever the block size
        self.chunk_in = max(1, min(int(self.hop * self.fs_in / self.fs), self.n_raw))
        out_per_chunk = int(math.ceil(self.chunk_in * self.fs / self.fs_in)) + 2
        self.ring = RingBuffer(12, self.n_times + out_per_chunk, np.float32)
        self.raw_ring = RingBuffer(12, self.n_raw + self.chunk_in + 2, np.float32)
        self.lo_ring = RingBuffer(0, self.n_raw + self.chunk_in + 2, np.uint32)
        self.n_channels = len(self.labels)

    def _reset_run(self, start_index: int | None) -> None:
        """Forget the past: the next contiguous run starts at ``start_index`` (None: the next block's)."""
        if self.pre is not None:
            self.pre.reset()
            self.ring.clear()
            self.raw_ring.clear()
            self.lo_ring.clear()
        self.run_start = start_index
        self.expected = start_index
        self.n_in = 0     # input samples of this run
        self.n_out = 0    # output samples of this run
        self.next_end = self.n_times
        self.bridges: list[tuple[int, int]] = []  # [first, end) input samples of this run that were filled
        self._off_until: dict[int, int] = {}      # channel -> input sample of this run its held bit ends at
        self._bridge: Gap | None = None           # a gap waiting for the block after it
        self._last_x12: np.ndarray | None = None  # the run's last input sample (12 leads)

    def gap(self, gap: Gap) -> None:
        """A Gap: the next block starts a new contiguous run, unless the gap can be bridged."""
        if (gap.cause in BRIDGEABLE and 0 < gap.missing_samples <= self.max_bridge_s * gap.fs
                and self._bridge is None and self.expected is not None and self._last_x12 is not None
                and gap.fs == self.fs_in and gap.index == self.expected):
            self._bridge = gap
        else:
            self._reset_run(None)

    def _fill(self, gap: Gap, x12_next: np.ndarray, block: SampleBlock, arrival: float, out: list) -> None:
        """Linear interpolation from the run's last sample to the next block's first."""
        n = gap.missing_samples
        w = (np.arange(1, n + 1) / (n + 1))[None, :]
        fill = (self._last_x12[:, None] * (1 - w) + x12_next[:, :1] * w).astype(np.float32)
        self.bridges.append((self.n_in, self.n_in + n))
        self.expected += n
        for a in range(0, n, self.chunk_in):
            self._push_chunk(fill[:, a:a + self.chunk_in], block, arrival, out, lead_off=0)

    # -- processing ---------------------------------------------------------------
    def push(self, block: SampleBlock, arrival: float = 0.0) -> list[Window]:
        """Feed one block; return the windows it completed (oldest first)."""
        bridge, self._bridge = self._bridge, None
        if self.fs_in != float(block.fs) or self.labels != tuple(block.labels):
            self._configure(block)
            self._reset_run(block.index)
            bridge = None
        elif self.expected is None:
            self._reset_run(block.index)
        elif bridge is not None and block.index != bridge.index + bridge.missing_samples:
            bridge = None  # not the block right after the gap: no bridge
            self._reset_run(block.index)
        elif bridge is None and block.index != self.expected:
            # a discontinuity no Gap announced (device reset, a source without gap
            # events): never concatenate across it
            self._reset_run(block.index)
        data = block.data
        if self._identity12:
            x12 = data
        elif self._subset:
            x12 = self._subset_12(data)
        elif self._derive:
            x12 = derive_12(data[self._order])
        else:
            x12 = data[self._order]
        windows: list[Window] = []
        if bridge is not None:
            self._fill(bridge, x12, block, arrival, windows)
        self.expected = block.index + block.n
        if block.n:
            self._last_x12 = np.asarray(x12[:, -1], dtype=np.float32)
        for a in range(0, block.n, self.chunk_in):
            self._push_chunk(x12[:, a:a + self.chunk_in], block, arrival, windows)
        return windows

    def _subset_12(self, data: np.ndarray) -> np.ndarray:
        """A device giving some of the leads -> (12, n): measured leads copied, III/aVR/aVL/aVF
        derived where I and II are measured, the others 0 (``present`` says which)."""
        x12 = np.zeros((12, data.shape[1]), dtype=np.result_type(data.dtype, np.float32))
        for j, c in self._pairs:
            x12[j] = data[c]
        if self._i_ii is not None:
            full = derive_12(np.concatenate([data[list(self._i_ii)], np.zeros((6, data.shape[1]), data.dtype)]))
            for j in self._derived:
                x12[j] = full[j]
        return x12

    def _hold_lead_off(self, lo: np.ndarray, bits: int, n: int) -> np.ndarray:
        """Per sample of this chunk, also the bits of channels that were off less than
        ``lead_off_hold_s`` ago (same result whatever the block sizes)."""
        idx = self.n_in + np.arange(n)
        for c, until in list(self._off_until.items()):
            if until <= self.n_in:
                del self._off_until[c]
            elif not bits >> c & 1:
                lo[idx < until] |= np.uint32(1 << c)
        hold = int(round(self.lead_off_hold_s * self.fs_in))
        for c in range(self.n_channels):
            if bits >> c & 1:
                self._off_until[c] = self.n_in + n + hold
        return lo

    def _push_chunk(self, x12: np.ndarray, block: SampleBlock, arrival: float, out: list,
                    lead_off: int | None = None) -> None:
        n = x12.shape[1]
        y = self.pre.process(x12)
        self.raw_ring.extend(x12.astype(np.float32, copy=False))
        bits = block.lead_off if lead_off is None else lead_off
        lo = np.full(n, bits, dtype=np.uint32)
        if self.lead_off_hold_s > 0 and (bits or self._off_until):
            lo = self._hold_lead_off(lo, bits, n)
        self.lo_ring.extend(lo)
        self.n_in += n
        m = y.shape[1]
        if self.on_signal is not None and m:
            self.on_signal(self.run_start / self.fs_in + self.n_out / self.fs, self.fs, y)
        self.ring.extend(y)
        self.n_out += m
        while self.next_end <= self.n_out:
            e = self.next_end
            data = self.ring.last(self.n_times, self.n_out - e)
            t0 = self.run_start / self.fs_in
            t_start = t0 + (e - self.n_times) / self.fs
            t_end = t0 + e / self.fs
            # the raw device samples of the window's span that its output depends on:
            # from its nominal start to the one holding its last output sample
            last_in = min(self.n_in - 1, int(math.floor((e - 1) * self.fs_in / self.fs + 1e-9)))
            first_in = int(math.ceil((e - self.n_times) * self.fs_in / self.fs - 1e-9))
            skip = self.n_in - 1 - last_in
            avail = min(last_in - first_in + 1, self.raw_ring.size - skip)
            raw = self.raw_ring.last(avail, skip)
            lo = self.lo_ring.last(avail, skip)
            counts = np.array([np.count_nonzero(lo & (1 << c)) for c in range(self.n_channels)]) \
                if lo.any() else np.zeros(self.n_channels, dtype=np.int64)
            # bridges that end before this window's first sample can no longer matter
            self.bridges = [b for b in self.bridges if b[1] > first_in]
            inside = [min(b, last_in + 1) - max(a, first_in) for a, b in self.bridges if a <= last_in]
            out.append(Window(data=data, t_start=t_start, t_end=t_end, raw=raw, fs_in=self.fs_in,
                              lead_off_counts=counts, channel_labels=self.labels, arrival=arrival,
                              bridged_gaps=len(inside), bridged_ms=1000.0 * sum(inside) / self.fs_in,
                              present=self.present))
            self.next_end += self.hop
