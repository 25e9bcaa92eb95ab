"""``tgll-stream --serve [HOST:]PORT [--serve-token TOKEN]``: the arguments and the sink they make."""
from __future__ import annotations

import argparse
import sys


def _address(text: str):
    from .server import parse_address
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (give PORT, HOST:PORT or [IPv6]:PORT)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The dashboard's options, in their own group of ``parser``."""
    g = parser.add_argument_group("live dashboard (a web page; not a medical device)")
    g.add_argument("--serve", type=_address, default=None, metavar="[HOST:]PORT",
                   help="serve a live dashboard (12-lead strip, lead states, findings, link health) at "
                        "http://HOST:PORT/; HOST defaults to 127.0.0.1 (this machine only); 0.0.0.0 for "
                        "every interface (then use --serve-token); PORT 0 picks a free port")
    g.add_argument("--serve-token", default=None, metavar="TOKEN",
                   help="with --serve: every request must carry ?token=TOKEN (the printed URL has it)")


def sinks_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None,
                    stream=None) -> list:
    """The dashboard sink for ``--serve`` (an empty list without it). The server is
    listening when this returns; its URL goes to ``stream`` (stderr), never stdout,
    which may carry JSON lines. Bad combinations exit 2 through ``parser.error``."""
    serve = getattr(args, "serve", None)
    token = getattr(args, "serve_token", None)

    def fail(msg: str):
        if parser is not None:
            parser.error(msg)
        from .server import DashboardError
        raise DashboardError(msg)

    if serve is None:
        if token is not None:
            fail("--serve-token applies to --serve only")
        return []
    if token is not None and (not token.strip() or any(c.isspace() for c in token)):
        fail("--serve-token must be a non-empty string without spaces")
    host, port = serve
    from .server import DashboardError, DashboardServer, is_loopback
    from .sink import DashboardSink
    try:
        server = DashboardServer(host, port, token)
    except DashboardError as exc:
        fail(f"--serve: {exc}")
    out = stream or sys.stderr
    print(f"tgll-stream: dashboard at {server.url} (not a medical device)", file=out, flush=True)
    if not is_loopback(host) and not token:
        print("tgll-stream: warning: the dashboard is reachable from other hosts without a token; "
              "add --serve-token TOKEN", file=out, flush=True)
    return [DashboardSink(server)]
