"""Test-wide setup: the network cache goes to a temporary folder, never to ~/.cache."""

from __future__ import annotations

import pytest

from eldercare_coverage import settings


@pytest.fixture(autouse=True, scope="session")
def _network_cache_in_tmp(tmp_path_factory):
    previous = settings.cache_dir
    settings.cache_dir = str(tmp_path_factory.mktemp("network-cache"))
    yield
    settings.cache_dir = previous
