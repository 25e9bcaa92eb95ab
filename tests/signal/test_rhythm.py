"""Heart rate, RR irregularity and SQI per window, and the noise they are measured under.

Ground truth: neurokit2.ecg_simulate at known rates (12 leads, 500 Hz), one with a
dropped beat; a real PTB-XL fold-10 fixture record against a second detector; a
flat line. Needs the [analysis] extra (neurokit2).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nk = pytest.importorskip("neurokit2")

from tgll_edge.signal import LEADS_12, to_12_leads  # noqa: E402
from tgll_edge.signal import noise as nz  # noqa: E402
from tgll_edge.signal import rhythm  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ptbxl"
FS = 500


def simulated(rate: int, seconds: int = 12, seed: int = 0) -> np.ndarray:
    """(12, n) mV at 500 Hz, exactly ``rate`` bpm, the first simulated second dropped."""
    df = nk.ecg_simulate(duration=seconds + 1, sampling_rate=FS, heart_rate=rate, heart_rate_std=0,
                         method="multileads", random_state=seed)
    return np.array(df, dtype=np.float64).T[:, FS:].copy()


def drop_beat(x: np.ndarray, rate: int) -> np.ndarray:
    """Remove one beat (a sinus pause): the cycle around the 5th R peak becomes the baseline
    interpolated between its neighbours' TP segments, on every lead."""
    _, peaks = rhythm.detect_peaks(x[1], FS, "hamilton2002")
    rr = int(round(60 / rate * FS))
    r = peaks[4]
    a, b = r - rr // 2, r + rr // 2
    y = x.copy()
    for i in range(len(y)):
        y[i, a:b] = np.linspace(y[i, a], y[i, b], b - a)
    return y


@pytest.mark.parametrize("rate", [45, 75, 120, 170])
def test_simulated_rate_within_2_bpm(rate):
    r = rhythm.analyze(simulated(rate)[:, :10 * FS], FS, LEADS_12)
    assert r.heart_rate_bpm is not None, r.reason
    assert abs(r.heart_rate_bpm - rate) <= 2, (rate, r)
    assert r.lead in ("II", "I") and r.n_beats >= 3 and r.reason is None  # II, or I where the detector misses on II
    assert r.rr_ms == pytest.approx(60000 / rate, rel=0.05)
    assert r.rr_cv < 0.05  # a regular rhythm


def test_missing_beat_keeps_the_rate_and_shows_irregularity():
    x = simulated(75)[:, :10 * FS]
    regular = rhythm.analyze(x, FS, LEADS_12)
    paused = rhythm.analyze(drop_beat(x, 75), FS, LEADS_12)
    assert abs(paused.heart_rate_bpm - 75) <= 2, paused
    assert paused.n_beats == regular.n_beats - 1
    # the pause shows up in the irregularity measures and in the mean RR
    assert paused.rmssd_ms > 5 * max(regular.rmssd_ms, 10)
    assert paused.rr_cv > 0.1 > regular.rr_cv
    assert paused.rr_ms > regular.rr_ms * 1.05


def test_flat_line_gives_no_rate_and_a_reason():
    r = rhythm.analyze(np.zeros((12, 10 * FS)), FS, LEADS_12)
    assert r.heart_rate_bpm is None and r.rr_ms is None and r.n_beats == 0
    assert "no usable lead" in r.reason
    d = r.to_dict()
    assert d["heart_rate_bpm"] is None and d["reason"]


def test_too_few_beats_gives_a_reason():
    x = simulated(45)[:, : int(2.5 * FS)]  # 2.5 s at 45 bpm: at most 2 beats
    r = rhythm.analyze(x, FS, LEADS_12)
    assert r.heart_rate_bpm is None and r.n_beats < 3
    assert "at least 3" in r.reason


def test_unusable_lead_ii_falls_back():
    x = simulated(75)[:, :10 * FS]
    x[1] = 0.0  # lead II flat
    r = rhythm.analyze(x, FS, LEADS_12)
    assert r.lead == "I" and abs(r.heart_rate_bpm - 75) <= 2
    r = rhythm.analyze(simulated(75)[:, :10 * FS], FS, LEADS_12, unusable=["II", "I"])
    assert r.lead == "V5"


def _fixture(ecg_id: int):
    from tgll_edge.training.data import ptbxl

    rows = {int(r["ecg_id"]): r for r in ptbxl.read_database(FIXTURES)}
    x, fs, names = ptbxl.read_record(FIXTURES, rows[ecg_id]["filename_lr"])
    return to_12_leads(x, names), fs, int(rows[ecg_id]["strat_fold"])


def test_real_fold10_record_agrees_with_a_second_detector():
    x, fs, fold = _fixture(128)
    assert fold == 10 and fs == 100
    r = rhythm.analyze(x, fs, LEADS_12)
    _, peaks = rhythm.detect_peaks(x[1], fs, "hamilton2002")
    second = rhythm.rr_stats(peaks, fs)["heart_rate_bpm"]
    assert r.heart_rate_bpm is not None and abs(r.heart_rate_bpm - second) <= 3, (r, second)
    assert 40 < r.heart_rate_bpm < 150


def test_real_500hz_record_agrees_with_a_second_detector():
    import wfdb

    rec = wfdb.rdrecord(str(ROOT / "tgll_edge" / "data" / "records" / "00001_hr"))
    x = to_12_leads(rec.p_signal.T, rec.sig_name)
    r = rhythm.analyze(x, rec.fs, LEADS_12)
    _, peaks = rhythm.detect_peaks(x[1], rec.fs, "kalidas2017")
    assert abs(r.heart_rate_bpm - rhythm.rr_stats(peaks, rec.fs)["heart_rate_bpm"]) <= 3


def test_cleaner_is_neurokits():
    x = simulated(75)[1] + 0.3 * np.sin(np.arange(12 * FS) / FS * 2 * np.pi * 0.2)
    np.testing.assert_allclose(rhythm.ecg_clean(x, FS), nk.ecg_clean(x, sampling_rate=FS, method="neurokit"),
                               atol=1e-9)


def test_templatematch_agrees_with_neurokits_on_clean_and_noisy():
    rng = np.random.default_rng(1)
    x = simulated(75)[:, :10 * FS]
    compared = 0
    for sig in (x[1], nz.distort(x[1:2], FS, "emg", 12, rng)[0][0], nz.distort(x[1:2], FS, "motion", 6, rng)[0][0],
                nz.distort(x[1:2], FS, "emg", 6, rng)[0][0]):
        cleaned, peaks = rhythm.detect_peaks(sig, FS)
        ours = rhythm.sqi_value(cleaned, peaks, FS, "templatematch")
        theirs = rhythm.sqi_value(cleaned, peaks, FS, "templatematch_nk")
        if theirs is None:  # neurokit2's segmentation raises on some peak sets (NaN epoch length)
            continue
        compared += 1
        assert ours == pytest.approx(theirs, abs=0.03)  # fold 9: median |diff| 0.0001, p95 0.006 (rhythm_detectors.md)
    assert compared >= 2


@pytest.mark.parametrize("kind", ["emg", "motion"])
def test_sqi_of_clean_record_beats_the_same_record_at_0_db(kind):
    x, fs, _ = _fixture(128)
    x500 = nz._resample(x, fs, FS)
    clean = rhythm.analyze(x500, FS, LEADS_12)
    noisy = rhythm.analyze(nz.distort(x500, FS, kind, 0, np.random.default_rng(3))[0], FS, LEADS_12)
    assert clean.sqi is not None and clean.sqi > 0.7
    assert noisy.sqi is None or noisy.sqi < clean.sqi - 0.05, (clean.sqi, noisy.sqi)


@pytest.mark.parametrize("kind", nz.NOISE_TYPES)
@pytest.mark.parametrize("snr", [24, 12, 6, 0])
def test_distortion_snr_is_what_it_says(kind, snr):
    x, fs, _ = _fixture(128)
    x500 = nz._resample(x, fs, FS)
    y, noise = nz.distort(x500, FS, kind, snr, np.random.default_rng(snr))
    # measured independently of the module: clean power about its mean over the added power
    added = y - x500
    np.testing.assert_allclose(added, noise, atol=1e-9)
    ps = ((x500 - x500.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
    pn = (added ** 2).mean(axis=1)
    assert 10 * np.log10(ps.sum() / pn.sum()) == pytest.approx(snr, abs=0.05)
    np.testing.assert_allclose(10 * np.log10(ps / pn), snr, atol=0.05)
    assert abs(added.mean(axis=1)).max() < 1e-9  # no DC shift


def test_noise_types_differ_in_spectrum():
    rng = np.random.default_rng(0)
    f = np.fft.rfftfreq(5000, 1 / FS)
    share = {}
    for kind in nz.NOISE_TYPES:
        p = np.abs(np.fft.rfft(nz.unit_noise(kind, 1, 5000, FS, rng)[0])) ** 2
        share[kind] = (p[f < 1].sum() / p.sum(), p[(f > 49) & (f < 51)].sum() / p.sum(), p[f > 15].sum() / p.sum())
    assert share["baseline"][0] > 0.9          # below 1 Hz
    assert share["powerline"][1] > 0.99        # at 50 Hz
    assert share["emg"][2] > 0.3               # broadband, well into the QRS band and above


def test_noise_tool_reports_measured_snr(tmp_path):
    """tools/noise_robustness.py end to end on the fixture's fold-10 record (the default bundle)."""
    bundle = ROOT / "models" / "tgllnet-edge-superdiagnostic"
    if not (bundle / "card.json").is_file():
        pytest.skip("no default bundle")
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "noise_robustness.py"), "--data", str(FIXTURES),
                          "--fold", "10", "--types", "emg", "powerline", "--snr", "12", "0", "--name", "t",
                          "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads((tmp_path / "noise_t_fold10.json").read_text())
    rows = [r for r in s["table"] if r["noise"] != "clean"]
    assert len(rows) == 4 and s["records"] >= 1
    for r in rows:
        assert r["snr_measured_max_abs_dev_db"] < 0.05, r
    assert "| emg |" in out.stdout


def _write_record(directory: Path, name: str, x: np.ndarray) -> Path:
    import wfdb

    wfdb.wrsamp(name, fs=FS, units=["mV"] * 12, sig_name=list(LEADS_12), p_signal=x.T, fmt=["16"] * 12,
                write_dir=str(directory))
    return directory / name


def _stream(record: Path, *extra: str, env=None) -> tuple[list[dict], str]:
    out = subprocess.run([sys.executable, "-m", "tgll_edge.cli.stream", "--replay", str(record), "--fast", "--json",
                          "--hop", "5", *extra], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [d for d in lines if d.get("type") == "window"], out.stderr


@pytest.mark.parametrize("rate", [45, 75, 120, 170, "75-missing-beat"])
def test_replayed_simulated_record_reports_its_rate(tmp_path, rate):
    """ecg_simulate at a known rate, written as WFDB, through tgll-stream --replay: every window's
    heart rate within 2 bpm (the record with a dropped beat too)."""
    bpm = 75 if rate == "75-missing-beat" else rate
    x = simulated(bpm, seconds=20, seed=7)
    if rate == "75-missing-beat":
        x = drop_beat(x, bpm)
    windows, _ = _stream(_write_record(tmp_path, f"sim{bpm}", x))
    assert len(windows) >= 2
    for w in windows:
        assert w["heart_rate_bpm"] is not None, w
        assert abs(w["heart_rate_bpm"] - bpm) <= 2, (rate, w["heart_rate_bpm"])
        assert w["n_beats"] >= 3 and w["rhythm_lead"] in ("II", "I") and w["rr_ms"] > 0
        assert w["rmssd_ms"] is not None and w["rr_cv"] is not None
        assert 0.5 < w["quality"]["sqi"] <= 1 and w["quality"]["sqi_method"] == "templatematch"


def test_replayed_flat_record_reports_no_rate_with_a_reason(tmp_path):
    x = np.zeros((12, 12 * FS))
    x[:, ::2] = 0.001  # not exactly constant, still flat for the gate
    windows, _ = _stream(_write_record(tmp_path, "flat", x))
    assert windows and all(w["heart_rate_bpm"] is None and w["rhythm_reason"] for w in windows)


def test_min_sqi_marks_or_skips_noisy_windows(tmp_path):
    x = simulated(75, seconds=12, seed=1)
    x = nz.distort(x, FS, "emg", -3, np.random.default_rng(0))[0]
    rec = _write_record(tmp_path, "noisy", x)
    marked, _ = _stream(rec, "--min-sqi", "0.99")
    assert marked and all("low_sqi" in w["quality"]["flags"] and not w["quality"]["skipped"] for w in marked)
    skipped, _ = _stream(rec, "--min-sqi", "0.99", "--skip-low-sqi")
    assert all(w["quality"]["skipped"] and w["probabilities"] == {} for w in skipped)
    kept, _ = _stream(rec, "--min-sqi", "0.0")
    assert all("low_sqi" not in w["quality"]["flags"] for w in kept if w["quality"]["sqi"] is not None)


def test_stream_rhythm_needs_neither_neurokit2_nor_scipy(tmp_path):
    """The gateway's rhythm step is numpy: with neurokit2 unimportable the stream still reports the
    heart rate, and neither neurokit2, scipy nor pandas is loaded (their imports cost ~170 MB)."""
    import os

    block = tmp_path / "block"
    (block / "neurokit2").mkdir(parents=True)
    (block / "neurokit2" / "__init__.py").write_text("raise ImportError('neurokit2 blocked for this test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(block), str(ROOT)])}
    rec = _write_record(tmp_path, "sim", simulated(75, seconds=16, seed=2))
    windows, err = _stream(rec, env=env)
    assert len(windows) >= 2 and "neurokit2" not in err
    assert all(abs(w["heart_rate_bpm"] - 75) <= 2 and w["quality"]["sqi"] > 0.9 for w in windows)
    code = ("import sys, numpy as np; from tgll_edge.signal import rhythm, LEADS_12; "
            "r = rhythm.analyze(np.random.default_rng(0).standard_normal((12, 5000)), 500, LEADS_12); "
            "print(sorted(m for m in ('neurokit2', 'scipy', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", (out.stdout, out.stderr[-500:])


@pytest.mark.parametrize("rate", [45, 75, 120, 170])
def test_numpy_detector_finds_neurokit2s_peaks(rate):
    """findpeaks_neurokit == neurokit2.ecg_findpeaks(method="neurokit") on clean and noisy leads
    (on neurokit2's own cleaning, so the two halves are checked separately)."""
    rng = np.random.default_rng(rate)
    x = simulated(rate, seed=5)[:, :10 * FS]
    sigs = [x[0], x[1], x[7]] + [nz.distort(x[1:2], FS, k, s, rng)[0][0]
                                 for k in ("emg", "motion", "baseline", "powerline") for s in (12, 0)]
    for sig in sigs:
        cleaned = np.asarray(nk.ecg_clean(sig, sampling_rate=FS, method="neurokit"))
        ours = rhythm.findpeaks_neurokit(cleaned, FS)
        theirs = np.asarray(nk.ecg_findpeaks(cleaned, sampling_rate=FS, method="neurokit")["ECG_R_Peaks"])
        np.testing.assert_array_equal(ours, theirs)
    r = rhythm.detect_peaks(x[0], FS, "hamilton2002")[1]  # other methods: neurokit2's own
    assert len(r) >= 3


def test_rate_is_finite_when_no_rr_is_near_the_median():
    # three beats, RRs 0.3 s and 0.9 s: the median (0.6 s) is within 30 % of neither
    stats = rhythm.rr_stats(np.array([0, 150, 600]), 500.0)
    assert np.isfinite(stats["heart_rate_bpm"]) and stats["heart_rate_bpm"] == pytest.approx(100.0)
    assert all(np.isfinite(v) for v in stats.values())


def test_batched_prominent_peaks_equal_the_one_segment_version():
    rng = np.random.default_rng(0)
    for trial in range(300):
        data = rng.normal(size=300)
        if trial % 3 == 0:
            data = np.round(data * 3) / 3  # plateaus: the one-segment path
        beg = np.sort(rng.choice(250, size=rng.integers(1, 6), replace=False))
        end = np.minimum(beg + rng.integers(1, 50, size=len(beg)), 300)
        want = [rhythm._most_prominent_peak(data[b:e]) for b, e in zip(beg, end)]
        assert list(rhythm._most_prominent_peaks(data, beg, end)) == [-1 if k is None else k for k in want]
