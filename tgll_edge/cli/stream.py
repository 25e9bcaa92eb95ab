"""``tgll-stream``: live multilabel ECG findings from a device, a replay or the built-in emulator.

    tgll-stream --emulate --duration 30            # no hardware: the bundled PTB-XL record
    tgll-stream --port /dev/ttyUSB0 --json          # a TGLL device (PROTOCOL.md) over serial
    tgll-stream --ble TGLL-1234 --record rec/       # over BLE, recording every sample
    tgll-stream --cyton /dev/ttyUSB0                # OpenBCI Cyton (8 channels, 250 Hz)
    tgll-stream --replay rec/ --fast --json         # a WFDB record or a recording, as fast as possible

Exit status: 0 after a clean end (end of replay, --duration, Ctrl-C, SIGTERM),
1 when the source or model fails at run time, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ..errors import TgllError

SOURCES = ("port", "ble", "cyton", "replay", "emulate")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tgll-stream",
        description="Stream 12-lead ECG from a device (serial, BLE, OpenBCI Cyton), a recording, or the "
                    "built-in emulator; condition and window it as the model card says, and print "
                    "multilabel findings live.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exactly one source: --port, --ble, --cyton, --replay or --emulate "
               "(--cyton PORT, or --cyton with --port PORT).\n"
               "Times are device seconds since the stream started; every gap is reported, and a short "
               "link gap (--max-bridge-ms) is bridged inside the window that spans it.")
    src = p.add_argument_group("source (exactly one)")
    src.add_argument("--port", metavar="DEV", help="serial port of a TGLL-protocol device (/dev/ttyUSB0, a pty)")
    src.add_argument("--baud", type=int, default=None, metavar="N",
                     help="serial baud rate (default: 921600 for --port, 115200 for --cyton)")
    src.add_argument("--ble", metavar="NAME_OR_ADDRESS",
                     help="BLE device: its advertised name (TGLL-...) or address; needs the [ble] extra (bleak)")
    src.add_argument("--cyton", nargs="?", const=True, default=None, metavar="PORT",
                     help="OpenBCI Cyton board on PORT (or on --port): 8 channels as I, II, V1..V6 at 250 Hz")
    src.add_argument("--replay", metavar="PATH",
                     help="replay a WFDB record, a directory of records, or a --record directory")
    src.add_argument("--emulate", action="store_true",
                     help="start the built-in device emulator on a pseudo-terminal and stream from it "
                          "(default record: the bundled PTB-XL 500 Hz record, looped)")
    src.add_argument("--emulate-record", metavar="RECORD", default=None,
                     help="with --emulate: the WFDB record the emulator streams")
    src.add_argument("--emulate-leads", metavar="LIST", default=None,
                     help="with --emulate: a reduced device sending only these leads, e.g. I,II,V2 "
                          "(tgll-emulate --leads)")
    src.add_argument("--emulate-electrode-off", metavar="E:T0-T1,...", default=None,
                     help="with --emulate: electrodes off for spans of device time, e.g. V3:20-40,LA:60-70 "
                          "(tgll-emulate --electrode-off)")
    pace = p.add_argument_group("pace (--replay, --emulate)")
    pace.add_argument("--speed", type=float, default=None, metavar="N",
                      help="N times real time (default 1 = real time)")
    pace.add_argument("--fast", action="store_true", help="--replay only: as fast as possible")
    mdl = p.add_argument_group("model")
    mdl.add_argument("--model", metavar="DIR", default=None,
                     help="model bundle directory, or the name of a shipped bundle (default: the bundled default "
                          "model, tgllnet-edge-superdiagnostic; for a reduced-lead device or electrodes that "
                          "come off: tgllnet-edge-leadsets-superdiagnostic)")
    mdl.add_argument("--artifact", metavar="NAME", default=None,
                     help="which model file of the bundle: onnx_int8, onnx_fp32, tflite_int8, tflite_fp32 "
                          "(default: the card's default_artifact)")
    mdl.add_argument("--threads", type=int, default=1, metavar="N", help="inference threads (default 1)")
    run = p.add_argument_group("windows and output")
    run.add_argument("--hop", type=float, default=5.0, metavar="S",
                     help="seconds between window starts, > 0 and <= the window length (default 5)")
    from ..stream.pipeline import DEFAULT_MAX_BRIDGE_MS
    run.add_argument("--max-bridge-ms", type=float, default=DEFAULT_MAX_BRIDGE_MS, metavar="MS",
                     help="fill a link gap of at most MS milliseconds (lost packets) by linear interpolation so "
                          "the window still forms; the gap is still reported and counted; 0 = never "
                          f"(default {DEFAULT_MAX_BRIDGE_MS:g})")
    run.add_argument("--duration", type=float, default=None, metavar="S",
                     help="stop after S seconds of device time (live sources: also after S + 30 s of wall time)")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object per line: window, gap, status, and a summary at exit")
    run.add_argument("--record", metavar="DIR", default=None,
                     help="write every decoded sample to DIR as it arrives (WFDB, gaps marked; "
                          "fsync'ed every second); replay it with --replay DIR")
    run.add_argument("--csv", metavar="FILE", default=None, help="also write one CSV row per window to FILE")
    run.add_argument("--quiet", action="store_true", help="without --json: print only the summary")
    run.add_argument("--min-sqi", type=float, default=None, metavar="Q",
                     help="mark windows whose signal-quality index (0-1: template matching of the beats on the "
                          "rhythm lead, Orphanidou 2015) is below Q with the quality flag low_sqi")
    run.add_argument("--skip-low-sqi", action="store_true",
                     help="with --min-sqi: skip those windows (no inference) instead of only marking them")
    from ..dashboard.cli import add_arguments as add_dashboard_arguments
    add_dashboard_arguments(p)
    from ..uplink.cli import add_arguments as add_uplink_arguments
    add_uplink_arguments(p)
    return p


def check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> str:
    """Argument checks argparse cannot express; exits 2 with a message. Returns the source kind."""
    given = [name for name in SOURCES if getattr(a, name) not in (None, False)]
    cyton_on_port = a.cyton is True and a.port is not None
    if cyton_on_port:
        given.remove("port")
    if a.cyton is True and a.port is None:
        p.error("--cyton needs a serial port: --cyton PORT or --cyton --port PORT")
    if len(given) != 1:
        p.error("choose exactly one source: --port, --ble, --cyton, --replay or --emulate"
                + (f" (got {', '.join('--' + g for g in given)})" if given else ""))
    kind = given[0]
    if not a.hop > 0:
        p.error(f"--hop must be > 0 seconds; got {a.hop:g}")
    if not 0 <= a.max_bridge_ms <= 1000:
        p.error(f"--max-bridge-ms must be between 0 and 1000; got {a.max_bridge_ms:g}")
    if a.min_sqi is not None and not 0 <= a.min_sqi <= 1:
        p.error(f"--min-sqi must be between 0 and 1; got {a.min_sqi:g}")
    if a.skip_low_sqi and a.min_sqi is None:
        p.error("--skip-low-sqi needs --min-sqi")
    if a.duration is not None and not a.duration > 0:
        p.error(f"--duration must be > 0 seconds; got {a.duration:g}")
    if a.speed is not None and not a.speed > 0:
        p.error(f"--speed must be > 0; got {a.speed:g}")
    if a.speed is not None and a.fast:
        p.error("--speed and --fast exclude each other")
    if a.fast and kind != "replay":
        p.error("--fast applies to --replay only")
    if a.speed is not None and kind not in ("replay", "emulate"):
        p.error("--speed applies to --replay and --emulate only")
    if a.emulate_record is not None and kind != "emulate":
        p.error("--emulate-record applies to --emulate only")
    for opt in ("emulate_leads", "emulate_electrode_off"):
        if getattr(a, opt) is not None and kind != "emulate":
            p.error(f"--{opt.replace('_', '-')} applies to --emulate only")
    if a.emulate_leads is not None:
        from .args import lead_list
        try:
            a.emulate_leads = lead_list(a.emulate_leads)
        except argparse.ArgumentTypeError as exc:
            p.error(f"--emulate-leads: {exc}")
    if a.emulate_electrode_off is not None:
        from ..signal.electrodes import parse_electrode_off
        try:
            a.emulate_electrode_off = parse_electrode_off(a.emulate_electrode_off)
        except ValueError as exc:
            p.error(f"--emulate-electrode-off: {exc}")
    if a.baud is not None and (a.baud <= 0 or kind not in ("port", "cyton")):
        p.error("--baud must be positive and applies to --port and --cyton only")
    if a.threads < 1:
        p.error(f"--threads must be >= 1; got {a.threads}")
    if a.replay is not None and not Path(a.replay).exists() and not Path(a.replay + ".hea").exists():
        p.error(f"--replay: {a.replay} does not exist (give a WFDB record path, with or without .hea, "
                "or a directory)")
    if a.emulate_record is not None and not Path(a.emulate_record).exists() \
            and not Path(a.emulate_record + ".hea").exists():
        p.error(f"--emulate-record: {a.emulate_record} does not exist")
    if a.model is not None:
        from ..runtime import resolve_bundle
        a.model = str(resolve_bundle(a.model))
        if not (Path(a.model) / "card.json").is_file():
            p.error(f"--model: {a.model} is not a model bundle (no card.json there)")
    if a.record is not None and Path(a.record).exists() and (not Path(a.record).is_dir()
                                                             or any(Path(a.record).iterdir())):
        p.error(f"--record: {a.record} exists and is not an empty directory; choose a new one")
    if a.csv is not None and Path(a.csv).is_dir():
        p.error(f"--csv: {a.csv} is a directory; give a file name")
    if a.csv is not None and not Path(a.csv).resolve().parent.is_dir():
        p.error(f"--csv: directory of {a.csv} does not exist")
    return kind


def make_source(kind: str, a: argparse.Namespace):
    """The link source for the chosen kind (opened lazily by iteration)."""
    if kind == "port":
        from ..link.serial import DEFAULT_BAUD, SerialSource
        return SerialSource(a.port, a.baud or DEFAULT_BAUD)
    if kind == "cyton":
        from ..link.cyton import CytonSource
        port = a.port if a.cyton is True else a.cyton
        return CytonSource(port, **({"baud": a.baud} if a.baud else {}))
    if kind == "ble":
        from ..link.ble import BleSource
        return BleSource(a.ble)
    if kind == "replay":
        from ..stream.recorder import RecordingSource, is_recording
        speed = None if a.fast else (a.speed or 1.0)
        if is_recording(a.replay):
            return RecordingSource(a.replay, speed=speed)
        from ..link.replay import ReplaySource
        return ReplaySource(a.replay, speed=speed)
    if kind == "emulate":
        from ..link.emulated import EmulatedSource
        return EmulatedSource(record=a.emulate_record, speed=a.speed or 1.0, leads=a.emulate_leads,
                              electrode_off=a.emulate_electrode_off or ())
    raise AssertionError(kind)


def load_checked_model(p: argparse.ArgumentParser, a: argparse.Namespace):
    """The bundle's model; a bad bundle or a hop longer than its window exits 2."""
    from ..runtime import load_model
    try:
        model = load_model(a.model, artifact=a.artifact, threads=a.threads)
    except TgllError as exc:
        p.error(str(exc))
    window_s = model.n_times / model.fs
    if a.hop > window_s + 1e-9:
        p.error(f"--hop {a.hop:g} s is longer than the model's window ({window_s:g} s)")
    return model


def make_sinks(a: argparse.Namespace, model) -> list:
    """Where results go: stdout (JSON lines or the live view), then the files asked for."""
    from ..stream import JsonLinesSink, LiveView
    return [JsonLinesSink() if a.json else LiveView(quiet=a.quiet)] + file_sinks(a, model)


def file_sinks(a: argparse.Namespace, model, record_dir=None) -> list:
    """The WFDB recording (``record_dir`` or --record) and the CSV, opened now (errors name the path)."""
    from ..stream import CsvSink, Recorder
    sinks = []
    try:
        record_dir = record_dir or a.record
        if record_dir and a.format in (None, "wfdb"):  # edf/bdf: tgll_edge.uplink.cli
            sinks.append(Recorder(record_dir))
        if a.csv:
            sinks.append(CsvSink(a.csv, model.labels, rhythm=True,
                                 leads=getattr(model, "lead_set_aware", False)))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def flag_sinks(a: argparse.Namespace, p: argparse.ArgumentParser | None = None) -> list:
    """The outputs flags turn on: the dashboard (listening from here on, so a busy address fails
    before the stream starts) and the uplinks (MQTT, LSL, EDF/BDF). Bad flags exit 2 via ``p``."""
    from ..dashboard.cli import sinks_from_args as dashboard_sinks
    from ..uplink.cli import sinks_from_args as uplink_sinks
    return dashboard_sinks(a, p) + uplink_sinks(a, p)


def make_pipeline(a: argparse.Namespace, source, model, sinks: list):
    """The pipeline the options describe (tgll-stream's, and each tgll-gateway device's)."""
    from ..signal.quality import QualitySettings
    from ..stream import Pipeline
    return Pipeline(source, model, hop_s=a.hop, duration_s=a.duration, max_bridge_ms=a.max_bridge_ms, sinks=sinks,
                    quality=QualitySettings(min_sqi=a.min_sqi, low_sqi_skips=a.skip_low_sqi))


def announce(model, a: argparse.Namespace, kind: str) -> None:
    if a.json or a.quiet:
        return
    print(f"tgll-stream: model {model.card.get('name')} ({model.artifact}), labels {', '.join(model.labels)}; "
          f"{model.n_times / model.fs:g} s windows every {a.hop:g} s; source {kind}. Ctrl-C to stop.", flush=True)


def run(pipe, a: argparse.Namespace, kind: str) -> int:
    """Drive the pipeline until the source ends, --duration, Ctrl-C or SIGTERM; 1 on a run-time failure."""
    def on_signal(signum, frame):
        if pipe.stopped:  # a second Ctrl-C: stop waiting for the source
            raise KeyboardInterrupt
        pipe.stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    timer = None
    if a.duration is not None and kind != "replay":
        timer = threading.Timer(a.duration + 30.0, pipe.stop)  # a device that never delivers
        timer.daemon = True
        timer.start()
    status = 0
    try:
        for _ in pipe:
            pass
    except KeyboardInterrupt:
        pass
    except (TgllError, OSError, ValueError) as exc:
        print(f"tgll-stream: {exc}", file=sys.stderr)
        status = 1
    finally:
        if timer is not None:
            timer.cancel()
        for s, h in old.items():
            signal.signal(s, h)
        pipe.stop()
    return status


def main(argv=None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    kind = check_args(p, a)
    model = load_checked_model(p, a)
    outputs = flag_sinks(a, p)
    try:
        source = make_source(kind, a)
    except ImportError as exc:
        print(f"tgll-stream: the {kind} source is not available: {exc}", file=sys.stderr)
        return 1
    except (TgllError, OSError, ValueError) as exc:
        print(f"tgll-stream: {exc}", file=sys.stderr)
        return 1
    try:
        sinks = make_sinks(a, model)
    except (TgllError, OSError, ValueError) as exc:
        source.close()
        print(f"tgll-stream: {exc}", file=sys.stderr)
        return 1
    pipe = make_pipeline(a, source, model, sinks + outputs)
    announce(model, a, kind)
    return run(pipe, a, kind)


if __name__ == "__main__":
    sys.exit(main())
