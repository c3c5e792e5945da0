"""Generate the demo county: a deterministic, synthetic Zhejiang-style county.

Usage::

    python scripts/make_demo_data.py                 # the committed demo, both copies
    python scripts/make_demo_data.py --out DIR       # readable files under DIR only
    python scripts/make_demo_data.py --out DIR --wenling-scale 1   # benchmark county

The package has no network access at run time and no generator: it ships this script's
output as package data, and ``eldercare_coverage.write_demo_inputs`` copies it out. The
county sits at real coordinates near Wenling (centre 121.37 E, 28.37 N), in the formats
real users bring:

- ``network/demo_county.osm``: OSM XML 0.6 street network (urban core grid with
  arterials, a river crossed by three core bridges and two rural bridges, two
  towns, villages with lanes and footpaths, winding rural roads, an expressway
  with ramps that walking cannot use, a ``foot=no`` and an ``access=private``
  way, one disconnected hamlet road network);
- ``facilities/demo_facilities.csv``: elderly-care facilities, WGS-84, with one
  planned facility that has no coordinates yet;
- ``population/demo_elderly_60plus.tif``: WorldPop-style grid of people aged 60
  and over (EPSG:4326, 3 arc-seconds, float32, nodata -99999);
- ``boundaries/demo_units.geojson``: towns/subdistricts and villages/communities
  with official-format (fictional) codes and urban-rural codes.

Where the files live (one source of truth): this generator, with
``DemoSpec.demo()`` and seed 20201101, is the origin of the demo data. Its output is
committed twice, written by one run of this script: compressed as the package data
``coverage/data/demo/`` (what ``eldercare-coverage demo`` and ``write_demo_inputs`` use;
the OSM, CSV and GeoJSON gzipped, the GeoTIFF deflated inside), and as the readable
copy in the repository's ``data/network``, ``data/facilities``, ``data/population`` and
``data/boundaries`` (what tests and examples open by path). ``tests/test_demo_data.py``
holds the two copies identical in content and this script's output identical to both.

The committed demo has exactly **47,836** elderly people (60+) in its raster. Where the
test cases sit (the pipeline's tests rely on them):

- the *disconnected hamlet*: a few lanes (``highway=residential``/``track``)
  with about 24 elderly, 400-700 m from every other road and joined to none;
- the *off-network hamlet*: 10 elderly on three pixels 600-900 m from any road;
- the river: one ``waterway=river`` way (never a highway); roads cross it only
  on ways tagged ``bridge=yes`` + ``layer=1`` (three core bridges, two rural
  bridges, one expressway bridge).

Both hamlets' locations are in :attr:`DemoCounty.landmarks` (lon, lat).
:meth:`DemoSpec.wenling` sizes the same generator to Wenling's real figures
(benchmarks only, never committed). The helper modules ``scripts/_demo_*.py`` hold the
parts: ``_demo_common`` (spec, constants, metric frame, river), ``_demo_names``,
``_demo_builder`` (street-building pieces), ``_demo_streets`` (the county's street
network and its OSM XML), ``_demo_boundaries``, ``_demo_population``, ``_demo_facilities``.
"""

from __future__ import annotations

import argparse
import gzip
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from _demo_boundaries import build_units, units_geojson
from _demo_builder import walkable
from _demo_common import DEFAULT_SEED, DEMO_CENTER_LONLAT, DEMO_ELDERLY_TOTAL, DemoSpec, to_lonlat
from _demo_facilities import build_facilities, facilities_csv
from _demo_population import ElderlyRaster, build_population, write_raster
from _demo_streets import OsmWay, build_streets, osm_elements, osm_xml
from eldercare_coverage.demo import DEMO_FILES, DemoInputs

__all__ = ["DEFAULT_SEED", "DEMO_CENTER_LONLAT", "DEMO_ELDERLY_TOTAL", "DemoCounty", "DemoSpec",
           "build_demo_county", "main", "write_demo_inputs", "write_package_data"]

ROOT = Path(__file__).resolve().parents[1]
READABLE_DIR = ROOT / "data"  # the readable copy
PACKAGE_DIR = ROOT / "coverage" / "data" / "demo"  # the package data


@dataclass(frozen=True)
class DemoCounty:
    """The demo county in memory.

    Attributes
    ----------
    nodes
        OSM nodes: ``id``, ``lon``, ``lat`` (WGS-84), sorted by id.
    ways
        OSM ways (streets, the river, the expressway), sorted by id.
    facilities
        Facility table with the CSV's columns ``id, name, type, lon, lat, beds,
        meals_per_day``.
    elderly
        The 60+ population raster.
    units
        Towns and villages/communities (EPSG:4326): ``unit_id``, ``name``,
        ``level``, ``parent_id``, ``urban_rural_code``, ``geometry``.
    county
        The county polygon (EPSG:4326), the union of the towns.
    river
        The river centre line (EPSG:4326).
    landmarks
        Named lon/lat points: ``disconnected_hamlet``, ``offnetwork_hamlet``,
        ``county_center``.
    spec, seed
        What built it.
    """

    nodes: pd.DataFrame
    ways: tuple[OsmWay, ...]
    facilities: pd.DataFrame
    elderly: ElderlyRaster
    units: gpd.GeoDataFrame
    county: shapely.Geometry
    river: shapely.LineString
    landmarks: dict[str, tuple[float, float]]
    spec: DemoSpec
    seed: int


def build_demo_county(spec: DemoSpec | None = None, *, seed: int = DEFAULT_SEED) -> DemoCounty:
    """Build the synthetic county in memory.

    Parameters
    ----------
    spec
        Sizes of the county; :meth:`DemoSpec.demo` when None.
    seed
        Seed of :func:`numpy.random.default_rng`, the only source of randomness; the
        stages draw from it in a fixed order (streets, units, population, facilities).

    Returns
    -------
    DemoCounty
        Nodes, ways, facilities, the elderly raster and the units. With the
        defaults the raster holds exactly 47,836 people aged 60+.

    Examples
    --------
    >>> county = build_demo_county()  # doctest: +SKIP
    >>> county.elderly.total  # doctest: +SKIP
    47836.0
    """
    spec = DemoSpec.demo() if spec is None else spec
    rng = np.random.default_rng(seed)
    streets = build_streets(spec, rng)
    builder = streets.builder
    coords, classes = builder.coords(), builder.classes()
    nodes, ways = osm_elements(builder)
    units, seeds = build_units(spec, rng, streets.county, streets.river, streets.town_centres,
                               streets.village_centres, streets.seats)
    walk_ways = [w for w in builder.ways if walkable(w)]
    elderly = build_population(spec, coords, classes, walk_ways, streets.county,
                               streets.river_line, streets.park, streets.hamlet_xy,
                               streets.offnetwork_xy, rng)
    facilities = build_facilities(spec, rng, builder, coords, walk_ways, streets.county,
                                  streets.river_line, seeds)
    marks = {
        "disconnected_hamlet": to_lonlat(streets.hamlet_xy)[0],
        "offnetwork_hamlet": to_lonlat(streets.offnetwork_xy)[0],
        "county_center": np.array(DEMO_CENTER_LONLAT),
    }
    return DemoCounty(
        nodes=nodes, ways=ways, facilities=facilities, elderly=elderly, units=units,
        county=shapely.union_all(units[units["level"] == "town"].geometry.to_numpy()),
        river=shapely.LineString(to_lonlat(streets.river_points)),
        landmarks={k: (float(v[0]), float(v[1])) for k, v in marks.items()},
        spec=spec, seed=seed)


def _texts(county: DemoCounty) -> dict[str, str]:
    """The text files' contents by :class:`DemoInputs` field."""
    return {"network": osm_xml(county.nodes, county.ways),
            "facilities": facilities_csv(county.facilities),
            "boundaries": units_geojson(county.units)}


def write_readable(county: DemoCounty, directory: str | Path) -> DemoInputs:
    """Write the county's four input files under ``directory`` (``network/``,
    ``facilities/``, ``population/``, ``boundaries/``); returns their paths."""
    root = Path(directory)
    paths = DemoInputs(**{field: root / copy for field, (_, copy) in DEMO_FILES.items()})
    for field, text in _texts(county).items():
        path = getattr(paths, field)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    paths.population.parent.mkdir(parents=True, exist_ok=True)
    write_raster(paths.population, county.elderly)
    return paths


def write_package_data(county: DemoCounty, directory: str | Path) -> list[Path]:
    """Write the county as the package ships it: text files gzipped (no name, no time in
    the header, so the same county gives the same bytes), the GeoTIFF as is."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    texts = _texts(county)
    written = []
    for field, (name, _) in DEMO_FILES.items():
        path = root / name
        if field in texts:
            path.write_bytes(gzip.compress(texts[field].encode("utf-8"), compresslevel=9,
                                           mtime=0))
        else:
            write_raster(path, county.elderly)
        written.append(path)
    return written


def write_demo_inputs(directory: str | Path, *, spec: DemoSpec | None = None,
                      seed: int = DEFAULT_SEED) -> DemoInputs:
    """Generate a county and write its four readable input files under ``directory``.

    Parameters
    ----------
    directory
        Target folder; ``network/``, ``facilities/``, ``population/`` and
        ``boundaries/`` are created inside it.
    spec
        Sizes of the county; :meth:`DemoSpec.demo` when None.
    seed
        Seed of the generator. The same spec and seed give byte-identical
        ``.osm``, ``.csv`` and ``.geojson`` files and an identical raster.

    Returns
    -------
    DemoInputs
        Paths of the four written files.
    """
    return write_readable(build_demo_county(spec, seed=seed), directory)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the files and print their paths and sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder of the readable files (default: the "
                        "repository's data/, with the package data in coverage/data/demo/)")
    parser.add_argument("--package-out", help="folder of the compressed package data "
                        "(default: coverage/data/demo/ when --out is not given, else none)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument("--wenling-scale", type=float, default=None,
                        help="write the county-scale benchmark preset instead of the demo")
    args = parser.parse_args(argv)
    committed = args.wenling_scale is None and args.seed == DEFAULT_SEED
    if args.out is None and not committed:
        parser.error("--out is required with --seed or --wenling-scale: the repository's "
                     "data/ holds the committed demo")
    out = Path(args.out) if args.out is not None else READABLE_DIR
    package_out = (Path(args.package_out) if args.package_out is not None
                   else PACKAGE_DIR if args.out is None else None)
    spec = DemoSpec.demo() if args.wenling_scale is None else DemoSpec.wenling(args.wenling_scale)
    t0 = time.perf_counter()
    county = build_demo_county(spec, seed=args.seed)
    inputs = write_readable(county, out)
    paths = [inputs.network, inputs.facilities, inputs.population, inputs.boundaries]
    if package_out is not None:
        paths += write_package_data(county, package_out)
    for path in paths:
        print(f"{path}  {path.stat().st_size:,} bytes")
    print(f"written in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
