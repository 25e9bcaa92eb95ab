"""tgll-emulate: an emulated ADS1298 ECG device on a pseudo-terminal or serial port.

stdout, first line (flushed at once): ``PTY <path>`` (the path a host opens: the pty,
or the --link symlink) or ``PORT <port>``. On exit, stderr gets one line
``SUMMARY {json}`` with everything the emulator sent and injected.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile

from ..errors import TgllError
from ..link.emulator import SUPPORTED_RATES, Emulator, Faults, PtyTransport, SerialPortTransport
from ..link.payloads import max_samples_per_packet
from .args import lead_list, non_negative_float, positive_float, probability
from ..link.serial import DEFAULT_BAUD


def _drop(text: str) -> tuple[float, int]:
    """'0.01' -> drop each DATA packet with probability 0.01; 'every:50' -> every 50th."""
    if text.startswith("every:"):
        try:
            n = int(text[6:])
        except ValueError:
            n = 0
        if n < 2:
            raise argparse.ArgumentTypeError(f"--drop-packets every:N needs an integer N >= 2, got {text!r}")
        return 0.0, n
    return probability(text), 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tgll-emulate",
        description="Emulate a TGLL ECG device (ADS1298, 8 channels I, II, V1..V6, int24) streaming a real "
                    "recording over the link protocol, with fault injection. Prints 'PTY <path>' first.")
    where = p.add_argument_group("where")
    where.add_argument("--port", help="serve on this serial port instead of a new pseudo-terminal")
    where.add_argument("--baud", type=int, default=DEFAULT_BAUD, help=f"baud rate with --port (default {DEFAULT_BAUD})")
    where.add_argument("--link", help="keep a symlink at this path pointing to the current pty (needed to "
                                      "reconnect after --disconnect-after; made in the temp dir if omitted)")
    sig = p.add_argument_group("signal")
    sig.add_argument("--record", help="WFDB record to stream (default: the bundled PTB-XL 500 Hz record)")
    sig.add_argument("--fs", type=int, choices=SUPPORTED_RATES, default=500, help="initial sampling rate (Hz)")
    sig.add_argument("--samples-per-packet", type=int, default=10,
                     help=f"samples per channel in each DATA packet, 1..{max_samples_per_packet(8)} (default 10)")
    sig.add_argument("--speed", type=non_negative_float, default=1.0,
                     help="1 = real time, N = N times faster, 0 = as fast as the host reads (default 1)")
    sig.add_argument("--loop", action=argparse.BooleanOptionalAction, default=True,
                     help="restart the record at its end (default on)")
    sig.add_argument("--duration", type=positive_float, help="stop after this many seconds of streamed signal")
    sig.add_argument("--linger", type=non_negative_float, default=2.0,
                     help="seconds to wait at the end for the host to read what is queued (default 2)")
    fault = p.add_argument_group("fault injection (reproducible with --seed)")
    fault.add_argument("--seed", type=int, default=0, help="RNG seed for all faults (default 0)")
    fault.add_argument("--drop-packets", type=_drop, default=(0.0, 0), metavar="P|every:N",
                       help="drop DATA packets with probability P, or every Nth")
    fault.add_argument("--flip-bits", type=probability, default=0.0, metavar="P",
                       help="flip one bit in a DATA packet with probability P")
    fault.add_argument("--garbage", type=probability, default=0.0, metavar="P",
                       help="insert a burst of random bytes + 0x00 before a DATA packet with probability P")
    fault.add_argument("--disconnect-after", type=non_negative_float, metavar="S",
                       help="vanish after S seconds of streaming (once)")
    fault.add_argument("--disconnect-for", type=positive_float, default=2.0, metavar="S",
                       help="stay away this many wall-clock seconds (default 2)")
    fault.add_argument("--reset-counter-after", type=non_negative_float, metavar="S",
                       help="restart the sample counter at 0 after S seconds of streaming (EVENT 4 + INFO)")
    fault.add_argument("--electrode-off", type=_electrode_off, metavar="E:T0-T1,...",
                       help="electrodes off for spans of device time in seconds, e.g. V3:20-40,LA:60-70 "
                            "(RA, LA, LL, V1..V6): the channels using them carry 0 with their lead-off bits "
                            "set, by the firmware's rule (a V channel also when RA, LA or LL is off)")
    sig.add_argument("--leads", type=lead_list, metavar="LIST",
                     help="a reduced device sending only these leads, e.g. I,II,V2 (INFO lead_set 255 with "
                          "those labels; derived from the record's 12 leads); default the 8 ADS1298 channels")
    return p


def _electrode_off(text: str):
    from ..signal.electrodes import parse_electrode_off

    try:
        return parse_electrode_off(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    n_channels = len(args.leads) if args.leads else 8
    if not 1 <= args.samples_per_packet <= max_samples_per_packet(n_channels):
        parser.error(f"--samples-per-packet must be 1..{max_samples_per_packet(n_channels)} "
                     f"for {n_channels} channels")
    if args.port and args.link:
        parser.error("--link only applies to a pseudo-terminal, not with --port")
    drop_prob, drop_every = args.drop_packets
    faults = Faults(drop_prob=drop_prob, drop_every=drop_every, flip_prob=args.flip_bits,
                    garbage_prob=args.garbage, disconnect_after=args.disconnect_after,
                    disconnect_for=args.disconnect_for, reset_after=args.reset_counter_after, seed=args.seed)
    link = args.link
    if not args.port and link is None and args.disconnect_after is not None:
        link = os.path.join(tempfile.gettempdir(), f"tgll-emu-{os.getpid()}")
    try:
        transport = SerialPortTransport(args.port, args.baud) if args.port else PtyTransport(link)
    except OSError as exc:  # pyserial's SerialException is an OSError
        print(f"tgll-emulate: cannot open {args.port or 'a pseudo-terminal'}: {exc}", file=sys.stderr)
        return 1
    try:
        emu = Emulator(transport, args.record, fs=args.fs, samples_per_packet=args.samples_per_packet,
                       speed=args.speed, loop=args.loop, duration=args.duration, faults=faults,
                       linger=args.linger, leads=args.leads, electrode_off=args.electrode_off or ())
    except (TgllError, OSError, ValueError) as exc:
        transport.close()
        print(f"tgll-emulate: {exc}", file=sys.stderr)
        return 1
    print(f"{'PORT' if args.port else 'PTY'} {transport.public_path}", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: emu.stop())
    try:
        summary = emu.run()
    finally:
        transport.close()
    print("SUMMARY " + json.dumps(summary.as_dict(), sort_keys=True), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
