"""tgll-stream: argument errors exit 2, the --json line schema, --record then --replay, signals."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamkit import synthetic_ecg, with_gaps
from bundle_factory import make_tiny_bundle

from tgll_edge.cli.stream import main
from tgll_edge.link.blocks import Gap, SampleBlock, Status
from tgll_edge.stream import Recorder

WINDOW_KEYS = {"type", "t_start", "t_end", "probabilities", "labels", "quality", "latency_ms", "bridged_gaps",
               "bridged_ms"}
WINDOW_KEYS |= {"leads_used", "lead_set", "lead_set_auc", "electrodes_off"}  # lead sets
WINDOW_KEYS |= {"heart_rate_bpm", "rr_ms", "rmssd_ms", "rr_cv", "n_beats", "rhythm_lead", "rhythm_reason"}  # rhythm
GAP_KEYS = {"type", "t", "missing_samples", "cause"}
SUMMARY_KEYS = {"type", "packets", "bytes", "crc_errors", "dropped_bytes", "gaps", "missing_samples",
                "windows", "skipped_windows"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("b") / "tiny")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 40 s, 500 Hz, 8-channel recording with two gaps, written by the Recorder."""
    d = tmp_path_factory.mktemp("r") / "rec"
    x8 = synthetic_ecg(20000, 500.0, seed=7)
    events, _ = with_gaps(x8, 500.0, {6000: 250, 13000: 40})
    rec = Recorder(d)
    rec.status(Status("info", "", {"uv_per_count": 0.0476837158203125}))
    for ev in events:
        if isinstance(ev, SampleBlock):
            rec.block(ev)
        elif isinstance(ev, Gap):
            rec.gap(ev)
    rec.close()
    return d


def test_a_short_link_gap_is_bridged_and_still_reported(bundle, recording, capsys):
    """The 80 ms gap (40 samples at 500 Hz) is within the default bridge; the 500 ms one is not."""
    code, lines = run_json(["--replay", str(recording), "--fast", "--json", "--model", str(bundle), "--hop", "2"],
                           capsys)
    assert code == 0
    windows = [ln for ln in lines if ln["type"] == "window"]
    gaps = [ln for ln in lines if ln["type"] == "gap"]
    assert [(g["t"], g["missing_samples"]) for g in gaps] == [(12.0, 250), (26.0, 40)]
    assert lines[-1]["gaps"] == 2 and lines[-1]["missing_samples"] == 290
    # after the 500 ms gap one run goes on to the end: windows every 2 s from 12.5 s
    assert [w["t_start"] for w in windows] == pytest.approx([0, 2, 12.5, 14.5, 16.5, 18.5, 20.5, 22.5, 24.5,
                                                            26.5, 28.5])
    # a window covering [25.92, 26.0) holds the 40 filled samples: exactly those report the bridge
    spans = [(w["t_start"], w["t_end"]) for w in windows]
    for w, (a, b) in zip(windows, spans):
        covers = a <= 25.92 and b >= 26.0
        assert (w["bridged_gaps"], w["bridged_ms"]) == ((1, 80.0) if covers else (0, 0.0)), (a, b)
    assert sum(w["bridged_gaps"] for w in windows) == 5


def run_json(argv, capsys):
    code = main(argv)
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    return code, lines


@pytest.mark.parametrize("argv, message", [
    ([], "exactly one source"),
    (["--port", "/dev/null", "--replay", "x"], "exactly one source"),
    (["--emulate", "--hop", "0"], "--hop must be > 0"),
    (["--emulate", "--hop", "-2"], "--hop must be > 0"),
    (["--emulate", "--duration", "0"], "--duration must be > 0"),
    (["--emulate", "--fast"], "--fast applies to --replay only"),
    (["--port", "/dev/null", "--speed", "2"], "--speed applies"),
    (["--replay", "/nonexistent/rec"], "does not exist"),
    (["--emulate", "--model", "/nonexistent/bundle"], "not a model bundle"),
    (["--cyton"], "--cyton needs a serial port"),
    (["--emulate", "--threads", "0"], "--threads"),
    (["--emulate", "--speed", "nan"], "--speed must be > 0"),
    (["--emulate", "--hop", "abc"], "invalid float value"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_hop_longer_than_the_window_exits_2(bundle, recording, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--replay", str(recording), "--model", str(bundle), "--hop", "10.5"])
    assert exc.value.code == 2 and "longer than the model's window" in capsys.readouterr().err


def test_record_dir_must_be_new(bundle, recording, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--replay", str(recording), "--model", str(bundle), "--record", str(recording)])
    assert exc.value.code == 2 and "not an empty directory" in capsys.readouterr().err


def test_json_lines_schema_and_record_then_replay(bundle, recording, tmp_path, capsys):
    again = tmp_path / "again"
    csv = tmp_path / "w.csv"
    code, lines = run_json(["--replay", str(recording), "--fast", "--json", "--model", str(bundle), "--hop", "2",
                            "--record", str(again), "--csv", str(csv), "--max-bridge-ms", "0"], capsys)
    assert code == 0
    kinds = [ln["type"] for ln in lines]
    assert set(kinds) == {"status", "window", "gap", "summary"} and kinds[-1] == "summary"
    windows = [ln for ln in lines if ln["type"] == "window"]
    gaps = [ln for ln in lines if ln["type"] == "gap"]
    for w in windows:
        assert set(w) == WINDOW_KEYS
        assert set(w["probabilities"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
        assert all(0 <= p <= 1 for p in w["probabilities"].values())
        assert set(w["labels"]) <= set(w["probabilities"])
        assert w["t_end"] - w["t_start"] == pytest.approx(10.0)
        assert isinstance(w["quality"], dict) and w["quality"]["ok"] is True
    for g in gaps:
        assert set(g) == GAP_KEYS
    assert [(g["t"], g["missing_samples"], g["cause"]) for g in gaps] == [(12.0, 250, "link"), (26.0, 40, "link")]
    for s in (ln for ln in lines if ln["type"] == "status"):
        assert {"type", "kind", "message"} <= set(s)
    summary = lines[-1]
    assert SUMMARY_KEYS <= set(summary)
    # runs: [0, 6000) 12 s -> 2 windows; [6250, 13000) 13.5 s -> 2; [13040, 20000) 13.92 s -> 2
    assert (summary["gaps"], summary["missing_samples"], summary["windows"], summary["skipped_windows"]) == \
        (2, 290, 6, 0)
    assert [w["t_start"] for w in windows] == pytest.approx([0, 2, 12.5, 14.5, 26.08, 28.08])
    assert len(csv.read_text().splitlines()) == 1 + 6

    # the recording of the replay replays to the same findings
    code, lines2 = run_json(["--replay", str(again), "--fast", "--json", "--model", str(bundle), "--hop", "2",
                             "--max-bridge-ms", "0"], capsys)
    assert code == 0
    windows2 = [ln for ln in lines2 if ln["type"] == "window"]
    gaps2 = [ln for ln in lines2 if ln["type"] == "gap"]
    assert gaps2 == gaps
    assert [(w["t_start"], w["t_end"], w["labels"]) for w in windows2] == \
        [(w["t_start"], w["t_end"], w["labels"]) for w in windows]
    for a, b in zip(windows, windows2):  # int24 resolution is kept exactly: float32-level agreement
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)


def test_live_view_is_readable(bundle, recording, capsys):
    assert main(["--replay", str(recording), "--fast", "--model", str(bundle), "--hop", "5"]) == 0
    out = capsys.readouterr().out
    assert "[00:00.0 - 00:10.0]" in out and "quality ok" in out
    assert "-- gap at 00:12.0: 250 samples (0.500 s) lost, cause link" in out
    assert out.strip().splitlines()[-1].startswith("summary:")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_end_cleanly_with_the_summary(sig, bundle, recording):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tgll_edge.cli.stream", "--replay", str(recording), "--json",
                             "--model", str(bundle)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    first = json.loads(proc.stdout.readline())  # real time: the replay has started
    assert first["type"] == "status"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["type"] == "summary" and last["windows"] == 0
    assert "Traceback" not in err
