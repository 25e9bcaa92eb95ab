"""A model bundle: model files plus ``card.json``, the card that describes them.

The card is everything the runtime needs (labels, fs, window, lead order,
scaler, preprocessing, thresholds) and what each model file was measured to do
on real data. Files are listed with their sha256 so a gateway refuses a
tampered or truncated model before it ever runs it. numpy only, no torch.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import BundleError
from .signal.leads import LEADS_12
from .signal.preprocess import validate_settings
from .signal.scaler import StandardScaler

SCHEMA = 1
CARD_FILE = "card.json"
#: Model file formats (each also the file suffix), in order of preference.
FORMATS = ("onnx", "tflite")
#: Precisions of a model file, in order of preference.
PRECISIONS = ("int8", "fp32")


def artifact_key(fmt: str, precision: str) -> str:
    """The card's name for a model file: ``onnx_int8``, ``tflite_fp32``, ..."""
    return f"{fmt}_{precision}"


#: Artifact keys in order of preference for the default (smallest, fastest first):
#: onnx_int8, onnx_fp32, tflite_int8, tflite_fp32.
ARTIFACT_KEYS = tuple(artifact_key(fmt, precision) for fmt in FORMATS for precision in PRECISIONS)
ATTRIBUTION = ("PTB-XL, a large publicly available electrocardiography dataset "
               "(Wagner et al., 2020), PhysioNet, CC BY 4.0")

_REQUIRED = ("schema", "name", "task", "labels", "fs", "n_times", "leads", "input", "scaler",
             "preprocessing", "output", "thresholds", "artifacts", "default_artifact", "provenance")
_ARTIFACT_REQUIRED = ("file", "sha256", "bytes", "format", "precision", "metrics")
_METRICS_REQUIRED = ("val_macro_auc", "test_macro_auc", "max_abs_prob_diff")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_entry(path: str | Path, fmt: str, precision: str, metrics: dict, **extra) -> dict:
    """A card entry for a model file: name, size, sha256, measured metrics, details."""
    path = Path(path)
    entry = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
             "format": fmt, "precision": precision, "metrics": dict(metrics)}
    entry.update(extra)
    return entry


def validate_card(card: dict, where: str = "card") -> dict:
    """Check the card's schema and internal consistency; raise BundleError naming the problem."""
    if not isinstance(card, dict):
        raise BundleError(f"{where}: expected a JSON object, got {type(card).__name__}")
    missing = [k for k in _REQUIRED if k not in card]
    if missing:
        raise BundleError(f"{where}: missing key(s) {', '.join(missing)}")
    if card["schema"] != SCHEMA:
        raise BundleError(f"{where}: schema {card['schema']!r} is not supported (this runtime reads schema {SCHEMA})")
    labels = card["labels"]
    if not (isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels)):
        raise BundleError(f"{where}: 'labels' must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{where}: duplicate labels {labels}")
    if list(card["leads"]) != list(LEADS_12):
        raise BundleError(f"{where}: 'leads' must be the 12 leads in PTB-XL order {list(LEADS_12)}; "
                          f"got {card['leads']}")
    for key in ("fs", "n_times"):
        if not isinstance(card[key], (int, float)) or card[key] <= 0:
            raise BundleError(f"{where}: '{key}' must be a positive number; got {card[key]!r}")
    if card["output"] not in ("logits", "probabilities"):
        raise BundleError(f"{where}: 'output' must be 'logits' or 'probabilities'; got {card['output']!r}")
    thresholds = card["thresholds"]
    if not isinstance(thresholds, dict) or set(thresholds) != set(labels):
        raise BundleError(f"{where}: 'thresholds' must give one value per label {labels}")
    try:
        scaler = StandardScaler.from_dict(card["scaler"])
        settings = validate_settings(card["preprocessing"])
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from exc
    if scaler.mean.ndim == 1 and scaler.mean.shape[0] != len(LEADS_12):
        raise BundleError(f"{where}: per-lead scaler needs 12 values; got {scaler.mean.shape[0]}")
    if float(settings["fs"]) != float(card["fs"]):
        raise BundleError(f"{where}: preprocessing fs {settings['fs']} differs from card fs {card['fs']}")
    artifacts = card["artifacts"]
    if not isinstance(artifacts, dict) or not artifacts:
        raise BundleError(f"{where}: 'artifacts' must list at least one model file")
    for key, entry in artifacts.items():
        if key not in ARTIFACT_KEYS:
            raise BundleError(f"{where}: unknown artifact {key!r}; known: {', '.join(ARTIFACT_KEYS)}")
        gone = [k for k in _ARTIFACT_REQUIRED if k not in entry]
        if gone:
            raise BundleError(f"{where}: artifact {key} misses {', '.join(gone)}")
        if entry["format"] != key.split("_")[0] or entry["precision"] != key.split("_")[1]:
            raise BundleError(f"{where}: artifact {key} says format={entry['format']} precision={entry['precision']}")
        if Path(entry["file"]).name != entry["file"]:
            raise BundleError(f"{where}: artifact {key} file {entry['file']!r} must be a plain file name in the bundle")
        gone = [k for k in _METRICS_REQUIRED if k not in entry["metrics"]]
        if gone:
            raise BundleError(f"{where}: artifact {key} metrics miss {', '.join(gone)}")
    if card["default_artifact"] not in artifacts:
        raise BundleError(f"{where}: default_artifact {card['default_artifact']!r} is not among {sorted(artifacts)}")
    return card


def read_card(bundle_dir: str | Path) -> dict:
    """Read and validate ``bundle_dir/card.json``."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / CARD_FILE
    if not bundle_dir.is_dir():
        raise BundleError(f"model bundle {bundle_dir} does not exist or is not a directory")
    if not path.is_file():
        raise BundleError(f"model bundle {bundle_dir} has no {CARD_FILE}")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    except OSError as exc:  # permission denied, an I/O error
        raise BundleError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return validate_card(card, where=str(path))


def write_card(bundle_dir: str | Path, card: dict) -> Path:
    """Validate and write the card (files it lists must already be in the bundle)."""
    validate_card(card)
    path = Path(bundle_dir) / CARD_FILE
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def verify_artifact(bundle_dir: str | Path, card: dict, artifact: str) -> Path:
    """Path of the artifact's file after checking its size and sha256 against the card."""
    if artifact not in card["artifacts"]:
        raise BundleError(f"bundle {bundle_dir} has no artifact {artifact!r}; "
                          f"available: {', '.join(sorted(card['artifacts']))}")
    return verify_file(bundle_dir, card["artifacts"][artifact])


def verify_file(bundle_dir: str | Path, entry: dict) -> Path:
    """Path of a card-listed model file (``entry``: file, bytes, sha256) after checking it."""
    path = Path(bundle_dir) / entry["file"]
    if not path.is_file():
        raise BundleError(f"model file {path} listed in the card is missing")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise BundleError(f"model file {path} has {size} bytes but the card says {entry['bytes']}: "
                          "truncated or replaced; refusing to load it")
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise BundleError(f"model file {path}: cannot read it ({exc.strerror or exc})") from None
    if digest != entry["sha256"]:
        raise BundleError(f"model file {path} fails its sha256 check (card {entry['sha256'][:16]}..., "
                          f"file {digest[:16]}...): altered or corrupted; refusing to load it")
    return path
