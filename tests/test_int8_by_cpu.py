"""tools/int8_by_cpu.py --merge-into-card: per-family int8 results land in the card's metrics_by_cpu,
which load_model reads; a result measured on another file is refused."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tgll_edge.bundle import read_card
from tgll_edge.runtime import _gate_on

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "models" / "tgllnet-edge-superdiagnostic"


def _result(sha: str, passes: bool) -> dict:
    m = {"val_macro_auc": 0.93, "test_macro_auc": 0.88, "val_auc_drop": 0.001, "val_decision_flip_rate": 0.01,
         "test_decision_flip_rate": 0.01, "val_max_abs_prob_diff": 0.3, "max_abs_prob_diff": 0.3,
         "passes_gate": passes, "sha256": sha}
    return {"cpu": {"family": "aarch64", "model": "Cortex-A72"}, "date": "2026-11-30T00:00:00+00:00",
            "windows": {"fold9": 234, "fold10": 252}, "reference": {"artifact": "onnx_fp32 on this CPU"},
            "label": "qemu-user 10 -cpu cortex-a72", "artifacts": {"onnx_int8": m}}


def _merge(bundle: Path, result: dict, tmp_path: Path):
    f = tmp_path / "int8_aarch64.json"
    f.write_text(json.dumps(result))
    return subprocess.run([sys.executable, str(ROOT / "tools" / "int8_by_cpu.py"), "--bundle", str(bundle),
                           "--merge-into-card", str(f)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def bundle(tmp_path):
    if not (BUNDLE / "card.json").is_file():
        pytest.skip("no default bundle")
    out = tmp_path / "b"
    shutil.copytree(BUNDLE, out)
    return out


@pytest.mark.parametrize("passes", [True, False])
def test_merged_family_result_decides_the_runtime_gate(bundle, tmp_path, passes):
    sha = read_card(bundle)["artifacts"]["onnx_int8"]["sha256"]
    run = _merge(bundle, _result(sha, passes), tmp_path)
    assert run.returncode == 0, run.stderr
    entry = read_card(bundle)["artifacts"]["onnx_int8"]
    got = entry["metrics_by_cpu"]["aarch64"]
    assert got["passes_gate"] is passes and got["source"] == "qemu-user 10 -cpu cortex-a72"
    assert _gate_on(entry, "aarch64") is passes


def test_result_for_another_file_is_refused(bundle, tmp_path):
    before = (bundle / "card.json").read_bytes()
    run = _merge(bundle, _result("0" * 64, True), tmp_path)
    assert run.returncode != 0 and "sha256" in run.stderr
    assert (bundle / "card.json").read_bytes() == before


def test_lead_set_bundle_is_measured_under_every_standard_set(tmp_path):
    """A lead-set-aware bundle: each int8 file is measured with each standard set's mask and
    graph basis (the runtime's feeds), against onnx_fp32 under the same set."""
    import hashlib

    import numpy as np

    import int8_by_cpu
    from bundle_factory import STANDARD_LEAD_SETS, leadset_reference_logits, make_leadset_bundle, make_leadset_onnx
    from tgll_edge.runtime import sigmoid
    from tgll_edge.signal.leadgraph import graph_basis

    n_times = 64
    bundle = make_leadset_bundle(tmp_path / "ls", n_times=n_times)
    other = make_leadset_onnx(bundle / "model_int8.onnx", n_times, seed=1)  # stands in for an int8 file
    card = json.loads((bundle / "card.json").read_text())
    card["artifacts"]["onnx_int8"] = {**card["artifacts"]["onnx_fp32"], "file": other.name, "precision": "int8",
                                      "sha256": hashlib.sha256(other.read_bytes()).hexdigest(),
                                      "bytes": other.stat().st_size}
    (bundle / "card.json").write_text(json.dumps(card))
    rng = np.random.default_rng(0)
    w = {f"x_{p}": rng.standard_normal((40, 12, n_times)).astype(np.float32) for p in ("val", "test")}
    w.update({f"y_{p}": (rng.random((40, 5)) < 0.4).astype(np.float32) for p in ("val", "test")})
    np.savez(tmp_path / "w.npz", **w)

    r = int8_by_cpu.measure(bundle, None, {}, windows=str(tmp_path / "w.npz"))
    m = r["artifacts"]["onnx_int8"]
    assert set(m["metrics_by_lead_set"]) == set(STANDARD_LEAD_SETS)
    adjacency = card["lead_graph"]["adjacency"]
    aucs = {}
    for name, leads in STANDARD_LEAD_SETS.items():
        mask = np.isin(card["leads"], leads).astype(np.float32)
        x = w["x_val"] * mask[None, :, None]
        cheb = np.broadcast_to(graph_basis(adjacency, mask, 3), (40, 2, 3, 12, 12))
        masks = np.broadcast_to(mask, (40, 12))
        want = int8_by_cpu._score(w["y_val"], sigmoid(leadset_reference_logits(x, masks, cheb, seed=1)))
        ref = int8_by_cpu._score(w["y_val"], sigmoid(leadset_reference_logits(x, masks, cheb, seed=0)))
        got = m["metrics_by_lead_set"][name]
        assert abs(got["val_macro_auc"] - want) < 1e-5 and abs(got["val_auc_drop"] - (ref - want)) < 1e-5, name
        aucs[name] = want
    assert len({round(a, 6) for a in aucs.values()}) > 1  # the sets really differ
    assert m["passes_gate"] == all(v["passes_gate"] for v in m["metrics_by_lead_set"].values())
    assert m["val_macro_auc"] == m["metrics_by_lead_set"]["12"]["val_macro_auc"]
    assert "lead set I" in int8_by_cpu.markdown(r, "cmd")
