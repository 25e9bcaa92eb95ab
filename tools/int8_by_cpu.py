"""A bundle's int8 artifacts measured on this machine's CPU family.

    python tools/int8_by_cpu.py [--bundle models/tgllnet-edge-superdiagnostic]
                                [--data ../shared/data/ptb-xl] [--extra NAME=FILE.onnx ...]
    python tools/int8_by_cpu.py --save-windows w.npz   # dump the scaled fold-9/10 windows
    python tools/int8_by_cpu.py --windows w.npz        # e.g. on a Pi: runtime install only

Torch-free (numpy, scipy, onnxruntime, the runtime's backends); with --windows it
needs no dataset reader either.

For every int8 artifact of the bundle (and every --extra model file): fold-9
and fold-10 macro-AUC, and against the bundle's onnx_fp32 run on the same
machine (the export gate's reference is torch fp32; onnx_fp32 equals it within
1e-6): fold-9 AUC drop, fold-9/10 decision flip rates at the card's thresholds
and max |probability change| (the definitions of tgll_edge.training.export).
ONNX int8 files are also run with onnxruntime's graph optimizations off: then
every QDQ pair is computed in float (QuantizeLinear rounds exactly), which is
what integer kernels without saturation give up to rounding; the difference
(``vs_qdq_reference``) shows whether this family's fused kernels saturate, and
the unfused graph's own metrics (``qdq_reference_metrics``, rows "unfused QDQ
reference") predict those of exact-kernel families (AVX-512 VNNI, ARM).

A lead-set-aware bundle (card ``lead_graph``, inputs x, lead_mask, cheb; issue 9) is
measured under every standard lead set of its card: the set's mask, the other leads
zeroed, the set's Chebyshev basis (tgll_edge.signal.leadgraph), as the runtime feeds it.
Each artifact's row is then its 12-lead metrics, its ``metrics_by_lead_set`` hold every
set's, and it passes the gate only when every set does (the export's rule).

Writes tools/results/int8_<family>.json and .md (family: tgll_edge.cpufamily).
Fold 10 is reported only; nothing is chosen on it.

    python tools/int8_by_cpu.py --merge-into-card RESULT.json [RESULT.json ...]

records measurements (made here or on another machine, e.g. under qemu on
aarch64) in the bundle card's ``metrics_by_cpu``, which ``load_model`` reads to
run the artifact gated on the CPU it finds: only for artifacts whose sha256 is
the card's (a result for another file is refused, never merged).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _batches(x: np.ndarray, extra: dict, batch: int):
    """(x, extra) in slices of ``batch`` windows; ``extra`` holds one row broadcast to every window."""
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        yield xb, {k: np.ascontiguousarray(np.broadcast_to(v, (len(xb), *v.shape))) for k, v in extra.items()}


def qdq_reference(path: Path, x: np.ndarray, batch: int = 32, extra: dict | None = None) -> np.ndarray:
    """Logits of an ONNX file with all graph optimizations off (no Q/DQ fusion)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = next((a.name for a in sess.get_inputs() if a.name == "x"), sess.get_inputs()[0].name)
    return np.concatenate([sess.run(None, {name: xb, **eb})[0] for xb, eb in _batches(x, extra or {}, batch)])


def _score(y, p) -> float:
    """Macro-AUC as tgll_edge.training.metrics (mean of the defined per-class AUCs, tied
    scores at their average rank); numpy only, so it runs where scipy is not installed."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    aucs = []
    for c in range(y.shape[1]):
        pos = y[:, c] > 0.5
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if not n_pos or not n_neg:
            continue
        v = p[:, c]
        order = np.argsort(v, kind="mergesort")
        sv = v[order]
        first = np.r_[True, sv[1:] != sv[:-1]]
        starts = np.r_[np.flatnonzero(first), len(sv)]
        group = np.cumsum(first) - 1
        ranks = np.empty(len(v))
        ranks[order] = 0.5 * (starts[group] + 1 + starts[group + 1])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs))


def flip_rate(p, p_ref, th) -> float:
    """As tgll_edge.training.export.flip_rate (that module needs torch)."""
    return float(np.mean((p >= th) != (p_ref >= th)))


def evaluate(predict, ref: dict, w: dict, th) -> dict:
    """The export gate's metrics (tgll_edge.training.export.evaluate, without per-class AUCs)."""
    from tgll_edge.runtime import sigmoid
    p_val, p_test = sigmoid(predict(w["x_val"])), sigmoid(predict(w["x_test"]))
    val, test = _score(w["y_val"], p_val), _score(w["y_test"], p_test)
    return {"val_max_abs_prob_diff": float(f"{np.abs(p_val - ref['p_val']).max():.3g}"),
            "val_decision_flip_rate": round(flip_rate(p_val, ref["p_val"], th), 6),
            "test_decision_flip_rate": round(flip_rate(p_test, ref["p_test"], th), 6),
            "val_macro_auc": round(val, 6), "test_macro_auc": round(test, 6),
            "max_abs_prob_diff": float(f"{max(np.abs(p_val - ref['p_val']).max(), np.abs(p_test - ref['p_test']).max()):.3g}"),
            "val_auc_drop": round(ref["val_macro_auc"] - val, 6)}


def backend_predict(path: Path, batch: int = 32, extra: dict | None = None):
    """x -> logits through the runtime's backend; ``extra``: a lead-set model's per-window
    inputs (lead_mask, cheb), one row given for every window."""
    from tgll_edge.backends import open_backend
    backend = open_backend(path, threads=1)
    return lambda x: np.concatenate([backend.run(xb, **eb) for xb, eb in _batches(x, extra or {}, batch)])


def lead_set_views(card: dict) -> dict:
    """{set name: (lead mask, extra inputs)} for a lead-set-aware card; {None: (None, {})} otherwise."""
    graph = card.get("lead_graph")
    if not graph or "lead_mask" not in (card.get("inputs") or []):
        return {None: (None, {})}
    from tgll_edge.signal.leadgraph import graph_basis
    leads = list(card["leads"])
    views = {}
    for name, entry in card["lead_sets"].items():
        mask = np.isin(leads, entry["leads"]).astype(np.float32)
        views[name] = (mask, {"lead_mask": mask, "cheb": graph_basis(graph["adjacency"], mask, int(graph["cheb_k"]))})
    return views


def _masked(w: dict, mask) -> dict:
    """The windows with the leads off ``mask`` zeroed (after scaling), as the runtime feeds them."""
    if mask is None:
        return w
    keep = mask.astype(bool)[None, :, None]
    return {k: (np.where(keep, v, np.float32(0)).astype(np.float32) if k.startswith("x_") else v)
            for k, v in w.items()}


def load_windows(card: dict, data_path: str | None) -> dict:
    """Scaled fold-9 and fold-10 windows and labels, read as tgll-export reads them."""
    from tgll_edge.signal.scaler import StandardScaler
    from tgll_edge.training.data import load_dataset

    folds = card["provenance"]["folds"]
    path = data_path or card["provenance"]["data"]["path"]
    ds = load_dataset(path, card["task"], preprocessing=card["preprocessing"])
    if list(ds.labels) != list(card["labels"]):
        raise SystemExit(f"dataset labels {ds.labels} differ from the card's {card['labels']}")
    scaler = StandardScaler.from_dict(card["scaler"])
    f = np.asarray(ds.folds)
    out = {}
    for part, fold in (("val", folds["val"]), ("test", folds["test"])):
        out[f"x_{part}"] = scaler.transform(ds.X[f == fold]).astype(np.float32)
        out[f"y_{part}"] = np.asarray(ds.Y[f == fold], dtype=np.float32)
    return out


def _measure_file(path: Path, ref: dict, w: dict, th, extra: dict, qdq: bool = True) -> dict:
    """One int8 file against the fp32 reference on one view of the windows (its gate; for ONNX,
    unless ``qdq`` is False, also the unfused QDQ graph's metrics)."""
    from tgll_edge.runtime import sigmoid
    from tgll_edge.training.protocol import MAX_AUC_DROP, MAX_FLIP_RATE

    run, seen = backend_predict(path, extra=extra), {}

    def run_and_keep(x):  # the fused logits of fold 9 are compared with the QDQ reference below
        seen[id(x)] = out = run(x)
        return out

    m = evaluate(run_and_keep, ref, w, th)
    m["passes_gate"] = bool(m["val_auc_drop"] <= MAX_AUC_DROP and m["val_decision_flip_rate"] <= MAX_FLIP_RATE)
    if path.suffix == ".onnx" and qdq:
        fused = sigmoid(seen[id(w["x_val"])])
        plain = sigmoid(qdq_reference(path, w["x_val"], extra=extra))
        m["vs_qdq_reference"] = {"val_max_abs_prob_diff": float(f"{np.abs(fused - plain).max():.3g}"),
                                 "val_decision_flip_rate": round(flip_rate(fused, plain, th), 6)}
        # the unfused QDQ graph's own metrics: what exact (non-saturating) kernels give, up to rounding
        m["qdq_reference_metrics"] = evaluate(lambda x: qdq_reference(path, x, extra=extra), ref, w, th)
    return m


def measure(bundle: Path, data_path: str | None, extra_files: dict[str, Path], windows: str | None = None,
            save_windows: str | None = None, with_qdq_reference: bool = True) -> dict:
    import onnxruntime as ort

    from tgll_edge.bundle import read_card, verify_artifact
    from tgll_edge.cpufamily import cpu_info
    from tgll_edge.runtime import sigmoid
    from tgll_edge.training.protocol import MAX_AUC_DROP, MAX_FLIP_RATE

    card = read_card(bundle)
    labels = list(card["labels"])
    th = np.array([card["thresholds"][lab] for lab in labels], dtype=np.float64)
    w = dict(np.load(windows)) if windows else load_windows(card, data_path)
    if save_windows:
        np.savez_compressed(save_windows, **w)
    views = lead_set_views(card)
    fp32 = verify_artifact(bundle, card, "onnx_fp32")
    refs = {}
    for name, (mask, extra) in views.items():
        wv = _masked(w, mask)
        run = backend_predict(fp32, extra=extra)
        ref = {"p_val": sigmoid(run(wv["x_val"])), "p_test": sigmoid(run(wv["x_test"]))}
        ref["val_macro_auc"] = _score(w["y_val"], ref["p_val"])
        ref["test_macro_auc"] = _score(w["y_test"], ref["p_test"])
        refs[name] = ref
    files = {k: verify_artifact(bundle, card, k) for k, a in card["artifacts"].items() if a["precision"] == "int8"}
    files.update(extra_files)
    out = {}
    for key, path in files.items():
        if Path(path).suffix == ".tflite":
            try:
                from tgll_edge.backends.litert import interpreter_class
                interpreter_class()
            except ImportError:
                print(f"{key}: skipped (no LiteRT interpreter installed)")
                continue
        by_set = {name: _measure_file(Path(path), refs[name], _masked(w, mask), th, extra, with_qdq_reference)
                  for name, (mask, extra) in views.items()}
        m = dict(by_set["12"] if "12" in by_set else next(iter(by_set.values())))
        if None not in by_set:
            m["metrics_by_lead_set"] = by_set
            m["passes_gate"] = all(v["passes_gate"] for v in by_set.values())
        if key in card["artifacts"]:
            m["sha256"] = card["artifacts"][key]["sha256"]
        out[key] = m
        for name, v in by_set.items():
            print(f"{key}{'' if name is None else f' [{name:>2}]'}: fold-9 {v['val_macro_auc']:.4f} "
                  f"(drop {v['val_auc_drop']:+.4f}) fold-10 {v['test_macro_auc']:.4f} flips "
                  f"{v['val_decision_flip_rate']:.2%} max|dp| {v['val_max_abs_prob_diff']}"
                  + (f" vs QDQ ref {v['vs_qdq_reference']}" if "vs_qdq_reference" in v else ""), flush=True)
    ref = refs["12"] if "12" in refs else refs[None]
    return {"cpu": cpu_info(), "onnxruntime": ort.__version__, "bundle": str(bundle),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "windows": {"fold9": int(len(w["x_val"])), "fold10": int(len(w["x_test"]))},
            "reference": {"artifact": "onnx_fp32 on this CPU", "val_macro_auc": round(ref["val_macro_auc"], 6),
                          "test_macro_auc": round(ref["test_macro_auc"], 6)},
            "gate": {"max_auc_drop": MAX_AUC_DROP, "max_decision_flip_rate": MAX_FLIP_RATE},
            "artifacts": out}


def markdown(r: dict, command: str) -> str:
    cpu = r["cpu"]
    lines = [f"# int8 artifacts on {cpu['family']} ({cpu['model']}, {cpu['machine']})", "",
             f"Bundle `{r['bundle']}`, onnxruntime {r['onnxruntime']}, {r['date']}; fold 9: {r['windows']['fold9']} "
             f"windows, fold 10: {r['windows']['fold10']}. Reference: {r['reference']['artifact']} (fold-9 "
             f"{r['reference']['val_macro_auc']:.4f}, fold-10 {r['reference']['test_macro_auc']:.4f}).", "",
             "| artifact | fold-9 AUC | drop | fold-10 AUC | fold-9 flips | fold-10 flips | fold-9 max abs dp | "
             "gate | fused vs QDQ ref: max abs dp, flips |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for k, m in r["artifacts"].items():
        q = m.get("vs_qdq_reference")
        lines.append(f"| {k} | {m['val_macro_auc']:.4f} | {m['val_auc_drop']:+.4f} | {m['test_macro_auc']:.4f} | "
                     f"{m['val_decision_flip_rate']:.2%} | {m['test_decision_flip_rate']:.2%} | "
                     f"{m['val_max_abs_prob_diff']:.3g} | {'pass' if m['passes_gate'] else 'FAIL'} | "
                     + (f"{q['val_max_abs_prob_diff']:.3g}, {q['val_decision_flip_rate']:.2%} |" if q else "- |"))
        if "qdq_reference_metrics" in m:
            q = m["qdq_reference_metrics"]
            lines.append(f"| {k}, unfused QDQ reference | {q['val_macro_auc']:.4f} | {q['val_auc_drop']:+.4f} | "
                         f"{q['test_macro_auc']:.4f} | {q['val_decision_flip_rate']:.2%} | "
                         f"{q['test_decision_flip_rate']:.2%} | {q['val_max_abs_prob_diff']:.3g} | "
                         f"{'pass' if q['val_auc_drop'] <= r['gate']['max_auc_drop'] and q['val_decision_flip_rate'] <= r['gate']['max_decision_flip_rate'] else 'FAIL'} | - |")
        for name, v in (m.get("metrics_by_lead_set") or {}).items():
            if name != "12":  # the artifact's own row is the 12-lead set
                lines.append(f"| {k}, lead set {name} | {v['val_macro_auc']:.4f} | {v['val_auc_drop']:+.4f} | "
                             f"{v['test_macro_auc']:.4f} | {v['val_decision_flip_rate']:.2%} | "
                             f"{v['test_decision_flip_rate']:.2%} | {v['val_max_abs_prob_diff']:.3g} | "
                             f"{'pass' if v['passes_gate'] else 'FAIL'} | - |")
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


#: the metrics a card's metrics_by_cpu entry keeps (as tgll_edge.training.export.Gate.by_cpu)
CARD_KEYS = ("val_macro_auc", "test_macro_auc", "val_auc_drop", "val_decision_flip_rate", "test_decision_flip_rate",
             "val_max_abs_prob_diff", "max_abs_prob_diff", "passes_gate")


def merge_into_card(bundle: Path, results: list[dict], label: str | None = None) -> list[str]:
    """Write each result's per-artifact metrics into the card's metrics_by_cpu[family]; returns
    what was merged. A result whose artifact's sha256 differs from the card's is refused."""
    from tgll_edge.bundle import read_card, write_card

    card = read_card(bundle)
    done = []
    for r in results:
        family = r["cpu"]["family"]
        for key, m in r["artifacts"].items():
            entry = card["artifacts"].get(key)
            if entry is None:
                continue  # an --extra file, not in the bundle
            if m.get("sha256") != entry["sha256"]:
                raise SystemExit(f"{key}: the result was measured on a file with sha256 {m.get('sha256')}, "
                                 f"not the card's {entry['sha256']}; measure the bundle's file again")
            entry.setdefault("metrics_by_cpu", {})[family] = {
                **{k: m[k] for k in CARD_KEYS}, "cpu_model": r["cpu"].get("model"),
                "reference": r["reference"]["artifact"], "date": r["date"][:10],
                "windows": r["windows"], "source": r.get("label") or label or r.get("command"),
                **({"by_lead_set": {n: {k: v[k] for k in ("val_auc_drop", "val_decision_flip_rate", "passes_gate")}
                                    for n, v in m["metrics_by_lead_set"].items()}}
                   if "metrics_by_lead_set" in m else {})}
            done.append(f"{key} on {family}")
    write_card(bundle, card)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=str(REPO / "models" / "tgllnet-edge-superdiagnostic"))
    ap.add_argument("--data", help="dataset root (default: the card's provenance path)")
    ap.add_argument("--extra", action="append", default=[], help="NAME=FILE: another model file to measure")
    ap.add_argument("--out", default=str(REPO / "tools" / "results"), help="directory for int8_<family>.{json,md}")
    ap.add_argument("--suffix", default="", help="appended to the output file names")
    ap.add_argument("--windows", help="NPZ of scaled windows (x_val, y_val, x_test, y_test) instead of --data")
    ap.add_argument("--save-windows", help="also write the windows read from --data to this NPZ")
    ap.add_argument("--no-qdq-reference", action="store_true",
                    help="skip the unfused QDQ reference runs of ONNX files (2 of their 3 passes; under emulation, "
                         "a lead-set bundle's seven sets make them long)")
    ap.add_argument("--label", help="where this was measured, kept in the result (e.g. 'qemu-user 10 -cpu cortex-a72')")
    ap.add_argument("--merge-into-card", nargs="+", metavar="RESULT", help="record these int8_<family>.json "
                    "results in --bundle's card (metrics_by_cpu) and exit")
    args = ap.parse_args(argv)
    if args.merge_into_card:
        done = merge_into_card(Path(args.bundle), [json.loads(Path(f).read_text()) for f in args.merge_into_card])
        print("merged into the card: " + (", ".join(done) or "nothing"))
        return 0
    extra = {}
    for item in args.extra:
        name, _, file = item.partition("=")
        extra[name] = Path(file)
    r = measure(Path(args.bundle), args.data, extra, args.windows, args.save_windows,
                with_qdq_reference=not args.no_qdq_reference)
    command = "python tools/int8_by_cpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    r["command"] = command.strip()
    if args.label:
        r["label"] = args.label
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"int8_{r['cpu']['family']}{args.suffix}"
    (out / f"{stem}.json").write_text(json.dumps(r, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(r, r["command"]))
    print(f"wrote {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
