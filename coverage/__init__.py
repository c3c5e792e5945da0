"""eldercare-coverage: network service circles of elderly-care facilities.

The public API (imported lazily, so ``import eldercare_coverage`` stays cheap and does
nothing else):

- :func:`run` -- the whole pipeline, returns a :class:`CoverageResult`
- :func:`write_outputs` -- summary.json, coverage.gpkg, units.csv, map.html, report.html
- :func:`load_network`, :func:`network_from_graph` -- street networks in metres
- :func:`read_facilities`, :func:`read_population_raster`, :func:`read_boundaries`
- :func:`default_policy`, :func:`read_policy` -- service circles as data
- :func:`select_sites` -- where new facilities close the most gap (a
  :class:`~eldercare_coverage.siting.SiteSelection`); :func:`write_sites`,
  :func:`sites_to_facilities`, :func:`make_site_map` -- its files, rows and map
- :func:`write_demo_inputs` -- the embedded demo county
- :data:`settings` -- the one settings object
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._errors import CoverageError
from .settings import Settings, settings

__version__ = "0.1.0"

_LAZY = {
    "run": "pipeline",
    "write_outputs": "outputs",
    "CoverageResult": "result",
    "load_network": "network",
    "network_from_graph": "network",
    "StreetNetwork": "network",
    "read_facilities": "facilities",
    "read_population_raster": "population",
    "read_population_vector": "population",
    "read_boundaries": "boundaries",
    "default_policy": "policy",
    "read_policy": "policy",
    "write_demo_inputs": "demo",
    "make_map": "maps",
    "make_site_map": "site_map",
    "write_site_map": "site_map",
    "select_sites": "siting",
    "siting_problem": "siting",
    "write_sites": "site_outputs",
    "sites_to_facilities": "site_outputs",
    "read_candidates": "candidates",
}

__all__ = ["CoverageError", "Settings", "__version__", "settings", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'eldercare_coverage' has no attribute {name!r}")
