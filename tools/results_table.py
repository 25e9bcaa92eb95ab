"""Collect the training runs of tools/train_results_table.sh into the README's results table.

    python tools/results_table.py [RUNS_DIR]   # default runs/; writes tools/results/training.{md,json}

Every number is read from a run's metrics.json / config.json, as tgll-train wrote them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def describe(run: Path) -> dict | None:
    metrics, config = run / "metrics.json", run / "config.json"
    if not (metrics.is_file() and config.is_file()):
        return None
    m, c = json.loads(metrics.read_text()), json.loads(config.read_text())
    model = c["model"]
    arch = model["arch"] + (f" ({model['preset']})" if model.get("preset") else "")
    train = c["train"]
    return {"run": run.name, "task": c["task"], "arch": arch, "data": c.get("data", {}).get("path", ""),
            "epochs": train["epochs_run"], "best_epoch": train["best_epoch"],
            "train_seconds": train["train_seconds"], "threads": train["threads"],
            "val_macro_auc": m["val"]["macro_auc"], "test_macro_auc": m["test"]["macro_auc"],
            "test_ci95": m["test"]["macro_auc_ci95"], "test_fmax": m["test"]["fmax"],
            "test_f1": m["test"]["f1_at_thresholds"], "n_test": m["test"]["n_records"],
            "command": c.get("command", "")}


def markdown(rows: list[dict]) -> str:
    out = ["| task | model | epochs (best) | fold-9 AUC | **fold-10 macro-AUC [95% CI]** | fold-10 Fmax | "
           "train time | run |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["test_ci95"]
        out.append(f"| {r['task']} | {r['arch']} | {r['epochs']} ({r['best_epoch']}) | {r['val_macro_auc']:.3f} | "
                   f"**{r['test_macro_auc']:.3f}** [{lo:.3f}, {hi:.3f}] | {r['test_fmax']:.3f} | "
                   f"{r['train_seconds'] / 60:.0f} min ({r['threads']} thr) | `{r['run']}` |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="?", default=str(ROOT / "runs"), help="directory of run directories (default runs/)")
    p.add_argument("--out", default=str(ROOT / "tools" / "results" / "training"), help="output path without suffix")
    a = p.parse_args(argv)
    runs = Path(a.runs)
    if not runs.is_dir():
        p.error(f"no such directory: {runs}")
    rows = [r for r in (describe(d) for d in sorted(runs.iterdir()) if d.is_dir()) if r]
    if not rows:
        p.error(f"no finished runs (metrics.json + config.json) under {runs}")
    rows.sort(key=lambda r: (r["task"], r["arch"]))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    md = markdown(rows)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
