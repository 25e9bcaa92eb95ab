"""The package's errors: one root, ``TgllError``, so a CLI or an app catches them all.

Each error keeps the builtin base it had (``LinkError`` is a ``ConnectionError``,
the data errors are ``ValueError``), so code that catches the builtin still works.
A message always names the file, device or argument at fault.
"""
from __future__ import annotations


class TgllError(Exception):
    """Root of every error the package raises on purpose."""


class LinkError(TgllError, ConnectionError):
    """A device could not be opened, did not answer, or was lost for good."""


class BundleError(TgllError, ValueError):
    """A bundle that cannot be used: missing or malformed card, bad or altered file,
    or a model that does not match its card."""


class PayloadError(TgllError, ValueError):
    """A packet payload that does not match its type's layout."""


class PacketError(TgllError, ValueError):
    """A decoded frame that is not a valid packet; ``kind`` names the counter it goes to."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class Unsupported(TgllError, ValueError):
    """A record the package's own WFDB reader does not handle."""


class RecordError(TgllError, ValueError):
    """A record (WFDB or recording) that cannot be read or scored."""


class ExportError(TgllError, RuntimeError):
    """An export that cannot produce a bundle (a conversion failed, or no recipe passed the gate)."""
