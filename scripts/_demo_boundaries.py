"""The demo county's towns and villages/communities (Voronoi cells of their seeds), and
their GeoJSON.

A private helper of ``scripts/make_demo_data.py``; not part of the package. Codes follow
the official formats (fictional county ``331099``; urban-rural codes 111 core community,
112 village in a subdistrict, 121 town community, 210 village near a town, 220 remote
village).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from _demo_common import COUNTY_CODE, DemoSpec, River, to_lonlat
from _demo_names import (
    COMMUNITY_FIRST,
    COMMUNITY_SECOND,
    VILLAGE_FIRST,
    VILLAGE_SECOND,
    north_subdistrict_count,
    town_level_names,
    unique_names,
)


@dataclass
class Seed:
    """The seed point of one village-level unit (local metres) and what it is."""

    xy: np.ndarray
    name: str
    town: int  # index of its town-level unit
    code: int  # urban-rural code
    kind: str  # community, village, seat
    unit_id: str = ""


def build_units(spec: DemoSpec, rng: np.random.Generator, county: shapely.Polygon,
                river: River, towns: list[np.ndarray], village_centres: np.ndarray,
                seats: list[int]) -> tuple[gpd.GeoDataFrame, list[Seed]]:
    """Towns and villages/communities (EPSG:4326), and the seeds of the villages.

    Returns
    -------
    units
        ``unit_id``, ``name``, ``level`` (town, village), ``parent_id``,
        ``urban_rural_code``, ``geometry``; sorted by ``unit_id``.
    seeds
        One per village-level unit, with its ``unit_id`` filled in.
    """
    seeds = _unit_seeds(spec, rng, river, towns, village_centres, seats)
    cells = _voronoi_cells(np.array([s.xy for s in seeds]), county)
    rows: list[dict[str, Any]] = []
    for t, town_name in enumerate(town_level_names(spec)):
        town_id = f"{COUNTY_CODE}{t + 1:03d}"
        members = [k for k, s in enumerate(seeds) if s.town == t]
        members.sort(key=lambda k: (seeds[k].kind != "community", -round(seeds[k].xy[1], 3),
                                    round(seeds[k].xy[0], 3)))
        for j, k in enumerate(members):
            seeds[k].unit_id = f"{town_id}{j + 1:03d}"
            rows.append({"unit_id": seeds[k].unit_id, "name": seeds[k].name, "level": "village",
                         "parent_id": town_id, "urban_rural_code": seeds[k].code,
                         "geometry": cells[k]})
        town_geom = polygonal(shapely.union_all(cells[members])) if members else None
        if t < spec.n_subdistricts:
            town_code = 111
        elif t < spec.n_subdistricts + spec.n_towns:
            town_code = 121
        else:
            town_code = 220
        rows.append({"unit_id": town_id, "name": town_name, "level": "town", "parent_id": None,
                     "urban_rural_code": town_code, "geometry": town_geom})
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    units = units[units.geometry.notna()].sort_values("unit_id").reset_index(drop=True)
    units["urban_rural_code"] = units["urban_rural_code"].astype("int64")
    return units, seeds


def _unit_seeds(spec: DemoSpec, rng: np.random.Generator, river: River,
                towns: list[np.ndarray], village_centres: np.ndarray,
                seats: list[int]) -> list[Seed]:
    """Seeds: core communities on a jittered grid (split among the subdistricts, the last
    south of the river), each town's communities around its centre, and the villages
    (each in the town-level unit of its nearest anchor)."""
    core_w, core_h = spec.core_size_m
    n_cols = max(1, round(math.sqrt(spec.n_core_communities * core_w / core_h)))
    n_rows = max(1, math.ceil(spec.n_core_communities / n_cols))
    grid_x, grid_y = np.meshgrid((np.arange(n_cols) + 0.5) / n_cols * core_w - core_w / 2,
                                 (np.arange(n_rows) + 0.5) / n_rows * core_h - core_h / 2)
    core_xy = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    core_xy = core_xy + rng.uniform(-0.15, 0.15, core_xy.shape) * np.array(
        [core_w / n_cols, core_h / n_rows])
    if len(core_xy) > spec.n_core_communities:
        core_xy = core_xy[np.sort(rng.choice(len(core_xy), spec.n_core_communities,
                                             replace=False))]
    n_north = north_subdistrict_count(spec)
    side = river.side(core_xy)
    community_names = unique_names(
        COMMUNITY_FIRST, COMMUNITY_SECOND, "社区",
        spec.n_core_communities + spec.n_towns * spec.n_town_communities, rng)
    seeds: list[Seed] = []
    north = np.flatnonzero(side > 0) if spec.n_subdistricts >= 2 else np.arange(len(core_xy))
    if len(north):  # easting quantiles split the north bank among its subdistricts
        splits = (np.quantile(core_xy[north, 0], np.linspace(0, 1, n_north + 1)[1:-1])
                  if n_north > 1 else np.zeros(0))
    for k, xy in enumerate(core_xy):
        if spec.n_subdistricts >= 2 and side[k] < 0:
            town = spec.n_subdistricts - 1
        else:
            town = int(np.searchsorted(splits, xy[0])) if n_north > 1 else 0
        seeds.append(Seed(xy, community_names[k], town, 111, "community"))
    # towns' communities around the town centre
    name_no = spec.n_core_communities
    for t, centre in enumerate(towns):
        for j in range(spec.n_town_communities):
            angle = 2 * np.pi * j / spec.n_town_communities + rng.uniform(0, 0.5)
            radius_m = rng.uniform(0.17, 0.27) * spec.town_size_m  # not cocircular: GEOS dislikes it
            xy = centre + radius_m * np.array([np.cos(angle), np.sin(angle)])
            seeds.append(Seed(xy, community_names[name_no], spec.n_subdistricts + t, 121,
                              "community"))
            name_no += 1
    # villages: nearest town-level anchor (subdistricts' community centroids, towns, seats)
    anchor_list = []
    for s in range(spec.n_subdistricts):
        members = [x.xy for x in seeds if x.town == s]
        anchor_list.append(np.mean(members, axis=0) if members else np.zeros(2))
    anchor_list += list(towns)
    anchor_list += [village_centres[s] for s in seats]
    anchors = np.array(anchor_list)
    village_names = unique_names(VILLAGE_FIRST, VILLAGE_SECOND, "村", len(village_centres), rng)
    town_of_seat = {s: spec.n_subdistricts + spec.n_towns + k for k, s in enumerate(seats)}
    for k, xy in enumerate(village_centres):
        if k in town_of_seat:
            town = town_of_seat[k]
            code, kind = 121, "seat"
        else:
            anchor_m = np.hypot(*(anchors - xy).T)
            town = int(np.argmin(anchor_m))
            if town < spec.n_subdistricts:
                code = 112
            elif anchor_m[town] < 3000:
                code = 210
            else:
                code = 220
            kind = "village"
        seeds.append(Seed(xy, village_names[k], town, code, kind))
    return seeds


def _voronoi_cells(seed_xy: np.ndarray, county: shapely.Polygon) -> np.ndarray:
    """Voronoi cells of the seeds clipped to the county, in lon/lat rounded to 6 decimals
    (valid, no repeated points), in seed order."""
    vor = shapely.voronoi_polygons(shapely.MultiPoint(seed_xy), extend_to=county.buffer(5000),
                                   ordered=True)
    cells = np.array(shapely.get_parts(vor))
    bad = ~shapely.is_valid(cells)
    if bad.any():  # GEOS can return self-touching cells for near-cocircular seeds
        cells[bad] = [polygonal(g) for g in shapely.make_valid(cells[bad])]
    cells = shapely.intersection(cells, county)
    cells_lonlat = shapely.transform(cells, lambda c: np.round(to_lonlat(c), 6))
    bad = ~shapely.is_valid(cells_lonlat)
    if bad.any():  # rounding to 6 decimals can pinch a sliver
        cells_lonlat[bad] = [polygonal(g) for g in shapely.make_valid(cells_lonlat[bad])]
    return shapely.remove_repeated_points(cells_lonlat)


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``geom`` (a Polygon or MultiPolygon); lines and points dropped.

    The generator's own copy of the package's ``_geometry.polygonal``, so that a change
    there cannot change the committed demo files.
    """
    if geom.geom_type == "Polygon":
        return geom
    if geom.geom_type == "MultiPolygon":
        return geom.geoms[0] if len(geom.geoms) == 1 else geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


# ----------------------------------------------------------------------------- GeoJSON


def _fmt_float(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text == "-0." + "0" * digits else text  # no "-0.000000"


def _ring_text(ring: np.ndarray) -> str:
    return "[" + ",".join(f"[{_fmt_float(x, 6)},{_fmt_float(y, 6)}]" for x, y in ring) + "]"


def _geometry_json(geom: shapely.Geometry) -> str:
    geom = shapely.orient_polygons(geom, exterior_cw=False)  # RFC 7946: exteriors counterclockwise

    def polygon(p: shapely.Polygon) -> str:
        rings = [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
        return "[" + ",".join(_ring_text(r) for r in rings) + "]"

    if geom.geom_type == "Polygon":
        return '{"type":"Polygon","coordinates":' + polygon(geom) + "}"
    parts = ",".join(polygon(p) for p in geom.geoms)
    return '{"type":"MultiPolygon","coordinates":[' + parts + "]}"


def units_geojson(units: gpd.GeoDataFrame) -> str:
    """GeoJSON text of the units: one feature a line, sorted by ``unit_id``, 6 decimals."""
    features = []
    for row in units.sort_values("unit_id").itertuples(index=False):
        props = {"unit_id": row.unit_id, "name": row.name, "level": row.level,
                 "parent_id": None if row.parent_id is None or pd.isna(row.parent_id)
                 else row.parent_id, "urban_rural_code": int(row.urban_rural_code)}
        features.append('{"type":"Feature","properties":'
                        + json.dumps(props, ensure_ascii=False, sort_keys=True,
                                     separators=(",", ":"))
                        + ',"geometry":' + _geometry_json(row.geometry) + "}")
    return ('{"type":"FeatureCollection","name":"demo_units","features":[\n'
            + ",\n".join(features) + "\n]}\n")
