"""What the uplink sinks share: the Sink base and their errors."""
from __future__ import annotations

from ..errors import TgllError
from ..stream.sinks import Sink  # noqa: F401  (the pipeline's sink shape)


class UplinkError(TgllError, OSError):
    """An uplink sink that cannot write, connect or load its library (an OSError, as link errors are)."""


class UplinkAuthError(TgllError, ConnectionError):
    """The broker refused the gateway's credentials (or its client certificate)."""


class UplinkConfigError(TgllError, ValueError):
    """A broker URL, config file or environment variable that cannot be used."""
