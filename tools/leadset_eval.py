"""Issue 9 measurements: fold-10 macro-AUC per standard lead set, PTB-XL subset, superdiagnostic.

  (a) the lead-set-aware TGLLNet, one model for all sets, through its exported bundle on the
      runtime's on-device graph path (tgll_edge.load_model(...).predict_proba(windows, lead_mask):
      the card's adjacency -> masked renormalised Chebyshev basis in numpy -> the model file);
      bundles runs/ls-tgll-sN/bundle (tgll-export --int8), artifact --artifact (default onnx_int8)
  (b) today's default bundle (models/tgllnet-edge-superdiagnostic, fp32 ONNX) with the missing
      leads zero-filled after scaling (what the model sees for a flat lead)
  (c) resnet1d_wang trained on that lead set alone (runs/rn-SET-sN, tgll-train --leads)
  (d) resnet1d_wang 12-lead (runs/rn-12-sN) with the missing leads zero-filled after scaling
Mean +- sd over the seeds found; paired bootstrap (records of fold 10 resampled, 2000 times)
95% CI of mean_seeds AUC(a) - mean_seeds AUC(c). With --bench: latency and size of the
exported forms (onnxruntime, 1 thread, batch 1).

  .venv/bin/python tools/leadset_eval.py [--data ../shared/data/ptb-xl] [--out tools/results/leadsets]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tgll_edge.training.leadsets import STANDARD_SETS, standard_masks  # noqa: E402

SEEDS = (0, 1, 2)


def macro_auc(y, p):
    from tgll_edge.training.metrics import macro_auc as m
    return m(y, p)


def probs_a(bundle: Path, artifact: str, X, mask):
    from tgll_edge.runtime import load_model
    model = load_model(bundle, artifact=artifact, threads=1)
    return np.concatenate([model.predict_proba(X[i:i + 64], lead_mask=mask) for i in range(0, len(X), 64)])


def probs_b(bundle: Path, X, mask):
    from tgll_edge.backends import open_backend
    from tgll_edge.signal.scaler import StandardScaler
    card = json.loads((bundle / "card.json").read_text())
    backend = open_backend(bundle / card["artifacts"]["onnx_fp32"]["file"], threads=1)
    x = StandardScaler.from_dict(card["scaler"]).transform(X).astype(np.float32) * mask[None, :, None]
    logits = np.concatenate([backend.run(x[i:i + 64]) for i in range(0, len(x), 64)])
    return 1 / (1 + np.exp(-logits))


def probs_torch(run_dir: Path, X, mask, all_leads, zero_fill: bool):
    import torch
    from tgll_edge.training.checkpoint import load_checkpoint
    from tgll_edge.training.fit import predict_proba
    from tgll_edge.signal.scaler import StandardScaler
    torch.set_num_threads(1)
    model, cfg = load_checkpoint(run_dir)
    idx = [list(all_leads).index(n) for n in cfg["leads"]]
    x = StandardScaler.from_dict(cfg["scaler"]).transform(X[:, idx]).astype(np.float32)
    if zero_fill:
        x = x * mask[idx][None, :, None]
    return predict_proba(model, x)


def bootstrap_diff(y, pa: list, pc: list, n_boot=2000, seed=0):
    rng = np.random.default_rng(seed)
    n, out = len(y), []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        if (y[i].sum(0) == 0).any() or (y[i].sum(0) == n).any():
            continue
        out.append(np.mean([macro_auc(y[i], p[i]) for p in pa]) - np.mean([macro_auc(y[i], p[i]) for p in pc]))
    return [float(np.percentile(out, 2.5)), float(np.percentile(out, 97.5))], len(out)


def stat(v):
    return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None, "n_seeds": len(v),
            "per_seed": [float(x) for x in v]}


def bench(default_bundle: Path, ls_bundle: Path, runs: Path) -> dict:
    """Latency (median of 200 runs, batch 1, 1 thread) and size of the exported forms."""
    import onnxruntime as ort
    import torch
    from tgll_edge.signal.leadgraph import graph_basis
    from tgll_edge.training.checkpoint import load_checkpoint
    from tgll_edge.training.export_leadsets import FixedSet, adjacency
    from tgll_edge.training.export import minify_onnx

    def lat(path, feeds):
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        s = ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])
        for _ in range(20):
            s.run(None, feeds)
        t = []
        for _ in range(200):
            t0 = time.perf_counter()
            s.run(None, feeds)
            t.append(time.perf_counter() - t0)
        return round(float(np.median(t)) * 1e3, 3)

    x = np.random.default_rng(0).standard_normal((1, 12, 1000)).astype(np.float32)
    card = json.loads((ls_bundle / "card.json").read_text())
    adj, k = np.asarray(card["lead_graph"]["adjacency"], np.float32), card["lead_graph"]["cheb_k"]
    m3 = standard_masks()["3"]
    feeds = {"x": x * m3[None, :, None], "lead_mask": m3[None], "cheb": graph_basis(adj, m3, k)[None]}
    out = {}
    for name, b, f in (("12-lead folded (default bundle)", default_bundle, {"x": x}),
                       ("graph as input (lead-set bundle)", ls_bundle, feeds)):
        c = json.loads((b / "card.json").read_text())
        for key in ("onnx_fp32", "onnx_int8"):
            if key in c["artifacts"]:
                p = b / c["artifacts"][key]["file"]
                out[f"{name} {key}"] = {"ms_per_window": lat(p, f), "bytes": p.stat().st_size}
    # the per-set "folded" form: mask and basis of set 3 as constants in the graph
    model, _ = load_checkpoint(runs / "ls-tgll-s0")
    model.eval().fold_graph()
    tmp = runs / "ls-tgll-s0" / "fixed_set3_fp32.onnx"
    fixed = FixedSet(model, m3, graph_basis(adjacency(model), m3, k)).eval()
    torch.onnx.export(fixed, (torch.as_tensor(x),), str(tmp), dynamo=True, opset_version=18, external_data=False,
                      input_names=["x"], output_names=["logits"], verbose=False)
    minify_onnx(tmp)
    out["set 3 constant mask+basis (per-set artifact) onnx_fp32"] = {"ms_per_window": lat(tmp, {"x": feeds["x"]}),
                                                                    "bytes": tmp.stat().st_size}
    t0 = time.perf_counter()
    for _ in range(1000):
        graph_basis(adj, m3, k)
    out["numpy graph_basis per window (uncached)"] = {"ms_per_window": round((time.perf_counter() - t0), 4)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/ptb-xl"))
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--default-bundle", default=str(ROOT / "models/tgllnet-edge-superdiagnostic"))
    ap.add_argument("--artifact", default="onnx_int8", help="(a)'s artifact in its bundles")
    ap.add_argument("--a-runs", default="ls-tgll", metavar="PREFIX",
                    help="(a)'s runs: PREFIX-s0..2 with a bundle/ each (default ls-tgll: --lead-sets from scratch; "
                         "ls-init3: warm-started from the default's checkpoint, noise-aware; lsx-kde20: the same, "
                         "distilled from the default, 20 epochs, the released recipe)")
    ap.add_argument("--out", default=str(ROOT / "tools/results/leadsets"))
    ap.add_argument("--bench", action="store_true")
    args = ap.parse_args(argv)
    from tgll_edge.training.data import load_dataset

    runs = Path(args.runs)
    ds = load_dataset(args.data, "superdiagnostic", progress=False)
    test = ds.fold(10)
    X, y = test.X.astype(np.float32), test.Y
    leads = list(ds.leads)
    res = {"data": args.data, "fold": 10, "n_records": int(len(y)), "labels": list(ds.labels),
           "command": "python tools/leadset_eval.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "a_artifact": args.artifact, "a_runs": args.a_runs, "sets": {}}
    for name, mask in standard_masks(leads).items():
        row, probs = {"leads": STANDARD_SETS[name]}, {}
        pa = [probs_a(runs / f"{args.a_runs}-s{s}/bundle", args.artifact, X, mask) for s in SEEDS
              if (runs / f"{args.a_runs}-s{s}/bundle/card.json").exists()]
        seeds_a = [s for s in SEEDS if (runs / f"{args.a_runs}-s{s}/bundle/card.json").exists()]
        pc = [probs_torch(runs / f"rn-{name}-s{s}", X, mask, leads, False) for s in SEEDS
              if (runs / f"rn-{name}-s{s}/metrics.json").exists()]
        seeds_c = [s for s in SEEDS if (runs / f"rn-{name}-s{s}/metrics.json").exists()]
        pd_ = [probs_torch(runs / f"rn-12-s{s}", X, mask, leads, True) for s in SEEDS
               if (runs / f"rn-12-s{s}/metrics.json").exists()]
        if pa:
            row["a"] = {**stat([macro_auc(y, p) for p in pa]), "seeds": seeds_a}
        row["b"] = stat([macro_auc(y, probs_b(Path(args.default_bundle), X, mask))])
        if pc:
            row["c"] = {**stat([macro_auc(y, p) for p in pc]), "seeds": seeds_c}
        if pd_:
            row["d"] = stat([macro_auc(y, p) for p in pd_])
        if pa and pc:
            ci, n_ok = bootstrap_diff(y, pa, pc)
            row["a_minus_c"] = {"diff": row["a"]["mean"] - row["c"]["mean"], "ci95": ci, "n_boot": n_ok}
        res["sets"][name] = row
        print(name, json.dumps({k: (v["mean"] if isinstance(v, dict) and "mean" in v else v)
                                for k, v in row.items() if k != "leads"}), flush=True)
    out = Path(args.out)
    if args.bench:
        res["bench"] = bench(Path(args.default_bundle), runs / "ls-tgll-s0/bundle", runs)
        res["bench_command"] = res["command"]
        print(json.dumps(res["bench"], indent=1))
    elif out.with_suffix(".json").exists():  # keep the last --bench measurement
        old = json.loads(out.with_suffix(".json").read_text())
        for key in ("bench", "bench_command"):
            if key in old:
                res[key] = old[key]
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(f"wrote {out}.json and {out}.md")
    return 0


def markdown(res: dict) -> str:
    def f(e):
        if not e:
            return "-"
        sd = f" ± {e['sd']:.4f}" if e.get("sd") is not None else ""
        return f"{e['mean']:.4f}{sd} ({e['n_seeds']})"
    lines = [f"# Lead sets: fold-10 macro-AUC (PTB-XL subset, superdiagnostic, {res['n_records']} records)", "",
             f"`{res['command']}`", "",
             f"(a) lead-set TGLLNet (runs {res.get('a_runs', 'ls-tgll')}-sN), one model, through its bundle's "
             f"{res['a_artifact']} on the runtime's graph path; "
             "(b) default bundle fp32 ONNX, missing leads zero-filled; (c) resnet1d_wang trained on the set alone; "
             "(d) resnet1d_wang 12-lead, zero-filled. mean ± sd (seeds); (a)−(c): paired bootstrap 95% CI.", "",
             "| set | leads | (a) | (b) | (c) | (d) | (a)−(c) [95% CI] |", "|---|---|---|---|---|---|---|"]
    for name, r in res["sets"].items():
        d = r.get("a_minus_c")
        dd = f"{d['diff']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}]" if d else "-"
        lines.append(f"| {name} | {','.join(r['leads'])} | {f(r.get('a'))} | {f(r.get('b'))} | {f(r.get('c'))} | "
                     f"{f(r.get('d'))} | {dd} |")
    if "bench" in res:
        lines += ["", f"Exported forms, measured by `{res.get('bench_command', res['command'])}` (onnxruntime, "
                  "median of 200; seed-0 lead-set bundle; shared loaded machine):", "",
                  "| exported form | ms / window (1 thread, batch 1) | bytes |", "|---|---|---|"]
        for k, v in res["bench"].items():
            lines.append(f"| {k} | {v['ms_per_window']} | {v.get('bytes', '-')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
