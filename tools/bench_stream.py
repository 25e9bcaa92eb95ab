"""Streaming benchmark: the whole gateway path on ONE core.

    python tools/bench_stream.py                     # the default bundle
    python tools/bench_stream.py --model models/X    # another bundle
    python tools/bench_stream.py --tiny              # the tiny test model (tests/stream/tiny_bundle.py)

What it measures:

1. Throughput and latency in process. The bundled PTB-XL 500 Hz record (looped
   to ``--seconds`` of signal) is encoded exactly as the emulator sends it (INFO,
   then DATA packets of 40 samples x 8 channels of int24 counts, COBS + CRC) into
   bytes in memory; those bytes are fed in serial-read-sized chunks (``--chunk``
   bytes) to the link decoder -> timeline -> Pipeline (8->12 leads, card
   preprocessing, 1 s hop, quality gate, model) as fast as possible. x real
   time = signal seconds / wall seconds. Latency per window: from the moment the
   chunk holding the window's last needed sample is handed to the decoder, to the
   window's finding being ready (on_window callback). A bundle with a streaming split
   (``tgll_edge.incremental``) runs its graph stage on each hop's new samples only; the
   whole-model figure (``incremental=False``) is written too.
2. Peak RSS of a real ``tgll-stream --replay REC --fast --json --hop 1``
   subprocess on the same looped record: ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
   taken in a small launcher process that starts it. (Not in this process: Linux
   folds the RSS of the image a child was forked from into the child's maxrss at
   exec, so a child of this large process would report at least this process's
   own RSS.)

One core: the process pins itself to one CPU (sched_setaffinity), OMP/MKL/
onnxruntime threads = 1; the subprocess runs under ``taskset`` when available.
Writes tools/results/bench_stream.json and .md.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"x_real_time": 200.0, "median_latency_ms": 50.0, "peak_rss_mb": 150.0}


def encode_stream(mv8: np.ndarray, fs: int, spp: int = 40) -> tuple[bytes, list[tuple[int, int]]]:
    """(8, n) mV -> wire bytes as the emulator sends them, and (byte offset, samples so far) per packet end."""
    from tgll_edge.link.blocks import DeviceInfo
    from tgll_edge.link.emulator import ADS1298_UV_PER_COUNT, to_counts
    from tgll_edge.link.protocol import Data, encode_packet, int32_to_int24
    from tgll_edge.signal.leads import LEADS_8

    info = DeviceInfo(fs=fs, n_channels=8, uv_per_count=ADS1298_UV_PER_COUNT, lead_set=0, labels=LEADS_8,
                      device_id="BENCH", firmware="bench")
    counts = to_counts(mv8, ADS1298_UV_PER_COUNT).T  # (n, 8)
    out = bytearray(encode_packet(info, seq=0, sample_index=0))
    marks = []
    seq = 1
    for a in range(0, counts.shape[0] - spp + 1, spp):
        body = Data(8, spp, 0, int32_to_int24(counts[a:a + spp]))
        out += encode_packet(body, seq=seq, sample_index=a)
        seq += 1
        marks.append((len(out), a + spp))
    return bytes(out), marks


class BytesSource:
    """Feeds pre-encoded wire bytes in chunks to the link receiver; remembers when each chunk went in."""

    def __init__(self, wire: bytes, chunk: int):
        from tgll_edge.link.receiver import LinkReceiver

        self.wire, self.chunk = wire, chunk
        self.rx = LinkReceiver(clock=None)
        self.feeds: list[tuple[int, float]] = []  # (samples delivered after this chunk, perf_counter at feed)
        self._samples = 0

    @property
    def stats(self):
        return self.rx.stats

    def close(self):
        pass

    def __iter__(self):
        for a in range(0, len(self.wire), self.chunk):
            t = time.perf_counter()
            events = self.rx.feed(self.wire[a:a + self.chunk])
            for ev in events:
                n = getattr(ev, "n", 0)
                if n:
                    self._samples = ev.index + n
            self.feeds.append((self._samples, t))
            yield from events


def run_in_process(model, mv8: np.ndarray, fs: int, hop: float, chunk: int, sinks=(), rhythm: bool = True,
                   incremental: bool = True) -> dict:
    from tgll_edge.stream import Pipeline

    wire, _ = encode_stream(mv8, fs)
    src = BytesSource(wire, chunk)
    ready: list[tuple[float, float]] = []  # (t_end, perf_counter when the finding was ready)
    pipe = Pipeline(src, model, hop_s=hop, sinks=list(sinks), rhythm=rhythm, incremental=incremental,
                    on_window=lambda f: ready.append((f.t_end, time.perf_counter())))
    t0 = time.perf_counter()
    pipe.run()
    wall = time.perf_counter() - t0
    delivered = np.array([s for s, _ in src.feeds])
    fed_at = np.array([t for _, t in src.feeds])
    lat = []
    for t_end, t_ready in ready:
        last_sample = int(math.floor((t_end * model.fs - 1) * fs / model.fs + 1e-9))  # index of last needed sample
        k = int(np.searchsorted(delivered, last_sample + 1))  # first chunk after which it was there
        lat.append((t_ready - fed_at[k]) * 1000.0)
    lat = np.array(lat)
    signal_s = mv8.shape[1] / fs
    s = pipe.summary()
    return {"signal_seconds": signal_s, "wall_seconds": wall, "x_real_time": signal_s / wall,
            "windows": s["windows"], "skipped_windows": s["skipped_windows"], "bytes": len(wire),
            "packets": s["packets"], "crc_errors": s["crc_errors"],
            "median_latency_ms": float(np.median(lat)), "p95_latency_ms": float(np.percentile(lat, 95)),
            "max_latency_ms": float(lat.max()),
            # windows whose graph stage ran on the new samples only (the bundle's streaming split)
            "incremental_windows": pipe._scorer.counts["reused"] if pipe._scorer is not None else 0}


#: runs argv[2:] and writes its peak RSS (kB) to argv[1]; being small, its own RSS does not leak into the child's
_LAUNCHER = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
             "sys.exit(rc)")


def rhythm_step_ms(mv8: np.ndarray, fs: int, n: int = 200) -> dict:
    """CPU time of the rhythm + SQI step (tgll_edge.signal.rhythm.analyze) on n 10-s raw windows."""
    from tgll_edge.signal import LEADS_12, derive_12, rhythm

    x12 = derive_12(mv8[:, : int(fs * (10 + n))])
    t = []
    for i in range(n):
        w = x12[:, i * fs: i * fs + 10 * fs]
        t0 = time.process_time()
        rhythm.analyze(w, fs, LEADS_12)
        t.append((time.process_time() - t0) * 1000)
    return {"rhythm_ms_median": float(np.median(t)), "rhythm_ms_p95": float(np.percentile(t, 95))}


def peak_rss_of_cli(model_dir: Path, mv8: np.ndarray, fs: int, hop: float, artifact: str | None,
                    extra=(), env=None) -> dict:
    import wfdb

    from tgll_edge.signal.leads import LEADS_8

    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        wfdb.wrsamp("looped", fs=fs, units=["mV"] * 8, sig_name=list(LEADS_8), p_signal=mv8.T,
                    fmt=["16"] * 8, adc_gain=[1000.0] * 8, baseline=[0] * 8, write_dir=str(tmp))
        cmd = [sys.executable, "-m", "tgll_edge.cli.stream", "--replay", str(tmp / "looped"), "--fast", "--json",
               "--hop", str(hop), "--model", str(model_dir)] + (["--artifact", artifact] if artifact else []) \
            + list(extra)
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0])] + cmd
        rss_file = tmp / "maxrss_kb"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(rss_file)] + cmd, capture_output=True, text=True,
                              env=dict(env or os.environ))
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"tgll-stream failed: {proc.stderr[-2000:]}")
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        rss_kb = int(rss_file.read_text())
        return {"peak_rss_mb": rss_kb / 1024.0, "cli_wall_seconds": wall, "cli_windows": summary["windows"],
                "cli_x_real_time_incl_startup": mv8.shape[1] / fs / wall, "command": " ".join(cmd[-11:])}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- electrodes off in the stream ---------------------------------------------------

#: the scenarios over the looped record: (name, [(electrode, t0, t1) seconds], what it shows)
def electrode_scenarios(seconds: float) -> list[tuple[str, list, str]]:
    return [("clean", [], "no electrode off"),
            ("V3 off, first half", [("V3", 0.0, seconds / 2)], f"V3 off 0-{seconds / 2:g} s"),
            ("LA off 20 s", [("LA", 60.0, 80.0)], "LA off 60-80 s")]


def encode_with_electrodes_off(mv8: np.ndarray, fs: int, schedule, spp: int = 40) -> bytes:
    """As ``encode_stream``, with the electrode-off schedule applied as the emulator does
    (tgll-emulate --electrode-off): the channels using an electrode that is off carry 0 and
    their lead-off bits are set, by the firmware's rule."""
    from tgll_edge.link.blocks import DeviceInfo
    from tgll_edge.link.emulator import ADS1298_UV_PER_COUNT, to_counts
    from tgll_edge.link.protocol import Data, encode_packet, int32_to_int24
    from tgll_edge.signal.electrodes import channel_off_bits
    from tgll_edge.signal.leads import LEADS_8

    info = DeviceInfo(fs=fs, n_channels=8, uv_per_count=ADS1298_UV_PER_COUNT, lead_set=0, labels=LEADS_8,
                      device_id="BENCH", firmware="bench")
    counts = to_counts(mv8, ADS1298_UV_PER_COUNT).T.copy()  # (n, 8)
    bits = np.zeros(counts.shape[0], dtype=np.uint32)
    t = np.arange(counts.shape[0]) / fs
    for electrode, t0, t1 in schedule:
        on = (t >= t0) & (t < t1)
        b = channel_off_bits(LEADS_8, [electrode])
        bits[on] |= b
        counts[np.ix_(np.flatnonzero(on), [c for c in range(8) if b >> c & 1])] = 0
    out = bytearray(encode_packet(info, seq=0, sample_index=0))
    for seq, a in enumerate(range(0, counts.shape[0] - spp + 1, spp), start=1):
        off = int(np.bitwise_or.reduce(bits[a:a + spp]))
        out += encode_packet(Data(8, spp, off, int32_to_int24(counts[a:a + spp])), seq=seq, sample_index=a)
    return bytes(out)


def measure_electrodes(model, mv8: np.ndarray, fs: int, hop: float, chunk: int) -> dict:
    """Per scenario: windows, the share that still gets a finding, the leads used, the card's
    fold-9 macro-AUC of the lead set used (mean over the windows with a finding: the expected
    AUC cost against all 12 leads), and how far the probabilities moved from the clean run."""
    from tgll_edge.stream import Pipeline

    full_auc = model.lead_set_auc(model.leads)[1] if getattr(model, "lead_set_aware", False) else \
        (model.card.get("reference") or {}).get("val_macro_auc")
    out, clean = {}, None
    for name, schedule, what in electrode_scenarios(mv8.shape[1] / fs):
        found = []
        src = BytesSource(encode_with_electrodes_off(mv8, fs, schedule), chunk)
        pipe = Pipeline(src, model, hop_s=hop, on_window=found.append)
        t0 = time.perf_counter()
        pipe.run()
        wall = time.perf_counter() - t0
        scored = [f for f in found if not f.skipped]
        probs = {round(f.t_start, 3): np.array([f.probabilities[k] for k in model.labels]) for f in scored}
        aucs = [f.lead_set_auc if f.lead_set_auc is not None else (full_auc if len(f.leads_used or []) == 12
                                                                   else None) for f in scored]
        known = [a for a in aucs if a is not None]
        n_leads: dict = {}
        for f in scored:
            n_leads[len(f.leads_used or [])] = n_leads.get(len(f.leads_used or []), 0) + 1
        row = {"what": what, "windows": len(found), "with_finding": len(scored),
               "share_with_finding": len(scored) / len(found) if found else 0.0,
               # scored although a lead-off bit was set in the window: that lead's zeros went into the model
               "scored_with_an_off_lead_in_the_input": sum(
                   1 for f in scored if set(f.quality.lead_off) and len(f.leads_used or []) == 12),
               "windows_by_leads_used": {str(k): v for k, v in sorted(n_leads.items(), reverse=True)},
               "mean_lead_set_val_auc": float(np.mean(known)) if known else None,
               "windows_without_known_auc": len(aucs) - len(known),
               "expected_auc_cost_vs_12": round(full_auc - float(np.mean(known)), 6) + 0.0 if known and full_auc
               else None,
               "x_real_time": mv8.shape[1] / fs / wall,
               "skip_reasons": sorted({r for f in found if f.skipped for r in f.quality.reasons})[:5]}
        if clean is None:
            clean = probs
        else:
            d = [np.abs(p - clean[t]).max() for t, p in probs.items() if t in clean]
            row["max_abs_prob_change_vs_clean"] = float(np.max(d)) if d else None
            row["mean_abs_prob_change_vs_clean"] = float(np.mean(d)) if d else None
        out[name] = row
    out["_model"] = {"name": model.card["name"], "artifact": model.artifact,
                     "test_model": "test" in str((model.card.get("provenance") or {}).get("note", "")),
                     "lead_set_aware": bool(getattr(model, "lead_set_aware", False)), "val_auc_12": full_auc}
    return out


def electrodes_markdown(results: dict) -> str:
    lines = ["", "## Electrodes off in the stream", "",
             "The looped record encoded as device packets with an electrode-off schedule applied as "
             "`tgll-emulate --electrode-off` does (channels using the electrode carry 0, lead-off bits by the "
             "firmware's rule). AUC: the card's fold-9 macro-AUC of the lead set each scored window used "
             "(for a 12-lead bundle, its 12-lead fold-9 AUC for every scored window: it always uses all 12 "
             "leads, including a lead that is off for less than half the window).", "",
             "| model | scenario | windows | with a finding | of those, with an off lead's zeros in the input "
             "| leads used (windows) | mean lead-set fold-9 AUC | expected AUC cost | max abs prob change vs clean |",
             "|---|---|---|---|---|---|---|---|---|"]
    for res in results.values():
        m = res["_model"]
        for name, r in res.items():
            if name.startswith("_"):
                continue
            auc = "" if r["mean_lead_set_val_auc"] is None else f"{r['mean_lead_set_val_auc']:.4f}"
            cost = "" if r["expected_auc_cost_vs_12"] is None else f"{r['expected_auc_cost_vs_12']:.4f}"
            dp = r.get("max_abs_prob_change_vs_clean")
            lu = ", ".join(f"{k}: {v}" for k, v in r["windows_by_leads_used"].items())
            tag = " (random test model: its AUCs are made up)" if m.get("test_model") else ""
            lines.append(f"| {m['name']} ({m['artifact']}){tag} | {r['what']} | {r['windows']} | {r['with_finding']} "
                         f"({100 * r['share_with_finding']:.1f}%) | {r['scored_with_an_off_lead_in_the_input']} | "
                         f"{lu} | {auc} | {cost} | "
                         f"{'' if dp is None else f'{dp:.3f}'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="bundle directory (default: the default bundle)")
    p.add_argument("--artifact", default=None, help="artifact (default: the card's default)")
    p.add_argument("--tiny", action="store_true", help="use the tiny linear test bundle (numbers are not final)")
    p.add_argument("--seconds", type=float, default=600.0, help="seconds of signal (the record looped; default 600)")
    p.add_argument("--hop", type=float, default=1.0, help="window hop in seconds (default 1)")
    p.add_argument("--chunk", type=int, default=4096, help="bytes per decoder feed, like one serial read (default 4096)")
    p.add_argument("--out", default=str(ROOT / "tools" / "results" / "bench_stream"),
                   help="output path without suffix (.json and .md are written)")
    p.add_argument("--sinks", action="store_true",
                   help="also measure with the MQTT, LSL and BDF+ sinks on, the MQTT queue's disk use per hour "
                        "and its backlog drain (tools/bench_uplink.py; needs the [mqtt,lsl] extras, mosquitto)")
    p.add_argument("--electrodes", action="store_true",
                   help="also measure the record with V3 off for half of it and with LA off for 20 s: "
                        "windows that still get a finding and the AUC cost, for this model and --leadset-model")
    p.add_argument("--leadset-model", action="append", default=[], metavar="DIR",
                   help="with --electrodes: a lead-set-aware bundle to measure too (repeatable)")
    a = p.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from tgll_edge.link.emulator import DEFAULT_RECORD, load_record
    from tgll_edge.runtime import default_bundle_dir, load_model

    if a.tiny:
        sys.path.insert(0, str(ROOT / "tests" / "stream"))
        from tiny_bundle import make_tiny_bundle
        model_dir = make_tiny_bundle(Path(tempfile.mkdtemp(prefix="tiny-bundle-")) / "tiny")
    else:
        model_dir = Path(a.model) if a.model else default_bundle_dir()
    model = load_model(model_dir, artifact=a.artifact, threads=1)
    mv, fs = load_record(DEFAULT_RECORD)
    reps = int(math.ceil(a.seconds * fs / mv.shape[1]))
    mv8 = np.tile(mv, reps)[:, : int(a.seconds * fs)]
    print(f"bench_stream: {model.card['name']} ({model.artifact}), {a.seconds:g} s of {DEFAULT_RECORD.name} at "
          f"{fs:g} Hz, hop {a.hop:g} s, one core", flush=True)

    res = run_in_process(model, mv8, int(fs), a.hop, a.chunk)
    res["without_rhythm"] = run_in_process(model, mv8, int(fs), a.hop, a.chunk, rhythm=False)
    res["without_split"] = run_in_process(model, mv8, int(fs), a.hop, a.chunk, incremental=False)
    res.update(rhythm_step_ms(mv8, int(fs)))
    res.update(peak_rss_of_cli(model_dir, mv8, int(fs), a.hop, a.artifact))
    res.update({"model": model.card["name"], "artifact": model.artifact, "tiny_test_model": a.tiny,
                "hop_s": a.hop, "device_fs": fs, "chunk_bytes": a.chunk, "record": DEFAULT_RECORD.name,
                "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                "date": time.strftime("%Y-%m-%d %H:%M:%S"), "targets": TARGETS})
    res["meets_targets"] = {
        "x_real_time": res["x_real_time"] >= TARGETS["x_real_time"],
        "median_latency_ms": res["median_latency_ms"] < TARGETS["median_latency_ms"],
        "peak_rss_mb": res["peak_rss_mb"] < TARGETS["peak_rss_mb"]}

    if a.sinks:
        from bench_uplink import measure
        res["sinks"] = measure(run_in_process, peak_rss_of_cli, model, model_dir, mv8, int(fs), a.hop, a.chunk,
                               a.artifact)
    if a.electrodes:
        res["electrodes"] = {model.card["name"]: measure_electrodes(model, mv8, int(fs), a.hop, a.chunk)}
        for d in a.leadset_model:
            ls = load_model(d, threads=1)
            res["electrodes"][ls.card["name"]] = measure_electrodes(ls, mv8, int(fs), a.hop, a.chunk)
            if ls.card["name"] != model.card["name"]:  # the speed targets with the lead-set bundle too
                sp = run_in_process(ls, mv8, int(fs), a.hop, a.chunk)
                sp.update(peak_rss_of_cli(Path(d), mv8, int(fs), a.hop, None))
                res["electrodes"][ls.card["name"]]["_speed"] = sp
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    ok = lambda k: "yes" if res["meets_targets"][k] else "NO"  # noqa: E731
    md = "\n".join([
        f"# Streaming benchmark ({res['date']})",
        "",
        f"Model `{res['model']}` ({res['artifact']}){' - tiny TEST model, numbers not final' if a.tiny else ''}; "
        f"{res['signal_seconds']:g} s of {res['record']} at {fs:g} Hz, encoded as device packets and decoded; "
        f"hop {a.hop:g} s; one core.",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        f"| x real time (decode -> findings) | {res['x_real_time']:.0f}x | >= 200x | {ok('x_real_time')} |",
        f"| median latency, last sample -> finding | {res['median_latency_ms']:.2f} ms | < 50 ms | "
        f"{ok('median_latency_ms')} |",
        f"| p95 latency | {res['p95_latency_ms']:.2f} ms | | |",
        f"| peak RSS of `tgll-stream --replay --fast --json` | {res['peak_rss_mb']:.0f} MB | < 150 MB | "
        f"{ok('peak_rss_mb')} |",
        f"| windows | {res['windows']} ({res['skipped_windows']} skipped) | | |",
        f"| rhythm + SQI step per window (median / p95 CPU) | {res['rhythm_ms_median']:.2f} / "
        f"{res['rhythm_ms_p95']:.2f} ms | | |",
        f"| without the rhythm step: x real time, median latency | {res['without_rhythm']['x_real_time']:.0f}x, "
        f"{res['without_rhythm']['median_latency_ms']:.2f} ms | | |",
        f"| windows scored incrementally (graph stage on the new samples only) | {res['incremental_windows']} "
        f"of {res['windows']} | | |",
        f"| the whole model on every window (no streaming split): x real time, median latency | "
        f"{res['without_split']['x_real_time']:.0f}x, {res['without_split']['median_latency_ms']:.2f} ms | | |",
        "",
    ])
    if a.sinks:
        from bench_uplink import markdown
        md += markdown(res["sinks"])
    if a.electrodes:
        md += electrodes_markdown(res["electrodes"])
        for name, r in res["electrodes"].items():
            sp = r.get("_speed")
            if sp:
                md += (f"\nSpeed with `{name}`: {sp['x_real_time']:.0f}x real time, median latency "
                       f"{sp['median_latency_ms']:.2f} ms (p95 {sp['p95_latency_ms']:.2f}), peak RSS "
                       f"{sp['peak_rss_mb']:.0f} MB.\n")
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
