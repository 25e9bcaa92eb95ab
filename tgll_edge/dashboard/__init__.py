"""A live dashboard for the gateway: ``tgll-stream ... --serve [HOST:]PORT``.

    from tgll_edge.dashboard import DashboardServer, DashboardSink
    from tgll_edge.stream import Pipeline

    sink = DashboardSink(DashboardServer("127.0.0.1", 8080))
    Pipeline(source, model, sinks=[sink]).run()

The page (``static/``: HTML, JS and CSS, no build step, no CDN) shows the last
10 s of the conditioned 12 leads on paper ECG scale, the lead and electrode
states, the findings against their thresholds with a timeline, and the link's
health; it is pushed with Server-Sent Events. The standard library serves it.
Not a medical device.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "DashboardSink": "sink", "SignalRing": "sink", "lead_states": "sink", "leads_for_channels": "sink",
    "DashboardServer": "server", "DashboardError": "server", "Hub": "server", "parse_address": "server",
    "add_arguments": "cli", "sinks_from_args": "cli",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # lazy: tgll-stream without --serve loads no server code
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
