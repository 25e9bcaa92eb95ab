"""Training under the PTB-XL benchmark protocol.

Folds 1-8 train; fold 9 selects the epoch (best macro AUC) and the per-class
thresholds (best F1 each); fold 10 is predicted once, at the end, with the
selected weights. Loss BCE-with-logits, Adam, additive Gaussian noise
(sigma 0.1) on the standardised input (the paper's code). The global standard
scaler (the benchmark's; ``per_lead`` optional) is fitted on folds 1-8 only.

Speed on a small CPU: everything is in memory as contiguous (N, 12, T)
tensors, no DataLoader workers, ``torch.set_num_threads(threads)``, and
evaluation runs in batches under ``torch.inference_mode()``.
"""
from __future__ import annotations

import datetime as _dt
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tgll_edge.signal import StandardScaler

from . import checkpoint, metrics
from .data import EcgDataset
from .protocol import SCHEDULES, TEST_FOLD, TRAIN_FOLDS, VAL_FOLD


def fit_scaler(ds: EcgDataset, per_lead: bool = False) -> StandardScaler:
    """The standard scaler, fitted on the training folds only."""
    train = ds.folds <= max(TRAIN_FOLDS)
    if not train.any():
        raise ValueError("no record in training folds 1-8")
    return StandardScaler.fit(ds.X[train], per_lead=per_lead)


def set_seed(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return torch.Generator().manual_seed(seed)


def predict_proba(model: nn.Module, X, batch_size: int = 256, lead_mask=None) -> np.ndarray:
    """Sigmoid probabilities (N, C) of standardised inputs, in batches, eval mode.
    ``lead_mask`` (leads,): a lead-set model's mask for every window (issue 9)."""
    X = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32)
    mask = None if lead_mask is None else torch.as_tensor(np.asarray(lead_mask, np.float32))
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(X), batch_size):
            xb = X[i:i + batch_size]
            args = () if mask is None else (mask.expand(len(xb), -1),)
            out.append(torch.sigmoid(model(xb, *args)).numpy())
    return np.concatenate(out) if out else np.zeros((0, getattr(model, "n_outputs", 0)), np.float32)


def _predict_mixed_sets(model: nn.Module, X, batch_size: int) -> np.ndarray:
    from .leadsets import standard_masks
    masks = np.stack(list(standard_masks().values()))
    m = torch.as_tensor(masks[np.arange(len(X)) % len(masks)])
    X = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32)
    model.eval()
    with torch.inference_mode():
        return np.concatenate([torch.sigmoid(model(X[i:i + batch_size], m[i:i + batch_size])).numpy()
                               for i in range(0, len(X), batch_size)])


@dataclass
class FitResult:
    best_epoch: int
    best_val_auc: float
    history: list = field(default_factory=list)
    train_seconds: float = 0.0


def _scheduler(kind: str, opt, lr: float, total_steps: int):
    if kind == "none":
        return None
    if kind == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total_steps, 1))
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    raise ValueError(f"unknown schedule {kind!r}; choose from {', '.join(SCHEDULES)}")


def fit(model: nn.Module, X_train, Y_train, X_val, Y_val, *, epochs: int = 30, batch_size: int = 64,
        lr: float = 1e-3, seed: int = 0, threads: int = 2, noise_sigma: float = 0.1, schedule: str = "none",
        weight_decay: float = 0.0, patience: int | None = None, progress: bool = True,
        augment=None, lead_sampler=None, teacher=None, distill_weight: float = 0.5) -> FitResult:
    """Train ``model`` in place; on return it holds the weights of the best fold-9 epoch.

    ``X_*`` are standardised (N, leads, T) float32 arrays, ``Y_*`` (N, C) 0/1.
    ``patience``: stop after that many epochs without a better validation AUC.
    ``augment``: a callable on each training batch (numpy ``(B, leads, T)`` -> same), e.g.
    ``augment.NoiseAugmenter``; the validation windows stay clean.
    ``lead_sampler``: lead-set training (issue 9), a callable batch size -> masks (B, leads)
    passed to ``model(x, mask)``; the epoch is then selected on the fold-9 macro-AUC with
    window i under standard set i mod 7 (``leadsets.STANDARD_SETS``): every set weighs in,
    at the cost of one pass over fold 9 (7 passes would add about a third to each epoch).
    ``teacher``: with ``lead_sampler``, a frozen 12-lead model; its probabilities on the whole
    (augmented) window are soft targets for the masked one, weighted ``distill_weight``.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0 or threads < 1:
        raise ValueError(f"epochs, batch_size, threads must be >= 1 and lr > 0; got "
                         f"{epochs}, {batch_size}, {threads}, {lr}")
    torch.set_num_threads(threads)
    gen = set_seed(seed)
    Xt = torch.from_numpy(np.ascontiguousarray(X_train, dtype=np.float32))
    Yt = torch.from_numpy(np.ascontiguousarray(Y_train, dtype=np.float32))
    X_val = np.ascontiguousarray(X_val, dtype=np.float32)
    n = len(Xt)
    # a final batch of one would break BatchNorm in training mode: drop it
    n_batches = n // batch_size + (1 if n % batch_size > 1 else 0)
    if n_batches == 0:
        raise ValueError(f"{n} training records: too few for batch size {batch_size}")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = _scheduler(schedule, opt, lr, epochs * n_batches)
    loss_fn = nn.BCEWithLogitsLoss()

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=epochs * n_batches, file=sys.stderr, unit="batch", dynamic_ncols=True)
    best_auc, best_epoch, best_state, history, stale = -math.inf, 0, None, [], 0
    start = time.perf_counter()
    val_auc = float("nan")
    for epoch in range(1, epochs + 1):
        model.train()
        t_epoch = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            xb = Xt[idx]
            if augment is not None:
                xb = torch.from_numpy(augment(xb.numpy()))
            if noise_sigma > 0:
                xb = xb + noise_sigma * torch.randn(xb.shape, generator=gen)
            if lead_sampler is not None:
                logits = model(xb, torch.from_numpy(lead_sampler(len(idx))))
                loss = loss_fn(logits, Yt[idx])
                if teacher is not None:
                    with torch.no_grad():
                        soft = torch.sigmoid(teacher(xb))
                    loss = (1 - distill_weight) * loss + distill_weight * loss_fn(logits, soft)
            else:
                loss = loss_fn(model(xb), Yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            loss_sum += loss.item()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / (b + 1):.4f}", val_auc=f"{val_auc:.4f}")
        train_s = time.perf_counter() - t_epoch
        if lead_sampler is not None:  # one pass: window i under standard set i mod 7 (all sets, 1x cost)
            val_auc = metrics.macro_auc(Y_val, _predict_mixed_sets(model, X_val, max(batch_size, 256)))
        else:
            val_auc = metrics.macro_auc(Y_val, predict_proba(model, X_val, max(batch_size, 256)))
        history.append({"epoch": epoch, "train_loss": loss_sum / n_batches, "val_macro_auc": val_auc,
                        "epoch_seconds": time.perf_counter() - t_epoch, "train_seconds": train_s,
                        **({"val_selection": "standard lead sets mixed"} if lead_sampler is not None else {})})
        if bar is not None:
            bar.set_postfix(epoch=epoch, loss=f"{loss_sum / n_batches:.4f}", val_auc=f"{val_auc:.4f}")
        if val_auc > best_auc:
            best_auc, best_epoch, stale = val_auc, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if patience is not None and stale >= patience:
                break
    if bar is not None:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch=best_epoch, best_val_auc=best_auc, history=history,
                     train_seconds=time.perf_counter() - start)



def _is_12_lead_of(init_model: dict, lead_set_model: dict) -> bool:
    """True when ``init_model`` is the same TGLLNet as ``lead_set_model`` without lead-set mode."""
    return {k: v for k, v in lead_set_model.items() if k != "lead_sets"} == init_model


def _mix_kwargs(lead_set_mix) -> dict:
    return {} if lead_set_mix is None else {"p_full": lead_set_mix[0], "p_standard": lead_set_mix[1]}


def warm_start_lead_sets(model, start) -> None:
    """Start a lead-set TGLLNet from a 12-lead one (``--lead-sets --init``): every shared weight is
    copied and the mask embedding starts at zero, so on the full 12-lead set the new model begins
    with exactly the old one's outputs and lead-set training only has to add the reduced sets."""
    import torch

    missing, unexpected = model.load_state_dict(start.state_dict(), strict=False)
    if unexpected or any(not k.startswith("mask_embedding.") for k in missing):
        raise ValueError(f"--init: weights do not fit the lead-set model (missing {missing}, unexpected {unexpected})")
    with torch.no_grad():
        model.mask_embedding.weight.zero_()
        model.mask_embedding.bias.zero_()

def train_run(ds: EcgDataset, arch: str, out, *, preset: str | None = None, model_kwargs: dict | None = None,
              epochs: int = 30, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, threads: int = 2,
              per_lead_scaler: bool = False, schedule: str = "none", patience: int | None = None,
              noise_sigma: float = 0.1, n_boot: int = 1000, command: str = "", progress: bool = True,
              augment: str = "none", augment_p_clean: float = 0.25, leads=None,
              lead_sets: bool = False, init=None, lead_set_mix=None, distill=None,
              distill_weight: float = 0.5) -> dict:
    """Train one model on ``ds`` and write the checkpoint directory ``out``; returns metrics.json's dict.

    ``leads``: train on these leads only (a model of ``len(leads)`` input channels, e.g. the
    resnet1d_wang per-lead-set baselines of issue 9). ``lead_sets``: TGLLNet learns with random
    lead subsets (``leadsets.LeadSetSampler``, ``lead_set_mix`` = (p_full, p_standard)) and
    metrics.json gets per-set fold-9/10 AUCs. ``distill``: a 12-lead TGLLNet checkpoint whose
    outputs on the unmasked window are soft targets for the masked one (weight ``distill_weight``)."""
    from tgll_edge import __version__
    from .leadsets import P_FULL, P_STANDARD, LeadSetSampler, standard_masks
    from .models import build_model

    if leads:
        import dataclasses
        idx = [list(ds.leads).index(name) for name in leads]
        ds = dataclasses.replace(ds, X=np.ascontiguousarray(ds.X[:, idx]), leads=tuple(ds.leads[i] for i in idx))
    if lead_sets:
        if arch != "tgllnet" or ds.X.shape[1] != 12:
            raise ValueError("--lead-sets needs --arch tgllnet on all 12 leads")
        model_kwargs = {**(model_kwargs or {}), "lead_sets": True}
    val, test = ds.fold(VAL_FOLD), ds.fold(TEST_FOLD)
    train = ds.fold(*TRAIN_FOLDS)
    for name, part in (("training folds 1-8", train), (f"validation fold {VAL_FOLD}", val),
                       (f"test fold {TEST_FOLD}", test)):
        if len(part) == 0:
            raise ValueError(f"{ds.path}: no record in the {name}")
    scaler = fit_scaler(ds, per_lead=per_lead_scaler)
    model = build_model(arch, n_leads=ds.X.shape[1], n_times=ds.n_times, sfreq=ds.fs,
                        n_outputs=len(ds.labels), preset=preset, **(model_kwargs or {}))
    if init is not None:  # fine-tune: start from a checkpoint of the same model on the same data
        start, init_config = checkpoint.load_checkpoint(init)
        if init_config["scaler"] != scaler.to_dict() or list(init_config["labels"]) != list(ds.labels):
            raise ValueError(f"--init {init}: trained with another scaler or labels than this data gives")
        if init_config["model"] == model.config():
            model = start.train()
        elif lead_sets and _is_12_lead_of(init_config["model"], model.config()):
            warm_start_lead_sets(model, start)
        else:
            raise ValueError(f"--init {init}: its model {init_config['model']} is not the one asked for "
                             f"({model.config()})")
    teacher = None
    if distill is not None:
        if not lead_sets:
            raise ValueError("distill applies to lead-set training only")
        teacher, teacher_config = checkpoint.load_checkpoint(distill)
        if teacher_config["scaler"] != scaler.to_dict() or list(teacher_config["labels"]) != list(ds.labels):
            raise ValueError(f"--distill {distill}: trained with another scaler or labels than this data gives")
        teacher.eval()
    augmenter = None
    if augment == "noise":  # issue 14: wearable-like noise on the training folds' batches only
        from .augment import NoiseAugmenter
        augmenter = NoiseAugmenter(ds.preprocessing, ds.X.shape[1], ds.n_times, seed=seed,
                                   p_clean=augment_p_clean)
    elif augment != "none":
        raise ValueError(f"unknown augment {augment!r}; choose none or noise")
    result = fit(model, scaler.transform(train.X), train.Y, scaler.transform(val.X), val.Y, epochs=epochs,
                 batch_size=batch_size, lr=lr, seed=seed, threads=threads, noise_sigma=noise_sigma,
                 schedule=schedule, patience=patience, progress=progress, augment=augmenter,
                 lead_sampler=LeadSetSampler(seed=seed, **_mix_kwargs(lead_set_mix)) if lead_sets else None,
                 teacher=teacher, distill_weight=distill_weight)

    p_val = predict_proba(model, scaler.transform(val.X))
    thresholds = metrics.choose_thresholds(val.Y, p_val)
    p_test = predict_proba(model, scaler.transform(test.X))  # the one look at fold 10
    report = {
        "task": ds.task, "labels": list(ds.labels), "best_epoch": result.best_epoch,
        "val": {"fold": VAL_FOLD, **metrics.evaluation_report(val.Y, p_val, ds.labels, thresholds, n_boot)},
        "test": {"fold": TEST_FOLD, **metrics.evaluation_report(test.Y, p_test, ds.labels, thresholds, n_boot)},
        "history": result.history,
    }
    if lead_sets:  # per standard set: the set's mask on every window (thresholds: the 12-lead ones)
        report["lead_sets"] = {}
        for name, m in standard_masks(ds.leads).items():
            pv = predict_proba(model, scaler.transform(val.X), lead_mask=m)
            pt = predict_proba(model, scaler.transform(test.X), lead_mask=m)
            report["lead_sets"][name] = {"leads": [ds.leads[i] for i in np.flatnonzero(m)],
                                         "val_macro_auc": metrics.macro_auc(val.Y, pv),
                                         "test_macro_auc": metrics.macro_auc(test.Y, pt)}
    config = {
        "model": model.config(), "task": ds.task, "labels": list(ds.labels), "fs": ds.fs,
        "n_times": ds.n_times, "leads": list(ds.leads), "scaler": scaler.to_dict(),
        "preprocessing": ds.preprocessing,
        "thresholds": {lab: float(t) for lab, t in zip(ds.labels, thresholds)},
        "data": {"path": ds.path, "dataset": ds.dataset, "train_folds": list(TRAIN_FOLDS),
                 "val_fold": VAL_FOLD, "test_fold": TEST_FOLD},
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "threads": threads,
                  "best_epoch": result.best_epoch, "train_seconds": round(result.train_seconds, 2),
                  "epochs_run": len(result.history), "schedule": schedule, "patience": patience,
                  "noise_sigma": noise_sigma, "per_lead_scaler": per_lead_scaler, "augment": augment,
                  "augment_p_clean": augment_p_clean if augment != "none" else None,
                  "init": str(init) if init is not None else None,
                  "leads": list(leads) if leads else None, "lead_sets": bool(lead_sets),
                  **({"lead_set_mix": list(lead_set_mix or (P_FULL, P_STANDARD)),
                      "distill": str(distill) if distill is not None else None,
                      "distill_weight": distill_weight if distill is not None else None} if lead_sets else {}),
                  "optimizer": "adam", "loss": "bce_with_logits"},
        "command": command, "version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out = Path(out)
    checkpoint.save_checkpoint(out, model, config)
    checkpoint.write_json(out / checkpoint.METRICS, report)
    if hasattr(model, "adjacency"):
        from .plots import adjacency_png

        matrices = model.adjacency()
        checkpoint.write_json(out / checkpoint.ADJACENCY_JSON,
                              {"leads": list(ds.leads), "levels": [np.asarray(m).tolist() for m in matrices]})
        adjacency_png(matrices, ds.leads, out / checkpoint.ADJACENCY_PNG)
    return report
