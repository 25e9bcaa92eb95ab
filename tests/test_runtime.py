import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bundle_factory import LABELS, SCALER, make_bundle, reference_logits
from tgll_edge.bundle import BundleError
from tgll_edge.runtime import load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "b")


def _windows(n=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 12, 1000)).astype(np.float32) * 0.5


def test_predict_proba_applies_scaler_and_sigmoid(bundle):
    model = load_model(bundle)
    assert model.labels == LABELS and model.fs == 100 and model.n_times == 1000 and model.artifact == "onnx_fp32"
    x = _windows()
    p = model.predict_proba(x)
    want = 1 / (1 + np.exp(-reference_logits((x - SCALER["mean"]) / SCALER["std"])))
    assert p.shape == (3, 5) and p.dtype == np.float32
    np.testing.assert_allclose(p, want, atol=1e-5)
    assert model.decide(p).shape == (3, 5)
    assert model.thresholds.tolist() == [0.5] * 5


def test_preprocessor_uses_card_settings(bundle):
    pre = load_model(bundle).preprocessor(500)
    assert pre.fs_in == 500 and pre.fs_out == 100
    assert pre.process(np.zeros((12, 5000))).shape == (12, 1000)


@pytest.mark.parametrize("shape, message", [
    ((2, 8, 1000), "8 leads given"),
    ((2, 12, 500), "too short"),
    ((12, 1000), "add a batch axis"),
    ((0, 12, 1000), "empty batch"),
])
def test_bad_shapes_get_clear_errors(bundle, shape, message):
    with pytest.raises(ValueError, match=message):
        load_model(bundle).predict_proba(np.zeros(shape, dtype=np.float32))


def test_nan_and_inf_are_refused(bundle):
    model = load_model(bundle)
    x = _windows()
    x[1, 3, 10] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(window index \[1\]\)"):
        model.predict_proba(x)
    x[1, 3, 10] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        model.predict_proba(x)


def test_tampered_bundle_is_refused_by_load_model(bundle):
    path = bundle / "model_fp32.onnx"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model_fp32.onnx fails its sha256"):
        load_model(bundle)


def test_missing_bundle_and_artifact(tmp_path, bundle):
    with pytest.raises(BundleError, match="does not exist"):
        load_model(tmp_path / "none")
    with pytest.raises(BundleError, match="no artifact 'onnx_int8'"):
        load_model(bundle, artifact="onnx_int8")


def test_runtime_predicts_where_torch_cannot_be_imported(bundle):
    """The runtime, the CLI and the backends must never import torch."""
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        try:
            import torch
        except ImportError:
            pass
        else:
            raise SystemExit("blocker failed")
        import numpy as np
        import tgll_edge
        from tgll_edge.runtime import load_model
        import tgll_edge.cli.predict, tgll_edge.cli.info, tgll_edge.backends.litert, tgll_edge.backends.onnx
        m = tgll_edge.load_model({str(bundle)!r})
        p = m.predict_proba(np.zeros((2, 12, 1000), np.float32))
        assert p.shape == (2, 5), p.shape
        rc = tgll_edge.cli.predict.main(["--model", {str(bundle)!r}, {str(REPO / "tgll_edge/data/records/00001_hr")!r}])
        assert rc == 0, rc
        assert not any(k == "torch" or k.startswith("torch.") for k in sys.modules)
        print("OK", p[0].round(4).tolist())
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK" in res.stdout and '"probabilities"' in res.stdout


def test_a_shipped_bundle_can_be_named_instead_of_its_path(tmp_path, monkeypatch):
    from tgll_edge.runtime import DEFAULT_BUNDLE_NAME, default_bundle_dir, resolve_bundle

    monkeypatch.chdir(tmp_path)  # not the repository: the name alone must find it
    assert resolve_bundle(DEFAULT_BUNDLE_NAME) == default_bundle_dir()
    assert load_model(DEFAULT_BUNDLE_NAME).card["name"] == DEFAULT_BUNDLE_NAME
    assert resolve_bundle("no-such-bundle") == Path("no-such-bundle")  # left for the caller's clear error
    (tmp_path / DEFAULT_BUNDLE_NAME).mkdir()  # a directory of that name without a card is not a bundle
    assert resolve_bundle(DEFAULT_BUNDLE_NAME) == default_bundle_dir()
