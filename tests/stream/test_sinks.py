"""The sinks one by one (JSON lines, live view, CSV, Recorder), and the order the Pipeline calls them in."""
import csv
import io
import json

import numpy as np
import pytest
from streamkit import ListSource, blocks, synthetic_ecg, with_gaps

from tgll_edge.link.blocks import Gap, GapCause, SampleBlock, Status, StatusKind
from tgll_edge.signal.quality import Quality
from tgll_edge.stream import CsvSink, Finding, JsonLinesSink, LiveView, Pipeline, Recorder, RecordingSource, Sink

FS_IN = 500.0
LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]


def finding(skipped=False):
    probs = {} if skipped else dict(zip(LABELS, [0.9, 0.1, 0.6, 0.2, 0.05]))
    q = Quality(skipped=skipped, reasons=["lead-off: V1"] if skipped else [])
    return Finding(2.0, 12.0, probs, [] if skipped else ["NORM", "STTC"], q, 0.5)


def test_json_lines_sink_writes_one_parseable_object_per_result():
    buf = io.StringIO()
    sink = JsonLinesSink(buf)
    sink(finding())
    sink(Gap(1000, 40, FS_IN, GapCause.LINK))
    sink(Status(StatusKind.RECONNECTED, "back", {"attempts": 2}))
    sink.summary({"type": "summary", "windows": 1})
    lines = [json.loads(ln) for ln in buf.getvalue().splitlines()]
    assert [ln["type"] for ln in lines] == ["window", "gap", "status", "summary"]
    assert lines[0]["labels"] == ["NORM", "STTC"] and lines[0]["probabilities"]["MI"] == pytest.approx(0.1)
    assert lines[1] == {"type": "gap", "t": 2.0, "missing_samples": 40, "cause": "link"}
    assert lines[2]["kind"] == "reconnected" and lines[2]["detail"] == {"attempts": 2}


def test_live_view_lines_and_quiet():
    buf = io.StringIO()
    view = LiveView(buf, summary_fn=lambda: {"packets": 1, "bytes": 2, "crc_errors": 0, "dropped_bytes": 0,
                                              "gaps": 0, "missing_samples": 0, "windows": 2,
                                              "skipped_windows": 1}, status_every=2)
    view(finding())
    view(finding(skipped=True))
    out = buf.getvalue().splitlines()
    assert out[0].startswith("[00:02.0 - 00:12.0]") and "NORM 0.90, STTC 0.60" in out[0]
    assert "SKIPPED: lead-off: V1" in out[1]
    assert out[2].startswith("  == link: 1 packets")  # the status line every 2 windows
    quiet = io.StringIO()
    LiveView(quiet, quiet=True)(finding())
    assert quiet.getvalue() == ""


def test_csv_sink_has_a_row_per_window_and_blank_probabilities_when_skipped(tmp_path):
    sink = CsvSink(tmp_path / "w.csv", LABELS)
    sink(finding())
    sink(Gap(0, 1, FS_IN, GapCause.LINK))  # not a window: no row
    sink(finding(skipped=True))
    sink.close()
    rows = list(csv.reader(open(tmp_path / "w.csv")))
    assert rows[0][:6] == ["t_start", "t_end", "skipped", "quality_flags", "findings", "latency_ms"]
    assert len(rows) == 3
    assert rows[1][4] == "NORM;STTC" and float(rows[1][6]) == pytest.approx(0.9)
    assert rows[2][2] == "1" and rows[2][6:] == [""] * 5


def test_recorder_replays_blocks_gaps_and_lead_off_exactly(tmp_path):
    x8 = synthetic_ecg(int(12 * FS_IN), FS_IN, seed=4)
    events, keep = with_gaps(x8, FS_IN, {2000: 75})
    events = [ev if not (isinstance(ev, SampleBlock) and ev.index == 1000) else
              SampleBlock(ev.index, ev.fs, ev.data, ev.labels, lead_off=0b100) for ev in events]
    rec = Recorder(tmp_path / "rec")
    for ev in events:
        if isinstance(ev, SampleBlock):
            rec.block(ev)
        else:
            rec(ev)
    rec.close()
    out = list(RecordingSource(tmp_path / "rec"))
    gaps = [e for e in out if isinstance(e, Gap)]
    assert [(g.index, g.missing_samples, g.cause) for g in gaps] == [(2000, 75, GapCause.LINK)]
    got = [e for e in out if isinstance(e, SampleBlock)]
    data = np.concatenate([b.data for b in got], axis=1)
    # no uv_per_count came: stored at 10 nV
    np.testing.assert_allclose(data, x8[:, keep], atol=1e-5)
    masks = {b.index: b.lead_off for b in got}
    assert masks[1000] == 0b100 and masks[0] == 0


def test_recorder_refuses_a_directory_that_is_not_empty(tmp_path):
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        Recorder(tmp_path / "rec")


class Spy(Sink):
    def __init__(self):
        self.calls, self.chunks = [], []

    def start(self, pipeline):
        self.calls.append("start")

    def block(self, block):
        self.calls.append("block")

    def signal(self, t_start, fs, data):
        self.chunks.append((t_start, fs, data.copy()))

    def __call__(self, result):
        self.calls.append(type(result).__name__)

    def summary(self, summary):
        self.calls.append("summary")
        self.summary_seen = summary

    def close(self):
        self.calls.append("close")


def test_pipeline_calls_every_hook_in_order_and_the_signal_matches_the_windows(tiny_model):
    x8 = synthetic_ecg(int(25 * FS_IN), FS_IN, seed=2)
    spy = Spy()
    results = list(Pipeline(ListSource(blocks(x8, FS_IN, sizes=[40])), tiny_model, hop_s=5.0, sinks=[spy]))
    findings = [r for r in results if isinstance(r, Finding)]
    assert spy.calls[0] == "start" and spy.calls[-2:] == ["summary", "close"]
    assert spy.calls.count("block") == len(x8[0]) // 40 + (len(x8[0]) % 40 > 0)
    assert spy.calls.count("Finding") == len(findings) == 4
    assert spy.summary_seen["windows"] == 4
    # the chunks are contiguous and, put together, hold each window's samples (before the scaler)
    t0, fs, _ = spy.chunks[0]
    sig = np.concatenate([c[2] for c in spy.chunks], axis=1)
    for (t, _, c), n_before in zip(spy.chunks, np.cumsum([0] + [c[2].shape[1] for c in spy.chunks])):
        assert t == pytest.approx(t0 + n_before / fs)
    pipe = Pipeline(ListSource(blocks(x8, FS_IN, sizes=[40])), tiny_model, hop_s=5.0)
    windows = []
    for b in blocks(x8, FS_IN, sizes=[40]):
        windows += pipe.path.push(b)
    for w in windows:
        a = int(round((w.t_start - t0) * fs))
        np.testing.assert_array_equal(sig[:, a:a + tiny_model.n_times], w.data)


def test_a_failing_sink_still_lets_the_others_close(tiny_model, tmp_path):
    class Full(Sink):
        def close(self):
            raise OSError(28, "No space left on device")

    spy = Spy()
    x8 = synthetic_ecg(int(12 * FS_IN), FS_IN)
    with pytest.raises(OSError, match="No space"):
        list(Pipeline(ListSource(blocks(x8, FS_IN, sizes=[40])), tiny_model, sinks=[Full(), spy]))
    assert spy.calls[-1] == "close"
