"""Streaming split (tgll_edge.training.stream_split) and incremental scoring (tgll_edge.incremental):
a tiny TGLLNet exported to ONNX fp32 and int8 gets its graph stage and temporal stage as two
files; scoring overlapping windows through them, with the graph stage run on the new samples
only, gives the full file's probabilities; reuse happens only when the samples really repeat;
a tampered split file is refused; a stream gives the same findings with and without it."""
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from tgll_edge.bundle import read_card, sha256_file  # noqa: E402
from tgll_edge.errors import BundleError  # noqa: E402
from tgll_edge.runtime import load_model  # noqa: E402
from tgll_edge.signal.preprocess import DEFAULT_SETTINGS  # noqa: E402
from tgll_edge.training.export import EvalData, export_bundle  # noqa: E402
from tgll_edge.training.models import build_model  # noqa: E402
from tgll_edge.training.quantize import ONNX_RECIPES  # noqa: E402
from tgll_edge.training.stream_split import split_onnx, stream_entry  # noqa: E402

LABELS = ["NORM", "MI", "STTC", "CD", "HYP"]
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
FS, N = 100, 1000


def _windows(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12, N)).astype(np.float32)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tgllnet", preset="edge", width=4, levels=[1]).eval()
    cfg = {"model": model.config(), "task": "superdiagnostic", "labels": LABELS, "fs": FS, "n_times": N,
           "leads": LEADS, "scaler": {"mean": 0.0, "std": 0.5}, "preprocessing": DEFAULT_SETTINGS,
           "thresholds": {lab: 0.5 for lab in LABELS},
           "data": {"path": "synthetic", "dataset": "ptbxl"}}
    y = (np.random.default_rng(1).random((24, 5)) < 0.4).astype(np.float32)
    data = EvalData(_windows(24, 1), y, _windows(24, 2), y, _windows(16, 3))
    out = tmp_path_factory.mktemp("b") / "tiny"
    export_bundle(model, cfg, out, data, formats=("onnx",), int8=True, max_auc_drop=1.0, max_flip_rate=1.0,
                  onnx_recipes=ONNX_RECIPES[:1])
    return out


def _signal(seconds, seed=5):
    """A long preprocessed 12-lead signal in mV at the model rate."""
    return 0.5 * np.random.default_rng(seed).standard_normal((12, seconds * FS)).astype(np.float32)


@pytest.mark.parametrize("artifact", ["onnx_fp32", "onnx_int8"])
def test_the_export_ships_a_checked_split_for_each_onnx_file(bundle, artifact):
    entry = read_card(bundle)["artifacts"][artifact]["stream"]
    for part in ("tokens", "head"):
        f = bundle / entry[part]["file"]
        assert f.is_file() and sha256_file(f) == entry[part]["sha256"]
    assert entry["check"]["max_abs_prob_diff_vs_file"] <= entry["check"]["tolerance"] <= 1e-4


@pytest.mark.parametrize("artifact", ["onnx_fp32", "onnx_int8"])
def test_incremental_scoring_equals_the_whole_model_on_every_window(bundle, artifact):
    model = load_model(bundle, artifact=artifact)
    scorer = model.stream_scorer()
    assert scorer is not None
    sig, hop = _signal(40), FS  # 1 s hop
    starts = list(range(0, sig.shape[1] - N + 1, hop))
    inc = np.stack([scorer.predict_proba(sig[:, a:a + N], a / FS) for a in starts])
    full = model.predict_proba(np.stack([sig[:, a:a + N] for a in starts]))
    assert np.abs(inc - full).max() <= 1e-5
    assert scorer.counts == {"windows": len(starts), "reused": len(starts) - 1}


def test_reuse_needs_the_same_samples_not_just_the_right_start_time(bundle):
    model = load_model(bundle, artifact="onnx_fp32")
    scorer = model.stream_scorer()
    sig = _signal(12)
    scorer.predict_proba(sig[:, :N], 0.0)
    changed = sig[:, FS:FS + N].copy()
    changed[3, 10] += 1.0  # a sample the previous window also held, now different (e.g. a bridged gap)
    p = scorer.predict_proba(changed, 1.0)
    assert scorer.counts["reused"] == 0
    assert np.abs(p - model.predict_proba(changed[None])[0]).max() <= 1e-6
    # a start time that does not match the shift is not reused either
    scorer.predict_proba(sig[:, 2 * FS:2 * FS + N], 5.0)
    assert scorer.counts["reused"] == 0


def test_a_tampered_split_file_is_refused(bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    entry = read_card(b)["artifacts"]["onnx_int8"]["stream"]
    f = b / entry["head"]["file"]
    raw = bytearray(f.read_bytes())
    raw[-5] ^= 0xFF
    f.write_bytes(bytes(raw))
    model = load_model(b, artifact="onnx_int8")  # the full file is intact
    with pytest.raises(BundleError, match="sha256"):
        model.stream_scorer()


def test_a_bundle_without_a_split_scores_as_before(bundle, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(bundle, b)
    card = json.loads((b / "card.json").read_text())
    del card["artifacts"]["onnx_fp32"]["stream"]
    (b / "card.json").write_text(json.dumps(card))
    assert load_model(b, artifact="onnx_fp32").stream_scorer() is None


def test_a_model_whose_first_layer_spans_time_gets_no_split(tmp_path):
    from bundle_factory import make_onnx

    path = make_onnx(tmp_path / "conv.onnx")  # a plain temporal convolution first: nothing pointwise
    from tgll_edge.errors import ExportError
    with pytest.raises(ExportError, match="no graph stage"):
        split_onnx(path, tmp_path / "t.onnx", tmp_path / "h.onnx")
    entry = {"file": "conv.onnx"}
    assert stream_entry(tmp_path, entry, _windows(2, 0)) is None


def test_a_stream_gives_the_same_findings_with_and_without_the_split(bundle):
    from streamkit import ListSource, blocks, synthetic_ecg

    from tgll_edge.stream import Pipeline

    model = load_model(bundle, artifact="onnx_int8")
    x8 = synthetic_ecg(500 * 25, 500.0, seed=2)
    runs = {}
    for inc in (True, False):
        pipe = Pipeline(ListSource(blocks(x8, 500.0, sizes=[40])), model, hop_s=1.0, incremental=inc, rhythm=False)
        runs[inc] = list(pipe)
        if inc:
            assert pipe._scorer is not None and pipe._scorer.counts["reused"] >= len(runs[inc]) - 2
    a, b = ([f for f in runs[k] if getattr(f, "probabilities", None)] for k in (True, False))
    assert len(a) == len(b) >= 10
    for fa, fb in zip(a, b):
        assert fa.t_start == fb.t_start
        assert max(abs(fa.probabilities[k] - fb.probabilities[k]) for k in LABELS) <= 1e-5
