"""What every source has in common: iterate for events, ``.stats``, ``.close()``."""
from __future__ import annotations

from collections.abc import Iterator

from .blocks import Event

#: Counters every source reports (zero where a counter does not apply).
STATS_KEYS = ("packets", "bytes", "crc_errors", "dropped_bytes", "gaps", "missing_samples", "samples",
              "blocks", "reconnects")


class LinkError(ConnectionError):
    """A device could not be opened, did not answer, or was lost for good. The message names it."""


class Source:
    """Base class: subclasses implement ``_events()`` and ``_counters()``.

    A source is an iterable of SampleBlock / Gap / Status; iterating starts it (opening
    the device if ``open()`` was not called). ``close()`` may be called from another
    thread to stop an iteration in progress.
    """

    name = "source"

    def __init__(self):
        self.closed = False
        self._opened = False

    def open(self) -> None:
        """Connect now (to fail early with a clear error); iteration calls it otherwise."""
        if not self._opened:
            self._open()
            self._opened = True

    def _open(self) -> None:
        pass

    def __iter__(self) -> Iterator[Event]:
        self.open()
        return self._events()

    def _events(self) -> Iterator[Event]:
        raise NotImplementedError

    def _counters(self) -> dict:
        return {}

    @property
    def stats(self) -> dict:
        out = dict.fromkeys(STATS_KEYS, 0)
        out.update(self._counters())
        return out

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
