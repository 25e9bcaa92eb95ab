"""tgll-gateway: config validation, several devices on one shared model, one failing device."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bundle_factory import make_tiny_bundle

from tgll_edge.gateway import ConfigError, load_config, main

BIN = Path(sys.executable).parent
RECORD = Path(__file__).resolve().parents[1] / "tgll_edge" / "data" / "records" / "00001_hr"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "gateway.toml"
    p.write_text(text)
    return p


GOOD = f"""
[model]
artifact = "onnx_fp32"

[defaults]
hop = 2

[[device]]
name = "a"
replay = "{RECORD}"
fast = true

[[device]]
name = "b"
replay = "{RECORD}"
fast = true
max_bridge_ms = 0
"""


def test_a_good_config_is_planned_as_tgll_stream_arguments(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert [d.name for d in cfg.devices] == ["a", "b"]
    assert cfg.devices[1].argv == ["--hop", "2", "--replay", str(RECORD), "--fast", "--max-bridge-ms", "0"]
    assert cfg.devices[0].args.hop == 2.0 and cfg.devices[0].kind == "replay"


@pytest.mark.parametrize("text, message", [
    ("[[device]]\nname = 'a'\n", "choose exactly one source"),
    ("[[device]]\nname = 'a'\nport = '/dev/x'\nble = 'TGLL-1'\n", "exactly one source"),
    ("[[device]]\nname = 'a'\nport = '/dev/x'\n[[device]]\nname = 'a'\nport = '/dev/y'\n", "used twice"),
    ("[[device]]\nport = '/dev/x'\n", "needs a name"),
    ("[[device]]\nname = 'a'\nport = '/dev/x'\nhopp = 3\n", "unrecognized arguments: --hopp"),
    ("[[device]]\nname = 'a'\nport = '/dev/x'\nhop = -1\n", "--hop must be > 0"),
    ("[[device]]\nname = 'a'\nport = '/dev/x'\nartifact = 'onnx_int8'\n", "cannot be set per device"),
    ("[model]\nbundel = 'x'\n[[device]]\nname = 'a'\nport = '/dev/x'\n", "[model] has unknown key(s) bundel"),
    ("[devices]\nname = 'a'\n", "unknown table(s) devices"),
    ("[[device]\nname = 'a'\n", "not valid TOML"),
    ("", "no [[device]] tables"),
])
def test_a_bad_config_names_the_device_and_key(tmp_path, text, message):
    with pytest.raises(ConfigError, match=None) as exc:
        load_config(write(tmp_path, text))
    assert message in str(exc.value) and "gateway.toml" in str(exc.value)


def test_check_config_exits_2_with_one_line(tmp_path, capsys):
    assert main(["--config", str(write(tmp_path, "[[device]]\nname = 'a'\n")), "--check-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "device 'a'" in err[0]
    assert main(["--config", str(tmp_path / "none.toml"), "--check-config"]) == 2


def test_devices_run_side_by_side_and_a_failing_one_does_not_stop_them(tmp_path):
    bundle = make_tiny_bundle(tmp_path / "bundle")
    out = tmp_path / "out"
    cfg = write(tmp_path, GOOD.replace('artifact = "onnx_fp32"', f'bundle = "{bundle}"') + f"""
json = "{out / 'b.jsonl'}"

[[device]]
name = "unplugged"
port = "/dev/ttyTGLL-NOT-THERE"

[gateway]
restart_min_s = 0.2
restart_max_s = 0.4
""").read_text()
    cfg = cfg.replace('name = "a"\n', f'name = "a"\njson = "{out / "a.jsonl"}"\n')
    path = write(tmp_path, cfg)
    proc = subprocess.Popen([str(BIN / "tgll-gateway"), "--config", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = [p for p in (out / "a.jsonl", out / "b.jsonl")
                    if p.exists() and '"type": "summary"' in p.read_text()]
            if len(done) == 2:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # a few restarts of the unplugged device
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr + stdout
    ref = subprocess.run([str(BIN / "tgll-stream"), "--replay", str(RECORD), "--fast", "--json", "--hop", "2",
                          "--model", str(bundle)], capture_output=True, text=True, timeout=120)
    want = [ln["probabilities"] for ln in map(json.loads, ref.stdout.splitlines()) if ln["type"] == "window"]
    for name in ("a", "b"):
        got = [ln["probabilities"] for ln in map(json.loads, (out / f"{name}.jsonl").read_text().splitlines())
               if ln["type"] == "window"]
        assert got == want and len(got) >= 1
    assert "[unplugged] failed: cannot open serial port /dev/ttyTGLL-NOT-THERE" in stdout
    assert stdout.count("[unplugged] restarting") >= 2
    assert "[a] the replay ended" in stdout and "[b] the replay ended" in stdout
