"""Dashboard benchmark: the stream targets with the dashboard serving two clients, and the
page's own CPU in headless Chromium.

    python tools/bench_dashboard.py                  # all three parts, ~2.5 min
    python tools/bench_dashboard.py --page-seconds 20  # a shorter page measurement

1. In process, the pipeline pinned to one core (as tools/bench_stream.py): the
   bundled 500 Hz record looped to ``--seconds``, encoded as device packets and
   decoded, hop 1 s, with a DashboardSink serving two clients (two ``curl -N``
   processes reading /events, on the other core) for the whole run. x real time
   and latency exactly as bench_stream measures them; the same run without the
   dashboard right before it, for comparison; frames sent/dropped per client.
2. Peak RSS of a real ``tgll-stream --replay REC --fast --json --hop 1 --serve
   127.0.0.1:0`` (pinned to one core) with two ``curl -N`` clients connected as
   soon as it prints its URL, from ``os.wait4`` in a small launcher process.
3. The page in headless Chromium (Debian's, via Selenium) on a real-time
   ``tgll-stream --emulate --hop 1 --serve``: over ``--page-seconds`` after the
   first window, the renderer's main-thread busy time (DevTools
   ``Performance.getMetrics`` TaskDuration / ScriptDuration) and the CPU time
   of Chromium's processes from /proc (renderer, and all of them), as % of one core.

Writes tools/results/bench_dashboard.json and .md.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "dashboard"))
TARGETS = {"x_real_time": 200.0, "median_latency_ms": 50.0, "peak_rss_mb": 150.0}
CLK = os.sysconf("SC_CLK_TCK")


def _cores():
    cores = sorted(os.sched_getaffinity(0))
    return cores[0], (cores[1] if len(cores) > 1 else cores[0])


def _curl(url: str, core: int) -> subprocess.Popen:
    """A client that reads the event stream as fast as it comes and counts the frames."""
    pin = f"taskset -c {core} " if shutil.which("taskset") else ""
    return subprocess.Popen(["bash", "-c", f"{pin}curl -sN '{url}' | grep -c '^data:'"],
                            stdout=subprocess.PIPE, text=True)


def _run(model, wire: bytes, mv8: np.ndarray, fs: int, hop: float, chunk: int, sinks: list) -> dict:
    """One pass of the whole gateway path over pre-encoded bytes (as bench_stream.run_in_process, with sinks)."""
    from bench_stream import BytesSource

    from tgll_edge.stream import Pipeline

    src = BytesSource(wire, chunk)
    ready: list[tuple[float, float]] = []
    pipe = Pipeline(src, model, hop_s=hop, sinks=sinks,
                    on_window=lambda f: ready.append((f.t_end, time.perf_counter())))
    t0, c0, th0 = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in pipe:  # sinks are closed at the end: the server sends the last frame and ends the streams
        pass
    wall = time.perf_counter() - t0
    cpu, thread_cpu = time.process_time() - c0, time.thread_time() - th0
    delivered = np.array([s for s, _ in src.feeds])
    fed_at = np.array([t for _, t in src.feeds])
    lat = []
    for t_end, t_ready in ready:
        last_sample = int(math.floor((t_end * model.fs - 1) * fs / model.fs + 1e-9))
        k = int(np.searchsorted(delivered, last_sample + 1))
        lat.append((t_ready - fed_at[k]) * 1000.0)
    lat = np.array(lat)
    s = pipe.summary()
    signal_s = mv8.shape[1] / fs
    return {"signal_seconds": signal_s, "wall_seconds": wall, "x_real_time": signal_s / wall,
            "cpu_seconds": cpu, "x_real_time_cpu": signal_s / cpu, "pipeline_thread_cpu_seconds": thread_cpu,
            "median_latency_ms": float(np.median(lat)), "p95_latency_ms": float(np.percentile(lat, 95)),
            "max_latency_ms": float(lat.max()), "windows": s["windows"], "skipped_windows": s["skipped_windows"]}


def in_process(model, mv8: np.ndarray, fs: int, hop: float, chunk: int, clients: int, repeats: int = 2) -> dict:
    """Runs without and with the dashboard, alternating, ``repeats`` times each; the best of each is kept
    (the machine is shared: the best pass is the one least disturbed by other jobs)."""
    from bench_stream import encode_stream

    from tgll_edge.dashboard import DashboardServer, DashboardSink

    wire, _ = encode_stream(mv8, fs)
    bases, withs = [], []
    for _ in range(repeats):
        bases.append(_run(model, wire, mv8, fs, hop, chunk, []))
        server = DashboardServer("127.0.0.1", 0)
        sink = DashboardSink(server)
        procs = [_curl(server.url + "events", _cores()[1]) for _ in range(clients)]
        deadline = time.monotonic() + 20
        while server.hub.stats()["clients"] < clients and time.monotonic() < deadline:
            time.sleep(0.05)
        connected = server.hub.stats()["clients"]
        r = _run(model, wire, mv8, fs, hop, chunk, [sink])
        r.update({"clients_connected_at_start": connected,
                  "frames_received_per_client": [int((p.communicate(timeout=30)[0] or "0").strip() or 0)
                                                 for p in procs],
                  "hub_totals": server.hub.stats()["totals"], "publish_errors": server.publish_errors})
        withs.append(r)
    best = max(withs, key=lambda r: r["x_real_time"])
    base = max(bases, key=lambda r: r["x_real_time"])
    best["all_passes_x_real_time"] = [round(r["x_real_time"], 1) for r in withs]
    base["all_passes_x_real_time"] = [round(r["x_real_time"], 1) for r in bases]
    best["baseline_without_dashboard"] = base
    return best


_LAUNCHER = r"""
import os, re, subprocess, sys, json, shutil
core_client = sys.argv[1]
proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
url, err = None, []
for line in proc.stderr:
    err.append(line)
    m = re.search(r"dashboard at (http://\S+)", line)
    if m:
        url = m.group(1)
        break
pin = f"taskset -c {core_client} " if shutil.which("taskset") else ""
curls = [subprocess.Popen(["bash", "-c", f"{pin}curl -sN '{url}events' | grep -c '^data:'"],
                          stdout=subprocess.PIPE, text=True) for _ in range(2)] if url else []
import threading
out = []
threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True).start()
threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
_, status, ru = os.wait4(proc.pid, 0)
frames = [int((c.communicate(timeout=30)[0] or "0").strip() or 0) for c in curls]
import time; time.sleep(0.2)
last = (out[0] if out else "").strip().splitlines()[-1:] or ["{}"]
print(json.dumps({"maxrss_kb": ru.ru_maxrss, "status": status, "frames": frames, "summary": json.loads(last[0]),
                  "url": url, "stderr": "".join(err)[-2000:]}))
"""


def cli_rss(mv8: np.ndarray, fs: int, hop: float) -> dict:
    import wfdb

    from tgll_edge.signal.leads import LEADS_8

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    try:
        wfdb.wrsamp("looped", fs=fs, units=["mV"] * 8, sig_name=list(LEADS_8), p_signal=mv8.T,
                    fmt=["16"] * 8, adc_gain=[1000.0] * 8, baseline=[0] * 8, write_dir=str(tmp))
        core, other = _cores()
        cmd = [sys.executable, "-m", "tgll_edge.cli.stream", "--replay", str(tmp / "looped"), "--fast", "--json",
               "--hop", str(hop), "--serve", "127.0.0.1:0"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(core)] + cmd
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(other)] + cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if res["status"] != 0:
            raise RuntimeError(f"tgll-stream failed: {res['stderr']}")
        return {"peak_rss_mb": res["maxrss_kb"] / 1024.0, "cli_wall_seconds": wall,
                "cli_windows": res["summary"].get("windows"), "cli_frames_received_per_client": res["frames"],
                "cli_command": "tgll-stream --replay looped-600s --fast --json --hop 1 --serve 127.0.0.1:0 "
                               "(taskset one core; 2 x curl -N /events)"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _proc_cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK
    except (OSError, IndexError):
        return 0.0


def _chromium_pids(root_pid: int) -> dict[int, str]:
    """Descendants of root_pid: pid -> process type (browser, renderer, gpu-process, utility...)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        for c in children.get(pid, []):
            try:
                cmdline = (Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace")
            except OSError:
                continue
            m = re.search(r"--type=(\S+)", cmdline)
            out[c] = m.group(1) if m else ("browser" if "chrom" in cmdline else "other")
            todo.append(c)
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def page_cpu(seconds: float, hop: float) -> dict:
    from dashkit import Browser, require_browser

    require_browser()
    cmd = [sys.executable, "-m", "tgll_edge.cli.stream", "--emulate", "--hop", str(hop), "--quiet",
           "--serve", "127.0.0.1:0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    b = None
    try:
        url = None
        for line in proc.stderr:
            m = re.search(r"dashboard at (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        b = Browser()
        b.driver.get(url)
        b.wait("window.tgll && tgll.findings.length > 0", 60, "the first window")
        b.driver.execute_cdp_cmd("Performance.enable", {})
        chrome_root = b.driver.service.process.pid

        def sample():
            m = {x["name"]: x["value"] for x in b.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
            pids = _chromium_pids(chrome_root)
            cpu = {pid: _proc_cpu_s(pid) for pid in pids}
            return time.monotonic(), m, pids, cpu, _proc_cpu_s(proc.pid), b.js("return [tgll.frames, tgll.renders]")

        t0, m0, pids0, cpu0, gw0, fr0 = sample()
        rss0 = _rss_mb(proc.pid)
        # meanwhile, ten more clients connect and disconnect in a loop (curl, a few seconds each)
        churn = subprocess.Popen(["bash", "-c", f"end=$((SECONDS+{int(seconds) - 5})); while [ $SECONDS -lt $end ]; "
                                  f"do for i in $(seq 10); do timeout $((RANDOM % 3 + 1)) curl -sN '{url}events' "
                                  "-o /dev/null & done; wait; done"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        time.sleep(seconds)
        churn.wait(timeout=60)
        t1, m1, pids1, cpu1, gw1, fr1 = sample()
        rss1 = _rss_mb(proc.pid)
        wall = t1 - t0
        renderer = sum(cpu1[p] - cpu0.get(p, 0.0) for p, kind in pids1.items() if kind == "renderer")
        every = sum(cpu1[p] - cpu0.get(p, 0.0) for p in pids1)
        return {"page_seconds": round(wall, 1),
                "task_duration_pct": 100.0 * (m1["TaskDuration"] - m0["TaskDuration"]) / wall,
                "script_duration_pct": 100.0 * (m1["ScriptDuration"] - m0["ScriptDuration"]) / wall,
                "layout_duration_pct": 100.0 * (m1["LayoutDuration"] - m0["LayoutDuration"]) / wall,
                "renderer_cpu_pct": 100.0 * renderer / wall, "all_chromium_cpu_pct": 100.0 * every / wall,
                "gateway_cpu_pct": 100.0 * (gw1 - gw0) / wall,
                "gateway_rss_mb_start": rss0, "gateway_rss_mb_end": rss1,
                "churn_clients": "10 curl -N /events at a time, each 1-3 s, for the whole measurement",
                "frames_per_s": (fr1[0] - fr0[0]) / wall, "renders_per_s": (fr1[1] - fr0[1]) / wall,
                "js_heap_used_mb": m1.get("JSHeapUsedSize", 0) / 2 ** 20,
                "page_command": "tgll-stream --emulate --hop 1 --quiet --serve 127.0.0.1:0 (real time), "
                                "headless Chromium 1400x1100"}
    finally:
        if b is not None:
            b.close()
        proc.terminate()
        proc.wait(timeout=30)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=600.0, help="seconds of signal for parts 1-2 (default 600)")
    p.add_argument("--hop", type=float, default=1.0)
    p.add_argument("--chunk", type=int, default=4096)
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--page-seconds", type=float, default=60.0, help="page CPU measured over this long (default 60)")
    p.add_argument("--skip-page", action="store_true")
    p.add_argument("--out", default=str(ROOT / "tools" / "results" / "bench_dashboard"))
    a = p.parse_args(argv)

    from tgll_edge.link.emulator import DEFAULT_RECORD, load_record
    from tgll_edge.runtime import load_model

    mv, fs = load_record(DEFAULT_RECORD)
    reps = int(math.ceil(a.seconds * fs / mv.shape[1]))
    mv8 = np.tile(mv, reps)[:, : int(a.seconds * fs)]
    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu": platform.processor() or platform.machine(),
           "cores": os.cpu_count(), "python": platform.python_version(), "targets": TARGETS,
           "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
           "command": "python tools/bench_dashboard.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    if not a.skip_page:  # first, while this process is small
        print("bench_dashboard: page CPU in headless Chromium ...", flush=True)
        res["page"] = page_cpu(a.page_seconds, a.hop)
    print("bench_dashboard: tgll-stream --serve peak RSS ...", flush=True)
    res.update(cli_rss(mv8, int(fs), a.hop))
    core, _ = _cores()
    os.sched_setaffinity(0, {core})
    model = load_model(None, threads=1)
    print(f"bench_dashboard: in process, {a.seconds:g} s, {a.clients} clients ...", flush=True)
    res.update(in_process(model, mv8, int(fs), a.hop, a.chunk, a.clients))
    res.update({"model": model.card["name"], "artifact": model.artifact,
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()]})
    res["meets_targets"] = {"x_real_time": res["x_real_time"] >= TARGETS["x_real_time"],
                            "median_latency_ms": res["median_latency_ms"] < TARGETS["median_latency_ms"],
                            "peak_rss_mb": res["peak_rss_mb"] < TARGETS["peak_rss_mb"]}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2) + "\n")
    ok = lambda k: "yes" if res["meets_targets"][k] else "NO"  # noqa: E731
    base = res["baseline_without_dashboard"]
    lines = [
        f"# Dashboard benchmark ({res['date']})",
        "",
        f"`{res['command'].strip()}`. Model `{res['model']}` ({res['artifact']}); {res['signal_seconds']:g} s of "
        f"the bundled 500 Hz record as device packets, hop {a.hop:g} s, the pipeline on one core, "
        f"the dashboard serving {a.clients} clients (`curl -N /events`, other core). {res['cores']} cores, "
        f"shared with other jobs: load average {res['load_average_at_start'][0]:.1f} at the start, "
        f"{res['load_average_at_end'][0]:.1f} at the end.",
        "",
        "| measure | with dashboard | without | target | met |",
        "|---|---|---|---|---|",
        f"| x real time (wall clock) | {res['x_real_time']:.0f}x | {base['x_real_time']:.0f}x | >= 200x | "
        f"{ok('x_real_time')} |",
        f"| x real time per CPU second of the process (all its threads) | {res['x_real_time_cpu']:.0f}x | "
        f"{base['x_real_time_cpu']:.0f}x | | |",
        f"| median latency | {res['median_latency_ms']:.2f} ms | {base['median_latency_ms']:.2f} ms | < 50 ms | "
        f"{ok('median_latency_ms')} |",
        f"| p95 latency | {res['p95_latency_ms']:.2f} ms | {base['p95_latency_ms']:.2f} ms | | |",
        f"| peak RSS, `tgll-stream --replay --fast --json --serve` + 2 clients | {res['peak_rss_mb']:.0f} MB | "
        f"(bench_stream.md) | < 150 MB | {ok('peak_rss_mb')} |",
        f"| windows | {res['windows']} | {base['windows']} | | |",
        f"| frames per client (in process / CLI) | {res['frames_received_per_client']} / "
        f"{res['cli_frames_received_per_client']} | | | |",
        f"| frames dropped (in process) | {res['hub_totals']['dropped']} of {res['hub_totals']['offered']} | | | |",
        "",
    ]
    if "page" in res:
        pg = res["page"]
        lines += [
            f"Page in headless Chromium over {pg['page_seconds']:g} s of a real-time `--emulate` stream "
            f"({pg['frames_per_s']:.1f} frames/s, {pg['renders_per_s']:.1f} redraws/s), % of one core:",
            "",
            "| renderer main thread busy (TaskDuration) | of it JS (ScriptDuration) | renderer process CPU | "
            "all Chromium processes | the gateway (tgll-stream + emulator) | gateway RSS start -> end | JS heap |",
            "|---|---|---|---|---|---|---|",
            f"| {pg['task_duration_pct']:.1f}% | {pg['script_duration_pct']:.1f}% | {pg['renderer_cpu_pct']:.1f}% | "
            f"{pg['all_chromium_cpu_pct']:.1f}% | {pg['gateway_cpu_pct']:.1f}% | {pg['gateway_rss_mb_start']:.0f} -> "
            f"{pg['gateway_rss_mb_end']:.0f} MB | {pg['js_heap_used_mb']:.1f} MB |",
            "",
            "During the measurement ten more clients (`curl -N /events`, 1-3 s each) connected and disconnected "
            "in a loop.",
            "",
        ]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
