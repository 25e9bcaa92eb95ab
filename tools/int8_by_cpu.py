"""A bundle's int8 artifacts measured on this machine's CPU family.

    python tools/int8_by_cpu.py [--bundle models/tgllnet-edge-superdiagnostic]
                                [--data ../shared/data/ptb-xl] [--extra NAME=FILE.onnx ...]

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

Writes tools/results/int8_<family>.json and .md (family: tgll_edge.cpufamily).
Fold 10 is reported only; nothing is chosen on it.
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


def qdq_reference(path: Path, x: np.ndarray, batch: int = 32) -> np.ndarray:
    """Logits of an ONNX file with all graph optimizations off (no Q/DQ fusion)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def measure(bundle: Path, data_path: str | None, extra: dict[str, Path]) -> dict:
    import onnxruntime as ort

    from tgll_edge.bundle import read_card, verify_artifact
    from tgll_edge.cpufamily import cpu_info
    from tgll_edge.runtime import sigmoid
    from tgll_edge.training import export as E

    card = read_card(bundle)
    labels = list(card["labels"])
    th = np.array([card["thresholds"][lab] for lab in labels], dtype=np.float64)
    config = {"task": card["task"], "labels": labels, "scaler": card["scaler"],
              "preprocessing": card["preprocessing"],
              "data": {"path": data_path or card["provenance"]["data"]["path"],
                       "val_fold": card["provenance"]["folds"]["val"],
                       "test_fold": card["provenance"]["folds"]["test"],
                       "train_folds": card["provenance"]["folds"]["train"]}}
    data = E.load_eval_data(config, data_path, calib_windows=0)
    fp32 = verify_artifact(bundle, card, "onnx_fp32")
    run = E.backend_predict(fp32)
    ref = {"p_val": sigmoid(run(data.x_val)), "p_test": sigmoid(run(data.x_test))}
    ref["val"] = E.score(data.y_val, ref["p_val"], labels)
    ref["test"] = E.score(data.y_test, ref["p_test"], labels)
    files = {k: verify_artifact(bundle, card, k) for k, a in card["artifacts"].items() if a["precision"] == "int8"}
    files.update(extra)
    out = {}
    for key, path in files.items():
        m = E.evaluate(E.backend_predict(path), ref, data, labels, th)
        m = {k: v for k, v in m.items() if "per_class" not in k}
        m["passes_gate"] = bool(m["val_auc_drop"] <= E.MAX_AUC_DROP and m["val_decision_flip_rate"] <= E.MAX_FLIP_RATE)
        if path.suffix == ".onnx":
            fused = sigmoid(E.backend_predict(path)(data.x_val))
            plain = sigmoid(qdq_reference(path, data.x_val))
            m["vs_qdq_reference"] = {"val_max_abs_prob_diff": float(f"{np.abs(fused - plain).max():.3g}"),
                                     "val_decision_flip_rate": round(E.flip_rate(fused, plain, th), 6)}
            # the unfused QDQ graph's own metrics: what exact (non-saturating) kernels give, up to rounding
            q = E.evaluate(lambda x: qdq_reference(path, x), ref, data, labels, th)
            m["qdq_reference_metrics"] = {k: v for k, v in q.items() if "per_class" not in k}
        out[key] = m
        print(f"{key}: fold-9 {m['val_macro_auc']:.4f} (drop {m['val_auc_drop']:+.4f}) fold-10 "
              f"{m['test_macro_auc']:.4f} flips {m['val_decision_flip_rate']:.2%} max|dp| "
              f"{m['val_max_abs_prob_diff']}" + (f" vs QDQ ref {m['vs_qdq_reference']}" if "vs_qdq_reference" in m else ""),
              flush=True)
    return {"cpu": cpu_info(), "onnxruntime": ort.__version__, "bundle": str(bundle),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "windows": {"fold9": int(len(data.x_val)), "fold10": int(len(data.x_test))},
            "reference": {"artifact": "onnx_fp32 on this CPU", "val_macro_auc": round(ref["val"]["macro_auc"], 6),
                          "test_macro_auc": round(ref["test"]["macro_auc"], 6)},
            "gate": {"max_auc_drop": E.MAX_AUC_DROP, "max_decision_flip_rate": E.MAX_FLIP_RATE},
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
    lines += ["", f"Reproduce: `{command}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=str(REPO / "models" / "tgllnet-edge-superdiagnostic"))
    ap.add_argument("--data", help="dataset root (default: the card's provenance path)")
    ap.add_argument("--extra", action="append", default=[], help="NAME=FILE: another model file to measure")
    ap.add_argument("--out", default=str(REPO / "tools" / "results"), help="directory for int8_<family>.{json,md}")
    ap.add_argument("--suffix", default="", help="appended to the output file names")
    args = ap.parse_args(argv)
    extra = {}
    for item in args.extra:
        name, _, file = item.partition("=")
        extra[name] = Path(file)
    r = measure(Path(args.bundle), args.data, extra)
    command = "python tools/int8_by_cpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    r["command"] = command.strip()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"int8_{r['cpu']['family']}{args.suffix}"
    (out / f"{stem}.json").write_text(json.dumps(r, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(r, r["command"]))
    print(f"wrote {out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
