"""Issue 9: lead-set training recipes compared on fold 9 (the selection fold; fold 10 is not read).

For each recipe, the fold-9 macro-AUC of every standard lead set from the runs' metrics.json
(torch fp32, tgll-train --lead-sets), mean over the seeds found, and the mean over the seven
sets (the release's selection score); the resnet1d_wang specialists (runs/rn-SET-sN) for scale.

  python tools/leadset_recipes.py [--runs runs] [--out tools/results/leadset_recipes_fold9]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = ("12", "6", "4", "3", "2", "I", "II")

#: run prefix -> what differs from tgll-train --lead-sets --preset edge, 10 epochs, onecycle lr 3e-3
RECIPES = {
    "ls-tgll": "from scratch",
    "ls-init3": "warm start (--init the default's checkpoint) + noise augmentation",
    "lsx-kd": "warm start + noise + --distill the default (weight 0.5)",
    "lsx-kd8": "warm start + noise + --distill the default (weight 0.8)",
    "lsx-e20": "warm start + noise, 20 epochs",
    "lsx-kde20": "warm start + noise + --distill the default (weight 0.5), 20 epochs",
}


def fold9(run: Path) -> dict | None:
    f = run / "metrics.json"
    if not f.is_file():
        return None
    m = json.loads(f.read_text())
    if "lead_sets" in m:
        return {s: m["lead_sets"][s]["val_macro_auc"] for s in SETS}
    return {"all": m["val"]["macro_auc"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "leadset_recipes_fold9"))
    args = ap.parse_args(argv)
    runs = Path(args.runs)
    rows = {}
    for prefix, what in RECIPES.items():
        seeds = {s: fold9(runs / f"{prefix}-s{s}") for s in range(3)}
        seeds = {s: v for s, v in seeds.items() if v is not None}
        if seeds:
            per_set = {k: sum(v[k] for v in seeds.values()) / len(seeds) for k in SETS}
            rows[prefix] = {"recipe": what, "seeds": sorted(seeds), "per_set": per_set,
                            "mean_over_sets": sum(per_set.values()) / len(SETS),
                            "by_seed": {str(s): v for s, v in seeds.items()}}
    specialists = {}
    for s in SETS:
        vals = [v["all"] for v in (fold9(runs / f"rn-{s}-s{seed}") for seed in range(3)) if v is not None]
        if vals:
            specialists[s] = {"mean": sum(vals) / len(vals), "seeds": len(vals)}
    out = {"fold": 9, "rows": rows, "resnet_specialists": specialists,
           "command": "python tools/leadset_recipes.py"}
    md = ["# Lead-set recipes on fold 9 (PTB-XL subset, superdiagnostic; selection fold, torch fp32)", "",
          "`python tools/leadset_recipes.py`: mean over the seeds found (n); the last column is the "
          "mean over the seven sets, the release's selection score.", "",
          "| recipe | run prefix | n | " + " | ".join(SETS) + " | mean |", "|---|---|---|" + "---:|" * (len(SETS) + 1)]
    for prefix, r in rows.items():
        md.append(f"| {r['recipe']} | {prefix} | {len(r['seeds'])} | "
                  + " | ".join(f"{r['per_set'][k]:.4f}" for k in SETS) + f" | {r['mean_over_sets']:.4f} |")
    if specialists:
        md.append("| resnet1d_wang trained on the set alone (c) | rn-SET | - | "
                  + " | ".join(f"{specialists[k]['mean']:.4f} ({specialists[k]['seeds']})" if k in specialists
                               else "-" for k in SETS) + " | - |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(out, indent=1) + "\n")
    Path(args.out + ".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
