import copy
import json

import pytest

from bundle_factory import make_bundle
from tgll_edge.bundle import BundleError, read_card, sha256_file, validate_card, verify_artifact, write_card


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(tmp_path / "b")


def test_card_round_trip_and_sha(bundle):
    card = read_card(bundle)
    entry = card["artifacts"]["onnx_fp32"]
    assert entry["sha256"] == sha256_file(bundle / entry["file"])
    assert entry["bytes"] == (bundle / entry["file"]).stat().st_size
    assert verify_artifact(bundle, card, "onnx_fp32") == bundle / entry["file"]
    assert card["schema"] == 1 and card["leads"][0] == "I" and len(card["leads"]) == 12


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.pop("labels"), "missing key"),
    (lambda c: c.update(schema=2), "schema 2"),
    (lambda c: c.update(leads=c["leads"][::-1]), "PTB-XL order"),
    (lambda c: c.update(output="scores"), "output"),
    (lambda c: c["thresholds"].pop("MI"), "thresholds"),
    (lambda c: c.update(scaler={"mean": 0.0, "std": 0.0}), "std > 0"),
    (lambda c: c.update(default_artifact="tflite_int8"), "default_artifact"),
    (lambda c: c["artifacts"]["onnx_fp32"].update(file="../x.onnx"), "plain file name"),
    (lambda c: c["artifacts"]["onnx_fp32"]["metrics"].pop("test_macro_auc"), "test_macro_auc"),
    (lambda c: c["preprocessing"].update(fs=250), "differs from card fs"),
])
def test_bad_cards_are_refused_with_reason(bundle, mutate, message):
    card = copy.deepcopy(read_card(bundle))
    mutate(card)
    with pytest.raises(BundleError, match=message):
        validate_card(card)
    (bundle / "card.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match=message):
        read_card(bundle)


def test_missing_and_unparsable_card(tmp_path, bundle):
    with pytest.raises(BundleError, match="does not exist"):
        read_card(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="no card.json"):
        read_card(tmp_path / "empty")
    (bundle / "card.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_card(bundle)


def test_tampered_file_is_refused(bundle):
    card = read_card(bundle)
    path = bundle / card["artifacts"]["onnx_fp32"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model_fp32.onnx fails its sha256 check"):
        verify_artifact(bundle, card, "onnx_fp32")


def test_truncated_or_missing_file_is_refused(bundle):
    card = read_card(bundle)
    path = bundle / card["artifacts"]["onnx_fp32"]["file"]
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BundleError, match="model_fp32.onnx has .* bytes but the card says"):
        verify_artifact(bundle, card, "onnx_fp32")
    path.unlink()
    with pytest.raises(BundleError, match="missing"):
        verify_artifact(bundle, card, "onnx_fp32")
    with pytest.raises(BundleError, match="no artifact 'tflite_int8'"):
        verify_artifact(bundle, card, "tflite_int8")


def test_write_card_validates(bundle):
    card = read_card(bundle)
    card["labels"] = []
    with pytest.raises(BundleError):
        write_card(bundle, card)
