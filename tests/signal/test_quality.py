"""The quality gate flags each fault on the lead it happens on, and skips only severe windows."""
from pathlib import Path

import numpy as np
import pytest

from streamkit import synthetic_ecg

from tgll_edge.signal.leads import LEADS_8, LEADS_12, derive_12
from tgll_edge.signal.quality import QualitySettings, assess

FS = 500.0


def clean():
    return derive_12(synthetic_ecg(5000, FS, seed=2)).astype(np.float64)


def test_clean_ecg_passes():
    q = assess(clean(), FS, LEADS_12, lead_off_counts=np.zeros(8), channel_labels=LEADS_8)
    assert q.ok and not q.skipped and q.flags == []


def test_nan_and_inf_skip():
    x = clean()
    x[6, 100] = np.nan
    x[7, 5] = np.inf
    q = assess(x, FS, LEADS_12)
    assert q.skipped and q.nonfinite == ["V1", "V2"] and "nonfinite" in q.flags


def test_nan_in_the_model_window_alone_skips():
    proc = np.zeros((12, 1000), dtype=np.float32)
    proc[0, 3] = np.nan
    q = assess(clean(), FS, LEADS_12, processed=proc)
    assert q.skipped and q.nonfinite == ["I"]


def test_one_flat_lead_marks_three_skip():
    x = clean()
    x[8, 1000:2500] = x[8, 1000]  # V3 flat for 3 s: a 2 s stretch is entirely flat
    q = assess(x, FS, LEADS_12)
    assert q.flat == ["V3"] and "flat" in q.flags and not q.skipped and not q.ok
    x[9:11, :] = 7.0               # V4, V5 disconnected: constant
    q = assess(x, FS, LEADS_12)
    assert q.flat == ["V3", "V4", "V5"] and q.skipped


def test_saturation_beyond_tens_of_mv_and_at_the_rails():
    x = clean()
    x[1, 100:110] += 40.0          # 10 samples of II: 0.2 % -> marked only
    q = assess(x, FS, LEADS_12)
    assert q.saturated == ["II"] and not q.skipped
    x[6, :1000] += 60.0            # V1 railing for 2 s: severe
    q = assess(x, FS, LEADS_12)
    assert "V1" in q.saturated and q.skipped
    rail = (2 ** 23 - 1) * 0.5 / 1000  # 4194 mV: a DC offset of 300 mV is fine, the rail is not
    y = clean() + 300.0
    assert assess(y, FS, LEADS_12, rail_mv=rail).ok
    y[7, :600] = rail
    q = assess(y, FS, LEADS_12, rail_mv=rail)
    assert "V2" in q.saturated and q.skipped


def test_lead_off_bits_mark_and_long_lead_off_skips():
    counts = np.zeros(8, dtype=int)
    counts[2] = 100                # V1 off for 100 of 5000 samples
    q = assess(clean(), FS, LEADS_12, lead_off_counts=counts, channel_labels=LEADS_8)
    assert q.lead_off == ["V1"] and "lead_off" in q.flags and not q.skipped
    counts[0] = 4000
    q = assess(clean(), FS, LEADS_12, lead_off_counts=counts, channel_labels=LEADS_8)
    assert q.lead_off == ["I", "V1"] and q.skipped and any("I" in r for r in q.reasons)


def test_thresholds_are_settings():
    x = clean()
    x[1, 100:110] += 40.0
    q = assess(x, FS, LEADS_12, settings=QualitySettings(saturation_mv=50.0))
    assert q.ok


def _reference_flat(x, fs, std_mv, stretch_s):
    """The definition: some non-overlapping stretch's std below the threshold."""
    step = max(2, int(round(stretch_s * fs)))
    step = min(step, x.shape[1])
    k = x.shape[1] // step
    seg = x[:, : k * step].reshape(x.shape[0], k, step)
    return np.any(seg.std(axis=2) < std_mv, axis=1)


def test_flat_leads_decides_like_the_std_near_the_threshold():
    """min/max bounds settle most stretches; those near the threshold still get the exact std."""
    from tgll_edge.signal.quality import flat_leads
    rng = np.random.default_rng(5)
    for trial in range(200):
        x = rng.standard_normal((12, 5000)).astype(np.float32)
        x *= rng.choice([0.001, 0.005, 0.0099, 0.01, 0.0101, 0.02, 0.2, 1.0], size=(12, 1)).astype(np.float32)
        x += rng.choice([0.0, 300.0, -120.0], size=(12, 1)).astype(np.float32)
        if trial % 3 == 0:  # spikes: a large range with a small std
            x[rng.integers(12), rng.integers(5000)] += 1.0
        np.testing.assert_array_equal(flat_leads(x, FS, 0.01, 2.0), _reference_flat(x, FS, 0.01, 2.0))


def test_saturation_only_counts_leads_that_can_be_saturated():
    from tgll_edge.signal.quality import saturated_fraction
    x = clean()
    x[3, :400] += 30.0
    x[5] += 299.0                     # a DC offset far below the rail
    frac = saturated_fraction(x, 25.0, 300.0, 0.999)
    assert frac[3] == pytest.approx(400 / 5000) and frac[5] > 0  # lead 5 touches the 300 mV rail
    assert np.count_nonzero(frac) == 2
    frac = saturated_fraction(x, 25.0, None, 0.999)
    assert np.flatnonzero(frac).tolist() == [3]
