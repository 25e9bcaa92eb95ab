"""LSL outlets, received by a real inlet (mne-lsl's) in the same test."""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
from uplinkkit import RECORD, need_module

from tgll_edge.link.replay import ReplaySource
from tgll_edge.signal.leads import LEADS_12
from tgll_edge.stream import Pipeline


class Gated:
    """A replay that waits until the test's inlets are connected."""

    def __init__(self, source, gate):
        self.source, self.gate = source, gate

    @property
    def stats(self):
        return self.source.stats

    def __iter__(self):
        assert self.gate.wait(30)
        yield from self.source

    def close(self):
        self.source.close()


def test_inlet_receives_signal_and_markers_with_device_time_clock(tiny_model):
    need_module("mne_lsl", "lsl")
    from mne_lsl.lsl import StreamInlet, resolve_streams

    from tgll_edge.uplink.lsl import LslSink

    class KeepOpen(LslSink):  # the test closes the outlets after it has pulled everything
        def close(self):
            pass

    name = f"tgll-test-{os.getpid()}"
    sink = KeepOpen(name)
    gate = threading.Event()
    src = ReplaySource(RECORD, speed=None, loop=False)
    pipe = Pipeline(Gated(src, gate), tiny_model, hop_s=1.0, sinks=[sink])
    results = []
    th = threading.Thread(target=lambda: results.extend(pipe), daemon=True)
    th.start()
    try:
        found = {}
        deadline = time.monotonic() + 20
        while len(found) < 2 and time.monotonic() < deadline:
            for s in resolve_streams(timeout=0.5):
                if s.name in (name, name + "-markers"):
                    found[s.name] = s
        assert len(found) == 2, f"outlets not found: {list(found)}"
        sig_in, mk_in = StreamInlet(found[name]), StreamInlet(found[name + "-markers"])
        sig_in.open_stream(timeout=10)
        mk_in.open_stream(timeout=10)
        info = sig_in.get_sinfo()
        assert info.get_channel_names() == list(LEADS_12)
        assert info.get_channel_units() == ["millivolts"] * 12
        assert info.sfreq == tiny_model.fs and info.stype == "ECG"
        gate.set()
        th.join(60)
        assert not th.is_alive()
        n_expected = sink.pushed["samples"]
        data, ts = [], []
        deadline = time.monotonic() + 10
        while sum(len(t) for t in ts) < n_expected and time.monotonic() < deadline:
            d, t = sig_in.pull_chunk(timeout=0.5)
            if len(t):
                data.append(d)
                ts.append(t)
        markers, mts = [], []
        deadline = time.monotonic() + 10
        while len(markers) < sink.pushed["markers"] and time.monotonic() < deadline:
            d, t = mk_in.pull_chunk(timeout=0.5)
            markers += [json.loads(row[0]) for row in d]
            mts += list(t)
    finally:
        gate.set()
        LslSink.close(sink)
    data, ts = np.concatenate(data), np.concatenate(ts)
    fs = tiny_model.fs
    assert len(ts) == n_expected >= 9 * fs and data.shape[1] == 12
    # the clock: LSL time = device time + one offset, announced in the clock marker
    clock = next(m for m in markers if m["type"] == "clock")
    assert abs(clock["offset"] - sink.offset) < 1e-6
    device_t = np.arange(len(ts)) / fs  # the replay starts at device time 0 and has no gap
    assert np.all(np.diff(ts) > 0)
    assert np.abs((ts - device_t) - sink.offset).max() < 1e-6
    assert np.all(np.isfinite(data)) and np.abs(data).max() < 20  # conditioned mV, not standardised
    # markers: every finding, at its window's start in device time, in order
    assert np.all(np.diff(mts) >= 0)
    windows = [r for r in results if type(r).__name__ == "Finding"]
    wm = [(m, t) for m, t in zip(markers, mts) if m["type"] == "window"]
    assert [m["t_start"] for m, _ in wm] == [round(w.t_start, 6) for w in windows] and windows
    for m, t in wm:
        assert abs(t - sink.offset - m["t_start"]) < 1e-6
    assert [m["type"] for m in markers][-1] == "summary"
