"""The example gateway app runs on the public API: callbacks, asyncio consumer, summary."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from bundle_factory import make_tiny_bundle


def test_gateway_app_replays_the_bundled_record(tmp_path):
    bundle = make_tiny_bundle(tmp_path / "tiny")
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "gateway_app.py"), "--model", str(bundle),
                          "--speed", "0", "--duration", "30"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # a 10 s record looped for 30 s with 5 s hops: windows end at 10, 15, ..., 30 s
    assert sum(line.startswith("window") for line in lines) >= 3
    assert any("record_boundary" in line for line in lines)
    summary = ast.literal_eval(lines[-1])
    assert summary["type"] == "summary" and summary["windows"] >= 3 and summary["device_seconds"] == 30.0
