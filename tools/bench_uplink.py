"""The uplink part of the streaming benchmark: ``python tools/bench_stream.py --sinks``.

What it adds to bench_stream's measurements (same looped record, same one core):

1. Throughput and latency with all three uplink sinks on: MQTT (to a local
   mosquitto on another core, QoS 1, every message through the SQLite queue),
   LSL (both outlets, no consumer), BDF+ recording (24 bit, the writer thread);
   once with the broker up and once with it down (every message stays queued).
2. Peak RSS of ``tgll-stream --replay --fast --json`` with ``--mqtt --lsl --record --format bdf``.
3. The MQTT queue's disk bytes for one hour of findings at a 1-s hop (3,600
   windows, the real finding JSON of the run), and at the default 5-s hop.
4. The time to drain that one-hour backlog to the broker after reconnecting.
"""
from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(tmp: Path):
    """mosquitto on 127.0.0.1 (anonymous), on a core other than the benchmark's; None when not installed."""
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if exe is None:
        return None, None
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    f"max_queued_messages 1000000\n" + ("user root\n" if os.geteuid() == 0 else ""))
    cmd = [exe, "-c", str(conf)]
    mine = sorted(os.sched_getaffinity(0))[0]
    others = [c for c in range(os.cpu_count() or 1) if c != mine]
    if others and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(others[0])] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def _mqtt_config(port: int, queue: Path, drain_s: float = 0.0):
    from tgll_edge.uplink.mqtt import MqttConfig
    cfg = MqttConfig.from_sources(url=f"mqtt://127.0.0.1:{port}", topic="bench", environ={})
    cfg.device_id, cfg.queue, cfg.drain_s = "bench", str(queue), drain_s
    return cfg


class _Timed:
    """Wraps a sink and adds up the pipeline thread's CPU time spent in its hooks (time.thread_time:
    other processes on the machine do not inflate it, as they do wall time)."""

    def __init__(self, inner):
        self.inner, self.cpu_s = inner, 0.0
        for hook in ("start", "block", "signal", "__call__", "summary", "close"):
            setattr(self, "_" + hook.strip("_"), getattr(inner, hook))

    def _t(self, fn, *a):
        t0 = time.thread_time()
        try:
            return fn(*a)
        finally:
            self.cpu_s += time.thread_time() - t0

    def start(self, pipeline):
        return self._t(self._start, pipeline)

    def block(self, block):
        return self._t(self._block, block)

    def signal(self, t_start, fs, data):
        return self._t(self._signal, t_start, fs, data)

    def __call__(self, result):
        return self._t(self._call, result)

    def summary(self, summary):
        return self._t(self._summary, summary)

    def close(self):
        return self._t(self._close)


def _disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(str(path) + "-wal")) if p.exists())


def measure(run_in_process, peak_rss_of_cli, model, model_dir, mv8, fs: int, hop: float, chunk: int,
            artifact: str | None) -> dict:
    from tgll_edge.uplink.edf import EdfRecorder
    from tgll_edge.uplink.lsl import LslSink
    from tgll_edge.uplink.mqtt import DiskQueue, MqttUplink

    tmp = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    broker, port = start_broker(tmp)
    quiet = lambda msg: None  # noqa: E731
    out: dict = {"broker": "mosquitto on 127.0.0.1 (another core)" if broker else "none installed",
                 "load_average_1m_at_start": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    try:
        keys = ("x_real_time", "median_latency_ms", "p95_latency_ms", "max_latency_ms", "windows", "wall_seconds")
        for state, p in (("broker_up", port), ("broker_down", _free_port())):
            if p is None:
                continue
            mqtt = MqttUplink(_mqtt_config(p, tmp / f"q-{state}.sqlite"), log=quiet)
            from tgll_edge.stream.sinks import Sink
            sinks = [mqtt, LslSink(f"tgll-bench-{state}"), EdfRecorder(tmp / f"rec-{state}", "bdf")]
            timed = [type("T", (_Timed, Sink), {})(s) for s in sinks]
            t_cpu, p_cpu = time.thread_time(), time.process_time()
            r = run_in_process(model, mv8, fs, hop, chunk, sinks=timed)
            total_cpu = time.thread_time() - t_cpu
            other_threads_cpu = time.process_time() - p_cpu - total_cpu
            out[state] = {k: r[k] for k in keys}
            hours = mv8.shape[1] / fs / 3600
            out[state]["pipeline_thread_cpu_s"] = total_cpu
            out[state]["sink_cpu_s_per_hour_of_signal"] = {
                n: t.cpu_s / hours for n, t in zip(("mqtt", "lsl", "bdf"), timed)}
            out[state]["sink_share_of_pipeline_cpu"] = sum(t.cpu_s for t in timed) / total_cpu
            # the MQTT worker, the BDF writer, liblsl's threads (and onnxruntime's, if any)
            out[state]["other_threads_cpu_s_per_hour_of_signal"] = other_threads_cpu / hours
            out[state].update({"mqtt_queued": mqtt.counters["queued"], "mqtt_acknowledged": mqtt.counters["sent"],
                               "bdf_bytes": _disk_bytes(tmp / f"rec-{state}" / "recording.bdf")})
        # one hour of findings in the queue: the run's own finding JSON, 3,600 times (1-s hop)
        db = sqlite3.connect(tmp / "q-broker_down.sqlite")
        payload = db.execute("SELECT payload FROM queue WHERE topic='finding' ORDER BY id LIMIT 1").fetchone()[0]
        db.close()
        import json
        finding = {k: v for k, v in json.loads(payload).items() if k not in ("seq", "msg_id")}
        hour = tmp / "hour.sqlite"
        q = DiskQueue(hour, 1 << 40)
        t0 = time.perf_counter()
        for _ in range(3600):
            q.put("finding", dict(finding), 0)
        enqueue_us = (time.perf_counter() - t0) / 3600 * 1e6
        q.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        q.close()
        per_hour = _disk_bytes(hour)
        out["queue"] = {"finding_payload_bytes": len(payload), "disk_bytes_per_hour_hop1": per_hour,
                        "disk_bytes_per_hour_hop5": per_hour / 5, "enqueue_us_per_message": enqueue_us,
                        "default_bound_mib": 64, "hours_in_default_bound_hop1": 64 * 2 ** 20 / per_hour}
        if port is not None:  # the broker is back: drain the hour
            up = MqttUplink(_mqtt_config(port, hour, drain_s=0), log=quiet)
            t0 = time.perf_counter()
            up.start()
            check = sqlite3.connect(hour)
            while check.execute("SELECT COUNT(*) FROM queue").fetchone()[0] and time.perf_counter() - t0 < 600:
                time.sleep(0.02)
            out["queue"]["drain_one_hour_backlog_s"] = time.perf_counter() - t0
            out["queue"]["drained_messages"] = up.counters["sent"]
            check.close()
            up.close()
            extra = ["--mqtt", f"mqtt://127.0.0.1:{port}", "--mqtt-topic", "bench", "--lsl", "tgll-bench-cli",
                     "--record", str(tmp / "rec-cli"), "--format", "bdf"]
            env = {**os.environ, "TGLL_MQTT_QUEUE": str(tmp / "q-cli.sqlite"), "TGLL_MQTT_DEVICE_ID": "bench"}
            rss = peak_rss_of_cli(model_dir, mv8, fs, hop, artifact, extra=extra, env=env)
            out["cli_with_sinks"] = {"peak_rss_mb": rss["peak_rss_mb"], "cli_wall_seconds": rss["cli_wall_seconds"],
                                     "command": "tgll-stream --replay LOOPED --fast --json --hop "
                                                f"{hop:g} " + " ".join(extra[:6]) + " --record DIR --format bdf"}
    finally:
        if broker is not None:
            broker.kill()
            broker.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def markdown(s: dict) -> str:
    lines = ["", "## With the uplink sinks on (MQTT + LSL + BDF+ recording)", "",
             f"Broker: {s['broker']}. Machine load average (1 min) when this part started: "
             f"{s['load_average_1m_at_start']:.1f} on {s['cpu_count']} CPUs (other jobs share the machine).", "",
             "| measure | broker up | broker down (all queued) | target |", "|---|---|---|---|"]
    up, down = s.get("broker_up", {}), s.get("broker_down", {})
    fmt = lambda d, k, f: (f.format(d[k]) if k in d else "-")  # noqa: E731
    lines += [
        f"| x real time | {fmt(up, 'x_real_time', '{:.0f}x')} | {fmt(down, 'x_real_time', '{:.0f}x')} | >= 200x |",
        f"| median latency | {fmt(up, 'median_latency_ms', '{:.2f} ms')} | {fmt(down, 'median_latency_ms', '{:.2f} ms')} | < 50 ms |",
        f"| p95 latency | {fmt(up, 'p95_latency_ms', '{:.2f} ms')} | {fmt(down, 'p95_latency_ms', '{:.2f} ms')} | |",
        "| pipeline-thread CPU in the sinks' hooks, s per hour of signal (MQTT / LSL / BDF) | "
        + " | ".join(" / ".join(f"{v:.2f}" for v in d["sink_cpu_s_per_hour_of_signal"].values()) if d else "-"
                     for d in (up, down)) + " | |",
        "| CPU of the process's other threads (MQTT worker, BDF writer, liblsl), s per hour of signal | "
        + " | ".join(f"{d['other_threads_cpu_s_per_hour_of_signal']:.1f}" if d else "-" for d in (up, down)) + " | |",
        "| share of the pipeline thread's CPU spent in the sinks | "
        + " | ".join(f"{d['sink_share_of_pipeline_cpu'] * 100:.1f}%" if d else "-" for d in (up, down)) + " | |",
        f"| MQTT messages queued / acknowledged during the run | {fmt(up, 'mqtt_queued', '{}')} / "
        f"{fmt(up, 'mqtt_acknowledged', '{}')} | {fmt(down, 'mqtt_queued', '{}')} / {fmt(down, 'mqtt_acknowledged', '{}')} | |",
    ]
    if "cli_with_sinks" in s:
        c = s["cli_with_sinks"]
        lines.append(f"| peak RSS of `{c['command']}` | {c['peak_rss_mb']:.0f} MB | | < 150 MB |")
    q = s.get("queue", {})
    lines += ["", "| MQTT queue | value |", "|---|---|",
              f"| disk bytes per hour of findings, 1-s hop (3,600 windows) | {q['disk_bytes_per_hour_hop1'] / 1e6:.2f} MB |",
              f"| same at the default 5-s hop | {q['disk_bytes_per_hour_hop5'] / 1e6:.2f} MB |",
              f"| one finding's payload | {q['finding_payload_bytes']} bytes |",
              f"| enqueue (SQLite insert + commit, WAL) | {q['enqueue_us_per_message']:.0f} us per message |",
              f"| hours of 1-s-hop findings in the default 64 MiB bound | {q['hours_in_default_bound_hop1']:.0f} h |"]
    if "drain_one_hour_backlog_s" in q:
        lines.append(f"| time to drain a one-hour backlog after reconnect ({q['drained_messages']} messages) | "
                     f"{q['drain_one_hour_backlog_s']:.2f} s |")
    return "\n".join(lines) + "\n"
