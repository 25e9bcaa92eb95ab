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
