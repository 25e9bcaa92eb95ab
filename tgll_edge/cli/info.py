"""tgll-info: print a model bundle's card as a table.

    tgll-info [BUNDLE_DIR] [--json]

Each model file is checked against the card (present, size, sha256). Exit status:
0 when the card and every file are sound, 2 when the bundle cannot be used as it is
(as ``--model`` does elsewhere), with one line per problem on stderr.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..bundle import read_card, verify_artifact, verify_file
from ..cpufamily import cpu_info
from ..errors import BundleError
from ..runtime import default_bundle_dir, resolve_bundle


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(card: dict, bundle_dir, problems: dict) -> str:
    scaler = card["scaler"]
    steps = ", ".join(
        f"{s['name']}(" + ", ".join(f"{k}={v}" for k, v in s.items() if k != "name") + ")"
        for s in card["preprocessing"].get("steps", [])) or "none"
    model = card.get("model", {})
    cpu = cpu_info()
    prov = card.get("provenance", {})
    ref = card.get("reference", {})
    general = [
        ["bundle", str(bundle_dir)], ["name", card["name"]], ["task", card["task"]],
        ["model", ", ".join(f"{k}={v}" for k, v in model.items()) or "-"],
        ["labels", ", ".join(card["labels"])],
        ["input", f"{card['n_times']} samples at {card['fs']} Hz ({card['n_times'] / card['fs']:g} s), "
                  f"leads {' '.join(card['leads'])}"],
        ["preprocessing", f"resample to {card['preprocessing']['fs']} Hz; {steps}"],
        ["scaler", f"(x_mV - {scaler['mean']}) / {scaler['std']}" if not isinstance(scaler["mean"], list)
                   else "per-lead mean/std"],
        ["output", card["output"]],
        ["thresholds", ", ".join(f"{k}={v:.3f}" for k, v in card["thresholds"].items())],
        ["torch fp32", f"val macro-AUC {_fmt(ref.get('val_macro_auc'))}, test {_fmt(ref.get('test_macro_auc'))}"],
        ["default artifact", card["default_artifact"]],
        ["this CPU", f"{cpu['family']} ({cpu['model'] or cpu['machine']})"],
        ["provenance", f"data {prov.get('data', {}).get('path') if isinstance(prov.get('data'), dict) else prov.get('data')}; "
                       f"version {prov.get('package_version', '-')}; date {prov.get('date', '-')}"],
        ["attribution", card.get("attribution", "-")],
    ]
    arts = []
    for key, a in card["artifacts"].items():
        m, q = a["metrics"], a.get("quantization") or {}
        flips = m.get("val_decision_flip_rate")
        arts.append([key, a["file"], f"{a['bytes'] / 1024:.0f} KiB", m.get("val_macro_auc"), m.get("test_macro_auc"),
                     m.get("max_abs_prob_diff"), "-" if flips is None else f"{flips:.2%}",
                     q.get("recipe", "-") if q else "-", m.get("cpu_family", "-"), a["sha256"][:12],
                     problems.get(key, "ok")])
    out = (_table(general, ["field", "value"]) + "\n\n" +
           _table(arts, ["artifact", "file", "size", "val AUC", "test AUC", "max|dp|", "val flips", "recipe",
                         "measured on", "sha256", "file check"]))
    # int8 outputs depend on the CPU's integer kernels: the metrics measured per CPU family
    fams = []
    for key, a in card["artifacts"].items():
        for fam, e in (a.get("metrics_by_cpu") or {}).items():
            flips = e.get("val_decision_flip_rate")
            fams.append([key, fam + (" (this CPU)" if fam == cpu["family"] else ""), e.get("val_macro_auc"),
                         e.get("test_macro_auc"), e.get("val_auc_drop"), "-" if flips is None else f"{flips:.2%}",
                         e.get("val_max_abs_prob_diff"),
                         {True: "pass", False: "FAIL"}.get(e.get("passes_gate"), "-"), e.get("date", "-")])
    splits = [[key, f"{a['stream']['tokens']['file']} + {a['stream']['head']['file']}",
               a["stream"].get("check", {}).get("max_abs_prob_diff_vs_file", "-"), problems.get(f"{key} stream", "ok")]
              for key, a in card["artifacts"].items() if a.get("stream")]
    if splits:  # tgll_edge.incremental: a stream runs the graph stage on each hop's new samples only
        out += "\n\nstreaming split (graph stage | temporal stage):\n" + _table(
            splits, ["artifact", "files", "checked max|dp|", "file check"])
    sets = card.get("lead_sets") or {}
    if sets:  # a lead-set-aware bundle (issue 9): per standard set, its AUCs and each artifact's gate
        keys = list(card["artifacts"])
        rows = [[name, ",".join(e.get("leads", [])), e.get("val_macro_auc"), e.get("test_macro_auc")]
                + [{True: "pass", False: "FAIL"}.get((e.get("gate") or {}).get(k, {}).get("passes"), "-")
                   for k in keys] for name, e in sets.items()]
        out += (f"\n\nlead sets (any subset of the leads is served; min_leads {card.get('min_leads', 1)}; a "
                "finding reports the largest set below contained in its leads, with that set's fold-9 AUC):\n"
                + _table(rows, ["set", "leads", "val AUC", "test AUC"] + [f"gate {k}" for k in keys]))
    if fams:
        out += "\n\nmetrics by CPU family:\n" + _table(
            fams, ["artifact", "CPU family", "val AUC", "test AUC", "val drop", "val flips", "val max|dp|", "gate",
                   "measured"])
    return out


def check_files(card: dict, bundle_dir) -> dict:
    """artifact -> what is wrong with its file (missing, wrong size or sha256), for those that fail."""
    problems = {}
    for key, entry in card["artifacts"].items():
        try:
            verify_artifact(bundle_dir, card, key)
        except BundleError as exc:
            problems[key] = str(exc)
        for part in ("tokens", "head") if entry.get("stream") else ():
            try:
                verify_file(bundle_dir, entry["stream"][part])
            except (BundleError, KeyError, TypeError) as exc:
                problems[f"{key} stream"] = str(exc)
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tgll-info", description="Print a model bundle's card as a table.")
    ap.add_argument("bundle", nargs="?", help="bundle directory (default: the bundled model)")
    ap.add_argument("--json", action="store_true", help="print the card as JSON instead")
    args = ap.parse_args(argv)
    bundle = resolve_bundle(args.bundle) if args.bundle else default_bundle_dir()
    try:
        card = read_card(bundle)
    except BundleError as exc:
        print(f"tgll-info: error: {exc}", file=sys.stderr)
        return 2
    problems = check_files(card, bundle)
    print(json.dumps(card, indent=2) if args.json else render(card, bundle, {k: "FAILED" for k in problems}))
    for message in problems.values():
        print(f"tgll-info: error: {message}", file=sys.stderr)
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
