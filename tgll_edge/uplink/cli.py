"""The ``tgll-stream`` flags of the uplinks: ``add_arguments(parser)`` and ``sinks_from_args(args, parser)``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._base import UplinkError

RECORD_FORMATS = ("wfdb", "edf", "bdf")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "uplinks",
        "MQTT (QoS 1, disk queue), Lab Streaming Layer outlets, EDF+/BDF+ recording; they combine. "
        "MQTT settings: --mqtt-config FILE (TOML, [mqtt] url/username/password/topic/device_id/ca_file/"
        "queue/queue_max_mb ...) or TGLL_MQTT_URL, TGLL_MQTT_USERNAME, TGLL_MQTT_PASSWORD, TGLL_MQTT_TOPIC, "
        "TGLL_MQTT_DEVICE_ID, TGLL_MQTT_CA_FILE, TGLL_MQTT_QUEUE; flags win over the environment, which "
        "wins over the file. Keep passwords out of the command line (ps shows it).")
    g.add_argument("--mqtt", nargs="?", const="", default=None, metavar="URL",
                   help="publish every result to an MQTT broker, mqtt[s]://host[:port] (without URL: from "
                        "the config file or TGLL_MQTT_URL); needs the [mqtt] extra")
    g.add_argument("--mqtt-topic", metavar="PREFIX", default=None,
                   help="topic prefix (default tgll): PREFIX/DEVICE/{finding,gap,status,summary,presence}")
    g.add_argument("--mqtt-config", metavar="FILE", default=None,
                   help="TOML file with the broker settings and credentials (implies --mqtt)")
    g.add_argument("--lsl", metavar="NAME", default=None,
                   help="open LSL outlets NAME (conditioned 12-lead signal at the model rate) and "
                        "NAME-markers (findings, gaps, status as JSON); needs the [lsl] extra")
    g.add_argument("--format", choices=RECORD_FORMATS, default=None,
                   help="with --record: wfdb (default), edf (EDF+, 16 bit, 1 uV) or bdf (BDF+, 24 bit, the "
                        "device's resolution); findings and gaps become EDF annotations")


def sinks_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> list:
    """The sinks the flags ask for (MQTT, LSL, EDF/BDF recorder); bad input exits 2 through ``parser.error``.

    ``--record DIR`` with ``--format wfdb`` (or no --format) is left to the caller
    (tgll_edge.stream.Recorder); ``--format edf|bdf`` gives an EdfRecorder here.
    """
    def fail(msg: str):
        if parser is not None:
            parser.error(msg)
        raise UplinkError(msg)

    sinks = []
    record = getattr(args, "record", None)
    fmt = getattr(args, "format", None)
    if fmt is not None and record is None:
        fail("--format applies to --record only")
    use_mqtt = args.mqtt is not None or args.mqtt_config is not None
    if args.mqtt_topic is not None and not use_mqtt:
        fail("--mqtt-topic needs --mqtt or --mqtt-config")
    if args.mqtt_config is not None and not Path(args.mqtt_config).is_file():
        fail(f"--mqtt-config: {args.mqtt_config} does not exist")
    if args.lsl is not None and not args.lsl.strip():
        fail("--lsl needs a stream name")

    if use_mqtt:
        try:
            import paho.mqtt  # noqa: F401
        except ImportError:
            fail("--mqtt needs the [mqtt] extra: pip install 'tgll-edge[mqtt]'")
        from .mqtt import MqttConfig, MqttUplink
        if args.mqtt and "@" in args.mqtt.split("://", 1)[-1] and ":" in args.mqtt.split("://", 1)[-1].split("@")[0]:
            print("tgll-stream: warning: a password in --mqtt is visible to every user (ps); put it in "
                  "--mqtt-config FILE or TGLL_MQTT_PASSWORD", file=sys.stderr)
        try:
            cfg = MqttConfig.from_sources(args.mqtt or None, args.mqtt_topic, args.mqtt_config)
        except ValueError as exc:
            fail(f"--mqtt: {exc}")
        try:
            sinks.append(MqttUplink(cfg))
        except UplinkError as exc:
            fail(f"--mqtt: {exc}")
    if args.lsl is not None:
        from .lsl import find_liblsl
        if find_liblsl() is None:
            fail("--lsl needs liblsl: pip install 'tgll-edge[lsl]' (the mne-lsl wheel carries it) "
                 "or set TGLL_LIBLSL")
        from .lsl import LslSink
        sinks.append(LslSink(args.lsl))
    if record is not None and fmt in ("edf", "bdf"):
        from .edf import EdfRecorder
        try:
            sinks.append(EdfRecorder(record, fmt))
        except UplinkError as exc:
            fail(f"--record: {exc}")
    return sinks
