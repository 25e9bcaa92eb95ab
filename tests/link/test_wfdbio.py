"""The numpy WFDB reader returns what wfdb.rdrecord returns, bit for bit, in any block split."""
import numpy as np
import pytest
import wfdb

from tgll_edge.link.emulator import DEFAULT_RECORD
from tgll_edge.link.replay import ReplaySource, read_record
from tgll_edge.link.wfdbio import INVALID, Record, open_record


def _same(rec_path):
    ref = wfdb.rdrecord(str(rec_path), physical=True)
    rec = open_record(rec_path)
    assert isinstance(rec, Record)
    assert rec.fs == ref.fs and rec.sig_name == list(ref.sig_name) and rec.units == list(ref.units)
    np.testing.assert_array_equal(rec.read(), ref.p_signal.T)
    for step in (1, 7, 1000):
        parts = np.concatenate([rec.read(a, step) for a in range(0, rec.sig_len, step)], axis=1)
        np.testing.assert_array_equal(parts, ref.p_signal.T)


def test_bundled_ptbxl_record():
    _same(DEFAULT_RECORD)


@pytest.mark.parametrize("fmt", ["16", "24", "32", "80", "212"])
@pytest.mark.parametrize("n_sig", [1, 3, 8])
def test_formats_written_by_wfdb(tmp_path, fmt, n_sig):
    rng = np.random.default_rng(int(fmt) + n_sig)
    lim = {"80": 120, "212": 2000}.get(fmt, 30000)
    d = rng.integers(-lim, lim, (1001, n_sig))
    d[5, 0] = INVALID[fmt]  # a missing sample: NaN
    wfdb.wrsamp("r", fs=360, units=["mV"] * n_sig, sig_name=[f"s{i}" for i in range(n_sig)], d_signal=d,
                fmt=[fmt] * n_sig, adc_gain=[200.0 + i for i in range(n_sig)],
                baseline=[3 * i - 2 for i in range(n_sig)], write_dir=str(tmp_path))
    _same(tmp_path / "r")
    assert np.isnan(open_record(tmp_path / "r").read()[0, 5])


@pytest.mark.parametrize("fmt", ["61", "160"])
def test_formats_wfdb_only_reads(tmp_path, fmt):
    rng = np.random.default_rng(0)
    d = rng.integers(-3000, 3000, (500, 2))
    raw = d.astype(">i2") if fmt == "61" else (d + 32768).astype("<u2")
    raw.tofile(tmp_path / "r.dat")
    (tmp_path / "r.hea").write_text(f"r 2 250 500\nr.dat {fmt} 100(5)/uV 16 0 0 0 0 a\n"
                                    f"r.dat {fmt} 50/mV 16 7 0 0 0 b c\n")
    _same(tmp_path / "r")


def test_other_layouts_fall_back_to_wfdb(tmp_path):
    d = np.arange(20, dtype=np.int64).reshape(10, 2)
    wfdb.wrsamp("two", fs=100, units=["mV"] * 2, sig_name=["a", "b"], d_signal=d, fmt=["16", "32"],
                adc_gain=[100.0, 100.0], baseline=[0, 0], write_dir=str(tmp_path))
    rec = open_record(tmp_path / "two")
    assert not isinstance(rec, Record)
    np.testing.assert_array_equal(rec.read(2, 3), wfdb.rdrecord(str(tmp_path / "two")).p_signal.T[:, 2:5])


def test_replay_reads_in_blocks_and_yields_the_whole_record(monkeypatch):
    import tgll_edge.link.replay as replay
    monkeypatch.setattr(replay, "READ_FRAMES", 777)  # several reads, not a multiple of the block
    x, fs, labels = read_record(DEFAULT_RECORD)
    blocks = [ev for ev in ReplaySource(DEFAULT_RECORD, speed=None) if hasattr(ev, "data")]
    assert {b.n for b in blocks[:-1]} == {50}
    np.testing.assert_array_equal(np.concatenate([b.data for b in blocks], axis=1), x.astype(np.float32))
    assert [b.index for b in blocks] == list(range(0, x.shape[1], 50)) and blocks[0].labels == labels
