"""Shared fixtures. Helper modules (bundle_factory, streamkit, virtual_ble, the tools) are
importable by name: pyproject's ``[tool.pytest.ini_options] pythonpath`` puts their folders
on the path."""
import pytest

from bundle_factory import make_tiny_bundle


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


@pytest.fixture(scope="session")
def tiny_model(tiny_bundle):
    from tgll_edge.runtime import load_model
    return load_model(tiny_bundle)
