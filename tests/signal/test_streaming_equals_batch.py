"""The lead's signal module: streaming filters/resampler equal batch, lead derivation, scaler."""
import numpy as np
import pytest
from scipy import signal as sps

from tgll_edge.signal import (DEFAULT_SETTINGS, LEADS_8, LEADS_12, Preprocessor, StandardScaler,
                              StreamingFilter, StreamingResampler, derive_12, design, preprocess, resample,
                              to_12_leads)


def random_splits(n, rng):
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(1, 40))), replace=False))
    return np.split(np.arange(n), cuts)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name, params", [("highpass", {"cutoff_hz": 0.5, "order": 2}),
                                          ("lowpass", {"cutoff_hz": 40.0, "order": 4}),
                                          ("notch", {"freq_hz": 50.0, "q": 30.0})])
def test_streaming_filter_equals_batch_for_random_splits(name, params, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 3000)) + 4.0
    sos = design(name, 500.0, **params)
    whole = StreamingFilter(sos).process(x)
    f = StreamingFilter(sos)
    parts = np.concatenate([f.process(x[:, idx]) for idx in random_splits(x.shape[1], rng)], axis=1)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-10)
    # and it is the ordinary causal filter started from steady state
    zi = sps.sosfilt_zi(sos)[:, None, :] * x[None, :, 0, None]
    np.testing.assert_allclose(whole, sps.sosfilt(sos, x, axis=-1, zi=zi)[0], atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("fs_in, fs_out", [(500, 100), (250, 100), (1000, 100), (360, 100), (100, 500)])
def test_streaming_resampler_equals_batch_for_random_splits(fs_in, fs_out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2 * fs_in + 7))
    whole = resample(x, fs_in, fs_out)
    r = StreamingResampler(fs_in, fs_out)
    parts = np.concatenate([r.process(x[:, idx]) for idx in random_splits(x.shape[1], rng)], axis=1)
    assert parts.shape == whole.shape
    np.testing.assert_allclose(parts, whole, atol=1e-10)
    assert abs(whole.shape[1] - x.shape[1] * fs_out / fs_in) <= 1


def test_resampler_keeps_a_low_frequency_sine_after_its_delay():
    fs_in, fs_out = 500, 100
    t = np.arange(5000) / fs_in
    x = np.sin(2 * np.pi * 1.0 * t)[None]
    y = resample(x, fs_in, fs_out)[0]
    r = StreamingResampler(fs_in, fs_out)
    ty = np.arange(y.size) / fs_out - r.delay_s  # output j shows the input at j/fs_out - delay
    np.testing.assert_allclose(y[50:], np.sin(2 * np.pi * ty[50:]), atol=2e-3)


@pytest.mark.parametrize("fs_in", [250, 500, 1000])
def test_preprocessor_streaming_equals_whole(fs_in):
    rng = np.random.default_rng(fs_in)
    x = rng.standard_normal((12, 12 * fs_in)).cumsum(axis=1) * 0.01 + 3.0
    whole = preprocess(x, fs_in, DEFAULT_SETTINGS)
    pre = Preprocessor(DEFAULT_SETTINGS, fs_in)
    parts = np.concatenate([pre.process(x[:, idx]) for idx in random_splits(x.shape[1], rng)], axis=1)
    np.testing.assert_allclose(parts, whole, atol=1e-5)
    pre.reset()  # after reset it behaves like a fresh one
    np.testing.assert_allclose(pre.process(x), whole, atol=1e-6)


def test_derive_12_follows_einthoven_and_goldberger():
    rng = np.random.default_rng(0)
    x8 = rng.standard_normal((8, 50))
    x12 = derive_12(x8)
    i, ii = x8[0], x8[1]
    np.testing.assert_allclose(x12[LEADS_12.index("III")], ii - i)
    np.testing.assert_allclose(x12[LEADS_12.index("aVR")], -(i + ii) / 2)
    np.testing.assert_allclose(x12[LEADS_12.index("aVL")], i - ii / 2)
    np.testing.assert_allclose(x12[LEADS_12.index("aVF")], ii - i / 2)
    np.testing.assert_array_equal(x12[6:], x8[2:])
    # the identities that hold for real 12-lead records: III = II - I, aVR + aVL + aVF = 0
    np.testing.assert_allclose(x12[3] + x12[4] + x12[5], 0, atol=1e-12)
    shuffled = [5, 0, 7, 2, 1, 3, 6, 4]
    np.testing.assert_allclose(to_12_leads(x8[shuffled], [LEADS_8[k].lower() for k in shuffled]), x12)
    with pytest.raises(ValueError, match="missing V6"):
        to_12_leads(x8[:7], LEADS_8[:7])
    with pytest.raises(ValueError):
        derive_12(x8[:7])


def test_scaler_round_trip_and_per_lead():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 12, 100)) * np.arange(1, 13)[None, :, None] + 2
    g = StandardScaler.fit(x)
    assert g.mean.ndim == 0
    np.testing.assert_allclose(g.transform(x).std(), 1, atol=1e-5)
    p = StandardScaler.fit(x, per_lead=True)
    np.testing.assert_allclose(p.transform(x).std(axis=(0, 2)), 1, atol=1e-5)
    q = StandardScaler.from_dict(p.to_dict())
    np.testing.assert_array_equal(q.transform(x), p.transform(x))
    with pytest.raises(ValueError):
        StandardScaler.from_dict({"mean": [0, 1], "std": [1, 0]})


@pytest.mark.parametrize("btype", ["highpass", "lowpass"])
@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("fs, cutoff", [(100.0, 0.5), (500.0, 40.0), (360.0, 0.67)])
def test_butterworth_design_is_scipys(btype, order, fs, cutoff):
    """The numpy designs (no scipy at run time) are scipy's sections, and filter like sosfilt."""
    sos = design(btype, fs, cutoff_hz=cutoff, order=order)
    ref = sps.butter(order, cutoff, btype=btype, fs=fs, output="sos")
    np.testing.assert_allclose(sos, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(StreamingFilter(sos)._zi_unit, sps.sosfilt_zi(ref), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fs, freq, q", [(500.0, 50.0, 30.0), (250.0, 60.0, 20.0), (100.0, 49.0, 30.0)])
def test_notch_design_is_scipys(fs, freq, q):
    b, a = sps.iirnotch(freq, q, fs=fs)
    np.testing.assert_allclose(design("notch", fs, freq_hz=freq, q=q), sps.tf2sos(b, a), atol=1e-14)


def test_resampler_filter_is_scipys_firwin():
    for fs_in, fs_out in [(500, 100), (250, 100), (100, 500), (360, 100)]:
        r = StreamingResampler(fs_in, fs_out)
        m = max(r.up, r.down)
        ref = sps.firwin(20 * m + 1, 1.0 / m, window=("kaiser", 5.0)) * r.up
        np.testing.assert_allclose(r.h, ref, rtol=1e-12, atol=1e-16)


def test_resampler_equals_zero_stuffing_and_lfilter_from_steady_state():
    """What the streaming resampler computes, spelled out with scipy: zero-stuff, filter from
    a constant history, keep every down-th sample."""
    rng = np.random.default_rng(3)
    for fs_in, fs_out in [(500, 100), (250, 100), (100, 500)]:
        x = rng.standard_normal((3, 1500)) + 2.0
        r = StreamingResampler(fs_in, fs_out)
        xu = np.zeros((3, x.shape[1] * r.up))
        xu[:, ::r.up] = x
        zi = sps.lfilter_zi(r.h, [1.0])[None, :] * x[:, :1] / r.up
        want = sps.lfilter(r.h, [1.0], xu, axis=-1, zi=zi)[0][:, ::r.down]
        np.testing.assert_allclose(resample(x, fs_in, fs_out), want, atol=1e-12)


def test_nonfinite_sample_poisons_the_filter_from_that_sample_on_only():
    """As sosfilt: outputs before a NaN are untouched, those after it are not finite, other
    channels are unaffected; a reset recovers."""
    sos = design("highpass", 100.0, cutoff_hz=0.5, order=2)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 300))
    clean = StreamingFilter(sos).process(x)
    x[1, 200] = np.nan
    x[2, 50] = np.inf
    f = StreamingFilter(sos)
    y = np.concatenate([f.process(x[:, :150]), f.process(x[:, 150:])], axis=1)
    np.testing.assert_allclose(y[0], clean[0], atol=1e-12)
    np.testing.assert_allclose(y[1, :200], clean[1, :200], atol=1e-12)
    assert not np.isfinite(y[1, 200:]).any() and not np.isfinite(y[2, 50:]).any()
    np.testing.assert_allclose(y[2, :50], clean[2, :50], atol=1e-12)
    f.reset()
    assert np.isfinite(f.process(rng.standard_normal((3, 10)))).all()


def test_runtime_signal_path_does_not_import_scipy():
    """scipy.signal alone costs ~80 MB of resident memory on a gateway."""
    import subprocess
    import sys
    code = ("import sys; import tgll_edge.signal, tgll_edge.stream, tgll_edge.link.replay, tgll_edge.cli.stream; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'wfdb', 'pandas')); "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
