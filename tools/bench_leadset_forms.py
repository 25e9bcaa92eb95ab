"""Latency of the exported forms: the 12-lead default (graph folded into 1x1 convs) against the
lead-set bundle (graph as input: x, lead_mask, cheb), whole window and streaming graph stage.

Per ONNX file of each bundle (onnxruntime, 1 thread, batch 1, all 12 leads; median and min of
--repeats runs after 20 warm-up runs): the whole 10 s window, and the streaming split's graph
stage on 100 new steps (a 1 s hop at 100 Hz, what tgll-stream runs per window). Timing needs a
quiet machine: pause other work first.

  python tools/bench_leadset_forms.py [--bundle DIR ...] [--out tools/results/bench_leadset_forms]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUNDLES = ("models/tgllnet-edge-superdiagnostic", "models/tgllnet-edge-leadsets-superdiagnostic")


def timed(session, feeds: dict, repeats: int) -> dict:
    for _ in range(20):
        session.run(None, feeds)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, feeds)
        ts.append(time.perf_counter() - t)
    return {"median_ms": round(float(np.median(ts)) * 1e3, 3), "min_ms": round(min(ts) * 1e3, 3)}


def feeds_for(session, card: dict, n_steps: int) -> dict:
    from tgll_edge.signal.leadgraph import graph_basis
    rng = np.random.default_rng(0)
    mask = np.ones((1, len(card["leads"])), np.float32)
    feeds = {"x": rng.standard_normal((1, len(card["leads"]), n_steps)).astype(np.float32), "lead_mask": mask}
    if card.get("lead_graph"):
        g = card["lead_graph"]
        feeds["cheb"] = graph_basis(g["adjacency"], mask[0], int(g["cheb_k"]))[None]
    names = {i.name for i in session.get_inputs()}
    return {k: v for k, v in feeds.items() if k in names}


def main(argv=None) -> int:
    from tgll_edge.backends.onnx import open_session
    from tgll_edge.bundle import read_card
    from tgll_edge.cpufamily import cpu_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", action="append", help="bundle directory (repeatable; default: both shipped)")
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "bench_leadset_forms"))
    args = ap.parse_args(argv)
    rows = []
    for b in args.bundle or [str(ROOT / p) for p in BUNDLES]:
        card = read_card(Path(b))
        for key, entry in card["artifacts"].items():
            if entry["format"] != "onnx":
                continue
            row = {"bundle": card["name"], "artifact": key, "bytes": entry["bytes"]}
            whole = open_session(Path(b) / entry["file"])
            row["window"] = timed(whole, feeds_for(whole, card, int(card["n_times"])), args.repeats)
            split = entry.get("stream")
            if split:
                tokens = open_session(Path(b) / split["tokens"]["file"])
                row["graph_stage_100_steps"] = timed(tokens, feeds_for(tokens, card, 100), args.repeats)
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = {"cpu": cpu_info(), "python": platform.python_version(), "repeats": args.repeats, "rows": rows,
           "command": "python tools/bench_leadset_forms.py"}
    md = [f"# Exported forms: latency on {out['cpu']['family']} ({out['cpu'].get('model')})", "",
          "`python tools/bench_leadset_forms.py`: onnxruntime, 1 thread, batch 1, 12 leads; median (min) of "
          f"{args.repeats} runs.", "",
          "| bundle | artifact | bytes | 10 s window, ms | graph stage on 100 new steps, ms |", "|---|---|---:|---:|---:|"]
    for r in rows:
        g = r.get("graph_stage_100_steps")
        md.append(f"| {r['bundle']} | {r['artifact']} | {r['bytes']:,} | {r['window']['median_ms']:.2f} "
                  f"({r['window']['min_ms']:.2f}) | "
                  + (f"{g['median_ms']:.3f} ({g['min_ms']:.3f})" if g else "-") + " |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(out, indent=1) + "\n")
    Path(args.out + ".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
