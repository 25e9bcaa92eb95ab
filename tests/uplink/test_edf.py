"""EDF+/BDF+ recording: written by tgll_edge.uplink.edf, read back by independent readers
(pyedflib, the C edflib; edfio; MNE when installed)."""
from __future__ import annotations

import signal
import time

import numpy as np
import pytest
from uplinkkit import RECORD, gateway, need_module
from streamkit import ListSource, synthetic_ecg, with_gaps

from tgll_edge.link.replay import ReplaySource, read_record
from tgll_edge.stream import Pipeline
from tgll_edge.uplink.edf import EdfRecorder


def read_edf(path):
    """-> (signals (ch, n) mV, labels, fs list, annotations [(onset, duration, text)], step mV)."""
    pyedflib = need_module("pyedflib", "edf")
    r = pyedflib.EdfReader(str(path))
    try:
        x = np.array([r.readSignal(i) for i in range(r.signals_in_file)])
        on, du, tx = r.readAnnotations()
        step = (r.getPhysicalMaximum(0) - r.getPhysicalMinimum(0)) / (r.getDigitalMaximum(0) - r.getDigitalMinimum(0))
        return x, r.getSignalLabels(), list(r.getSampleFrequencies()), list(zip(on, du, tx)), step
    finally:
        r.close()


@pytest.mark.parametrize("fmt", ["edf", "bdf"])
def test_roundtrip_samples_and_annotations(fmt, tiny_model, tmp_path):
    sink = EdfRecorder(tmp_path / "rec", fmt)
    pipe = Pipeline(ReplaySource(RECORD, speed=None), tiny_model, hop_s=1.0, sinks=[sink])
    results = list(pipe)
    windows = [r for r in results if type(r).__name__ == "Finding"]
    assert len(windows) == 1  # the 10-s record holds one 10-s window
    ref, fs, labels = read_record(RECORD)
    x, names, fss, ann, step = read_edf(tmp_path / "rec" / f"recording.{fmt}")
    assert names == [f"ECG {lab}" for lab in labels] and fss == [fs] * len(labels)
    n = ref.shape[1]
    assert x.shape[1] >= n and not np.any(x[:, n:])          # whole records; the padding is 0 mV
    assert np.abs(x[:, :n] - ref).max() <= step / 2 + 1e-9     # exact within the format's resolution
    assert step <= (0.001 if fmt == "edf" else 0.00010001)  # 1 uV, 0.1 uV
    texts = [t for _, _, t in ann]
    assert texts[0] == "device time 0.000000 s"
    finds = [(o, d, t) for o, d, t in ann if t.startswith(("finding:", "skipped:"))]
    assert [(o, d) for o, d, _ in finds] == [(w.t_start, w.t_end - w.t_start) for w in windows]
    # a second independent reader
    edfio = need_module("edfio", "edf")
    e = (edfio.read_bdf if fmt == "bdf" else edfio.read_edf)(tmp_path / "rec" / f"recording.{fmt}")
    assert np.abs(np.array([s.data for s in e.signals])[:, :n] - ref).max() <= step / 2 + 1e-9
    assert [a.text for a in e.annotations] == texts


def test_gaps_are_filled_annotated_and_time_stays_exact(tiny_model, tmp_path):
    fs = 500.0
    x = synthetic_ecg(int(30 * fs), fs)
    events, keep = with_gaps(x, fs, {4000: 250, 9000: 1})
    # then a 40-s outage (longer than max_fill_s): the samples after it go to a second file
    long_gap_at = x.shape[1] + 40 * int(fs)
    from streamkit import blocks
    from tgll_edge.link.blocks import Gap
    tail = blocks(synthetic_ecg(int(5 * fs), fs, seed=1), fs, sizes=[40], start=long_gap_at)
    events += [Gap(long_gap_at, 40 * int(fs), fs, "disconnect")] + tail
    sink = EdfRecorder(tmp_path / "rec", "bdf", max_fill_s=30)
    list(Pipeline(ListSource(events), tiny_model, hop_s=5.0, sinks=[sink]))
    assert [p.name for p in sink.files] == ["recording.bdf", "recording_2.bdf"]
    sig, _, _, ann, step = read_edf(sink.files[0])
    ref = np.where(keep, x, 0.0)
    assert np.abs(sig[:, :x.shape[1]] - ref).max() <= step / 2 + 1e-9
    gaps = [(o, d, t) for o, d, t in ann if t.startswith("gap:")]
    # onset: the first missing sample's device time (Gap.index), duration: the samples lost
    assert gaps[:2] == [(4000 / fs, 250 / fs, "gap: 250 samples lost (link)"),
                        (9000 / fs, 1 / fs, "gap: 1 samples lost (link)")]
    sig2, _, _, ann2, _ = read_edf(sink.files[1])
    assert ann2[0][2] == f"device time {long_gap_at / fs:.6f} s"
    assert np.abs(sig2[:, :tail[0].n] - tail[0].data).max() <= step / 2 + 1e-9


@pytest.mark.parametrize("fmt", ["edf", "bdf"])
def test_kill_9_mid_recording_leaves_a_readable_file(fmt, long_record, tmp_path):
    out = tmp_path / "rec"
    gw = gateway(["--replay", str(long_record), "--speed", "4", "--json", "--hop", "1",
                  "--record", str(out), "--format", fmt])
    path = out / f"recording.{fmt}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # until the header counts 4 data records (4 s of signal)
            if path.exists() and path.stat().st_size > 256:
                with open(path, "rb") as f:
                    f.seek(236)
                    field = f.read(8).strip()
                if field and int(field) >= 4:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError(f"no records written: {gw.stderr.read() if gw.poll() is not None else ''}")
        time.sleep(0.7)
        assert gw.poll() is None, "the gateway ended before it could be killed"
        gw.send_signal(signal.SIGKILL)
        gw.wait(timeout=10)
    finally:
        if gw.poll() is None:
            gw.kill()
    x, names, fss, ann, step = read_edf(path)
    ref, fs, labels = read_record(long_record)
    n = x.shape[1]
    assert n >= 4 * fs and n < ref.shape[1]
    assert np.abs(x - ref[:, :n]).max() <= step / 2 + 1e-9   # everything counted is the real signal
    assert ann[0][2] == "device time 0.000000 s"
    edfio = need_module("edfio", "edf")
    e = (edfio.read_bdf if fmt == "bdf" else edfio.read_edf)(path)
    assert e.num_data_records * int(fs) >= n


def test_format_wfdb_keeps_the_wfdb_recorder(tmp_path):
    gw = gateway(["--replay", str(RECORD), "--fast", "--json", "--record", str(tmp_path / "w"), "--format", "wfdb"])
    _, err = gw.communicate(timeout=120)
    assert gw.returncode == 0, err
    assert (tmp_path / "w" / "recording.hea").is_file() and (tmp_path / "w" / "events.jsonl").is_file()
