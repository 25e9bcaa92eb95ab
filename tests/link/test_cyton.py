import os
import threading

import numpy as np
import pytest

from tgll_edge.link.blocks import Gap, SampleBlock
from tgll_edge.link.cyton import CytonDecoder, CytonReceiver, CytonSource, volts_per_count
from tgll_edge.signal.leads import LEADS_8


def be24(v):
    return (v & 0xFFFFFF).to_bytes(3, "big")


def cyton_packet(counter, chans, footer=0xC0):
    """Built by hand from the OpenBCI format: A0, counter, 8 x int24 BE, 6 aux bytes, C0..CF."""
    return bytes([0xA0, counter]) + b"".join(be24(c) for c in chans) + bytes(6) + bytes([footer])


CH = [1, -1, 2**23 - 1, -(2**23), 1000, -1000, 0, 123456]


def test_scale_factor_documented_value():
    assert volts_per_count(24) == pytest.approx(4.5 / 24 / 8388607)
    assert volts_per_count(24) * 1e6 == pytest.approx(0.02235, rel=1e-3)


def test_decode_hand_made_packets_with_counter_skip_and_garbage():
    stream = (cyton_packet(254, CH) + cyton_packet(255, CH, 0xC1) + b"\x13\x37\xa0\x00"  # garbage incl. a header
              + cyton_packet(0, CH) + cyton_packet(3, CH, 0xCF) + cyton_packet(4, CH))
    rx = CytonReceiver(gain=24)
    evs = []
    for k in range(0, len(stream), 7):  # arbitrary read sizes
        evs += rx.feed(stream[k:k + 7])
    blocks = [e for e in evs if isinstance(e, SampleBlock)]
    gaps = [e for e in evs if isinstance(e, Gap)]
    assert [(g.index, g.missing_samples, g.cause) for g in gaps] == [(3, 2, "cyton_counter")]
    assert sum(b.n for b in blocks) == 5 and blocks[-1].index + blocks[-1].n == 7
    assert all(b.labels == LEADS_8 and b.fs == 250.0 for b in blocks)
    expect_mv = np.array(CH) * volts_per_count(24) * 1e3
    for b in blocks:
        np.testing.assert_allclose(b.data[:, 0], expect_mv, rtol=1e-6)
    assert rx.decoder.stats["dropped_bytes"] == 4 and rx.decoder.stats["packets"] == 5


def test_bad_footer_is_skipped():
    bad = cyton_packet(1, CH)[:-1] + b"\xB0"
    counters, counts = CytonDecoder().feed(cyton_packet(0, CH) + bad + cyton_packet(2, CH))
    assert counters.tolist() == [0, 2] and counts.shape == (2, 8)


def test_cyton_source_over_a_pty():
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)
    path = os.ttyname(slave)
    got_b = threading.Event()

    def board():
        buf = b""
        while b"b" not in buf:
            buf += os.read(master, 100)
        got_b.set()
        os.write(master, b"".join(cyton_packet(i % 256, [i] * 8) for i in range(0, 300) if i != 100))

    t = threading.Thread(target=board, daemon=True)
    t.start()
    src = CytonSource(path)
    n, gaps = 0, []
    for ev in src:
        if isinstance(ev, SampleBlock):
            n += ev.n
        elif isinstance(ev, Gap):
            gaps.append(ev)
        if n >= 299:
            break
    src.close()
    os.close(master)
    os.close(slave)
    assert got_b.is_set() and n == 299
    assert [(g.index, g.missing_samples) for g in gaps] == [(100, 1)]
    assert src.stats["missing_samples"] == 1
