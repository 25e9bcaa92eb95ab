"""The BLE path (PROTOCOL.md, "BLE transport").

1. Reassembly, without any BLE stack: the byte stream of real ECG packets, cut into
   notifications at ATT_MTU 23 / 185 / 247 and at random points, gives BleStreamAssembler
   exactly the events of the whole stream; a corrupted or a lost notification costs exactly
   the packets it touched, counted, and shows as a Gap of exactly their samples.
2. BleSource end to end over a virtual BLE link (bumble: a TGLL peripheral and a central on
   one in-process LocalLink, see virtual_ble.py): discovery by name, subscription to the
   stream characteristic, START / GET_INFO / STOP written to the control characteristic,
   packets reassembled across notifications, a disconnect forced by the device, reconnect
   and re-subscribe with one live subscription only, the outage as a Gap.
"""
import threading
from pathlib import Path

import numpy as np
import pytest

from tgll_edge.link.ble import CONTROL_UUID, SERVICE_UUID, STREAM_UUID, BleSource, BleStreamAssembler
from tgll_edge.link.blocks import DeviceInfo, Gap, SampleBlock, Status
from tgll_edge.link.emulator import ADS1298_UV_PER_COUNT, DEFAULT_RECORD, load_record, to_counts
from tgll_edge.link.protocol import Data, EventCode, EventMsg, encode_data_payload, encode_packet
from tgll_edge.link.source import LinkError
from tgll_edge.signal.leads import LEADS_8


pytestmark = pytest.mark.timeout(60)

UV = ADS1298_UV_PER_COUNT
SPP = 40  # samples per DATA packet (PROTOCOL.md's maximum for 8 channels)
INFO = DeviceInfo(fs=500.0, n_channels=8, uv_per_count=UV, lead_set=0, labels=LEADS_8,
                  device_id="TGLL-0001", firmware="virtual-1")
FRAME_ERRORS = ("crc_errors", "bad_version", "bad_length", "bad_type", "bad_payload", "oversize", "cobs_errors")


@pytest.fixture(scope="module")
def counts():
    mv, fs = load_record(DEFAULT_RECORD)
    assert fs == 500 and mv.shape[0] == 8
    return to_counts(mv, UV)  # (8, n) int32 ADS1298 counts of a real 12-lead record


def expected_mv(counts, first, end):
    """What the gateway must deliver for device samples [first, end): counts x uV/count, in mV."""
    return (counts[:, first:end].T * (UV / 1000.0)).astype(np.float32).T


# --- 1. reassembly of recorded notification sequences -----------------------------------------

def make_stream(counts, n_samples=2000):
    """INFO, DATA packets of real counts (a battery EVENT in the middle): the wire bytes and, per
    packet, (start, end) byte offsets (end past its 0x00) and (sample_index, n_samples) or None."""
    wire, spans = bytearray(), []

    def put(body, index, samples=None):
        start = len(wire)
        wire.extend(encode_packet(body, seq=len(spans), sample_index=index))
        spans.append((start, len(wire), samples))

    put(INFO, 0)
    for i in range(0, n_samples, SPP):
        if i == n_samples // 2:
            put(EventMsg(EventCode.BATTERY_MV, 3700), i)
        put(Data(8, SPP, 0, encode_data_payload(counts[:, i:i + SPP].T)[4:]), i, (i, SPP))
    return bytes(wire), spans


def feed(chunks):
    rx = BleStreamAssembler(clock=None)  # no host clock: fully deterministic
    events = []
    for c in chunks:
        events += rx.notification(c, now=0.0)
    return events, rx.stats


def normalized(events):
    """Events with the block boundaries (which depend on how bytes were grouped) merged away."""
    out = []
    for e in events:
        if isinstance(e, SampleBlock):
            last = out[-1] if out else None
            if last and last[0] == "samples" and last[1] + last[2].shape[1] == e.index and last[3] == e.lead_off:
                out[-1] = ("samples", last[1], np.concatenate([last[2], e.data], axis=1), e.lead_off)
            else:
                out.append(("samples", e.index, e.data, e.lead_off))
        elif isinstance(e, Gap):
            out.append(("gap", e.index, e.missing_samples, e.cause))
        else:
            out.append(("status", e.kind, e.message, e.detail))
    return out


def assert_same_events(a, b):
    na, nb = normalized(a), normalized(b)
    assert [x[:2] + (x[2].shape if x[0] == "samples" else x[2],) for x in na] == \
           [x[:2] + (x[2].shape if x[0] == "samples" else x[2],) for x in nb]
    for x, y in zip(na, nb):
        if x[0] == "samples":
            np.testing.assert_array_equal(x[2], y[2])
            assert x[3] == y[3]
        else:
            assert x == y


def without_blocks(stats):
    return {k: v for k, v in stats.items() if k != "blocks"}  # blocks: how many runs, depends on grouping


def notifications(stream, size):
    return [stream[i:i + size] for i in range(0, len(stream), size)]


@pytest.mark.parametrize("mtu", [23, 185, 247])
def test_any_mtu_split_gives_the_events_of_the_whole_stream(counts, mtu):
    stream, spans = make_stream(counts)
    whole, whole_stats = feed([stream])
    chunks = notifications(stream, mtu - 3)
    assert max(len(c) for c in chunks) == mtu - 3
    assert max(e - s for s, e, _ in spans) > mtu - 3  # DATA packets span notifications
    events, stats = feed(chunks)
    assert_same_events(events, whole)
    assert without_blocks(stats) == without_blocks(whole_stats)
    # and the whole stream is the record, exactly: no gaps, no drops
    assert tiles(events) == 2000
    got = np.concatenate([e.data for e in events if isinstance(e, SampleBlock)], axis=1)
    np.testing.assert_array_equal(got, expected_mv(counts, 0, 2000))
    assert stats["packets"] == len(spans) and stats["dropped_bytes"] == 0 and stats["gaps"] == 0
    assert [x[1] for x in normalized(events) if x[0] == "status"] == ["info", "battery"]


def test_random_splits_give_the_events_of_the_whole_stream(counts):
    stream, _ = make_stream(counts, 800)
    whole, whole_stats = feed([stream])
    rng = np.random.default_rng(20240607)
    for trial in range(30):
        top = int(rng.choice([2, 8, 64, 300, 1200]))  # from byte-by-byte to several packets at once
        cuts = np.cumsum(rng.integers(1, top + 1, size=len(stream)))
        cuts = [0] + [int(c) for c in cuts[cuts < len(stream)]] + [len(stream)]
        chunks = [stream[a:b] for a, b in zip(cuts, cuts[1:])]
        assert b"".join(chunks) == stream
        events, stats = feed(chunks)
        assert_same_events(events, whole)
        assert without_blocks(stats) == without_blocks(whole_stats), trial


def lost_packets(spans, stream, a, b):
    """Indices of the packets that losing stream[a:b] destroys: those it overlaps, and the one
    right after it if a partial packet before the hole merges into it."""
    hit = [i for i, (s, e, _) in enumerate(spans) if s < b and a < e]
    after = next((i for i, (s, _, _) in enumerate(spans) if s == b), None)
    if after is not None and a > 0 and stream[a - 1] != 0:
        hit.append(after)
    return sorted(set(hit))


def reference(stream, spans, lost):
    """The stream with the lost packets removed whole: what the receiver must make of the damage."""
    return b"".join(stream[s:e] for i, (s, e, _) in enumerate(spans) if i not in lost)


@pytest.mark.parametrize("mtu", [23, 185, 247])
def test_a_corrupted_notification_costs_exactly_its_packet(counts, mtu):
    stream, spans = make_stream(counts)
    chunks = notifications(stream, mtu - 3)
    k = len(chunks) * 2 // 3
    pos = k * (mtu - 3) + (mtu - 3) // 2  # a byte in the middle of notification k
    assert stream[pos] not in (0, 0x5A)  # not a delimiter, and the flip leaves no 0x00
    bad = bytearray(chunks[k])
    bad[(mtu - 3) // 2] ^= 0x5A
    chunks[k] = bytes(bad)
    events, stats = feed(chunks)

    (lost,) = [i for i, (s, e, _) in enumerate(spans) if s <= pos < e]
    assert spans[lost][2] is not None  # a DATA packet
    expect, expect_stats = feed([reference(stream, spans, {lost})])
    assert_same_events(events, expect)
    assert sum(stats[c] for c in FRAME_ERRORS) == 1  # one frame dropped and counted
    assert stats["dropped_bytes"] == spans[lost][1] - spans[lost][0]
    assert stats["packets"] == len(spans) - 1
    gaps = [e for e in events if isinstance(e, Gap)]
    index = spans[lost][2][0]
    assert gaps == [Gap(index, SPP, 500.0, "link")]
    assert stats["missing_samples"] == SPP and stats["samples"] == 2000 - SPP


@pytest.mark.parametrize("mtu", [23, 185, 247])
@pytest.mark.parametrize("where", [0.3, 0.55, 0.8])
def test_a_lost_notification_costs_exactly_the_packets_it_touched(counts, mtu, where):
    stream, spans = make_stream(counts)
    size = mtu - 3
    chunks = notifications(stream, size)
    k = int(len(chunks) * where)
    a, b = k * size, k * size + len(chunks[k])
    events, stats = feed(chunks[:k] + chunks[k + 1:])

    lost = lost_packets(spans, stream, a, b)
    assert lost and all(spans[i][2] is not None for i in lost)  # DATA packets only
    expect, _ = feed([reference(stream, spans, set(lost))])
    assert_same_events(events, expect)
    lost_samples = sum(spans[i][2][1] for i in lost)
    assert stats["missing_samples"] == lost_samples and stats["samples"] == 2000 - lost_samples
    assert stats["packets"] == len(spans) - len(lost)
    remains = sum(spans[i][1] - spans[i][0] for i in lost) - (b - a)  # what is left of them: one bad frame
    assert sum(stats[c] for c in FRAME_ERRORS) == (1 if remains > 1 else 0)
    assert stats["dropped_bytes"] == remains
    gaps = [e for e in events if isinstance(e, Gap)]
    assert [(g.index, g.missing_samples, g.cause) for g in gaps] == [(spans[lost[0]][2][0], lost_samples, "link")]


def test_a_lost_notification_holding_a_delimiter_merges_two_packets(counts):
    """The worst case of one lost notification: the end of one packet with its 0x00 and the start
    of the next are gone, so what is left of both forms one bad frame: two packets, one Gap."""
    stream, spans = make_stream(counts)
    size = 244
    s, e, _ = spans[10]
    a = e - 100  # the notification holds the last 100 bytes of packet 10 and 144 of packet 11
    chunks = [stream[:a], stream[a + size:]]
    events, stats = feed(chunks)
    assert lost_packets(spans, stream, a, a + size) == [10, 11]
    gaps = [g for g in events if isinstance(g, Gap)]
    assert [(g.index, g.missing_samples) for g in gaps] == [(spans[10][2][0], 2 * SPP)]
    assert sum(stats[c] for c in FRAME_ERRORS) == 1


# --- 2. BleSource over a virtual BLE link (bumble) ---------------------------------------------

@pytest.fixture
def virtual():
    pytest.importorskip("bumble")
    from virtual_ble import VirtualBle
    return VirtualBle


def ble_source(link, target="TGLL-0001", **kw):
    kw = {"scan_timeout": 5.0, "info_timeout": 4.0, "backoff": (0.05, 0.2), "max_reconnect_s": 15.0,
          "client_factory": link.client_factory, "find_device": link.find_device, **kw}
    return BleSource(target, **kw)


def run(src, until, on_event=None, limit_s=30.0):
    """Iterate ``src`` until ``until(events)``; a watchdog closes it after ``limit_s``."""
    events = []
    watchdog = threading.Timer(limit_s, src.close)
    watchdog.start()
    try:
        for ev in src:
            events.append(ev)
            if on_event is not None:
                on_event(ev)
            if until(events):
                break
    finally:
        watchdog.cancel()
        src.close()
    return events


def samples_in(events):
    return sum(e.n for e in events if isinstance(e, SampleBlock))


def tiles(events):
    """Blocks and gaps, in order, cover the stream's timeline without overlap or hole."""
    pos = 0
    for e in events:
        if isinstance(e, (SampleBlock, Gap)):
            assert e.index == pos
            pos = e.index + (e.n if isinstance(e, SampleBlock) else e.missing_samples)
    return pos


def test_ble_source_streams_reconnects_and_never_duplicates(counts, virtual):
    link = virtual(counts, INFO, plan=[(0, 1200), (1800, 3000)], mtu=247)
    src = ble_source(link)
    checks = {}
    stale_packet = encode_packet(Data(8, SPP, 0, encode_data_payload(counts[:, :SPP].T)[4:]), seq=1)

    def on_event(ev):
        if isinstance(ev, Status) and ev.kind == "reconnected":
            old = link.clients[0]
            # one live subscription: at the device, and callbacks registered on live clients
            checks["device_subscribers"] = link.call(link.stream_subscribers)
            checks["live_callbacks"] = sum(len(cbs) for c in link.clients if c.is_connected
                                           for cbs in c.callbacks.values())
            # the old client could not unsubscribe on its dead link: a late notification of it
            # (here a whole DATA packet of samples already delivered) reaches BleSource's callback
            checks["late_callbacks"] = link.call(lambda: old.deliver_late(STREAM_UUID, stale_packet))
            checks["stale_after_late"] = src.stats["stale_notifications"]

    events = run(src, lambda evs: samples_in(evs) >= 2400, on_event)
    stats = src.stats

    kinds = [e.kind for e in events if isinstance(e, Status)]
    assert kinds[:2] == ["connected", "info"]
    assert kinds.index("disconnected") < kinds.index("reconnected")
    assert kinds.count("disconnected") == 1 and kinds.count("reconnected") == 1
    assert "device_reset" not in kinds and "gap_estimated" not in kinds

    # samples exact, the outage one Gap of exactly the samples the device never sent
    assert tiles(events) == 3000
    assert [e for e in events if isinstance(e, Gap)] == [Gap(1200, 600, 500.0, "disconnect")]
    blocks = [e for e in events if isinstance(e, SampleBlock)]
    before = np.concatenate([b.data for b in blocks if b.index < 1200], axis=1)
    after = np.concatenate([b.data for b in blocks if b.index >= 1800], axis=1)
    np.testing.assert_array_equal(before, expected_mv(counts, 0, 1200))
    np.testing.assert_array_equal(after, expected_mv(counts, 1800, 3000))
    assert all(b.labels == LEADS_8 and b.fs == 500.0 for b in blocks)

    # commands on the control characteristic: START per connection, STOP on close
    assert link.commands == ["START", "START", "STOP"]
    # packets of 976 bytes in 244-byte notifications, reassembled
    assert link.att_mtus == {247} and link.max_notification == 244
    assert stats["packets"] >= 2400 // SPP + 2 and stats["crc_errors"] == 0 and stats["dropped_bytes"] == 0
    # every notification delivered exactly once (none duplicated), one subscription per connection
    assert stats["notifications"] == link.sent_notifications
    assert stats["subscriptions"] == 2 and stats["reconnects"] == 1 and stats["disconnects"] == 1
    assert checks == {"device_subscribers": 1, "live_callbacks": 1, "late_callbacks": 1, "stale_after_late": 1}
    assert stats["stale_notifications"] == 1
    assert stats["samples"] == 2400 and stats["gaps"] == 1 and stats["missing_samples"] == 600


def test_ble_source_at_the_default_mtu_asks_for_info(counts, virtual):
    """ATT_MTU 23 (20-byte notifications, ~49 per DATA packet) and a device that sends INFO only on
    GET_INFO: DATA before INFO is dropped and counted, GET_INFO is written, the rest is exact."""
    link = virtual(counts, INFO, plan=[(0, 4000)], mtu=None, info_on_start=False)
    src = ble_source(link)
    events = run(src, lambda evs: samples_in(evs) >= 400)
    stats = src.stats
    assert link.att_mtus == {23} and link.max_notification == 20
    assert link.commands[0] == "START" and "GET_INFO" in link.commands and link.commands[-1] == "STOP"
    kinds = [e.kind for e in events if isinstance(e, Status)]
    assert kinds[0] == "connected" and "info" in kinds
    dropped, n = stats["data_without_info"], stats["samples"]
    assert dropped > 0 and dropped % SPP == 0 and n >= 400
    assert tiles(events) == n  # the stream starts at the first sample with a known scale
    got = np.concatenate([e.data for e in events if isinstance(e, SampleBlock)], axis=1)
    np.testing.assert_array_equal(got, expected_mv(counts, dropped, dropped + n))
    assert stats["stale_notifications"] == 0 and stats["subscriptions"] == 1
    assert stats["dropped_bytes"] == 0 and stats["crc_errors"] == 0 and stats["gaps"] == 0


def test_ble_source_finds_the_device_by_address_and_reports_a_missing_one(counts, virtual):
    from virtual_ble import PERIPHERAL_ADDRESS

    link = virtual(counts, INFO, plan=[(0, 200)], mtu=185)
    src = ble_source(link, target=PERIPHERAL_ADDRESS)
    events = run(src, lambda evs: samples_in(evs) >= 200)
    assert samples_in(events) == 200 and link.att_mtus == {185}

    missing = ble_source(virtual(counts, INFO, plan=[]), target="TGLL-9999", scan_timeout=0.3)
    with pytest.raises(LinkError, match="TGLL-9999.*not found"):
        missing.open()


def test_default_bleak_backend_failures_are_link_errors():
    """Without a usable Bluetooth stack (here: no BlueZ), or without bleak, or with no such device,
    the default backend fails with a LinkError that names the device, and leaves no thread behind."""
    src = BleSource("TGLL-0001", scan_timeout=0.3, info_timeout=0.5)
    with pytest.raises(LinkError, match="TGLL-0001"):
        src.open()
    assert src._loop is None and not src._thread.is_alive()


def test_uuids_are_protocol_md():
    assert SERVICE_UUID == "7e1a0001-5c1d-4b6e-9a57-2f0c3b8e1d01"
    assert STREAM_UUID == "7e1a0002-5c1d-4b6e-9a57-2f0c3b8e1d01"
    assert CONTROL_UUID == "7e1a0003-5c1d-4b6e-9a57-2f0c3b8e1d01"
