"""Test-wide setup: the network cache goes to a temporary folder, never to ~/.cache; the
demo county's generator (a script, not part of the package) is importable as a fixture."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from eldercare_coverage import settings

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(autouse=True, scope="session")
def _network_cache_in_tmp(tmp_path_factory):
    previous = settings.cache_dir
    settings.cache_dir = str(tmp_path_factory.mktemp("network-cache"))
    yield
    settings.cache_dir = previous


@pytest.fixture(scope="session")
def demo_generator() -> ModuleType:
    """``scripts/make_demo_data.py`` as a module (its helpers ``scripts/_demo_*.py`` are
    imported from ``scripts/``, on ``sys.path`` only while it is imported)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module("make_demo_data")
    finally:
        sys.path.remove(str(SCRIPTS))
