"""tgll-export --requantize: a bundle's int8 ONNX made again from its own fp32 ONNX.

    tgll-export models/x --requantize --out models/x-rq [--data ../shared/data/ptb-xl]

For a bundle whose checkpoint is gone, or whose int8 recipe has changed (e.g.
``reduce_range``, so that the file computes the same on every CPU family), the
fp32 ONNX file is the model: its int8 twin is rebuilt from it with the current
``quantize.ONNX_RECIPES``, through the same gate as a checkpoint's export, with
the bundle's onnx_fp32 as the reference (the export checked it against torch,
within ``export.FP32_TOLERANCE``). Everything else in the bundle is copied
unchanged; the card's onnx_int8 entry is replaced, and the card's provenance
records the command. TFLite int8 needs the torch model (PT2E), so it is kept as
it was.
"""
from __future__ import annotations

import datetime as _dt
import shutil
from pathlib import Path

import numpy as np

from ..bundle import ARTIFACT_KEYS, read_card, verify_artifact, write_card
from ..errors import ExportError
from . import quantize
from .export import Gate, _say, backend_predict, load_eval_data, reference, try_recipes
from .stream_split import add_stream_splits

KEY = "onnx_int8"


def requantize_bundle(bundle: str | Path, out: str | Path, data_path: str | None, *, calib_windows: int = 256,
                      max_auc_drop: float, max_flip_rate: float, command: str,
                      recipes=quantize.ONNX_RECIPES, split_only: bool = False) -> dict:
    """Copy ``bundle`` to ``out`` (or work in place when they are the same directory) with a new
    onnx_int8 and the streaming split of its ONNX files (``tgll-export --stream-split``:
    ``split_only``, the split only); returns {"card", "failures"} as ``export_bundle``."""
    bundle, out = Path(bundle), Path(out)
    card = read_card(bundle)
    fp32 = verify_artifact(bundle, card, "onnx_fp32")  # a tampered fp32 file is refused here
    if card.get("model", {}).get("lead_sets") and not split_only:
        raise ExportError("--requantize handles fixed-graph bundles; a lead-set bundle is exported from its checkpoint")
    if out.resolve() != bundle.resolve():
        if out.exists() and any(out.iterdir()):
            raise ExportError(f"{out} exists and is not empty; choose a new --out (or the bundle itself to "
                              "replace its int8 file in place)")
        shutil.copytree(bundle, out, dirs_exist_ok=True)
    labels = list(card["labels"])
    config = {"task": card["task"], "labels": labels, "scaler": card["scaler"],
              "preprocessing": card["preprocessing"], "data": dict(card["provenance"].get("data") or {})}
    _say("loading evaluation data (folds 9, 10; calibration from training folds)")
    data = load_eval_data(config, data_path, calib_windows)
    failures, what = [], "stream split"
    if not split_only:
        what = _requantize(card, out, fp32, data, labels, max_auc_drop, max_flip_rate, recipes, failures)
    add_stream_splits(out, card["artifacts"], *split_check_inputs(card, data.x_val[:64]))
    card["provenance"].setdefault("requantized", []).append(
        {"artifact": KEY if not split_only else "stream split", "command": command, "passed": not failures,
         "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    write_card(out, card)
    _say(f"wrote {out / 'card.json'} ({what})")
    return {"card": card, "failures": failures}


def split_check_inputs(card: dict, x):
    """Windows (and a lead-set bundle's lead_mask and cheb: half all 12 leads, half I, II, V2)
    to check a streaming split on, built as the runtime builds them."""
    if not card.get("lead_graph"):
        return x, None
    from ..signal.leadgraph import BasisCache
    from .leadsets import standard_masks

    basis = BasisCache(card["lead_graph"]["adjacency"], int(card["lead_graph"]["cheb_k"]))
    masks = np.stack([standard_masks()["12" if i < len(x) // 2 else "3"] for i in range(len(x))]).astype(np.float32)
    cheb = np.stack([basis(m) for m in masks]).astype(np.float32)
    return np.where(masks[:, :, None] > 0, x, 0).astype(np.float32), {"lead_mask": masks, "cheb": cheb}


def _requantize(card: dict, out: Path, fp32: Path, data, labels, max_auc_drop, max_flip_rate, recipes,
                failures: list) -> str:
    """Replace the card's onnx_int8 by one rebuilt from ``fp32`` through the gate."""
    thresholds = [float(card["thresholds"][lab]) for lab in labels]
    ref = reference(backend_predict(out / fp32.name), data, labels, "onnx_fp32")
    gate = Gate(ref, data, labels, thresholds, max_auc_drop, max_flip_rate,
                reference_name="onnx_fp32 (the bundle's; equal to torch fp32 within the export's tolerance)")
    for part in (card["artifacts"].get(KEY, {}).get("stream") or {}).values():  # the old file's split
        if isinstance(part, dict) and "file" in part:
            (out / part["file"]).unlink(missing_ok=True)
    entry, attempts = try_recipes(None, "onnx", out, recipes, gate)
    if entry is None:
        failures.append({"artifact": KEY, "attempts": attempts})
        card["artifacts"].pop(KEY, None)
    else:
        card["artifacts"][KEY] = entry
    if card["default_artifact"] not in card["artifacts"]:
        card["default_artifact"] = next(k for k in ARTIFACT_KEYS if k in card["artifacts"])
    return f"{KEY}: {'recipe ' + entry['quantization']['recipe'] if entry else 'FAILED'}"
