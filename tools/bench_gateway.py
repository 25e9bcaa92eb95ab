"""How many 500 Hz devices one core of this machine keeps in real time under tgll-gateway.

    python tools/bench_gateway.py --devices 25 50 75 --seconds 60

For each N: N ``tgll-emulate`` processes (the bundled PTB-XL record at 500 Hz, real
time, 40 samples per packet) run on one CPU; one ``tgll-gateway`` with N serial devices
(onnx_int8, hop 5 s, JSON lines per device) runs on another CPU only. After ``--seconds``
of wall time the gateway is stopped and each device's summary is read back.

A device is kept in real time when the gateway read everything it sent: no gap of
cause ``device_overflow`` (the emulated MCU drops samples when the host does not read
its UART) and device time within 2 s of wall time. Reports, per N: devices kept, the
gateway's CPU share of its core, windows scored. Writes tools/results/bench_gateway.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def taskset(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() > 1 else []


def start_emulators(n: int, cpu: int) -> list[tuple[subprocess.Popen, str]]:
    out = []
    for _ in range(n):
        p = subprocess.Popen([*taskset(cpu), str(BIN / "tgll-emulate"), "--samples-per-packet", "40"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline().split()
        if len(line) != 2 or line[0] != "PTY":
            raise RuntimeError(f"tgll-emulate did not print its PTY: {line}")
        out.append((p, line[1]))
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_one(n: int, seconds: float, work: Path, gateway_cpu: int, emulator_cpu: int) -> dict:
    emus = start_emulators(n, cpu=emulator_cpu)
    out = work / f"n{n}"
    out.mkdir()
    cfg = ["[model]", 'artifact = "onnx_int8"', "[defaults]", "hop = 5"]
    for i, (_, pty) in enumerate(emus):
        cfg += ["[[device]]", f'name = "d{i:03d}"', f'port = "{pty}"', f'json = "{out / f"d{i:03d}.jsonl"}"']
    (work / f"n{n}.toml").write_text("\n".join(cfg) + "\n")
    gw = subprocess.Popen([*taskset(gateway_cpu), str(BIN / "tgll-gateway"), "--config", str(work / f"n{n}.toml")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(10)  # start-up: model load, every device's START / INFO
        c0, t0 = cpu_seconds(gw.pid), time.monotonic()
        time.sleep(seconds)
        cpu = (cpu_seconds(gw.pid) - c0) / (time.monotonic() - t0)
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=120)
        for p, _ in emus:
            p.send_signal(signal.SIGTERM)
        for p, _ in emus:
            p.wait(timeout=30)
    kept, windows, lag = 0, 0, []
    for f in sorted(out.glob("*.jsonl")):
        lines = [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()]
        overflow = sum(1 for ln in lines if ln["type"] == "gap" and ln["cause"] == "device_overflow")
        summary = next((ln for ln in reversed(lines) if ln["type"] == "summary"), {})
        windows += sum(1 for ln in lines if ln["type"] == "window")
        dev_s = summary.get("device_seconds", 0.0)
        lag.append(dev_s)
        kept += int(overflow == 0 and dev_s >= seconds + 8)  # device time since START covers the run
    return {"devices": n, "kept_in_real_time": kept, "gateway_cpu_share": round(cpu, 3),
            "windows": windows, "min_device_seconds": round(min(lag), 1) if lag else 0.0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, nargs="+", default=[25, 50, 75])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--gateway-cpu", type=int, default=0, help="the one CPU the gateway runs on (default 0)")
    ap.add_argument("--emulator-cpu", type=int, default=1, help="the CPU the emulated devices run on (default 1)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in args.devices:
            row = run_one(n, args.seconds, Path(d), args.gateway_cpu, args.emulator_cpu)
            print(json.dumps(row), flush=True)
            rows.append(row)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    flags = Path("/proc/cpuinfo").read_text()
    family = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX2" if re.search(r"\bavx2\b", flags) else "other"
    res = {"machine": f"{cpu} ({family}), {os.cpu_count()} CPUs", "seconds": args.seconds,
           "command": "python tools/bench_gateway.py " + " ".join(sys.argv[1:] if argv is None else argv),
           "rows": rows}
    md = ["| devices (500 Hz, hop 5 s, onnx_int8) | kept in real time | gateway CPU (share of one core) | windows |",
          "|---|---|---|---|"]
    md += [f"| {r['devices']} | {r['kept_in_real_time']} | {r['gateway_cpu_share']:.0%} | {r['windows']} |"
           for r in rows]
    out = ROOT / "tools" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gateway.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / "bench_gateway.md").write_text(f"Machine: {res['machine']}; {args.seconds:g} s per run; "
                                          f"`{res['command']}`\n\n" + "\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
