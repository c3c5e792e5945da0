"""The embedded demo county's input files, shipped as package data.

The demo county is synthetic and deterministic: a small Zhejiang-style county near Wenling
(121.37 E, 28.37 N) with a street network (OSM XML), elderly-care facilities (CSV,
WGS-84), people aged 60+ (WorldPop-style GeoTIFF, 47,836 people) and town and
village boundaries (GeoJSON). Its generator is not part of the package: it is the script
``scripts/make_demo_data.py``, which writes the files described there.

Where the files live (one source of truth): the generator is their origin; one run of it
writes them twice. The package ships them compressed in ``coverage/data/demo/``
(:data:`DEMO_FILES`: the OSM, CSV and GeoJSON gzipped, the GeoTIFF deflated inside, about
100 KB); :func:`write_demo_inputs` copies them out, decompressed, for the ``demo``
command and the notebooks. The repository keeps the readable copy of the same files
under ``data/network``, ``data/facilities``, ``data/population`` and ``data/boundaries``,
for tests and examples that open them by path; ``tests/test_demo_data.py`` holds the two
copies identical in content, and the script's output identical to both.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["DEMO_FILES", "DemoInputs", "write_demo_inputs"]

# DemoInputs field: (file shipped in coverage/data/demo/, path of the copy written out)
DEMO_FILES = {
    "network": ("demo_county.osm.gz", "network/demo_county.osm"),
    "facilities": ("demo_facilities.csv.gz", "facilities/demo_facilities.csv"),
    "population": ("demo_elderly_60plus.tif", "population/demo_elderly_60plus.tif"),
    "boundaries": ("demo_units.geojson.gz", "boundaries/demo_units.geojson"),
}


@dataclass(frozen=True)
class DemoInputs:
    """Paths of the written demo inputs."""

    network: Path
    facilities: Path
    population: Path
    boundaries: Path


def write_demo_inputs(directory: str | Path) -> DemoInputs:
    """Write the demo county's four input files under ``directory``.

    Parameters
    ----------
    directory
        Target folder; ``network/``, ``facilities/``, ``population/`` and
        ``boundaries/`` are created inside it, and files already there are replaced.

    Returns
    -------
    DemoInputs
        Paths of the four written files: ``network/demo_county.osm``,
        ``facilities/demo_facilities.csv``, ``population/demo_elderly_60plus.tif``,
        ``boundaries/demo_units.geojson``.

    Examples
    --------
    >>> inputs = write_demo_inputs("demo-inputs")  # doctest: +SKIP
    >>> inputs.network.name  # doctest: +SKIP
    'demo_county.osm'
    """
    shipped = resources.files(__package__ or "eldercare_coverage").joinpath("data", "demo")
    root = Path(directory)
    paths = {}
    for field, (name, copy) in DEMO_FILES.items():
        path = root / copy
        path.parent.mkdir(parents=True, exist_ok=True)
        with shipped.joinpath(name).open("rb") as raw, path.open("wb") as dst:
            if name.endswith(".gz"):
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    shutil.copyfileobj(unzipped, dst)
            else:
                shutil.copyfileobj(raw, dst)
        paths[field] = path
    return DemoInputs(**paths)
