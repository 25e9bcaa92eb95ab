"""Benchmark model bundles: latency, size, MACs, GEMM efficiency and fold-10 macro-AUC.

    python tools/bench_models.py --pair models/paper:runs/paper --pair models/edge:runs/edge \
        --name superdiagnostic [--runs 200] [--threads 1,2]

For each BUNDLE:CHECKPOINT pair (the bundle exported from that checkpoint):
per-window latency (batch 1; median and p95 over --runs runs after warm-up, at
each thread count) of the naive per-time-step graph formulation in torch (the
oracle, NaiveTGLLNet), the efficient torch model, and every artifact of the
bundle (ONNX via onnxruntime, TFLite via LiteRT, through tgll_edge.backends);
file sizes; MACs per window (torch FlopCounterMode on the efficient and the
naive model: conv and matmul MACs); the fraction of this CPU's measured
1-thread float32 GEMM throughput that each reaches (MACs / latency / GEMM
rate, with the efficient model's MACs for the exported artifacts); fold-10
macro-AUC per artifact from the card (measured by the export gate).

Writes tools/results/bench_models_<name>.json and .md. Run with nothing else
heavy on the machine: timings are wall-clock.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def gemm_gmacs(threads: int = 1, n: int = 512, reps: int = 20) -> float:
    """Measured float32 GEMM throughput (GMAC/s) of torch.matmul on ``threads`` threads."""
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return n ** 3 / best / 1e9


def count_macs(model, x) -> int:
    """Multiply-accumulates of one forward pass (convolutions and matrix products)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops() // 2)


def time_fn(fn, runs: int, warmup: int = 5) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    ms = np.asarray(times) * 1e3
    return {"median_ms": round(float(np.median(ms)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "runs": runs}


def bench_pair(bundle: Path, checkpoint: Path, runs: int, threads: list[int], gemm: float) -> dict:
    import torch

    from tgll_edge.backends import open_backend
    from tgll_edge.bundle import read_card
    from tgll_edge.training.checkpoint import load_checkpoint
    from tgll_edge.training.models import NaiveTGLLNet, TGLLNet

    card = read_card(bundle)
    model, config = load_checkpoint(checkpoint)
    model.eval()
    naive = NaiveTGLLNet(model).eval() if config["model"].get("arch") == TGLLNet.arch else None
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, model.n_leads, model.n_times))
                         .astype(np.float32))
    efficient = model.fold_graph() if hasattr(model, "fold_graph") else model
    macs = {"efficient": count_macs(efficient, x)}
    if naive is not None:
        macs["naive"] = count_macs(naive, x)
        with torch.no_grad():
            gap = float((naive(x) - efficient(x)).abs().max())
        if gap > 1e-3:
            raise RuntimeError(f"naive and efficient models disagree by {gap}: not the same weights?")

    rows = []

    def add(kind, fmt, precision, size, test_auc, n_macs, timing, n_threads):
        rows.append({"model": kind, "format": fmt, "precision": precision, "threads": n_threads,
                     "bytes": size, "macs": n_macs, "test_macro_auc": test_auc, **timing,
                     "gmac_per_s": round(n_macs / timing["median_ms"] / 1e6, 3),
                     "gemm_fraction": round(n_macs / timing["median_ms"] / 1e6 / gemm, 4)})

    torch_size = sum(p.numel() * 4 for p in model.parameters())
    ref_auc = card.get("reference", {}).get("test_macro_auc")
    for n in threads:
        torch.set_num_threads(n)
        with torch.no_grad():
            if naive is not None:
                print(f"  torch naive, {n} thread(s)", flush=True)
                add("torch naive (per time step)", "torch", "fp32", torch_size, ref_auc, macs["naive"],
                    time_fn(lambda: naive(x), runs), n)
            print(f"  torch efficient, {n} thread(s)", flush=True)
            add("torch efficient", "torch", "fp32", torch_size, ref_auc, macs["efficient"],
                time_fn(lambda: efficient(x), runs), n)
        xn = x.numpy()
        for key, art in card["artifacts"].items():
            print(f"  {key}, {n} thread(s)", flush=True)
            backend = open_backend(bundle / art["file"], art["format"], threads=n)
            add(key, art["format"], art["precision"], art["bytes"], art["metrics"]["test_macro_auc"],
                macs["efficient"], time_fn(lambda: backend.run(xn), runs), n)
            backend.close()
    return {"bundle": str(bundle), "checkpoint": str(checkpoint), "name": card["name"], "model": card.get("model"),
            "macs": macs, "rows": rows}


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = [f"# Model benchmark: {result['name']}", "",
             f"CPU: {env['cpu']}; measured 1-thread float32 GEMM: {env['gemm_gmacs_1thread']:.1f} GMAC/s; "
             f"batch 1 (one 10-s window), {env['runs']} runs per row; {env['date']}.", "",
             "| bundle | model | threads | median ms | p95 ms | size KiB | MMAC/window | GMAC/s | % of GEMM | fold-10 macro-AUC |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in result["bundles"]:
        for r in b["rows"]:
            auc = "-" if r["test_macro_auc"] is None else f"{r['test_macro_auc']:.4f}"
            lines.append(f"| {b['name']} | {r['model']} | {r['threads']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | "
                         f"{r['bytes'] / 1024:.0f} | {r['macs'] / 1e6:.1f} | {r['gmac_per_s']:.2f} | "
                         f"{100 * r['gemm_fraction']:.1f} | {auc} |")
    lines += ["", "Speed-ups at 1 thread (median):", ""]
    naive = {b["name"]: next((r for r in b["rows"] if r["model"].startswith("torch naive") and r["threads"] == 1),
                             None) for b in result["bundles"]}
    for b in result["bundles"]:
        for r in b["rows"]:
            if r["threads"] != 1 or r["model"].startswith("torch naive"):
                continue
            parts = [f"{nb}-naive / this = {n['median_ms'] / r['median_ms']:.1f}x"
                     for nb, n in naive.items() if n is not None]
            lines.append(f"- {b['name']} {r['model']}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", action="append", required=True, metavar="BUNDLE:CHECKPOINT",
                    help="a bundle and the checkpoint it was exported from (repeat for presets)")
    ap.add_argument("--name", help="results file suffix (default: the bundle names)")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out-dir", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be positive")
    threads = [int(t) for t in args.threads.split(",")]
    pairs = []
    for p in args.pair:
        if ":" not in p:
            ap.error(f"--pair needs BUNDLE:CHECKPOINT; got {p!r}")
        b, c = p.split(":", 1)
        pairs.append((Path(b), Path(c)))

    print("measuring 1-thread GEMM throughput", flush=True)
    gemm = gemm_gmacs(1)
    bundles = []
    for b, c in pairs:
        print(f"benchmarking {b} (checkpoint {c})", flush=True)
        bundles.append(bench_pair(b, c, args.runs, threads, gemm))
    name = args.name or "_".join(x["name"] for x in bundles)
    result = {"name": name, "bundles": bundles,
              "environment": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                              "python": platform.python_version(), "gemm_gmacs_1thread": round(gemm, 2),
                              "runs": args.runs, "threads": threads,
                              "date": time.strftime("%Y-%m-%d %H:%M:%S")}}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"bench_models_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (out / f"bench_models_{name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
