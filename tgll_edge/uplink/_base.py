"""What the uplink sinks share: the Sink base (issue 8's shape) and their errors."""
from __future__ import annotations

from ..errors import TgllError

try:  # the pipeline's sink shape (issue 8)
    from ..stream.sinks import Sink
except ImportError:  # pragma: no cover - a tree from before issue 8's sink shape
    class Sink:
        """Every hook is a no-op; none may block the pipeline."""

        def start(self, pipeline) -> None:
            pass

        def block(self, block) -> None:
            pass

        def signal(self, t_start: float, fs: float, data) -> None:
            pass

        def __call__(self, result) -> None:
            pass

        def summary(self, summary: dict) -> None:
            pass

        def close(self) -> None:
            pass


class UplinkError(TgllError, OSError):
    """An uplink sink that cannot write, connect or load its library (an OSError, as link errors are)."""


class UplinkAuthError(TgllError, ConnectionError):
    """The broker refused the gateway's credentials (or its client certificate)."""


class UplinkConfigError(TgllError, ValueError):
    """A broker URL, config file or environment variable that cannot be used."""
