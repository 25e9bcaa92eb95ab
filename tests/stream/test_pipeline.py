"""Pipeline: findings equal offline prediction, results and callbacks, asyncio, quality skips, summary."""
import asyncio

import numpy as np
import pytest
from streamkit import ListSource, blocks, synthetic_ecg, with_gaps

from tgll_edge.link.blocks import Gap, Status
from tgll_edge.signal.leads import derive_12
from tgll_edge.signal.preprocess import preprocess
from tgll_edge.stream import Finding, Pipeline

FS_IN = 500.0
# Streaming and whole-record preprocessing agree to ~1e-6 mV (float32 output of the
# same float64 filters, run in different block splits); through the tiny linear
# model that moves probabilities by < 1e-5.
PROB_TOL = 1e-5


def offline(model, x8, hop_out, fs_in=FS_IN):
    pp = preprocess(derive_12(x8), fs_in, model.card["preprocessing"])
    ends = range(model.n_times, pp.shape[1] + 1, hop_out)
    return model.predict_proba(np.stack([pp[:, e - model.n_times:e] for e in ends]))


def test_findings_equal_offline_prediction(tiny_model):
    x8 = synthetic_ecg(int(30 * FS_IN), FS_IN, seed=3)
    results = list(Pipeline(ListSource(blocks(x8, FS_IN, seed=3)), tiny_model, hop_s=2.0))
    findings = [r for r in results if isinstance(r, Finding)]
    want = offline(tiny_model, x8, 200)
    assert len(findings) == len(want) == 11
    got = np.array([[f.probabilities[lab] for lab in tiny_model.labels] for f in findings])
    np.testing.assert_allclose(got, want, atol=PROB_TOL)
    assert np.ptp(want, axis=0).max() > 0.05  # the model does react to the signal
    for k, f in enumerate(findings):
        assert (f.t_start, f.t_end) == pytest.approx((2.0 * k, 2.0 * k + 10))
        assert f.labels == [lab for lab, t in zip(tiny_model.labels, tiny_model.thresholds)
                            if f.probabilities[lab] >= t]
        assert f.quality.ok and not f.skipped and f.latency_ms >= 0


def test_gaps_pass_through_and_are_counted(tiny_model):
    x8 = synthetic_ecg(int(40 * FS_IN), FS_IN)
    events, _ = with_gaps(x8, FS_IN, {5000: 123, 12000: 7})
    src = ListSource(events)
    src.counts.update(bytes=999, crc_errors=2)
    pipe = Pipeline(src, tiny_model, hop_s=5.0, max_bridge_ms=0)  # gaps break windows here
    results = list(pipe)
    gaps = [r for r in results if isinstance(r, Gap)]
    assert [(g.index, g.missing_samples) for g in gaps] == [(5000, 123), (12000, 7)]
    assert isinstance(results[0], Status)
    s = pipe.summary()
    assert s["gaps"] == 2 and s["missing_samples"] == 130
    assert s["crc_errors"] == 2 and s["bytes"] == 999
    # runs: [0, 5000) 10 s -> 1 window; [5123, 12000) 13.75 s -> 1; [12007, 20000) 15.99 s -> 2
    assert s["windows"] == 4 and s["skipped_windows"] == 0
    starts = [f.t_start for f in results if isinstance(f, Finding)]
    assert starts == pytest.approx([0.0, 5123 / FS_IN, 12007 / FS_IN, 12007 / FS_IN + 5])
    assert set(s) >= {"type", "packets", "bytes", "crc_errors", "dropped_bytes", "gaps", "missing_samples",
                      "windows", "skipped_windows"}


def test_callbacks_and_run(tiny_model):
    x8 = synthetic_ecg(int(21 * FS_IN), FS_IN)
    events, _ = with_gaps(x8, FS_IN, {10: 5})
    seen = {"w": [], "g": [], "s": []}
    pipe = Pipeline(ListSource(events), tiny_model, hop_s=5.0, on_window=seen["w"].append,
                    on_gap=seen["g"].append, on_status=seen["s"].append)
    summary = pipe.run()
    assert len(seen["w"]) == summary["windows"] == 3  # 20.97 s after the gap
    assert len(seen["g"]) == 1 and len(seen["s"]) == 1


def test_asyncio_gives_the_same_results(tiny_model):
    x8 = synthetic_ecg(int(25 * FS_IN), FS_IN, seed=5)

    async def collect():
        return [r async for r in Pipeline(ListSource(blocks(x8, FS_IN)), tiny_model, hop_s=5.0).aiter()]

    got = asyncio.run(collect())
    ref = list(Pipeline(ListSource(blocks(x8, FS_IN)), tiny_model, hop_s=5.0))
    assert len(got) == len(ref) == 4
    for a, b in zip(got, ref):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-7)


def test_asyncio_consumer_can_stop_early(tiny_model):
    x8 = synthetic_ecg(int(60 * FS_IN), FS_IN)

    async def first_two():
        pipe = Pipeline(ListSource(blocks(x8, FS_IN, sizes=[40])), tiny_model, hop_s=1.0)
        out = []
        async for r in pipe.aiter(max_queue=1):
            out.append(r)
            if len(out) == 2:
                break
        return out, pipe

    out, pipe = asyncio.run(first_two())
    assert len(out) == 2 and pipe.stopped


def test_stop_from_a_callback_ends_iteration(tiny_model):
    x8 = synthetic_ecg(int(60 * FS_IN), FS_IN)
    src = ListSource(blocks(x8, FS_IN, sizes=[40]))
    pipe = Pipeline(src, tiny_model, hop_s=1.0)
    pipe.on_window = lambda f: pipe.stop() if f.t_end >= 12 else None
    findings = [r for r in pipe if isinstance(r, Finding)]
    assert [f.t_end for f in findings] == pytest.approx([10, 11, 12])
    assert src.closed


def test_duration_counts_device_time(tiny_model):
    x8 = synthetic_ecg(int(60 * FS_IN), FS_IN)
    pipe = Pipeline(ListSource(blocks(x8, FS_IN, sizes=[40])), tiny_model, hop_s=5.0, duration_s=30)
    findings = [r for r in pipe if isinstance(r, Finding)]
    assert [f.t_end for f in findings] == pytest.approx([10, 15, 20, 25, 30])
    assert 30 <= pipe.summary()["device_seconds"] < 30.1


def test_quality_gate_skips_severe_windows_and_marks_others(tiny_model):
    x8 = synthetic_ecg(int(30 * FS_IN), FS_IN)
    x8[:, 11000:11005] = np.nan           # 22 s: NaN -> windows over it are skipped
    x8[3, 2000:3000] = x8[3, 2000]         # V2 flat for 2 s at 4-6 s -> marked only
    pipe = Pipeline(ListSource(blocks(x8, FS_IN, sizes=[40])), tiny_model, hop_s=5.0)
    findings = [r for r in pipe if isinstance(r, Finding)]
    assert [f.t_end for f in findings] == pytest.approx([10, 15, 20, 25, 30])
    skipped = [f.skipped for f in findings]
    assert skipped == [False, False, False, True, True]
    assert "flat" in findings[0].quality.flags and findings[0].quality.flat == ["V2"]
    assert findings[0].probabilities and findings[3].probabilities == {} and findings[3].labels == []
    assert "nonfinite" in findings[3].quality.flags
    assert pipe.summary()["skipped_windows"] == 2 and pipe.summary()["windows"] == 5


def test_rails_from_device_info_flag_saturation(tiny_model):
    x8 = synthetic_ecg(int(12 * FS_IN), FS_IN)
    uv = 0.5
    rail = (2 ** 23 - 1) * uv / 1000
    x8[0, 1000:1600] = rail                 # lead I at the ADC rail for 1.2 s
    events = [Status("info", "dev", {"uv_per_count": uv, "fs": FS_IN})] + blocks(x8, FS_IN, sizes=[40])
    f = [r for r in Pipeline(ListSource(events), tiny_model) if isinstance(r, Finding)][0]
    assert f.skipped and "saturated" in f.quality.flags and "I" in f.quality.saturated


def test_replay_of_the_bundled_record_equals_whole_record_prediction(tiny_model):
    """ReplaySource (the link's WFDB replay) -> Pipeline == preprocess the whole record -> predict_proba."""
    from tgll_edge.link.emulator import DEFAULT_RECORD
    from tgll_edge.link.replay import ReplaySource, read_record
    from tgll_edge.signal.leads import to_12_leads

    x, fs, labels = read_record(DEFAULT_RECORD)
    pp = preprocess(to_12_leads(x, labels), fs, tiny_model.card["preprocessing"])
    want = tiny_model.predict_proba(pp[None, :, :tiny_model.n_times])
    findings = [r for r in Pipeline(ReplaySource(DEFAULT_RECORD, speed=None), tiny_model, hop_s=1.0)
                if isinstance(r, Finding)]
    assert len(findings) == 1 and (findings[0].t_start, findings[0].t_end) == (0.0, 10.0)
    got = np.array([[findings[0].probabilities[lab] for lab in tiny_model.labels]])
    np.testing.assert_allclose(got, want, atol=PROB_TOL)
