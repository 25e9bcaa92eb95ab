"""The CPU family (int8 kernels differ by family) and load_model's choice of the artifact
gated on the family it runs on, or its one-time warning when the card has no result for it."""
import json
import warnings

import pytest

from bundle_factory import make_bundle, make_onnx
from tgll_edge import cpufamily, runtime
from tgll_edge.bundle import sha256_file
from tgll_edge.runtime import load_model


def test_family_from_flags():
    f = cpufamily.family_from
    assert f("x86_64", {"avx2", "avx512bw", "avx512_vnni"}) == "x86_avx512_vnni"
    assert f("x86_64", {"avx2", "avx_vnni"}) == "x86_avx_vnni"
    assert f("x86_64", {"avx2", "avx512bw"}) == "x86_avx512"
    assert f("x86_64", {"avx2", "fma"}) == "x86_avx2"
    assert f("AMD64", set()) == "x86"
    assert f("aarch64", {"asimd", "asimddp"}) == "aarch64" and f("arm64", set()) == "aarch64"
    assert f("riscv64", set()) == "other"
    info = cpufamily.cpu_info()
    assert info["family"] in cpufamily.FAMILIES and cpufamily.cpu_family() == info["family"]


def _bundle(tmp_path, by_cpu):
    """fp32 and 'int8' artifacts (the same float model; the card is what is tested)."""
    out = make_bundle(tmp_path / "b")
    make_onnx(out / "model_int8.onnx")
    card = json.loads((out / "card.json").read_text())
    entry = dict(card["artifacts"]["onnx_fp32"], file="model_int8.onnx", precision="int8",
                 sha256=sha256_file(out / "model_int8.onnx"))
    if by_cpu is not None:
        entry["metrics_by_cpu"] = by_cpu
    card["artifacts"]["onnx_int8"] = entry
    card["default_artifact"] = "onnx_int8"
    (out / "card.json").write_text(json.dumps(card))
    return out


@pytest.fixture
def family(monkeypatch):
    monkeypatch.setattr(runtime, "_warned_cpu", set())

    def set_family(name):
        monkeypatch.setattr(cpufamily, "cpu_family", lambda: name)
    return set_family


def test_load_model_runs_the_int8_artifact_gated_on_this_family(tmp_path, family):
    family("x86_avx2")
    out = _bundle(tmp_path, {"x86_avx2": {"passes_gate": True}, "x86_avx512_vnni": {"passes_gate": True}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(out).artifact == "onnx_int8"


def test_load_model_falls_back_when_int8_failed_the_gate_on_this_family(tmp_path, family):
    family("x86_avx2")
    out = _bundle(tmp_path, {"x86_avx2": {"passes_gate": False}, "x86_avx512_vnni": {"passes_gate": True}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(out).artifact == "onnx_fp32"
        assert load_model(out, artifact="onnx_int8").artifact == "onnx_int8"  # named: as asked


def test_load_model_warns_once_when_the_card_has_no_result_for_this_family(tmp_path, family):
    family("aarch64")
    out = _bundle(tmp_path, {"x86_avx512_vnni": {"passes_gate": True}})
    with pytest.warns(RuntimeWarning, match=r"measured on x86_avx512_vnni, not on this CPU family \(aarch64\)"):
        assert load_model(out).artifact == "onnx_int8"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(out).artifact == "onnx_int8"  # once per process


def test_older_cards_say_the_family_in_metrics_or_warn(tmp_path, family):
    family("x86_avx2")
    out = _bundle(tmp_path, None)
    with pytest.warns(RuntimeWarning, match="an unrecorded family"):
        assert load_model(out).artifact == "onnx_int8"
    card = json.loads((out / "card.json").read_text())
    card["artifacts"]["onnx_int8"]["metrics"]["cpu_family"] = "x86_avx2"
    (out / "card.json").write_text(json.dumps(card))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_model(out).artifact == "onnx_int8"


def test_the_shipped_card_says_where_its_int8_metrics_were_measured():
    from tgll_edge.bundle import read_card
    card = read_card(runtime.default_bundle_dir())
    for key, a in card["artifacts"].items():
        assert a["metrics"]["cpu_family"] in cpufamily.FAMILIES
        if a["precision"] == "int8":
            # a Pi (aarch64) and x86 without VNNI run the shipped int8 files gated, each measured there
            assert {"aarch64", "x86_avx2"} <= set(a["metrics_by_cpu"]), key
            assert all(m["passes_gate"] for m in a["metrics_by_cpu"].values()), key
