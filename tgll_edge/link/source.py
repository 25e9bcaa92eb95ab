"""What every source has in common: iterate for events, ``.stats``, ``.close()``."""
from __future__ import annotations

import time

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

    def _reconnect(self, connect, what: str) -> tuple[int, float] | None:
        """Call ``connect()`` with exponential backoff (``self.backoff`` = first and largest
        delay) until it stops raising LinkError; return (attempts, outage seconds), None if
        the source was closed meanwhile. Raises LinkError after ``self.max_reconnect_s``."""
        t0 = time.monotonic()
        delay, max_delay = self.backoff
        attempts = 0
        while not self.closed:
            if self.max_reconnect_s is not None and time.monotonic() - t0 > self.max_reconnect_s:
                raise LinkError(f"{what} did not come back within {self.max_reconnect_s:g} s ({attempts} attempts)")
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
            attempts += 1
            try:
                connect()
            except LinkError:
                continue
            return attempts, time.monotonic() - t0
        return None

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
