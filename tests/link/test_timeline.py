import json

import numpy as np
import pytest

from tgll_edge.link.blocks import DeviceInfo, Gap, SampleBlock, Status
from tgll_edge.link.protocol import (Ack, AckStatus, CommandCode, Data, EventCode, EventMsg, Packet, PacketType,
                                     encode_data_payload)
from tgll_edge.link.timeline import Timeline
from tgll_edge.signal.leads import LEADS_8, LEADS_12

UV = 0.5
INFO8 = DeviceInfo(500.0, 8, UV, 0, LEADS_8, "d", "f")


def info(fs=500.0, **kw):
    kw = {"fs": fs, **kw} if kw else kw
    return Packet(PacketType.INFO, 0, 0, DeviceInfo(fs, 8, UV, 0, LEADS_8, "d", "f") if not kw else DeviceInfo(**kw))


def data(index, n=10, value=None, lead_off=0, n_ch=8, seq=0):
    counts = np.full((n, n_ch), 1000 if value is None else value)
    return Packet(PacketType.DATA, seq, index % 2**32, Data(n_ch, n, lead_off, encode_data_payload(counts)[4:]))


def event(code, value):
    return Packet(PacketType.EVENT, 0, 0, EventMsg(code, value))


def run(packets, tl=None, now=None):
    tl = tl or Timeline()
    return tl, tl.push(packets, now)


def blocks(evs):
    return [e for e in evs if isinstance(e, SampleBlock)]


def gaps(evs):
    return [e for e in evs if isinstance(e, Gap)]


def check_continuity(evs):
    """Blocks and gaps tile the stream index exactly."""
    pos = None
    for e in evs:
        if isinstance(e, SampleBlock):
            assert pos is None or e.index == pos
            pos = e.index + e.n
        elif isinstance(e, Gap):
            assert pos is None or e.index == pos
            pos = e.index + e.missing_samples
    return pos


def test_contiguous_packets_make_one_block_in_mv():
    tl, evs = run([info(), *[data(1000 + 10 * k) for k in range(5)]])
    [b] = blocks(evs)
    assert b.index == 0 and b.n == 50 and b.fs == 500.0 and b.labels == LEADS_8
    assert b.data.dtype == np.float32 and b.data.shape == (8, 50)
    np.testing.assert_allclose(b.data, 1000 * UV / 1000)
    assert tl.stats["gaps"] == 0 and tl.stats["samples"] == 50


def test_drops_give_exact_gaps():
    idx = [0, 10, 30, 40, 50, 100, 110]
    tl, evs = run([info()] + [data(i) for i in idx])
    g = gaps(evs)
    assert [(x.index, x.missing_samples, x.cause) for x in g] == [(20, 10, "link"), (60, 40, "link")]
    assert check_continuity(evs) == 120
    assert tl.stats["missing_samples"] == 50 and tl.stats["gaps"] == 2


def test_u32_wrap_is_not_a_gap():
    start = 2**32 - 25
    tl, evs = run([info()] + [data(start + 10 * k) for k in range(6)])
    assert gaps(evs) == [] and sum(b.n for b in blocks(evs)) == 60
    tl, evs = run([info(), data(2**32 - 10), data(2**32 + 20)])  # lost 20 across the wrap
    assert [(x.index, x.missing_samples) for x in gaps(evs)] == [(10, 20)]


def test_backward_jump_is_device_reset_estimated_from_clock():
    tl = Timeline()
    tl.push([info(), data(5000), data(5010)], now=100.0)
    evs = tl.push([data(0)], now=101.0)  # 1 s later: 500 samples, 10 of them in the new packet
    [g] = gaps(evs)
    assert g.cause == "device_reset" and g.index == 20 and g.missing_samples == 490
    assert any(isinstance(e, Status) and e.kind == "gap_estimated" for e in evs)
    assert blocks(evs)[0].index == 510
    assert tl.stats["device_resets"] == 1


def test_reset_event_restarts_even_if_counter_moves_forward():
    tl = Timeline()
    tl.push([info(), data(0)], now=0.0)
    evs = tl.push([event(EventCode.DEVICE_RESET, 0), data(50)], now=0.02)
    [g] = gaps(evs)
    assert g.cause == "device_reset" and g.missing_samples == 0
    assert blocks(evs)[0].index == 10


def test_overflow_event_attributes_the_jump():
    tl, evs = run([info(), data(0), event(EventCode.DEVICE_OVERFLOW, 30), data(50)])
    assert [(x.index, x.missing_samples, x.cause) for x in gaps(evs)] == [(10, 30, "device_overflow"),
                                                                          (40, 10, "link")]
    assert tl.stats["overflow_samples"] == 30 and tl.stats["missing_samples"] == 40
    assert check_continuity(evs) == 60


def test_overflow_without_jump_is_counted_unmatched():
    tl, evs = run([info(), data(0), event(EventCode.DEVICE_OVERFLOW, 30), data(10)])
    assert gaps(evs) == [] and tl.stats["overflow_unmatched"] == 30


def test_refused_command_is_a_nack_accepted_is_silent():
    def ack(command, status):
        return Packet(PacketType.ACK, 0, 0, Ack(command, status))
    tl, evs = run([ack(CommandCode.START, AckStatus.OK), ack(CommandCode.SET_RATE, AckStatus.BAD_ARGUMENT)])
    [st] = evs
    assert st.kind == "nack" and st.message == "device refused command 4 (status 2)"
    assert json.dumps(st.detail) == '{"command": 4, "status": 2}'


def test_data_before_info_is_dropped_and_info_requested():
    asked = []
    tl = Timeline(request_info=lambda: asked.append(1))
    evs = tl.push([data(0), data(10)])
    assert blocks(evs) == [] and tl.stats["data_without_info"] == 20 and asked
    assert [e.kind for e in evs if isinstance(e, Status)] == ["waiting_for_info"]
    evs = tl.push([info(), data(20), data(30)])
    assert blocks(evs)[0].index == 0 and gaps(evs) == []


def test_channel_mismatch_dropped():
    tl, evs = run([info(), data(0), data(10, n_ch=12), data(20)])
    assert tl.stats["channel_mismatch"] == 10
    assert [(g.index, g.missing_samples) for g in gaps(evs)] == [(10, 10)]


def test_rate_change_rescales_index():
    tl, evs = run([info(500.0), data(0, n=10), info(1000.0), data(10, n=10)])
    [g] = gaps(evs)
    assert g.cause == "rate_change" and g.missing_samples == 0 and g.fs == 1000.0 and g.index == 20
    b = blocks(evs)
    assert b[1].index == 20 and b[1].fs == 1000.0


def test_lead_set_labels():
    tl, evs = run([info(fs=500.0, n_channels=12, uv_per_count=UV, lead_set=1, labels=LEADS_12),
                   data(0, n_ch=12)])
    assert blocks(evs)[0].labels == LEADS_12


def test_lead_off_status_and_block_split():
    tl, evs = run([info(), data(0), data(10, lead_off=0b101), data(20, lead_off=0b101), data(30)])
    bl = blocks(evs)
    assert [(b.index, b.n, b.lead_off) for b in bl] == [(0, 10, 0), (10, 20, 0b101), (30, 10, 0)]
    st = [e for e in evs if isinstance(e, Status) and e.kind == "lead_off"]
    assert st[0].detail == {"mask": 0b101, "leads": ["I", "V1"]} and st[1].detail["mask"] == 0


def test_disconnect_attributes_next_gap():
    tl = Timeline()
    tl.push([info(), data(0)], now=0.0)
    tl.disconnected()
    evs = tl.push([data(1010)], now=2.0)
    assert [(g.missing_samples, g.cause) for g in gaps(evs)] == [(1000, "disconnect")]
    tl.disconnected()
    evs = tl.push([data(1020)], now=3.0)  # device kept everything: no gap
    assert gaps(evs) == []


def test_seq_skips_counted():
    tl, _ = run([info(), data(0, seq=1), data(10, seq=2), data(30, seq=4)])
    assert tl.stats["seq_skips"] == 1


@pytest.mark.parametrize("seed", range(5))
def test_random_loss_accounting_is_exact(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 41, 300)
    starts = np.concatenate([[2**32 - 3000], 2**32 - 3000 + np.cumsum(sizes)[:-1]])
    keep = rng.random(300) > 0.2
    keep[0] = True
    pk = [info()] + [data(int(s), int(n)) for s, n, k in zip(starts, sizes, keep) if k]
    tl, evs = run(pk)
    last = int(np.flatnonzero(keep)[-1])
    total = int(sizes[: last + 1].sum())
    assert check_continuity(evs) == total
    assert tl.stats["samples"] == int(sizes[keep].sum())
    assert tl.stats["missing_samples"] == total - tl.stats["samples"]
