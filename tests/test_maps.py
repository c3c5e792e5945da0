"""The map: the grid as images that align with the cells, a click lookup, a county in < 10 MB.

The results are built by hand (no pipeline): a regular grid of square cells in UTM zone 51N
(the Taizhou coast), facilities at seeded random points, distances as straight lines times a
detour factor, and service areas and rings traced from a 20 m raster the way the pipeline
draws them from the distance field (pixel staircases, street-shaped tentacles), so the size
test meets polygons as big as a county's.

    row 0  +----+----+----+      cell_id = row * n_cols + col, row 0 in the north;
           |  0 |  1 |  2 | ...  the image's pixel (r, c) covers Web-Mercator
           +----+----+----+      x0 + c * dx .. x0 + (c + 1) * dx, y0 - r * dy .. y0 - (r + 1) * dy
"""

from __future__ import annotations

import copy
import dataclasses
import doctest
import json
import math
import re
import shutil
import struct
import subprocess
import zlib
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from folium.raster_layers import ImageOverlay
from rasterio.features import rasterize, shapes
from rasterio.transform import Affine

import eldercare_coverage._basemap as basemap_module
import eldercare_coverage._html as html_helpers
import eldercare_coverage._leaflet as leaflet_module
import eldercare_coverage._legend as legend_module
import eldercare_coverage._offline as offline_module
import eldercare_coverage.maps as maps
from eldercare_coverage import cli
from eldercare_coverage._basemap import BasemapError, main_streets
from eldercare_coverage.chinese_crs import wgs84_to_gcj02
from eldercare_coverage.maps import grid_raster, make_map, run_lengths, write_map
from eldercare_coverage.network import StreetNetwork
from eldercare_coverage.policy import default_policy
from eldercare_coverage.result import CoverageResult

UTM = "EPSG:32651"  # UTM zone 51N, metres
X0_M, Y1_M = 330_000.0, 3_150_000.0  # north-west corner of the synthetic grid (about 121.3 E)
WALK_M_PER_MIN = 54.0  # 0.9 m/s
DETOUR = 1.3  # network distance / straight line
DRAW_PIXEL_M = 20.0  # metres: the pixels service areas are traced from (settings.draw_pixel_m)
EARTH_RADIUS_M = 6_378_137.0  # the sphere of Web Mercator (Leaflet's L.Projection.SphericalMercator)

CIRCLES = (  # name, limit, unit, label_zh
    ("walk_1500m", 1500.0, "m", "步行1500米"),
    ("walk_15min", 15.0, "min", "步行15分钟"),
    ("home_500m", 500.0, "m", "居家服务500米"),
    ("walk_20min", 20.0, "min", "步行20分钟"),
)
TYPES = ("community_center", "nursing_home", "town_center", "canteen")
#: What a planner reads for each circle (written out by hand from the limits at 0.9 m/s:
#: 1500 m / 54 m per minute = 27.8 min, 500 m = 9.3 min, 15 min = 810 m, 20 min = 1080 m).
LABELS = {
    "zh": {"walk_1500m": "1500米实际步行距离（老年人步速0.9米/秒约28分钟）",
           "walk_15min": "15分钟步行圈（老年人步速0.9米/秒，约810米）",
           "home_500m": "500米实际步行距离（老年人步速0.9米/秒约9分钟）",
           "walk_20min": "20分钟步行圈（老年人步速0.9米/秒，约1,080米）"},
    "en": {"walk_1500m": "1500 m of real walking distance (≈28 min at 0.9 m/s)",
           "walk_15min": "15-minute walk at 0.9 m/s (≈810 m)",
           "home_500m": "500 m of real walking distance (≈9 min at 0.9 m/s)",
           "walk_20min": "20-minute walk at 0.9 m/s (≈1,080 m)"},
}


def _limit_m(limit: float, unit: str) -> float:
    return limit if unit == "m" else limit * WALK_M_PER_MIN


def _traced(inside: np.ndarray, transform: Affine) -> shapely.MultiPolygon:
    """Polygons of the true pixels of a mask (GDAL's polygonize): staircase outlines."""
    parts = [shapely.geometry.shape(geom) for geom, _ in
             shapes(inside.astype("uint8"), mask=inside, transform=transform)]
    return shapely.MultiPolygon(parts)


def synthetic_result(n_rows: int, n_cols: int, *, cell_m: float = 100.0, n_facilities: int = 12,
                     seed: int = 0, holes: bool = False, traced: bool = True,
                     facility_areas: bool = False) -> CoverageResult:
    """A hand-built result on ``n_rows`` x ``n_cols`` square cells (see the module docstring).

    ``holes`` drops a block of cells (the image must be transparent there); ``traced`` draws
    service areas and rings from a 20 m raster with street tentacles (else plain buffers).
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    left, top = X0_M + cols * cell_m, Y1_M - rows * cell_m
    cells = shapely.box(left, top - cell_m, left + cell_m, top)
    keep = np.ones(len(cells), dtype=bool)
    if holes:  # an unpopulated lake in the middle: no cells at all
        keep &= ~((rows >= n_rows // 3) & (rows < n_rows // 2)
                  & (cols >= n_cols // 3) & (cols < n_cols // 2))
    elderly = np.where(rng.random(len(cells)) < 0.3, 0.0, rng.gamma(0.8, 10.0, len(cells)))
    span_x, span_y = n_cols * cell_m, n_rows * cell_m

    fac_xy = np.column_stack([X0_M + rng.uniform(0, span_x, n_facilities),
                              Y1_M - rng.uniform(0, span_y, n_facilities)])
    fac_ids = [f"F{k:04d}" for k in range(n_facilities)]
    status = np.where(np.arange(n_facilities) % 50 == 7, "excluded", "used")
    facilities = gpd.GeoDataFrame({
        "facility_id": fac_ids, "name": [f"照料中心 {k} 号" for k in range(n_facilities)],
        "type": [TYPES[k % len(TYPES)] for k in range(n_facilities)],
        "type_label": [f"类型 {TYPES[k % len(TYPES)]}" for k in range(n_facilities)],
        "beds": rng.integers(0, 80, n_facilities).astype(float), "meals_per_day": np.nan,
        "source_row": np.arange(2, n_facilities + 2), "status": status,
        "reason": np.where(status == "used", None, "outside the study area"),
        "snap_m": rng.uniform(0, 60, n_facilities)},
        geometry=shapely.points(fac_xy), crs=UTM)
    used = facilities[facilities["status"] == "used"]
    used_points = used.geometry.to_numpy()

    centres = shapely.centroid(cells)
    nearest_at, straight_m = shapely.STRtree(used_points).query_nearest(
        centres, return_distance=True, all_matches=False)
    nearest = np.empty(len(cells), dtype=object)
    nearest[nearest_at[0]] = used["facility_id"].to_numpy()[nearest_at[1]]
    network_m = np.empty(len(cells))
    network_m[nearest_at[0]] = straight_m * DETOUR
    network_m[rng.random(len(cells)) < 0.01] = np.nan  # a few cells the network cannot reach

    towns = np.where(cols < n_cols // 2, "城东街道", "<b>新河镇</b>")
    population = gpd.GeoDataFrame({
        "cell_id": np.arange(len(cells)), "row": rows, "col": cols, "elderly": elderly,
        "town": towns, "village": [f"村{r // 10}-{c // 10}" for r, c in zip(rows, cols, strict=True)]},
        geometry=cells, crs=UTM)
    summary_circles, area_rows, catchment_rows, area_by_limit = [], [], [], {}
    extent = shapely.box(X0_M, Y1_M - span_y, X0_M + span_x, Y1_M)
    pixel_n = (math.ceil(span_y / DRAW_PIXEL_M), math.ceil(span_x / DRAW_PIXEL_M))
    transform = Affine(DRAW_PIXEL_M, 0, X0_M, 0, -DRAW_PIXEL_M, Y1_M)
    starts = np.column_stack([X0_M + rng.uniform(0, span_x, 400),
                              Y1_M - rng.uniform(0, span_y, 400)])
    heading = rng.uniform(0, 2 * np.pi, 400)
    lengths_m = rng.uniform(1000, 6000, 400)
    streets = shapely.linestrings(np.stack(
        [starts, starts + np.column_stack([np.cos(heading), np.sin(heading)]) * lengths_m[:, None]],
        axis=1))
    on_street = rasterize(shapely.buffer(streets, 20.0), out_shape=pixel_n,
                          transform=transform, dtype="uint8").astype(bool)

    def area_within(reach_m: float) -> shapely.Geometry:
        """Points within ``reach_m`` of network distance: traced pixels or a plain buffer."""
        if reach_m not in area_by_limit:
            radius = reach_m / DETOUR
            disc = shapely.union_all(shapely.buffer(used_points, radius))
            if traced:  # near ones everywhere, far ones along the streets only
                near = shapely.union_all(shapely.buffer(used_points, 0.6 * radius))
                mask = (rasterize([near], out_shape=pixel_n, transform=transform, dtype="uint8")
                        | (rasterize([disc], out_shape=pixel_n, transform=transform,
                                     dtype="uint8") & on_street)).astype(bool)
                disc = _traced(mask, transform)
            area_by_limit[reach_m] = shapely.intersection(disc, extent)
        return area_by_limit[reach_m]

    for name, limit, unit, label in CIRCLES:
        dist = network_m if unit == "m" else network_m / WALK_M_PER_MIN
        cell_in_unit = cell_m if unit == "m" else cell_m / WALK_M_PER_MIN
        share = np.clip((limit - dist) / cell_in_unit + 0.5, 0, 1)  # over about one cell
        population[f"{name}_dist"] = dist
        population[f"{name}_facility"] = np.where(np.isnan(network_m), None, nearest)
        population[f"{name}_share"] = np.where(np.isnan(dist), 0.0, share)
        population[f"{name}_covered"] = population["elderly"] * population[f"{name}_share"]
        covered = float(population.loc[keep, f"{name}_covered"].sum())
        geom = area_within(_limit_m(limit, unit))
        area_rows.append({"circle": name, "label_zh": label, "label_en": f"{name} circle",
                          "limit": limit, "unit": unit, "elderly_covered": covered,
                          "area_km2": shapely.area(geom) / 1e6, "geometry": geom})
        reach = shapely.buffer(used_points, _limit_m(limit, unit) / DETOUR, quad_segs=4)
        catchment_rows += [{"facility_id": fid, "type": ftype, "circle": name, "limit": limit,
                            "unit": unit, "elderly_covered": 1.0, "area_km2": 1.0,
                            "geometry": g} for fid, ftype, g in
                           zip(used["facility_id"], used["type"], reach, strict=True)]
        summary_circles.append({"name": name, "label_zh": label, "label_en": f"{name} circle",
                                "limit": limit, "unit": unit,
                                "limit_m": _limit_m(limit, unit), "elderly_covered": covered,
                                "coverage_rate": covered / elderly[keep].sum()})
    population["status"] = np.where(np.isnan(network_m), "unreachable", "ok")
    population = population[keep].reset_index(drop=True)

    bands = ((0.0, 500.0), (500.0, 1000.0), (1000.0, 1500.0))
    ring_rows = []
    for lower, upper in bands:
        geom = shapely.difference(area_within(upper), area_within(lower)) if lower else \
            area_within(upper)
        ring_rows.append({"rings": "walk_rings", "band": f"{lower:g}-{upper:g}m", "lower": lower,
                          "upper": upper, "unit": "m", "elderly": 100.0,
                          "area_km2": shapely.area(geom) / 1e6, "geometry": geom})

    half_x, half_y = X0_M + span_x / 2, Y1_M - span_y / 2
    gaps = gpd.GeoDataFrame({
        "gap_id": [1, 2], "circle": ["walk_1500m", "home_500m"], "rank": [1, 1],
        "elderly_unserved": [120.5, 40.0], "cells": [4, 2], "area_km2": [0.04, 0.02],
        "town": ["城东街道", None], "village": ["村0-0", None], "nearest_dist": [1800.0, np.nan]},
        geometry=[shapely.box(X0_M, Y1_M - 2 * cell_m, X0_M + 2 * cell_m, Y1_M),
                  shapely.box(half_x, half_y, half_x + cell_m, half_y + 2 * cell_m)], crs=UTM)
    unit_boxes = [shapely.box(X0_M, Y1_M - span_y, half_x, Y1_M),
                  shapely.box(half_x, Y1_M - span_y, X0_M + span_x, Y1_M)]
    units = gpd.GeoDataFrame({
        "unit_id": ["t1", "t2"], "name": ["城东街道", "<b>新河镇</b>"], "level": "town",
        "parent_id": None, "urban_rural_code": ["111", "220"], "urban_rural": ["urban", "rural"],
        "elderly": [1.0, 2.0], "walk_1500m_rate": [0.8, np.nan]}, geometry=unit_boxes, crs=UTM)

    def wgs84(frame: pd.DataFrame | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(frame, geometry="geometry", crs=UTM).to_crs("EPSG:4326")

    tables: dict[str, Any] = {
        "facilities": facilities.to_crs("EPSG:4326"),
        "population": population.to_crs("EPSG:4326"),
        "service_areas": wgs84(pd.DataFrame(area_rows)),
        "catchments": wgs84(pd.DataFrame(catchment_rows)),
        "rings": wgs84(pd.DataFrame(ring_rows)),
        "facility_areas": (wgs84(pd.DataFrame(catchment_rows)).assign(elderly_covered=3.0)
                           if facility_areas else None),
        "gaps": gaps.to_crs("EPSG:4326"), "units": units.to_crs("EPSG:4326"),
        "summary": {"title": "示例县 <synthetic>", "elderly_total": float(elderly[keep].sum()),
                    "circles": summary_circles},
        "policy": default_policy(),
    }
    # the result contract is being extended: tables the dataclass does not know yet ride along
    # as attributes, so these tests hold whichever version of result.py is in the tree
    known = {f.name for f in dataclasses.fields(CoverageResult)}
    result = CoverageResult(**{k: v for k, v in tables.items() if k in known})
    for key, value in tables.items():
        if key not in known:
            setattr(result, key, value)
    return result


def _with(result: CoverageResult, **changes: Any) -> CoverageResult:
    """A shallow copy of a result with some tables replaced (attributes included)."""
    changed = copy.copy(result)
    for key, value in changes.items():
        setattr(changed, key, value)
    return changed


def _grid_json(html: str) -> dict[str, Any]:
    """The click lookup exactly as the page's script receives it."""
    found = re.search(r"var grid = (\{.*?\});\n", html)
    assert found, "the map has no grid lookup"
    return json.loads(found.group(1))


def _decode_runs(runs: list[int], width: int, height: int) -> np.ndarray:
    """Undo :func:`run_lengths` the way the page's script does: runs, then rows downwards."""
    steps, lengths = np.asarray(runs[0::2]), np.asarray(runs[1::2])
    assert lengths.sum() == width * height
    return np.cumsum(np.repeat(np.cumsum(steps), lengths).reshape(height, width), axis=0)


def _web_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leaflet's L.CRS.EPSG3857.project, written out (spherical Mercator)."""
    return (EARTH_RADIUS_M * np.radians(lon),
            EARTH_RADIUS_M * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)))


def _png_pixels(data_uri: str) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Palette indices and RGBA palette of an 8-bit palette PNG (filter 0 scanlines)."""
    import base64

    png = base64.b64decode(data_uri.split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(png):
        (length,) = struct.unpack(">I", png[at: at + 4])
        kind, data = png[at + 4: at + 8], png[at + 8: at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length: at + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        chunks[kind] = data
        at += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 3)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()
    rgb, alpha = chunks[b"PLTE"], chunks[b"tRNS"]
    palette = [(*rgb[3 * k: 3 * k + 3], alpha[k]) for k in range(len(alpha))]
    return raw[:, 1:], palette


def _layer_names(m: folium.Map) -> list[str]:
    """Names of the switchable data layers (not the base tiles), in the order they were added."""
    return [child.layer_name for child in m._children.values()
            if isinstance(child, folium.map.Layer) and child.control and child.overlay]


def _in_page(text: str, html: str) -> bool:
    """Whether ``text`` is in the page as is or as JSON writes it (``\\uXXXX``, ``\\u0026``)."""
    return any(form in html for form in (text, json.dumps(text)[1:-1],
                                         json.dumps(text, ensure_ascii=False)[1:-1]
                                         .replace("&", "\\u0026")))


def _overlays(m: folium.Map) -> list[ImageOverlay]:
    return [child for child in m._children.values() if isinstance(child, ImageOverlay)]


@pytest.fixture(scope="module")
def county() -> CoverageResult:
    """200 x 200 cells of 100 m (40,000), 650 facilities, 4 circles, traced service areas."""
    return synthetic_result(200, 200, n_facilities=650, seed=1)


@pytest.fixture(scope="module")
def county_map(county: CoverageResult, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[folium.Map, str, int]:
    path = tmp_path_factory.mktemp("county") / "map.html"
    m = make_map(county)
    m.save(str(path))
    return m, path.read_text(encoding="utf-8"), path.stat().st_size


@pytest.fixture(scope="module")
def small() -> CoverageResult:
    """30 x 40 cells of 100 m with a hole, 12 facilities."""
    return synthetic_result(30, 40, n_facilities=12, seed=2, holes=True, facility_areas=True)


def test_county_map_stays_under_10_mb(county_map: tuple[folium.Map, str, int]):
    m, html, size = county_map
    print(f"\nsynthetic county map.html: {size / 1e6:.2f} MB "
          f"(40,000 cells, 650 facilities, 4 circles, 3 ring bands)")
    assert size < 10e6
    assert "leaflet" in html.lower()
    layers = _layer_names(m)
    words = LABELS["zh"]
    assert layers[:2] == ["老年人口（每格网）", f"到最近设施的距离：{words['walk_1500m']}"]
    assert layers[2] == "距离圈层：步行距离圈层（500/1000/1500米）"
    for name, *_ in CIRCLES:  # one area per circle, in the page as it is listed
        assert layers.count(f"服务圈：{words[name]}") == 1
        assert _in_page(f"服务圈：{words[name]}", html)
    assert not [name for name in layers if "各设施服务区" in name]  # the run made none
    # the plan's words, never the internal identifiers
    assert not [name for name in layers if re.search(r"walk_|home_|_rings", name)], layers


def test_grid_image_spans_the_cells_in_wgs84(county: CoverageResult,
                                             county_map: tuple[folium.Map, str, int]):
    m, html, _ = county_map
    # the cells' corners in EPSG:4326, straight from their UTM coordinates
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    xs = X0_M + np.arange(201) * 100.0
    ys = Y1_M - np.arange(201) * 100.0
    corner_x, corner_y = np.meshgrid(xs, ys)
    lon, lat = to_lonlat.transform(corner_x.ravel(), corner_y.ravel())
    expected = [[lat.min(), lon.min()], [lat.max(), lon.max()]]
    overlays = _overlays(m)
    assert len(overlays) == 2  # elderly and distance
    for overlay in overlays:
        np.testing.assert_allclose(overlay.bounds, expected, rtol=0, atol=1e-9)
    # and the click lookup covers the same box in Web Mercator
    grid = _grid_json(html)
    west, south = _web_mercator(lon.min(), lat.min())
    east, north = _web_mercator(lon.max(), lat.max())
    np.testing.assert_allclose([grid["x0"], grid["y0"]], [west, north], rtol=0, atol=1e-3)
    np.testing.assert_allclose([grid["x0"] + grid["w"] * grid["dx"],
                                grid["y0"] - grid["h"] * grid["dy"]], [east, south],
                               rtol=0, atol=1e-3)


def test_a_click_finds_the_cell_under_it(small: CoverageResult):
    html = make_map(small).get_root().render()
    grid = _grid_json(html)
    index = _decode_runs(grid["rle"], grid["w"], grid["h"]).ravel()
    np.testing.assert_array_equal(index.reshape(grid["h"], grid["w"]),
                                  grid_raster(small.population.geometry).cell_index)
    pop = small.population
    rng = np.random.default_rng(3)
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    for at in [0, len(pop) - 1, *rng.choice(len(pop), 40, replace=False)]:
        row, col = int(pop["row"].iloc[at]), int(pop["col"].iloc[at])
        # a point well inside the cell (a quarter cell from its centre), from its UTM square
        x_m = X0_M + (col + 0.5) * 100.0 + rng.uniform(-25, 25)
        y_m = Y1_M - (row + 0.5) * 100.0 + rng.uniform(-25, 25)
        lon, lat = to_lonlat.transform(x_m, y_m)
        merc_x, merc_y = _web_mercator(np.array(lon), np.array(lat))
        pixel_col = math.floor((merc_x - grid["x0"]) / grid["dx"])
        pixel_row = math.floor((grid["y0"] - merc_y) / grid["dy"])
        cell = index[pixel_row * grid["w"] + pixel_col] - 1
        assert cell == at
        table = grid["table"]
        assert table["id"][cell] == pop["cell_id"].iloc[at]  # the hole breaks the numbering
        assert table["e"][cell] == pytest.approx(pop["elderly"].iloc[at], abs=0.05)
        for c, circle in zip(table["circles"], CIRCLES, strict=True):
            dist = pop[f"{circle[0]}_dist"].iloc[at]
            if np.isnan(dist):
                assert table["dist"][c["d"]][cell] is None
            else:
                assert table["dist"][c["d"]][cell] == pytest.approx(
                    dist, abs=0.05 if circle[2] == "min" else 0.5)
                nearest = table["nearest"][c["f"]][cell]
                assert table["fac"][nearest].startswith(pop[f"{circle[0]}_facility"].iloc[at])
            assert c["s"][cell] == round(100 * pop[f"{circle[0]}_share"].iloc[at])
    # equal distance columns are stored once: metres (two circles), minutes (two)
    assert len(grid["table"]["dist"]) == 2
    # outside the grid and inside the hole: no cell
    hole_row, hole_col = 30 * 5 // 12, 40 * 5 // 12
    lon, lat = to_lonlat.transform(X0_M + (hole_col + 0.5) * 100, Y1_M - (hole_row + 0.5) * 100)
    merc_x, merc_y = _web_mercator(np.array(lon), np.array(lat))
    assert index[math.floor((grid["y0"] - merc_y) / grid["dy"]) * grid["w"]
                 + math.floor((merc_x - grid["x0"]) / grid["dx"])] == 0


def test_images_colour_each_cell_and_leave_the_rest_clear(small: CoverageResult):
    m = make_map(small)
    elderly_image, dist_image = _overlays(m)
    raster = grid_raster(small.population.geometry)
    pixels, palette = _png_pixels(elderly_image.url)
    assert pixels.shape == raster.cell_index.shape
    assert palette[0][3] == 0  # transparent
    no_cell = raster.cell_index == 0
    assert no_cell.sum() > 0 and (pixels[no_cell] == 0).all()  # the hole
    elderly = small.population["elderly"].to_numpy()
    cell_of_pixel = raster.cell_index[~no_cell] - 1
    # empty cells are clear; the more elderly a cell has, the darker (higher) its class
    assert (pixels[~no_cell][elderly[cell_of_pixel] == 0] == 0).all()
    classes = pixels[~no_cell]
    populated = elderly[cell_of_pixel] > 0
    order = np.argsort(elderly[cell_of_pixel][populated], kind="stable")
    assert (np.diff(classes[populated][order].astype(int)) >= 0).all()
    assert set(np.unique(classes[populated])) == set(range(1, len(palette)))
    # distance: unreachable cells have the last colour, the others by multiples of the limit
    dist_pixels, dist_palette = _png_pixels(dist_image.url)
    dist = small.population["walk_1500m_dist"].to_numpy()[cell_of_pixel]
    expected = np.where(np.isnan(dist), len(dist_palette) - 1,
                        np.searchsorted([750, 1500, 2250, 3000], dist, side="left") + 1)
    np.testing.assert_array_equal(dist_pixels[~no_cell], expected)
    assert (dist_pixels[no_cell] == 0).all()


def test_vector_grids_are_rasterized_by_geometry():
    # hexagons of about 100 m across, row and col -1 as vector grids have them
    centres = [(X0_M + 90.0 * i + (45.0 if j % 2 else 0.0), Y1_M - 78.0 * j)
               for j in range(12) for i in range(15)]
    hexagons = [shapely.Polygon([(x + 52 * math.cos(a), y + 52 * math.sin(a))
                                 for a in np.radians(np.arange(30, 390, 60))])
                for x, y in centres]
    cells = gpd.GeoSeries(hexagons, crs=UTM).to_crs("EPSG:4326")
    raster = grid_raster(cells)
    burnt = np.unique(raster.cell_index)
    assert set(burnt) == set(range(len(cells) + 1))  # every cell shows, and some background
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(*np.array(centres).T)
    merc_x, merc_y = _web_mercator(np.asarray(lon), np.asarray(lat))
    cols = np.floor((merc_x - raster.x_min_m) / raster.pixel_w_m).astype(int)
    rows = np.floor((raster.y_max_m - merc_y) / raster.pixel_h_m).astype(int)
    np.testing.assert_array_equal(raster.cell_index[rows, cols], np.arange(len(cells)) + 1)

    small = synthetic_result(6, 8, seed=4, traced=False)
    hex_pop = gpd.GeoDataFrame({"cell_id": [f"h{k}" for k in range(len(cells))], "row": -1,
                                "col": -1, "elderly": np.arange(len(cells), dtype=float)},
                               geometry=cells)
    small.population = hex_pop
    html = make_map(small).get_root().render()
    assert _grid_json(html)["table"]["id"][:2] == ["h0", "h1"]


def test_a_cell_smaller_than_a_pixel_still_shows():
    big = [shapely.box(X0_M + 100 * k, Y1_M - 100, X0_M + 100 * (k + 1), Y1_M) for k in range(5)]
    tiny = shapely.box(X0_M + 700, Y1_M - 60, X0_M + 705, Y1_M - 55)  # 5 m, off on its own
    raster = grid_raster(gpd.GeoSeries([*big, tiny], crs=UTM).to_crs("EPSG:4326"))
    assert 6 in np.unique(raster.cell_index)


def test_catchments_stay_out_and_facility_areas_come_in_when_made(small: CoverageResult):
    made = _layer_names(make_map(small))
    assert [name for name in made if "各设施服务区" in name] == [
        f"各设施服务区：{LABELS['zh'][name]}" for name, _, _, _ in CIRCLES]  # the run made them
    bare = _with(small, facility_areas=None)
    html = make_map(bare).get_root().render()
    assert "各设施服务区" not in html
    # catchments are never drawn: the page is as long with as without them (ids are fixed-size)
    no_catchments = _with(bare, catchments=small.catchments.iloc[:0])
    assert len(make_map(no_catchments).get_root().render()) == len(html)


def test_user_text_is_escaped(small: CoverageResult):
    tricky = small.population.copy()
    tricky["village"] = "<script>alert(1)</script>"
    html = make_map(_with(small, population=tricky)).get_root().render()
    assert "<script>alert(1)" not in html and "<b>新河镇</b>" not in html
    assert _in_page("&lt;script&gt;alert(1)", html)  # in the click table, escaped
    assert "&lt;synthetic&gt;" in html  # the title


def test_maps_compose_and_circles_can_be_chosen(small: CoverageResult):
    m = folium.Map(tiles=None)
    assert make_map(small, m=m, circles=["home_500m"]) is m
    html = m.get_root().render()
    layers = _layer_names(m)
    assert f"服务圈：{LABELS['zh']['home_500m']}" in layers
    assert not [name for name in layers
                if LABELS["zh"]["walk_1500m"] in name or "walk_1500m" in name]
    assert f"到最近设施的距离：{LABELS['zh']['home_500m']}" in layers
    assert _in_page(f"到最近设施的距离：{LABELS['zh']['home_500m']}", html)
    with pytest.raises(ValueError, match="unknown circle"):
        make_map(small, circles=["no_such_circle"])


def test_write_map_writes_a_page(small: CoverageResult, tmp_path):
    path = write_map(small, tmp_path / "map.html")
    html = path.read_text(encoding="utf-8")
    assert "leaflet" in html.lower() and "ec-legend" in html
    assert "L.CRS.EPSG3857.project" in html


def test_run_lengths_round_trip():
    rng = np.random.default_rng(5)
    image = np.repeat(rng.integers(0, 50, (17, 9)), rng.integers(1, 4, 9), axis=1)
    np.testing.assert_array_equal(_decode_runs(run_lengths(image), *image.shape[::-1]), image)


def test_docstring_examples_of_the_map_modules():
    for module in (maps, html_helpers, leaflet_module, legend_module, basemap_module,
                   offline_module):
        outcome = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert outcome.failed == 0 and outcome.attempted > 0, module.__name__


# A stand-in for Leaflet: every call chains, except the few the page's own scripts use, which
# record what they are given. Leaflet's spherical Mercator is copied from its source.
_NODE_HARNESS = r"""
const handlers = {}, popups = [], geojsons = [];
const R = 6378137, d = Math.PI / 180, MAX_LATITUDE = 85.0511287798;
function chain() {
  const target = function () {};
  const proxy = new Proxy(target, {get: (t, key) => key === Symbol.toPrimitive ? () => ''
                                                   : proxy, apply: () => proxy});
  return proxy;
}
const any = chain();
const map = new Proxy(function () {}, {get: (t, key) =>
  key === 'on' ? (name, fn) => { handlers[name] = fn; return map; }
  : key === 'hasLayer' ? () => true : any});
global.L = new Proxy({}, {get: (t, key) => {
  if (key === 'map') { return () => map; }
  if (key === 'CRS') {
    return {EPSG3857: {project: (latlng) => {
      const lat = Math.max(Math.min(MAX_LATITUDE, latlng.lat), -MAX_LATITUDE);
      const sin = Math.sin(lat * d);
      return {x: R * latlng.lng * d, y: R * Math.log((1 + sin) / (1 - sin)) / 2};
    }}};
  }
  if (key === 'popup') {
    return () => { const p = {setLatLng: () => p, openOn: () => p,
                              setContent: (html) => { popups.push(html); return p; }};
                   return p; };
  }
  if (key === 'geoJSON') { return (data) => { geojsons.push(data); return any; }; }
  return any;
}});
global.$ = () => [any];  // folium's popups build their HTML with jQuery
global.document = any;
const clicks = JSON.parse(require('fs').readFileSync(0, 'utf8'));
eval(PAGE_SCRIPT);
const answers = clicks.map(([lat, lng]) => {
  const before = popups.length;
  handlers.click({latlng: {lat: lat, lng: lng}});
  return popups.length > before ? popups[popups.length - 1] : null;
});
console.log(JSON.stringify({answers: answers, geojsons: geojsons}));
"""


def test_the_page_script_finds_cells_and_draws_polygons(small: CoverageResult, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's own JavaScript is not run here")
    html = make_map(small).get_root().render()
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    harness = tmp_path / "harness.js"
    harness.write_text(_NODE_HARNESS.replace("PAGE_SCRIPT", json.dumps("\n".join(scripts))),
                       encoding="utf-8")
    pop = small.population
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    picks = [0, 7, 300, len(pop) - 1]
    lon, lat = to_lonlat.transform(X0_M + (pop["col"].to_numpy()[picks] + 0.5) * 100.0,
                                   Y1_M - (pop["row"].to_numpy()[picks] + 0.5) * 100.0)
    hole = to_lonlat.transform(X0_M + 16.5 * 100.0, Y1_M - 12.5 * 100.0)
    clicks = [[float(y), float(x)] for x, y in zip(lon, lat, strict=True)]
    clicks += [[hole[1], hole[0]], [0.0, 0.0]]  # no cell: in the hole, far away
    done = subprocess.run([node, str(harness)], input=json.dumps(clicks), text=True,
                          capture_output=True, timeout=120, check=True)
    answer = json.loads(done.stdout)
    for at, popup in zip(picks, answer["answers"], strict=False):
        assert f"格网 {pop['cell_id'].iloc[at]}</b>" in popup
        assert f"老年人（60岁及以上）: <b>{pop['elderly'].iloc[at]:,.1f}</b>" in popup
        assert LABELS["zh"]["walk_1500m"] in popup and "walk_1500m</b>" not in popup
        dist = pop["walk_1500m_dist"].iloc[at]
        assert (f"{dist:,.0f} m" if np.isfinite(dist) else "不可达") in popup
    assert answer["answers"][len(picks):] == [None, None]
    # the polygons the page decodes are the simplified ones, to 1e-6 degrees
    drawn = {feature["properties"]["tip"]: shapely.geometry.shape(feature["geometry"])
             for data in answer["geojsons"] for feature in data["features"]}
    # gap areas carry their numbers; the page writes their tooltips
    gap = small.gaps.iloc[0]
    assert (f"<b>缺口 #1</b>（{LABELS['zh']['walk_1500m']}）<br>"
            f"{html_helpers.num(gap['elderly_unserved'])} 名老年人未覆盖，4 个格网，0.04 km²<br>"
            "城东街道 村0-0<br>最近设施（最近格网） 1,800 m") in drawn
    areas = small.service_areas
    for name, *_ in CIRCLES:
        (geom,) = [g for tip, g in drawn.items()
                   if tip.startswith(f"<b>{LABELS['zh'][name]}</b><br>")]
        expected = leaflet_module.display_geometries(
            areas[areas["circle"] == name], simplify_m=maps.SIMPLIFY_M,
            metric_crs=small.population.estimate_utm_crs())[0]
        np.testing.assert_allclose(shapely.get_coordinates(geom),
                                   shapely.get_coordinates(expected), rtol=0, atol=0.51e-6)


# --- a page that needs no internet, and its base layers -------------------------------------

#: Addresses the code inlined from Leaflet holds: the SVG namespace and its attribution link.
LEAFLET_ADDRESSES = {"http://www.w3.org/2000/svg", "https://leafletjs.com"}


def _addresses(html: str) -> set[str]:
    return set(re.findall(r"https?://[^\s\"'<>)\\]+", html))


def _decode(text: str, scale: float) -> np.ndarray:
    """An encoded polyline back to ``(N, 2)`` values (the page's ``decodeRings``)."""
    values, at, current = [], 0, [0, 0]
    while at < len(text):
        for axis in range(2):
            shift, bits = 0, 0
            while True:
                chunk = ord(text[at]) - 63
                at += 1
                bits |= (chunk & 31) << shift
                shift += 5
                if chunk < 32:
                    break
            current[axis] += ~(bits >> 1) if bits & 1 else bits >> 1
        values.append([current[0] / scale, current[1] / scale])
    return np.array(values)


def _packed(html: str, first_key: str) -> list[dict[str, Any]]:
    """The JSON objects the page's layers of one kind receive (``var packed = {...};``)."""
    found = re.findall(r"var packed = (\{\"" + first_key + r"\".*?\});\n", html)
    return [json.loads(text) for text in found]


def _base_lines(html: str) -> dict[str, list[np.ndarray]]:
    """The offline base layer's lines by kind, decoded to ``[lat, lon]`` arrays."""
    (packed,) = [p for p in _packed(html, "scale") if p.get("pane") == "ecBase"]
    return {line["kind"]: [_decode(code, packed["scale"]) for code in line["codes"]]
            for line in packed["lines"]}


def test_the_page_needs_no_internet(small: CoverageResult, tmp_path):
    html = write_map(small, tmp_path / "map.html").read_text(encoding="utf-8")
    # no script, stylesheet, font or image from anywhere: Leaflet's own code is in the page
    assert not re.search(r"<script[^>]+src=|<link|@import|url\(\s*['\"]?https?:", html)
    assert offline_module.leaflet_js() in html and "Leaflet 1.9.4" in html
    assert "leaflet-control-layers" in offline_module.leaflet_css() in html
    assert "url(data:image/png;base64," in offline_module.leaflet_css()
    for cdn_asset in ("jquery", "bootstrap", "awesome-markers", "fontawesome", "glyphicons"):
        assert cdn_asset not in html.lower()
    # the only addresses are in Leaflet's code: no tiles unless a tile base layer is chosen
    assert _addresses(html) == LEAFLET_ADDRESSES
    # the layer control opens on demand; the scale bar is metric only
    assert '"collapsed": true' in html and "imperial: false" in html
    # folium's class-level CDN lists are left as they were for other maps
    assert any("jquery" in url for _, url in folium.Map.default_js)


def test_a_given_map_gets_leaflet_inline_and_keeps_its_other_assets(small: CoverageResult):
    m = folium.Map(tiles=None)
    html = make_map(small, m=m).get_root().render()
    assert offline_module.leaflet_js() in html
    assert "cdn.jsdelivr.net/npm/leaflet@" not in html  # no second Leaflet from a CDN
    assert "code.jquery.com" in html  # the caller's map asked for it
    # a map that shows its own tiles keeps them on; the offline base layer is the other choice
    tiled = make_map(small, m=folium.Map(tiles="OpenStreetMap"))
    (offline,) = [child for child in tiled._children.values()
                  if isinstance(child, basemap_module.OfflineBaseLayer)]
    assert not offline.show


def _points(html: str) -> dict[str, list[float]]:
    """Marker position ``[lat, lon]`` by tooltip (the facility's name)."""
    return {tip: point for packed in _packed(html, "points")
            for tip, point in zip(packed["tips"], packed["points"], strict=True)}


def test_amap_draws_every_overlay_in_gcj02(small: CoverageResult):
    wgs_html = make_map(small).get_root().render()
    gcj_html = make_map(small, basemap="amap").get_root().render()
    assert _in_page(basemap_module.AMAP_URL, gcj_html) and "autonavi" not in wgs_html
    fac = small.facilities[small.facilities["status"] == "used"]
    lon, lat = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    wgs_points, gcj_points = _points(wgs_html), _points(gcj_html)
    for k, name in enumerate(fac["name"]):
        # on AMap's streets (GCJ-02) with AMap, on OpenStreetMap's (WGS-84) without
        np.testing.assert_allclose(gcj_points[name], [gcj_lat[k], gcj_lon[k]], atol=0.51e-6)
        np.testing.assert_allclose(wgs_points[name], [lat[k], lon[k]], atol=0.51e-6)
        assert abs(gcj_lon[k] - lon[k]) > 1e-3  # a few hundred metres apart
    # polygons: every vertex converted (the service areas as an example)
    areas = small.service_areas
    metric = small.population.estimate_utm_crs()
    (packed,) = [p for p in _packed(gcj_html, "scale") if p.get("features")
                 and p["features"][0]["p"].get("tip", "").startswith(
                     f"<b>{LABELS['zh']['walk_1500m']}</b><br>")]
    ring = _decode(packed["features"][0]["g"][0][0], packed["scale"])
    expected = leaflet_module.display_geometries(
        areas[areas["circle"] == "walk_1500m"], simplify_m=maps.SIMPLIFY_M, metric_crs=metric)[0]
    exterior = shapely.get_coordinates(shapely.get_parts(expected)[0].exterior)
    np.testing.assert_allclose(ring, np.column_stack(wgs84_to_gcj02(*exterior.T)), atol=0.51e-6)
    # the grid: a click on a cell's GCJ-02 position finds that cell
    grid = _grid_json(gcj_html)
    index = _decode_runs(grid["rle"], grid["w"], grid["h"]).ravel()
    pop = small.population
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    for at in [0, 17, len(pop) - 1]:
        cell_lon, cell_lat = to_lonlat.transform(X0_M + (pop["col"].iloc[at] + 0.5) * 100.0,
                                                 Y1_M - (pop["row"].iloc[at] + 0.5) * 100.0)
        merc_x, merc_y = _web_mercator(*(np.array(v) for v in wgs84_to_gcj02(cell_lon, cell_lat)))
        col = math.floor((merc_x - grid["x0"]) / grid["dx"])
        row = math.floor((grid["y0"] - merc_y) / grid["dy"])
        assert index[row * grid["w"] + col] - 1 == at


def test_tile_base_layers_and_their_errors(small: CoverageResult):
    html = make_map(small, basemap="tianditu", tianditu_key="k3y&x").get_root().render()
    for layer in ("vec", "cva"):  # the map and its annotation, the key URL-encoded
        assert f"tianditu.gov.cn/{layer}_w/wmts?" in html
        assert re.search(rf"{layer}_w/wmts\?[^\"]*LAYER={layer}[^\"]*tk=k3y%26x\"", html)
    osm = make_map(small, basemap="osm").get_root().render()
    assert _in_page(basemap_module.OSM_URL, osm)
    assert _addresses(osm) - LEAFLET_ADDRESSES == {basemap_module.OSM_URL,
                                                   "https://www.openstreetmap.org/copyright"}
    # the offline base layer stays in the control as the other choice
    assert _in_page("底图：街道与边界（离线）", osm)
    with pytest.raises(BasemapError, match="needs a key.*tianditu_key"):
        make_map(small, basemap="tianditu")
    with pytest.raises(ValueError, match="'google'.*none, osm, tianditu, amap"):
        make_map(small, basemap="google")


def test_cli_asks_for_the_tianditu_key_before_running(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["demo", "--out", str(tmp_path), "--basemap", "tianditu"])
    assert stop.value.code == 2 and "--tianditu-key" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was run or written


def _street_network() -> StreetNetwork:
    r"""Four edges in UTM 51N, inside the synthetic grid (metres from its north-west corner)::

        A (500, -500) ----- B (1500, -500)            A-B, B-C: primary (one street, bent)
           \                 |   \
            \                |     C (2500, -800)
             \               D (1500, -1500)       B-D: tertiary_link
              \
               E (2500, -2000)                      A-E: residential, the longest (2500 m)
    """
    xy = np.array([[X0_M + 500, Y1_M - 500], [X0_M + 1500, Y1_M - 500],
                   [X0_M + 2500, Y1_M - 800], [X0_M + 1500, Y1_M - 1500],
                   [X0_M + 2500, Y1_M - 2000]])
    ends = np.array([[0, 1], [1, 2], [1, 3], [0, 4]])
    geoms = shapely.linestrings(xy[ends])
    return StreetNetwork(
        crs=pyproj.CRS(UTM), node_id=np.arange(len(xy)), node_xy=xy, edge_u=ends[:, 0],
        edge_v=ends[:, 1], edge_length_m=shapely.length(geoms), edge_geometry=geoms,
        edge_highway=np.array(["primary", "primary", "tertiary_link", "residential"],
                              dtype=object))


def _assert_same_line(drawn: np.ndarray, expected: np.ndarray) -> None:
    """The same vertices (to the base layer's 1e-5 degrees), in either direction."""
    if np.abs(drawn[0] - expected[0]).max() > 1e-4:
        drawn = drawn[::-1]
    np.testing.assert_allclose(drawn, expected, rtol=0, atol=0.6e-5)


def test_offline_base_layer_has_outlines_and_main_streets(small: CoverageResult):
    network = _street_network()
    with_streets = _with(small, meta={"network": network})
    lines = _base_lines(make_map(with_streets).get_root().render())
    to_lonlat = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(*network.node_xy.T)
    # the primary street is one line A-B-C (its two edges merged), the link road B-D
    latlon = np.column_stack([lat, lon])
    (primary,) = lines["street:primary"]
    _assert_same_line(primary, latlon[[0, 1, 2]])
    (link,) = lines["street:tertiary"]
    _assert_same_line(link, latlon[[1, 3]])
    assert not [kind for kind in lines if "residential" in kind]  # minor streets stay out
    # the outline of the two towns, and their boundaries
    (outline,) = lines["outline"]
    box = shapely.box(*small.units.to_crs(UTM).total_bounds)
    corners = np.column_stack(to_lonlat.transform(*shapely.get_coordinates(box).T))[:, ::-1]
    np.testing.assert_allclose(np.unique(outline.round(5), axis=0),
                               np.unique(corners.round(5), axis=0), atol=1.1e-5)
    assert len(lines["towns"]) == 2
    # on AMap the streets move with everything else
    amap = _base_lines(make_map(with_streets, basemap="amap").get_root().render())
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    _assert_same_line(amap["street:primary"][0], np.column_stack([gcj_lat, gcj_lon])[[0, 1, 2]])
    # without a network, only the outlines
    assert set(_base_lines(make_map(small).get_root().render())) == {"outline", "towns"}


def test_main_streets_without_road_classes_are_the_longest():
    network = _street_network()
    network.edge_highway = np.array(["", "", "", ""], dtype=object)
    streets = main_streets(network)
    assert streets["highway"].tolist() == ["longest"]
    (line,) = shapely.get_parts(streets.geometry.to_crs(UTM).to_numpy())
    assert shapely.length(line) == pytest.approx(network.edge_length_m.max(), rel=1e-6)


def test_legend_reads_as_a_planner_speaks(small: CoverageResult):
    html = make_map(small).get_root().render()
    legend = html[html.index("<div id='ec-legend'"):]
    legend = legend[: legend.index("</details></div>")]
    for c in small.summary["circles"]:
        # the rate, the circle's limit in metres and minutes, and the plan's own name
        assert (f"<b>{100 * c['coverage_rate']:.1f} %</b> {LABELS['zh'][c['name']]}<br>"
                in legend), c["name"]
        assert c["label_zh"] in legend
    assert "walk_" not in legend and "home_500m" not in legend
    english = make_map(small, lang="en").get_root().render()
    english = english[english.index("<div id='ec-legend'"):]
    for name, label in LABELS["en"].items():
        assert label in english, name
    assert "Facilities: " in english and "设施" not in english
    # elderly classes one per row, so their labels cannot run into each other
    edges = maps._elderly_edges(small.population["elderly"].to_numpy(dtype=float))
    for k in range(edges.size - 1):
        assert f"</span>{edges[k]:g} – {edges[k + 1]:g}</div>" in legend


def test_layer_names_are_the_plans_words_in_either_language(small: CoverageResult):
    """The layer control names each circle by its limit in metres and minutes, in Chinese
    (the default) or English, never by its internal identifier; other words follow."""
    for lang, area, gap, towns in (("zh", "服务圈：", "服务缺口：", "乡镇街道"),
                                   ("en", "Service area: ", "Gap areas: ",
                                    "Towns and subdistricts")):
        m = make_map(small, lang=lang)
        layers = _layer_names(m)
        for name, *_ in CIRCLES:
            assert f"{area}{LABELS[lang][name]}" in layers, (lang, name)
        assert f"{gap}{LABELS[lang]['walk_1500m']}" in layers
        assert towns in layers
        assert not [n for n in layers if re.search(r"walk_\d|home_500m|walk_rings", n)], layers
    english = make_map(small, lang="en").get_root().render()
    assert '"cell": "cell"' in english or '"cell":"cell"' in english  # the popup's words
    with pytest.raises(ValueError, match="lang was 'fr'"):
        make_map(small, lang="fr")
