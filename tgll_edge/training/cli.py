"""``tgll-train`` and ``tgll-eval``.

Bad arguments (unknown task/arch, a data directory that does not exist, a
task that does not fit the data) exit with status 2 and a usage message;
unreadable or malformed data exits with status 1 and a message naming the file.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from ..cli.args import probability
from .data import TASKS
from .protocol import ARCHS, SCHEDULES


def _cache_arg(args):
    return False if args.no_cache else (args.cache or None)


def _model_arg(text: str):
    """KEY=VALUE with VALUE parsed as JSON when it can be (width=16, levels=[1])."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _lead_set_mix(text: str) -> tuple[float, float]:
    """'0.35,0.45' -> (p_full, p_standard), both in [0, 1] and summing to at most 1."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected P_FULL,P_STANDARD, e.g. 0.35,0.45; got {text!r}")
    p_full, p_standard = (probability(x) for x in parts)
    if p_full + p_standard > 1.0:
        raise argparse.ArgumentTypeError(f"P_FULL + P_STANDARD must be <= 1; got {text}")
    return p_full, p_standard


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _add_data_options(p):
    p.add_argument("--cache", metavar="DIR", help="cache of preprocessed arrays (default ~/.cache/tgll_edge, "
                   "or $TGLL_EDGE_CACHE)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tgll-train",
        description="Train a model on PTB-XL or CPSC2018: folds 1-8 train, fold 9 selects the epoch and "
                    "the thresholds, fold 10 is evaluated once at the end.")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="PTB-XL root (with ptbxl_database.csv) or CPSC2018 directory")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--arch", required=True, choices=ARCHS)
    p.add_argument("--preset", help="architecture preset (tgllnet: paper, edge)")
    p.add_argument("--model-arg", action="append", default=[], type=_model_arg, metavar="KEY=VALUE",
                   help="extra build_model keyword (repeatable), e.g. width=16")
    p.add_argument("--out", required=True, metavar="DIR", help="checkpoint directory to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint in --out")
    p.add_argument("--epochs", type=_positive(int), default=30)
    p.add_argument("--batch-size", type=_positive(int), default=64)
    p.add_argument("--lr", type=_positive(float), default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=_positive(int), default=2, help="torch CPU threads (default 2)")
    p.add_argument("--schedule", choices=SCHEDULES, default="none",
                   help="learning-rate schedule over the whole run (default: constant)")
    p.add_argument("--patience", type=_positive(int), help="stop after N epochs without a better fold-9 AUC")
    p.add_argument("--augment", choices=("none", "noise"), default="none",
                   help="noise: wearable-like noise (baseline wander, EMG, powerline, motion; random type and "
                        "SNR 0-24 dB per window) on the training folds' batches; needs the [analysis] extra")
    p.add_argument("--augment-p-clean", type=probability, default=0.25, metavar="P",
                   help="with --augment noise: the share of training windows left clean (default 0.25)")
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="fine-tune: start from this checkpoint's weights (same model and data; e.g. a short "
                        "noise-aware run on top of a clean one). With --lead-sets it may be the same TGLLNet "
                        "trained on 12 leads: the lead-set model then starts with its exact 12-lead outputs")
    p.add_argument("--leads", metavar="LIST",
                   help="train on these leads only, e.g. I,II,V2 (a model with that many input channels)")
    p.add_argument("--lead-sets", action="store_true",
                   help="tgllnet: learn with random lead subsets (the standard sets 12/6/4/3/2/I/II and random "
                        "electrode-off masks); the model takes a lead mask and exports the graph as an input")
    p.add_argument("--lead-set-mix", type=_lead_set_mix, metavar="P_FULL,P_STANDARD",
                   help="--lead-sets: the share of training windows that see all 12 leads and one of the six "
                        "reduced standard sets; the rest get random electrode-off masks (default 0.35,0.45)")
    p.add_argument("--distill", metavar="CHECKPOINT",
                   help="--lead-sets: also learn the 12-lead outputs of this TGLLNet checkpoint (same data) "
                        "on every masked window: soft targets a reduced lead set can only approach")
    p.add_argument("--distill-weight", type=probability, default=0.5, metavar="W",
                   help="--distill: loss = (1 - W) * BCE(labels) + W * BCE(teacher's probabilities) "
                        "(default %(default)s)")
    p.add_argument("--per-lead-scaler", action="store_true",
                   help="standardise each lead separately (default: one global scaler, as the benchmark)")
    _add_data_options(p)
    return p


def _check_data(parser, path: str, task: str | None):
    from .data import dataset_kind

    try:
        kind = dataset_kind(path)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    if task is not None and (kind == "cpsc2018") != (task == "cpsc2018"):
        parser.error(f"--task {task} does not fit {path}, a {kind} directory")
    return kind


def _fail(prog: str, exc: Exception) -> int:
    print(f"{prog}: error: {exc}", file=sys.stderr)
    return 1


def train_main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = train_parser()
    args = parser.parse_args(argv)
    _check_data(parser, args.data, args.task)
    if args.preset is not None and args.arch != "tgllnet":
        parser.error(f"--preset applies to tgllnet only, not {args.arch}")
    leads = None
    if args.leads:
        from .leadsets import parse_leads
        try:
            leads = parse_leads(args.leads)
        except ValueError as exc:
            parser.error(str(exc))
    if args.lead_sets and (args.arch != "tgllnet" or leads):
        parser.error("--lead-sets needs --arch tgllnet and all 12 leads (no --leads)")
    if (args.lead_set_mix is not None or args.distill) and not args.lead_sets:
        parser.error("--lead-set-mix and --distill apply to --lead-sets training only")
    out = Path(args.out)
    if (out / "model.safetensors").exists() and not args.overwrite:
        parser.error(f"{out} already holds a checkpoint; pass --overwrite to replace it")

    from .data import load_dataset
    from .fit import train_run

    try:
        ds = load_dataset(args.data, args.task, cache_dir=_cache_arg(args), progress=not args.quiet)
        report = train_run(
            ds, args.arch, out, preset=args.preset, model_kwargs=dict(args.model_arg), epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads,
            per_lead_scaler=args.per_lead_scaler, schedule=args.schedule, patience=args.patience,
            command=shlex.join(["tgll-train", *argv]), progress=not args.quiet,
            augment=args.augment, augment_p_clean=args.augment_p_clean, init=args.init,
            leads=leads, lead_sets=args.lead_sets, lead_set_mix=args.lead_set_mix,
            distill=args.distill, distill_weight=args.distill_weight)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        return _fail("tgll-train", exc)
    val, test = report["val"], report["test"]
    print(f"{args.arch} on {args.task}: best epoch {report['best_epoch']}; "
          f"fold 9 macro-AUC {val['macro_auc']:.4f}; "
          f"fold 10 macro-AUC {test['macro_auc']:.4f} "
          f"[{test['macro_auc_ci95'][0]:.4f}, {test['macro_auc_ci95'][1]:.4f}], "
          f"Fmax {test['fmax']:.4f}, F1 {test['f1_at_thresholds']:.4f}")
    print(f"checkpoint written to {out}")
    return 0


def eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tgll-eval",
        description="Evaluate a tgll-train checkpoint on a fold of its data or on any PTB-XL / CPSC2018 "
                    "directory; prints a table and writes JSON.")
    p.add_argument("checkpoint", metavar="DIR")
    p.add_argument("--data", metavar="PATH", help="dataset directory (default: the one it was trained on)")
    p.add_argument("--task", choices=TASKS, help="labels to read from --data (default: the model's task, or "
                   "cpsc2018 for a CPSC2018 directory); scored on the labels shared with the model")
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--fold", type=int, choices=range(1, 11), metavar="N",
                     help="evaluate fold N (default: 10 on the training data, every record elsewhere)")
    sel.add_argument("--all", action="store_true", help="evaluate every record")
    p.add_argument("--json", metavar="FILE", help="where to write the JSON (default DIR/eval_<data>_<sel>.json)")
    p.add_argument("--batch-size", type=_positive(int), default=256)
    p.add_argument("--threads", type=_positive(int), default=2)
    p.add_argument("--n-boot", type=_positive(int), default=1000, help="bootstrap resamples for the CI")
    _add_data_options(p)
    return p


def evaluate_checkpoint(directory, data=None, task=None, fold=None, all_records=False, cache_dir=None,
                        batch_size=256, n_boot=1000, progress=True) -> dict:
    """Evaluate a checkpoint; returns a report (metrics.evaluation_report plus what was evaluated)."""
    from . import metrics
    from .checkpoint import load_checkpoint
    from .data import dataset_kind, load_dataset
    from .fit import predict_proba
    from .protocol import TEST_FOLD
    from tgll_edge.signal import StandardScaler

    model, config = load_checkpoint(directory)
    trained_on = config.get("data", {}).get("path")
    data = str(Path(data).expanduser().resolve()) if data else trained_on
    if not data:
        raise ValueError(f"{directory}: config.json names no training data; pass --data")
    kind = dataset_kind(data)
    if task is None:
        task = config["task"] if (kind == "cpsc2018") == (config["task"] == "cpsc2018") else \
            ("cpsc2018" if kind == "cpsc2018" else "all")
    if fold is None and not all_records:
        fold = TEST_FOLD if data == trained_on else None
    ds = load_dataset(data, task, preprocessing=config["preprocessing"], cache_dir=cache_dir, progress=progress)
    if ds.n_times != int(config["n_times"]) or float(ds.fs) != float(config["fs"]):
        raise ValueError(f"{data}: windows of {ds.n_times} samples at {ds.fs} Hz, model expects "
                         f"{config['n_times']} at {config['fs']} Hz")
    if fold is not None:
        ds = ds.fold(fold)
        if len(ds) == 0:
            raise ValueError(f"{data}: no record in fold {fold}")
    labels = [lab for lab in config["labels"] if lab in ds.labels]
    if not labels:
        raise ValueError(f"the model's labels {config['labels']} and the labels of {data} ({task}: "
                         f"{ds.labels}) have nothing in common")
    scaler = StandardScaler.from_dict(config["scaler"])
    p = predict_proba(model, scaler.transform(ds.X), batch_size)
    cols = [config["labels"].index(lab) for lab in labels]
    y = ds.Y[:, [ds.labels.index(lab) for lab in labels]]
    thresholds = np.array([config["thresholds"][lab] for lab in labels])
    report = metrics.evaluation_report(y, p[:, cols], labels, thresholds, n_boot=n_boot)
    return {"checkpoint": str(directory), "data": data, "dataset": ds.dataset, "task": task,
            "selection": f"fold {fold}" if fold is not None else "all", "labels": labels,
            "thresholds": dict(zip(labels, thresholds.tolist())), **report}


def format_table(report: dict) -> str:
    fmt = lambda v: "   -  " if v is None else f"{v:.4f}"  # noqa: E731
    width = max(8, *(len(lab) for lab in report["labels"]))
    lines = [f"{report['checkpoint']} on {report['data']} ({report['task']}, {report['selection']}, "
             f"{report['n_records']} records)",
             f"{'label':<{width}}  {'n_pos':>5}  {'AUC':>6}  {'F1@thr':>6}  {'thr':>6}"]
    for lab in report["labels"]:
        lines.append(f"{lab:<{width}}  {report['n_positive'][lab]:>5}  {fmt(report['per_class_auc'][lab]):>6}  "
                     f"{fmt(report['per_class_f1'][lab]):>6}  {report['thresholds'][lab]:>6.3f}")
    lo, hi = report["macro_auc_ci95"]
    lines += [f"macro-AUC {report['macro_auc']:.4f}  (95% CI {lo:.4f}-{hi:.4f})",
              f"Fmax {report['fmax']:.4f}   macro-F1 at fold-9 thresholds {fmt(report['f1_at_thresholds'])}"]
    return "\n".join(lines)


def eval_main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = eval_parser()
    args = parser.parse_args(argv)
    if not Path(args.checkpoint).is_dir():
        parser.error(f"{args.checkpoint}: checkpoint directory not found")
    if args.data is not None:
        _check_data(parser, args.data, args.task)

    import torch
    from .checkpoint import write_json

    torch.set_num_threads(args.threads)
    try:
        report = evaluate_checkpoint(args.checkpoint, args.data, args.task, args.fold, args.all,
                                     _cache_arg(args), args.batch_size, args.n_boot, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as exc:
        return _fail("tgll-eval", exc)
    print(format_table(report))
    if args.json:
        out = Path(args.json)
    else:
        sel = report["selection"].replace(" ", "")
        out = Path(args.checkpoint) / f"eval_{Path(report['data']).name}_{sel}.json"
    write_json(out, report)
    print(f"JSON written to {out}")
    return 0
