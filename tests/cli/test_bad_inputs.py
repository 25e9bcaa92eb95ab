"""Every console script over a table of bad inputs: one line naming the file or argument,
the documented exit status, and never a traceback.

Each case runs the real console script in a subprocess. The permission cases drop to the
``nobody`` user in a forked child (as root, file modes do not stop anyone).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bundle_factory import make_linear_onnx, make_tiny_bundle, replace_model_file

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LEADS_12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def write_record(path: Path, seconds: float = 12.0, fs: int = 500, units: str = "mV") -> Path:
    import wfdb

    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((int(seconds * fs), 12))).astype(np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(path.name, fs=fs, units=[units] * 12, sig_name=LEADS_12, p_signal=x, fmt=["16"] * 12,
                adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(path.parent))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    good = write_record(d / "good" / "rec")
    bundle = make_tiny_bundle(d / "bundle")
    out = {"dir": d, "record": good, "bundle": bundle}

    # a .hea that declares 13 signals where the .dat holds 12
    hea = good.with_suffix(".hea").read_text().splitlines()
    head = hea[0].split()
    head[1] = "13"
    thirteen = write_record(d / "thirteen" / "rec")
    thirteen.with_suffix(".hea").write_text("\n".join([" ".join(head)] + hea[1:] + [hea[-1].replace("V6", "X")])
                                            + "\n")
    out["thirteen"] = thirteen
    # a channel in an unknown unit
    furlong = write_record(d / "furlong" / "rec")
    furlong.with_suffix(".hea").write_text(furlong.with_suffix(".hea").read_text().replace("/mV", "/furlong"))
    out["furlong"] = furlong
    # a truncated .dat
    trunc = write_record(d / "trunc" / "rec")
    dat = trunc.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:25000])
    out["trunc"] = trunc
    # models that do not match the card, with the card's sha256 updated to them
    for name, kw in {"outputs3": {"n_outputs": 3}, "outputs12": {"n_outputs": 12}, "input500": {"n_times": 500}}.items():
        b = make_tiny_bundle(d / name)
        make_linear_onnx(b / "model_fp32.onnx", kw.pop("n_times", 1000), **kw)
        out[name] = replace_model_file(b, b / "model_fp32.onnx")
    tfl = make_tiny_bundle(d / "tflite_in_onnx_slot")
    out["tflite_in_onnx_slot"] = replace_model_file(
        tfl, ROOT / "models" / "tgllnet-edge-superdiagnostic" / "model_fp32.tflite")
    tampered = make_tiny_bundle(d / "tampered")
    m = tampered / "model_fp32.onnx"
    m.write_bytes(m.read_bytes()[:-1] + b"x")
    out["tampered"] = tampered
    (d / "a_dir.csv").mkdir()
    return out


def run(script: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / script), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "default"})


def check(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    err = proc.stderr
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == code, (proc.returncode, err[-2000:])
    for needle in needles:
        assert needle in err, (needle, err[-2000:])
    assert "RuntimeWarning" not in err and "XNNPACK" not in err, err[-2000:]


CASES = [
    # (id, script, args (keys of `files` are substituted), exit status, what stderr must name)
    ("predict-outputs3", "tgll-predict", ["--model", "outputs3", "record"], 2, ["output", "5 labels", "3)"]),
    ("predict-outputs12", "tgll-predict", ["--model", "outputs12", "record"], 2, ["output", "12)"]),
    ("stream-outputs3", "tgll-stream", ["--replay", "record", "--fast", "--json", "--model", "outputs3"], 2,
     ["output", "5 labels"]),
    ("predict-input500", "tgll-predict", ["--model", "input500", "record"], 2, ["input", "12, 1000"]),
    ("predict-tflite-in-onnx", "tgll-predict", ["--model", "tflite_in_onnx_slot", "record"], 2,
     ["cannot load it as an ONNX model"]),
    ("info-tampered", "tgll-info", ["tampered"], 2, ["sha256", "model_fp32.onnx"]),
    ("predict-tampered", "tgll-predict", ["--model", "tampered", "record"], 2, ["sha256"]),
    ("stream-tampered", "tgll-stream", ["--replay", "record", "--fast", "--model", "tampered"], 2, ["sha256"]),
    ("predict-13-signals", "tgll-predict", ["--model", "bundle", "thirteen"], 1, ["rec", "13 signals"]),
    ("stream-13-signals", "tgll-stream", ["--replay", "thirteen", "--fast", "--json", "--model", "bundle"], 1,
     ["13 signals"]),
    ("emulate-13-signals", "tgll-emulate", ["--record", "thirteen", "--duration", "1"], 1, ["13 signals"]),
    ("stream-emulate-13-signals", "tgll-stream", ["--emulate", "--emulate-record", "thirteen", "--duration", "5",
                                                  "--model", "bundle"], 1, ["13 signals"]),
    ("stream-furlong", "tgll-stream", ["--replay", "furlong", "--fast", "--json", "--model", "bundle"], 1,
     ["channel I", "furlong"]),
    ("predict-furlong", "tgll-predict", ["--model", "bundle", "furlong"], 1, ["channel I", "furlong"]),
    ("predict-truncated", "tgll-predict", ["--model", "bundle", "trunc"], 1, ["rec.dat", "truncated"]),
    ("predict-hop-negative", "tgll-predict", ["--all-windows", "--hop", "-1", "record"], 2, ["--hop"]),
    ("predict-hop-nan", "tgll-predict", ["--all-windows", "--hop", "nan", "record"], 2, ["--hop"]),
    ("predict-hop-zero", "tgll-predict", ["--all-windows", "--hop", "0", "record"], 2, ["--hop"]),
    ("stream-csv-dir", "tgll-stream", ["--replay", "record", "--fast", "--csv", "a_dir.csv", "--model", "bundle"], 2,
     ["--csv", "a_dir.csv", "directory"]),
    ("stream-bridge-negative", "tgll-stream", ["--replay", "record", "--max-bridge-ms", "-5"], 2, ["--max-bridge-ms"]),
    ("export-missing", "tgll-export", ["no_such_run", "--out", "out_bundle"], 2, ["no_such_run"]),
    ("eval-missing", "tgll-eval", ["no_such_run"], 2, ["no_such_run"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(files, case):
    _, script, args, code, needles = case
    d = files["dir"]
    argv = [files[a] if a in files else (d / a if a in ("no_such_run", "out_bundle", "a_dir.csv") else a)
            for a in args]
    check(run(script, *argv), code, *needles)


# --- permission denied: as the nobody user --------------------------------------------------------

def as_nobody(fn, *args) -> tuple[int, str]:
    """Run ``fn(*args)`` (a CLI ``main``) in a forked child as uid/gid 65534; (exit status, stderr)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 99
        try:
            os.close(r)
            os.dup2(w, 2)
            sys.stderr = os.fdopen(2, "w")  # not pytest's capture
            sys.stdout = open(os.devnull, "w")
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = fn(*args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 0)
    os.close(w)
    with os.fdopen(r) as f:
        err = f.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


@pytest.fixture()
def locked(tmp_path):
    """A world-readable place for the child, holding a locked record, bundle and directory."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the nobody user")
    base = Path(shutil.copytree(tmp_path, Path("/tmp") / f"tgll-perm-{os.getpid()}-{tmp_path.name}"))
    base.chmod(0o755)
    rec = write_record(base / "rec" / "r")
    (base / "rec").chmod(0o755)
    rec.with_suffix(".hea").chmod(0o644)
    rec.with_suffix(".dat").chmod(0o000)
    hidden = write_record(base / "hidden" / "r").parent
    hidden.chmod(0o000)
    bundle = make_tiny_bundle(base / "bundle")
    bundle.chmod(0o755)
    (bundle / "card.json").chmod(0o000)
    open_bundle = make_tiny_bundle(base / "open_bundle")
    for p in [open_bundle, *open_bundle.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    readable = write_record(base / "readable" / "r")
    for p in [readable.parent, *readable.parent.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (base / "ro").mkdir(mode=0o555)
    yield {"rec": rec, "hidden": hidden, "bundle": bundle, "open_bundle": open_bundle, "readable": readable,
           "ro": base / "ro"}
    hidden.chmod(0o755)
    shutil.rmtree(base, ignore_errors=True)


def test_permission_denied_is_one_line(locked):
    from tgll_edge.cli import info, predict, stream

    b = str(locked["open_bundle"])
    # a run as root first imports every lazily imported module: the child cannot read /root's stdlib
    warm = locked["ro"].parent / "warm"
    predict.main(["--model", b, str(locked["readable"])])
    stream.main(["--replay", str(locked["readable"]), "--fast", "--json", "--model", b, "--record", str(warm)])
    info.main([b])
    for fn, argv, code, needle in [
        (predict.main, ["--model", b, str(locked["rec"])], 1, "permission denied"),
        (predict.main, ["--model", b, str(locked["hidden"])], 1, "permission denied"),
        (stream.main, ["--replay", str(locked["rec"]), "--fast", "--json", "--model", b], 1, "permission denied"),
        (info.main, [str(locked["bundle"])], 2, "card.json"),
        (stream.main, ["--replay", str(locked["readable"]), "--fast", "--json", "--model", b,
                       "--record", str(locked["ro"] / "new")], 1, "cannot record to"),
    ]:
        status, err = as_nobody(fn, argv)
        assert "Traceback" not in err, err
        assert status == code and needle in err, (argv, status, err)


def test_disk_full_while_recording_gives_one_line_the_summary_and_a_readable_recording(files, tmp_path):
    """A file-size limit makes every write past 400 kB fail as a full disk would (EFBIG, SIGXFSZ ignored)."""
    import json
    import resource
    import signal

    from tgll_edge.link.wfdbio import read_record
    from tgll_edge.stream import RecordingSource

    src = write_record(tmp_path / "long" / "rec", seconds=60)
    out = tmp_path / "rec_out"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    proc = subprocess.run([str(BIN / "tgll-stream"), "--replay", str(src), "--speed", "10", "--json",
                           "--model", str(files["bundle"]), "--record", str(out)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "recording to" in lines[0] and "stopped" in lines[0], proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["type"] == "summary"
    # what was flushed replays, and equals the start of the source record
    blocks = [e for e in RecordingSource(out) if hasattr(e, "data")]
    got = np.concatenate([b.data for b in blocks], axis=1)
    x, _, _ = read_record(src)
    assert 2 * 500 <= got.shape[1] < x.shape[1]  # at least 2 s, less than all of it
    np.testing.assert_allclose(got, x[:, :got.shape[1]], atol=1e-5)


def test_missing_samples_reach_the_gateway_as_lead_off_not_as_zero(files, tmp_path):
    """NaN samples in the emulator's record are sent with the channel's lead-off bit, so the window
    that holds them is flagged, never read as a clean 0 mV."""
    import json

    import wfdb

    rec = write_record(tmp_path / "nan" / "rec", seconds=24)
    r = wfdb.rdrecord(str(rec))
    x = r.p_signal.copy()
    x[1000:2000, LEADS_12.index("V3")] = np.nan
    wfdb.wrsamp("rec", fs=500, units=["mV"] * 12, sig_name=LEADS_12, p_signal=x, fmt=["16"] * 12,
                adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(rec.parent))
    proc = run("tgll-stream", "--emulate", "--emulate-record", rec, "--speed", "20", "--duration", "12",
               "--json", "--model", files["bundle"], "--hop", "10")
    check(proc, 0)
    windows = [w for w in map(json.loads, proc.stdout.splitlines()) if w["type"] == "window"]
    assert windows and "lead_off" in windows[0]["quality"]["flags"], windows[:1]
    assert windows[0]["quality"]["lead_off"] == ["V3"]


def test_a_replay_shorter_than_a_window_says_why(files, tmp_path):
    import json

    short = write_record(tmp_path / "short" / "rec", seconds=4)
    proc = run("tgll-stream", "--replay", short, "--fast", "--json", "--model", files["bundle"])
    check(proc, 0)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines()]
    why = [ln for ln in lines if ln["type"] == "status" and ln["kind"] == "no_window"]
    assert len(why) == 1 and "4.0 s" in why[0]["message"] and "10 s" in why[0]["message"]
    assert lines[-1]["windows"] == 0
