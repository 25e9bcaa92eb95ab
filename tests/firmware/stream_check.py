"""The end-to-end check shared by the firmware targets: what ``tgll-stream --json`` reported from a
device serving the looped PTB-XL fixture must equal ``tgll-predict`` on the very samples served."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def assert_findings_equal_predict(stream_stdout: str, bundle: Path, tmp_path: Path, *, device_id: str,
                                  duration_s: int, hop_s: int, fs: int, uv_per_count: float) -> list[dict]:
    """Checks INFO, a clean summary (no gaps, CRC errors or dropped bytes) and every window's
    probabilities (1e-5) and labels against tgll-predict. Returns the windows."""
    from test_uart_host import _predict_all_windows, record_counts  # lazy: that module may import this one

    lines = [json.loads(ln) for ln in stream_stdout.splitlines() if ln.startswith("{")]
    info = next(ln for ln in lines if ln["type"] == "status" and ln.get("kind") == "info")["detail"]
    assert (info["device_id"], info["fs"], info["n_channels"], info["lead_set"]) == (device_id, fs, 8, 0)
    assert info["uv_per_count"] == pytest.approx(uv_per_count, rel=1e-7)
    summary = lines[-1]
    assert summary["type"] == "summary"
    assert (summary["gaps"], summary["missing_samples"], summary["crc_errors"], summary["dropped_bytes"]) == (0,) * 4
    assert not [ln for ln in lines if ln["type"] == "gap"]
    windows = [ln for ln in lines if ln["type"] == "window"]
    n_win = (duration_s - 10) // hop_s + 1
    assert [(w["t_start"], w["t_end"]) for w in windows] == [(i * hop_s, i * hop_s + 10.0) for i in range(n_win)]
    assert all(w["quality"]["ok"] and not w["quality"]["lead_off"] for w in windows)

    # The reference: the device loops the 2-s fixture, so its first duration_s are the counts
    # tiled; as a WFDB record (digital = counts exactly) for tgll-predict.
    wfdb = pytest.importorskip("wfdb")
    counts = np.tile(record_counts(), (duration_s * fs // len(record_counts()), 1))
    uv = info["uv_per_count"]  # the float32 the firmware sent, as the gateway used it
    wfdb.wrsamp("fw", fs=fs, units=["mV"] * 8, sig_name=list(info["labels"]),
                p_signal=counts * (uv / 1000.0), fmt=["32"] * 8, adc_gain=[1000.0 / uv] * 8,
                baseline=[0] * 8, write_dir=str(tmp_path))
    ref = _predict_all_windows(bundle, tmp_path / "fw", hop_s)
    assert [r["start_s"] for r in ref] == [w["t_start"] for w in windows]
    for w, r in zip(windows, ref):
        assert set(w["probabilities"]) == set(r["probabilities"])
        assert max(abs(w["probabilities"][k] - r["probabilities"][k]) for k in r["probabilities"]) < 1e-5
        assert w["labels"] == r["labels"]
    # the windows differ (so the comparison is not vacuous: a stale window would be caught)
    assert windows[0]["probabilities"] != windows[1]["probabilities"]
    return windows
