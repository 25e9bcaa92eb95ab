"""The signal path: windows equal whole-record preprocessing, exact timing, never across a gap."""
import numpy as np
import pytest
from streamkit import LEADS_8, blocks, synthetic_ecg, with_gaps

from tgll_edge.link.blocks import Gap
from tgll_edge.signal.leads import derive_12
from tgll_edge.signal.preprocess import DEFAULT_SETTINGS, Preprocessor, preprocess
from tgll_edge.stream.ring import RingBuffer
from tgll_edge.stream.windows import SignalPath

N_TIMES, FS = 1000, 100.0


def path(hop_s=5.0, settings=DEFAULT_SETTINGS):
    return SignalPath(lambda fs_in: Preprocessor(settings, fs_in), FS, N_TIMES, hop_s)


def run(sp, events):
    wins = []
    for ev in events:
        if isinstance(ev, Gap):
            sp.gap(ev)
        elif hasattr(ev, "data"):
            wins += sp.push(ev)
    return wins


@pytest.mark.parametrize("fs_in", [250.0, 500.0, 1000.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_windows_equal_whole_record_for_random_block_splits(fs_in, seed):
    x8 = synthetic_ecg(int(32 * fs_in), fs_in, seed=seed)
    whole = preprocess(derive_12(x8), fs_in, DEFAULT_SETTINGS)
    wins = run(path(hop_s=2.5), blocks(x8, fs_in, seed=seed))
    # windows end at 10 s, 12.5 s, ... as long as the record has the samples
    n_out = whole.shape[1]
    expect = [e for e in range(N_TIMES, n_out + 1, 250)]
    assert len(wins) == len(expect) >= 8
    for w, e in zip(wins, expect):
        assert w.t_start == pytest.approx((e - N_TIMES) / FS, abs=1e-9)
        assert w.t_end == pytest.approx(e / FS, abs=1e-9)
        np.testing.assert_allclose(w.data, whole[:, e - N_TIMES:e], rtol=0, atol=1e-5)
        first, last = int(np.ceil((e - N_TIMES) * fs_in / FS)), int((e - 1) * fs_in // FS)
        np.testing.assert_array_equal(w.raw, derive_12(x8)[:, first:last + 1])


def test_one_big_block_gives_every_window():
    fs_in = 500.0
    x8 = synthetic_ecg(int(40 * fs_in), fs_in)
    whole = preprocess(derive_12(x8), fs_in, DEFAULT_SETTINGS)
    wins = run(path(hop_s=1.0), blocks(x8, fs_in, sizes=[x8.shape[1]]))
    assert len(wins) == 31
    for k, w in enumerate(wins):
        np.testing.assert_allclose(w.data, whole[:, k * 100:k * 100 + N_TIMES], atol=1e-5)


def test_twelve_lead_input_in_any_order():
    fs_in = 500.0
    x12 = derive_12(synthetic_ecg(int(12 * fs_in), fs_in))
    order = [11, 0, 5, 3, 1, 2, 4, 6, 7, 8, 9, 10]
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    wins = run(path(), blocks(x12[order], fs_in, labels=[names[i] for i in order], sizes=[37]))
    whole = preprocess(x12, fs_in, DEFAULT_SETTINGS)
    assert len(wins) == 1
    np.testing.assert_allclose(wins[0].data, whole[:, :N_TIMES], atol=1e-5)


def test_windows_never_span_a_gap():
    fs_in = 500.0
    x8 = synthetic_ecg(int(60 * fs_in), fs_in)
    gaps = {6000: 40, 13000: 1, 14000: 2000}   # 12 s: 40 lost; 26 s: 1 lost; 28 s: 4 s lost
    events, keep = with_gaps(x8, fs_in, gaps)
    wins = run(path(hop_s=1.0), events)
    runs = [(0, 6000), (6040, 13000), (13001, 14000), (16000, x8.shape[1])]
    for w in wins:
        i0, i1 = round(w.t_start * fs_in), round(w.t_end * fs_in)
        assert any(a <= i0 and i1 <= b for a, b in runs), (w.t_start, w.t_end)
    # per run: the first window ends one full window after the run starts; content = the run alone
    by_run = {r: [w for w in wins if r[0] <= round(w.t_start * fs_in) < r[1]] for r in runs}
    assert [len(v) for v in by_run.values()] == [3, 4, 0, 19]  # floor((run_len / 5 - 1000) / 100) + 1
    for (a, b), ws in by_run.items():
        if not ws:
            continue
        whole = preprocess(derive_12(x8[:, a:b]), fs_in, DEFAULT_SETTINGS)
        assert ws[0].t_start == pytest.approx(a / fs_in)
        assert ws[0].t_end == pytest.approx(a / fs_in + 10)
        for k, w in enumerate(ws):
            assert w.t_start == pytest.approx(a / fs_in + k)
            np.testing.assert_allclose(w.data, whole[:, k * 100:k * 100 + N_TIMES], atol=1e-5)


def test_unannounced_discontinuity_also_restarts_windows():
    fs_in = 500.0
    x8 = synthetic_ecg(int(25 * fs_in), fs_in)
    evs = blocks(x8[:, :6000], fs_in, sizes=[40]) + blocks(x8[:, 6000:], fs_in, sizes=[40], start=7000)
    wins = run(path(hop_s=5.0), evs)
    assert [w.t_start for w in wins] == pytest.approx([0.0, 14.0])  # 7000/500 = 14 s, after the jump


def test_lead_off_counts_and_raw_span():
    fs_in = 500.0
    x8 = synthetic_ecg(int(11 * fs_in), fs_in)
    evs = blocks(x8[:, :2000], fs_in, sizes=[40]) + blocks(x8[:, 2000:2400], fs_in, sizes=[40], start=2000, lead_off=0b101) \
        + blocks(x8[:, 2400:], fs_in, sizes=[40], start=2400)
    wins = run(path(), evs)
    assert len(wins) == 1
    np.testing.assert_array_equal(wins[0].lead_off_counts, [400, 0, 400, 0, 0, 0, 0, 0])
    assert wins[0].channel_labels == LEADS_8
    np.testing.assert_array_equal(wins[0].raw, derive_12(x8)[:, :4996])  # up to the sample of output 999


@pytest.mark.parametrize("hop", [0.0, -1.0, 10.5])
def test_bad_hop_is_refused(hop):
    with pytest.raises(ValueError, match="hop"):
        path(hop_s=hop)


def test_ring_buffer_wraps_and_returns_oldest_first():
    rb = RingBuffer(2, 7)
    data = np.arange(40, dtype=np.float32).reshape(2, 20)
    for a, n in [(0, 3), (3, 5), (8, 1), (9, 9), (18, 2)]:
        rb.extend(data[:, a:a + n])
    np.testing.assert_array_equal(rb.last(7), data[:, 13:20])
    np.testing.assert_array_equal(rb.last(3, skip=2), data[:, 15:18])
    rb.extend(data[:, :10])  # a block longer than the capacity
    np.testing.assert_array_equal(rb.last(7), data[:, 3:10])
    with pytest.raises(ValueError):
        rb.last(8)


def _interpolated(x8, gaps):
    """The signal a bridge should give: each gap's samples replaced by the straight line between its ends."""
    y = x8.astype(np.float64).copy()
    for g0, m in gaps.items():
        w = np.arange(1, m + 1) / (m + 1)
        y[:, g0:g0 + m] = y[:, g0 - 1:g0] * (1 - w) + y[:, g0 + m:g0 + m + 1] * w
    return y


@pytest.mark.parametrize("fs_in", [250.0, 500.0])
def test_a_bridged_gap_equals_the_interpolated_signal_processed_at_once(fs_in):
    x8 = synthetic_ecg(int(24 * fs_in), fs_in, seed=5)
    gaps = {int(6 * fs_in): 10, int(13 * fs_in): 25}  # 40 / 100 ms at 250 Hz, 20 / 50 ms at 500 Hz
    events, _ = with_gaps(x8, fs_in, gaps, size=10)
    sp = SignalPath(lambda f: Preprocessor(DEFAULT_SETTINGS, f), FS, N_TIMES, 2.0, max_bridge_s=0.1)
    wins = run(sp, events)
    whole = preprocess(derive_12(_interpolated(x8, gaps)), fs_in, DEFAULT_SETTINGS)
    assert len(wins) == (whole.shape[1] - N_TIMES) // 200 + 1  # no gap broke the run
    for w in wins:
        a = int(round(w.t_start * FS))
        np.testing.assert_allclose(w.data, whole[:, a:a + N_TIMES], atol=1e-5)
        inside = [m for g0, m in gaps.items() if w.t_start * fs_in <= g0 and g0 + m <= w.t_end * fs_in]
        assert w.bridged_gaps == len(inside)
        assert w.bridged_ms == pytest.approx(1000 * sum(inside) / fs_in)


def test_gaps_that_are_too_long_or_not_on_a_running_clock_are_not_bridged():
    fs_in = 500.0
    x8 = synthetic_ecg(int(30 * fs_in), fs_in, seed=6)
    events, _ = with_gaps(x8, fs_in, {6000: 51}, size=10)  # 102 ms > 100 ms
    wins = run(SignalPath(lambda f: Preprocessor(DEFAULT_SETTINGS, f), FS, N_TIMES, 5.0, max_bridge_s=0.1), events)
    assert wins[1].t_start == pytest.approx(6051 / fs_in)  # the run restarted after the gap
    events, _ = with_gaps(x8, fs_in, {6000: 10}, size=10)
    events = [Gap(e.index, e.missing_samples, e.fs, "disconnect") if isinstance(e, Gap) else e for e in events]
    wins = run(SignalPath(lambda f: Preprocessor(DEFAULT_SETTINGS, f), FS, N_TIMES, 5.0, max_bridge_s=0.1), events)
    assert wins[1].t_start == pytest.approx(6010 / fs_in) and all(w.bridged_gaps == 0 for w in wins)
