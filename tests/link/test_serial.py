"""SerialSource over real pseudo-terminals against the device emulator."""
import os
import threading

import numpy as np
import pytest

from tgll_edge.link.blocks import Gap, SampleBlock, Status
from tgll_edge.link.emulator import ADS1298_UV_PER_COUNT, Emulator, Faults, PtyTransport, load_record, to_counts
from tgll_edge.link.serial import SerialSource
from tgll_edge.link.source import LinkError


class Running:
    def __init__(self, tmp_path, **kw):
        faults = kw.pop("faults", Faults())
        self.transport = PtyTransport(str(tmp_path / "emu"))
        self.emu = Emulator(self.transport, faults=faults, **kw)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        # a device that finishes its stream goes away: the host must see the pty close
        try:
            self.emu.run()
        finally:
            self.transport.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.emu.stop()
        self.thread.join(10)
        self.transport.close()


def collect(src, stop_after_disconnects=1):
    evs = []
    try:
        for ev in src:
            evs.append(ev)
    except LinkError as exc:
        evs.append(exc)
    return evs


def summary_of(evs):
    blocks = [e for e in evs if isinstance(e, SampleBlock)]
    gaps = [e for e in evs if isinstance(e, Gap)]
    pos = None
    for e in evs:  # blocks and gaps tile the timeline
        if isinstance(e, (SampleBlock, Gap)):
            assert pos is None or e.index == pos
            pos = e.index + (e.n if isinstance(e, SampleBlock) else e.missing_samples)
    return blocks, gaps


def test_clean_stream_equals_the_record(tmp_path):
    with Running(tmp_path, speed=0, duration=4.0, loop=False, linger=5) as r:
        src = SerialSource(r.transport.public_path, reconnect=False)
        evs = collect(src)
        r.thread.join(10)
    blocks, gaps = summary_of(evs)
    assert gaps == []
    x = np.concatenate([b.data for b in blocks], axis=1)
    assert x.shape == (8, 2000)
    mv, fs = load_record(r.emu.record_path)
    expect = to_counts(mv, ADS1298_UV_PER_COUNT)[:, :2000] * ADS1298_UV_PER_COUNT / 1000
    np.testing.assert_allclose(x, expect, atol=1e-6)
    np.testing.assert_allclose(x, mv[:, :2000], atol=1e-4)  # within quantisation of the record (1 uV)
    assert isinstance(evs[-1], LinkError) and "disconnected" in str(evs[-1])
    assert src.stats["crc_errors"] == 0 and src.stats["samples"] == 2000


def test_drop_every_nth_gives_exact_gaps(tmp_path):
    faults = Faults(drop_every=7, seed=1)
    with Running(tmp_path, speed=0, duration=6.0, samples_per_packet=13, faults=faults, linger=5) as r:
        src = SerialSource(r.transport.public_path, reconnect=False)
        evs = collect(src)
        r.thread.join(10)
    s = r.emu.summary
    blocks, gaps = summary_of(evs)
    visible = s.dropped_samples - s.trailing_lost_samples
    assert len(gaps) == s.lost_runs - (1 if s.trailing_lost_samples else 0)
    assert all(g.missing_samples == 13 and g.cause == "link" for g in gaps)
    assert src.stats["missing_samples"] == visible
    assert src.stats["samples"] == s.samples_delivered
    assert src.stats["samples"] + visible + s.trailing_lost_samples == s.samples_generated


def test_flips_and_garbage_with_seed_are_exact(tmp_path):
    faults = Faults(flip_prob=0.05, garbage_prob=0.05, drop_prob=0.02, seed=7)
    with Running(tmp_path, speed=0, duration=10.0, faults=faults, linger=5) as r:
        src = SerialSource(r.transport.public_path, reconnect=False)
        evs = collect(src)
        r.thread.join(10)
    s = r.emu.summary
    blocks, gaps = summary_of(evs)
    assert s.flipped_packets > 0 and s.garbage_bursts > 0 and s.dropped_packets > 0
    st = src.stats
    lost = s.dropped_samples + s.flipped_samples
    assert st["missing_samples"] == lost - s.trailing_lost_samples
    assert len(gaps) == s.lost_runs - (1 if s.trailing_lost_samples else 0)
    assert st["samples"] == s.samples_delivered
    errors = st["crc_errors"] + st["cobs_errors"] + st["bad_length"] + st["bad_payload"] + st["bad_version"] \
        + st["bad_type"]
    assert errors >= s.flipped_packets + s.garbage_bursts
    assert st["dropped_bytes"] >= s.garbage_bytes


def test_reconnect_after_disconnect(tmp_path):
    faults = Faults(disconnect_after=2.0, disconnect_for=0.6, seed=0)
    with Running(tmp_path, speed=4, duration=8.0, faults=faults, linger=5) as r:
        src = SerialSource(r.transport.public_path, max_reconnect_s=1.0, backoff=(0.05, 0.2))
        evs = collect(src)
        r.thread.join(10)
    s = r.emu.summary
    blocks, gaps = summary_of(evs)
    kinds = [e.kind for e in evs if isinstance(e, Status)]
    assert kinds.count("disconnected") == 2 and kinds.count("reconnected") == 1  # outage, then end of stream
    assert kinds.index("disconnected") < kinds.index("reconnected")
    [g] = gaps
    assert g.cause == "disconnect" and g.index == 1000
    assert g.missing_samples == s.disconnect_samples
    assert g.missing_samples >= 0.6 * 500  # at least the outage
    assert src.stats["samples"] + g.missing_samples == s.samples_generated == 4000
    assert src.stats["reconnects"] == 1
    assert isinstance(evs[-1], LinkError) and "did not come back" in str(evs[-1])


def test_counter_reset_becomes_a_reset_gap(tmp_path):
    with Running(tmp_path, speed=0, duration=4.0, faults=Faults(reset_after=2.0), linger=5) as r:
        src = SerialSource(r.transport.public_path, reconnect=False)
        evs = collect(src)
        r.thread.join(10)
    blocks, gaps = summary_of(evs)
    assert [g.cause for g in gaps] == ["device_reset"] and gaps[0].index == 1000
    assert src.stats["samples"] == 2000 and src.stats["device_resets"] == 1


def test_set_rate_changes_fs(tmp_path):
    from tgll_edge.link.protocol import set_rate_command
    # paced (3 s of signal over 1 s), not as-fast-as-possible: on a loaded machine a free-running
    # emulator could send the whole stream before the command arrives (seen as a rare CI flake)
    with Running(tmp_path, speed=3, duration=3.0, linger=5) as r:
        src = SerialSource(r.transport.public_path, reconnect=False)
        src.open()
        src.send(set_rate_command(250))
        evs = collect(src)
        r.thread.join(10)
    rates = [b.fs for b in evs if isinstance(b, SampleBlock)]
    assert 250.0 in rates and rates[-1] == 250.0
    # the command may land before the first DATA (no gap then); once 500 Hz samples
    # were delivered, the switch must be marked by a rate_change gap before the first 250 Hz block
    first_250 = next(i for i, e in enumerate(evs) if isinstance(e, SampleBlock) and e.fs == 250.0)
    if 500.0 in rates:
        assert any(isinstance(g, Gap) and g.cause == "rate_change" for g in evs[:first_250])


def test_missing_port_is_a_clear_error(tmp_path):
    with pytest.raises(LinkError, match="cannot open serial port .*nope"):
        SerialSource(str(tmp_path / "nope")).open()


def test_silent_device_times_out_waiting_for_info():
    master, slave = os.openpty()
    try:
        with pytest.raises(LinkError, match="no INFO"):
            SerialSource(os.ttyname(slave), info_timeout=0.3).open()
    finally:
        os.close(master)
        os.close(slave)
