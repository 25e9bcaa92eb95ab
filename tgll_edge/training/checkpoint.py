"""The checkpoint directory written by ``tgll-train``.

::

    DIR/model.safetensors   state_dict of build_model(**config["model"]) (no pickle)
    DIR/config.json         model config, task, labels, fs, n_times, leads, scaler,
                            preprocessing, thresholds (fold 9), data, train, command, version, date
    DIR/metrics.json        {"task", "labels", "val": report, "test": report, "best_epoch", "history"};
                            report = metrics.evaluation_report (fold 9 / fold 10)
    DIR/adjacency.json      {"leads": [...], "levels": [12x12 lists]}   (models with .adjacency())
    DIR/adjacency.png       the same as labelled heatmaps
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.json"
ADJACENCY_JSON = "adjacency.json"
ADJACENCY_PNG = "adjacency.png"
REQUIRED_CONFIG = ("model", "task", "labels", "fs", "n_times", "leads", "scaler", "preprocessing", "thresholds")


def _clean(obj):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(path, obj) -> None:
    Path(path).write_text(json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n")


def read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def save_checkpoint(directory, model: torch.nn.Module, config: dict) -> Path:
    """Write the weights and config.json (metrics and adjacency are written by the caller)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    missing = [k for k in REQUIRED_CONFIG if k not in config]
    if missing:
        raise ValueError(f"checkpoint config lacks {', '.join(missing)}")
    # clone: safetensors refuses tensors that share memory
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS), metadata={"format": "pt"})
    write_json(directory / CONFIG, config)
    return directory


def load_checkpoint(directory) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode, config) from a checkpoint directory; errors name the file."""
    from .models import build_model

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: checkpoint directory not found")
    config = read_json(directory / CONFIG)
    missing = [k for k in REQUIRED_CONFIG if k not in config]
    if missing:
        raise ValueError(f"{directory / CONFIG}: missing key(s) {', '.join(missing)}")
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: file not found")
    try:
        model = build_model(**config["model"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{directory / CONFIG}: cannot build the model from {config['model']} ({exc})") from exc
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{weights}: not a readable safetensors file ({exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{weights}: weights do not fit the model in {directory / CONFIG} ({exc})") from exc
    return model.eval(), config
