"""The uplink tests' fixtures (their helpers live in uplinkkit.py: a module named conftest would
clash with tests/conftest.py when both are imported by name)."""
from uplinkkit import broker, long_record  # noqa: F401  (fixtures)
