"""A minimal gateway app on the tgll_edge API: alerts, an asyncio consumer, a summary.

    python examples/gateway_app.py                       # replay the bundled PTB-XL record, 20x real time
    python examples/gateway_app.py --port /dev/ttyUSB0   # a real device (PROTOCOL.md over serial)
    python examples/gateway_app.py --replay REC --speed 0   # a WFDB record as fast as possible

It shows the three ways to consume a Pipeline:
- callbacks (``on_window``, ``on_gap``) for side effects such as alerts;
- ``async for result in pipeline.aiter()`` so the app's event loop stays free
  (a real gateway would publish to MQTT or a web socket here);
- ``pipeline.summary()`` at the end: every drop the link and the pipeline counted.
"""
from __future__ import annotations

import argparse
import asyncio
import signal

from tgll_edge.link.blocks import Gap
from tgll_edge.stream import Finding, Pipeline


def make_source(args):
    if args.port:
        from tgll_edge.link.serial import SerialSource
        return SerialSource(args.port)
    from tgll_edge.link.emulator import DEFAULT_RECORD
    from tgll_edge.link.replay import ReplaySource
    # the bundled record is 10 s long: loop it (each restart is reported as a gap)
    return ReplaySource(args.replay or DEFAULT_RECORD, speed=args.speed, loop=args.replay is None)


def alert(finding: Finding) -> None:
    """Callback: runs in the pipeline's thread for every window, before the async consumer sees it."""
    abnormal = [label for label in finding.labels if label != "NORM"]
    if abnormal and not finding.skipped:
        print(f"  ALERT {finding.t_end:7.1f} s: {', '.join(abnormal)}")


async def consume(pipe: Pipeline) -> None:
    async for result in pipe.aiter():
        if isinstance(result, Finding):
            top = max(result.probabilities.items(), key=lambda kv: kv[1], default=("-", 0.0))
            state = "skipped: " + "; ".join(result.quality.reasons) if result.skipped else f"top {top[0]} {top[1]:.2f}"
            print(f"window {result.t_start:7.1f}-{result.t_end:7.1f} s  {state}  ({result.latency_ms:.1f} ms)")
        elif isinstance(result, Gap):
            print(f"gap at {result.t:.2f} s: {result.missing_samples} samples ({result.cause})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", help="serial port of a device speaking PROTOCOL.md")
    p.add_argument("--replay", help="WFDB record or directory (default: the bundled PTB-XL record)")
    p.add_argument("--speed", type=float, default=20.0, help="replay speed, 0 = as fast as possible (default 20)")
    p.add_argument("--model", default=None, help="bundle directory (default: the shipped bundle)")
    p.add_argument("--hop", type=float, default=5.0, help="seconds between windows (default 5)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of device time (default 60)")
    args = p.parse_args(argv)

    pipe = Pipeline(make_source(args), args.model, hop_s=args.hop, duration_s=args.duration, on_window=alert)
    signal.signal(signal.SIGINT, lambda *_: pipe.stop())  # Ctrl-C: stop cleanly, keep the summary
    asyncio.run(consume(pipe))
    print(pipe.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
