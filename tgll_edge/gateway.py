"""``tgll-gateway``: many devices at once, one shared model, one pipeline per device.

    tgll-gateway --config gateway.toml                 # run until SIGTERM / Ctrl-C
    tgll-gateway --config gateway.toml --check-config  # validate, print the plan, exit 0 or 2

The config file (TOML)::

    [model]                       # shared by every device; all keys optional
    bundle = "/opt/tgll/models/tgllnet-edge-superdiagnostic"
    artifact = "onnx_int8"
    threads = 1

    [defaults]                    # any tgll-stream option, for every device
    hop = 5.0
    max_bridge_ms = 100

    [[device]]
    name = "bed-1"                # unique; names the log lines and the default file names
    port = "/dev/ttyUSB0"         # exactly one source: port, ble, cyton, replay or emulate
    json = "/var/lib/tgll/bed-1.jsonl"   # findings, gaps, status as JSON lines (appended)
    record = "/var/lib/tgll/rec/bed-1"   # and any other tgll-stream option: mqtt_config, lsl,
                                         # format, csv, min_sqi, speed ...

A device's keys are ``tgll-stream`` options (``max_bridge_ms`` is
``--max-bridge-ms``; ``true`` turns a flag on), parsed and checked by
``tgll-stream``'s own parser, so they mean exactly what they mean there. Model
options live in ``[model]`` only: one loaded model serves every device.

Supervision: each device runs in its own thread; when it fails (a device
unplugged past its reconnect limit, a broken record, a full disk) the failure
is logged in one line and the device is started again after a backoff that
doubles up to ``restart_max_s`` (``[gateway]``), while the others go on. Log
lines go to stdout without timestamps (journald adds them).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import TgllError
from .stream.sinks import JsonLinesSink, LiveView, Sink

MODEL_KEYS = {"bundle", "artifact", "threads"}
GATEWAY_KEYS = {"restart_min_s", "restart_max_s"}
RESERVED = {"model", "artifact", "threads", "json", "quiet", "duration"}  # per-device keys that are not allowed


class ConfigError(TgllError, ValueError):
    """A gateway config that cannot run; the message names the file and the key."""


@dataclass
class DeviceConfig:
    name: str
    argv: list[str]          # the equivalent tgll-stream arguments
    args: argparse.Namespace
    kind: str                # port, ble, cyton, replay or emulate
    json: Path | None


@dataclass
class GatewayConfig:
    path: Path
    model: dict
    devices: list[DeviceConfig]
    restart_min_s: float = 1.0
    restart_max_s: float = 60.0


def _to_argv(options: dict, where: str) -> list[str]:
    argv = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (str, int, float)):
            argv += [flag, str(value)]
        else:
            raise ConfigError(f"{where}: {key} must be a string, number or true/false; got {value!r}")
    return argv


def load_config(path: str | Path) -> GatewayConfig:
    """Read and check the whole file: every device's options through tgll-stream's own parser."""
    from .cli.stream import build_parser, check_args

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"model", "defaults", "device", "gateway"}
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}; "
                          "expected [model], [defaults], [gateway], [[device]]")
    model = raw.get("model", {})
    if set(model) - MODEL_KEYS:
        raise ConfigError(f"{path}: [model] has unknown key(s) {', '.join(sorted(set(model) - MODEL_KEYS))}; "
                          f"known: {', '.join(sorted(MODEL_KEYS))}")
    gateway = raw.get("gateway", {})
    if set(gateway) - GATEWAY_KEYS:
        raise ConfigError(f"{path}: [gateway] has unknown key(s) {', '.join(sorted(set(gateway) - GATEWAY_KEYS))}")
    defaults = raw.get("defaults", {})
    devices_raw = raw.get("device", [])
    if not isinstance(devices_raw, list) or not devices_raw:
        raise ConfigError(f"{path}: no [[device]] tables; add at least one")
    parser = build_parser()
    devices, names = [], set()
    for i, entry in enumerate(devices_raw):
        where = f"{path}: [[device]] #{i + 1}"
        options = {**defaults, **entry}
        name = str(options.pop("name", "") or "")
        if not name:
            raise ConfigError(f"{where}: needs a name")
        where = f"{path}: device {name!r}"
        if name in names:
            raise ConfigError(f"{where}: the name is used twice")
        names.add(name)
        bad = RESERVED & set(options)
        if bad - {"json"}:
            raise ConfigError(f"{where}: {', '.join(sorted(bad - {'json'}))} cannot be set per device "
                              "(the model is shared: [model]; output goes to the log and to `json`)")
        json_path = options.pop("json", None)
        argv = _to_argv(options, where)
        args = _checked(parser, lambda p, a: p.parse_args(a), argv, where)
        kind = _checked(parser, check_args, args, where)
        devices.append(DeviceConfig(name, argv, args, kind, Path(json_path) if json_path else None))
    return GatewayConfig(path, model, devices, float(gateway.get("restart_min_s", 1.0)),
                         float(gateway.get("restart_max_s", 60.0)))


def _checked(parser, fn, arg, where):
    """Run a tgll-stream parser step; the message it would exit 2 with becomes a ConfigError."""
    def error(message):
        raise ConfigError(f"{where}: {message} (config keys are tgll-stream's options without the --)")

    saved, parser.error = parser.error, error
    try:
        return fn(parser, arg)
    finally:
        parser.error = saved


class LogSink(Sink):
    """The live view's lines on stdout, each prefixed with the device name (journald adds the time)."""

    def __init__(self, name: str, lock: threading.Lock):
        self.name, self.lock = name, lock
        self.view = LiveView(stream=self)

    def write(self, text: str) -> None:  # the live view writes here
        with self.lock:
            for line in text.splitlines():
                if line.strip():
                    sys.stdout.write(f"[{self.name}] {line.strip()}\n")

    def flush(self) -> None:
        sys.stdout.flush()

    def start(self, pipeline) -> None:
        self.view.start(pipeline)

    def __call__(self, result) -> None:
        self.view(result)

    def summary(self, summary: dict) -> None:
        self.view.summary(summary)


class SharedModel:
    """One loaded model for every device's pipeline; inference is serialised (a LiteRT interpreter is
    not thread-safe, and one core gains nothing from running two at once)."""

    def __init__(self, model):
        self._model, self._lock = model, threading.Lock()

    def __getattr__(self, name):
        return getattr(self._model, name)

    def predict_proba(self, windows, *args, **kw):
        with self._lock:
            return self._model.predict_proba(windows, *args, **kw)


class DeviceRunner(threading.Thread):
    """Runs one device's pipeline; restarts it after a failure, with a doubling backoff."""

    def __init__(self, device: DeviceConfig, model, config: GatewayConfig, log_lock: threading.Lock):
        super().__init__(name=f"tgll-{device.name}", daemon=True)
        self.device, self.model, self.config, self.log_lock = device, model, config, log_lock
        self.stopping = threading.Event()
        self.pipe = None
        self.restarts = 0
        self.windows = 0

    def log(self, message: str) -> None:
        with self.log_lock:
            print(f"[{self.device.name}] {message}", flush=True)

    def stop(self) -> None:
        self.stopping.set()
        if self.pipe is not None:
            self.pipe.stop()

    def run(self) -> None:
        delay = self.config.restart_min_s
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self._run_once()
                if self.stopping.is_set():
                    return
                if self.device.kind == "replay":
                    self.log("the replay ended")
                    return
                self.log("the source ended")
            except (TgllError, OSError, ValueError) as exc:
                self.log(f"failed: {exc}")
            if time.monotonic() - started > 4 * delay:
                delay = self.config.restart_min_s  # it ran a good while: start from a short backoff
            self.restarts += 1
            self.log(f"restarting in {delay:g} s")
            if self.stopping.wait(delay):
                return
            delay = min(delay * 2, self.config.restart_max_s)

    def _run_once(self) -> None:
        from .cli.stream import file_sinks, flag_sinks, make_pipeline, make_source

        a = self.device.args
        sinks = [LogSink(self.device.name, self.log_lock)]
        if self.device.json is not None:
            self.device.json.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(JsonLinesSink(open(self.device.json, "a"), owns_stream=True))
        sinks += file_sinks(a, self.model, record_dir=_fresh_dir(Path(a.record)) if a.record else None)
        sinks += flag_sinks(a)
        source = make_source(self.device.kind, a)
        self.pipe = make_pipeline(a, source, self.model, sinks)
        if self.stopping.is_set():
            self.pipe.stop()
        for result in self.pipe:
            if hasattr(result, "probabilities"):
                self.windows += 1


def _fresh_dir(base: Path) -> Path:
    """A recording directory per run: base, then base.1, base.2 ... (a Recorder needs a new one)."""
    if not base.exists() or not any(base.iterdir()):
        return base
    n = 1
    while (base.parent / f"{base.name}.{n}").exists():
        n += 1
    return base.parent / f"{base.name}.{n}"


def plan(config: GatewayConfig) -> str:
    lines = [f"{config.path}: {len(config.devices)} device(s), model "
             f"{config.model.get('bundle', 'the default bundle')} ({config.model.get('artifact', 'default artifact')})"]
    for d in config.devices:
        lines.append(f"  {d.name}: tgll-stream {' '.join(d.argv)}" + (f"  -> {d.json}" if d.json else ""))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="tgll-gateway", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Config format: see the module docstring or README, 'Gateway service'. "
                                        "Exit status: 0 after SIGTERM/Ctrl-C, 2 for a bad config or model.")
    ap.add_argument("--config", required=True, metavar="FILE", help="the gateway's TOML file")
    ap.add_argument("--check-config", action="store_true",
                    help="validate the file and the model, print the plan, and exit (0 = good)")
    args = ap.parse_args(argv)
    try:
        config = load_config(args.config)
        from .runtime import load_model
        model = load_model(config.model.get("bundle"), artifact=config.model.get("artifact"),
                           threads=int(config.model.get("threads", 1)))
        window_s = model.n_times / model.fs
        for d in config.devices:
            if d.args.hop > window_s + 1e-9:
                raise ConfigError(f"{config.path}: device {d.name!r}: hop {d.args.hop:g} s is longer than the "
                                  f"model's window ({window_s:g} s)")
    except TgllError as exc:
        print(f"tgll-gateway: error: {exc}", file=sys.stderr)
        return 2
    print(plan(config), flush=True)
    if args.check_config:
        return 0
    return serve(config, SharedModel(model))


def serve(config: GatewayConfig, model) -> int:
    log_lock = threading.Lock()
    runners = [DeviceRunner(d, model, config, log_lock) for d in config.devices]
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for r in runners:
            r.start()
        while not done.wait(0.5):
            if not any(r.is_alive() for r in runners):
                break
    finally:
        for r in runners:
            r.stop()
        for r in runners:
            r.join(timeout=5)
        for s, h in old.items():
            signal.signal(s, h)
    with log_lock:
        print("tgll-gateway: stopped; " + ", ".join(f"{r.device.name}: {r.windows} windows, {r.restarts} restarts"
                                                    for r in runners), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
