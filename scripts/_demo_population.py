"""The demo county's people aged 60 and over: a WorldPop-style GeoTIFF grid.

A private helper of ``scripts/make_demo_data.py``; not part of the package. People live
near walkable streets, in proportion to street nodes per class (core, towns, villages,
rural roads), smoothed, never in the river, the park or along the border; the two test
hamlets get fixed counts; values are multiples of 1/64 person so the total is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from scipy import ndimage
from scipy.spatial import cKDTree

from _demo_builder import Way
from _demo_common import (
    BORDER_CLEAR_M,
    LIVE_NEAR_ROAD_M,
    NODATA,
    NODE_CORE,
    NODE_RURAL,
    NODE_TOWN,
    NODE_VILLAGE,
    PIXEL_DEG,
    QUANTUM,
    RIVER_DRY_M,
    DemoSpec,
    densify,
    river_distance_m,
    to_local,
    to_lonlat,
)

# node class: (share of the elderly, smoothing sigma in pixels)
CLASS_SHARES = {NODE_CORE: (0.42, 1.3), NODE_TOWN: (0.17, 1.0), NODE_VILLAGE: (0.385, 0.9),
                NODE_RURAL: (0.025, 0.7)}
HAMLET_ELDERLY = 24.0  # people in the disconnected hamlet
OFFNETWORK_ELDERLY = 10.0  # people in the off-network hamlet (5 + 3 + 2 on three pixels)


@dataclass(frozen=True)
class ElderlyRaster:
    """Elderly people per pixel, WorldPop-style.

    Attributes
    ----------
    array
        float32 array (rows, cols); ``nodata`` outside the county.
    transform
        Affine pixel-to-lon/lat transform (3 arc-second pixels).
    crs
        Always ``"EPSG:4326"``.
    nodata
        The nodata value (-99999).
    """

    array: np.ndarray
    transform: Affine
    crs: str = "EPSG:4326"
    nodata: float = NODATA

    @property
    def total(self) -> float:
        """Sum of the valid pixels (people aged 60+)."""
        valid = self.array[self.array != self.nodata]
        return float(valid.astype(np.float64).sum())


@dataclass(frozen=True)
class _PixelGrid:
    """The raster's grid over the county: size, corner, and each pixel centre."""

    width: int
    height: int
    west: float
    north: float
    centre_xy: np.ndarray  # (height * width, 2) local metres, row-major
    inside: np.ndarray  # (height, width): centre inside the county


def build_population(spec: DemoSpec, coords: np.ndarray, classes: np.ndarray,
                     walk_ways: list[Way], county: shapely.Polygon,
                     river_line: shapely.LineString, park: shapely.Polygon,
                     hamlet_xy: np.ndarray, offnetwork_xy: np.ndarray,
                     rng: np.random.Generator) -> ElderlyRaster:
    """The 60+ raster: ``spec.elderly_total`` people spread over the street nodes' pixels.

    ``coords`` and ``classes`` are every builder node's local metres and class;
    ``walk_ways`` the walkable ways (their nodes carry people).
    """
    grid = _pixel_grid(county)
    height, width = grid.height, grid.width
    eligible = _eligible_pixels(grid, county, river_line, park, walk_ways, coords, rng)

    # node weights -> pixels, smoothed per class
    node_lonlat = to_lonlat(coords)
    node_col = np.floor((node_lonlat[:, 0] - grid.west) / PIXEL_DEG).astype(int)
    node_row = np.floor((grid.north - node_lonlat[:, 1]) / PIXEL_DEG).astype(int)
    on_grid = (node_col >= 0) & (node_col < width) & (node_row >= 0) & (node_row < height)
    on_walk_way = np.zeros(len(coords), dtype=bool)
    for way in walk_ways:
        on_walk_way[way.nodes] = True
    rest = spec.elderly_total - HAMLET_ELDERLY - OFFNETWORK_ELDERLY
    share_sum = sum(share for share, _ in CLASS_SHARES.values())
    people = np.zeros((height, width))
    for node_class, (share, sigma_px) in CLASS_SHARES.items():
        sel = on_grid & on_walk_way & (classes == node_class)
        if not sel.any():
            continue
        node_count = np.zeros((height, width))
        np.add.at(node_count, (node_row[sel], node_col[sel]), 1.0)
        density = ndimage.gaussian_filter(node_count, sigma_px, mode="constant", truncate=3.0)
        density *= rng.uniform(0.6, 1.4, density.shape)  # a little house-to-house variation
        density[~eligible] = 0.0
        total = density.sum()
        if total > 0:
            people += density / total * rest * share / share_sum
    # disconnected hamlet: pixels whose centre is within 140 m of its centre
    hamlet_m = np.hypot(grid.centre_xy[:, 0] - hamlet_xy[0, 0],
                        grid.centre_xy[:, 1] - hamlet_xy[0, 1]).reshape(height, width)
    in_hamlet = (hamlet_m < 140) & grid.inside
    people[in_hamlet] = 0.0
    people[in_hamlet] += HAMLET_ELDERLY / in_hamlet.sum()
    # off-network hamlet: the pixel holding the spot and its east and north neighbours
    off_lonlat = to_lonlat(offnetwork_xy)[0]
    row0 = int((grid.north - off_lonlat[1]) / PIXEL_DEG)
    col0 = int((off_lonlat[0] - grid.west) / PIXEL_DEG)
    for (d_row, d_col), count in zip(((0, 0), (0, 1), (-1, 0)), (5.0, 3.0, 2.0), strict=True):
        people[row0 + d_row, col0 + d_col] = count
    array = _quantised(people, spec.elderly_total).astype(np.float32)
    array[~grid.inside] = NODATA
    transform = Affine(PIXEL_DEG, 0.0, grid.west, 0.0, -PIXEL_DEG, grid.north)
    return ElderlyRaster(array, transform)


def _pixel_grid(county: shapely.Polygon) -> _PixelGrid:
    """Whole 3-arc-second pixels over the county's lon/lat bounds plus one pixel."""
    county_lonlat = shapely.Polygon(to_lonlat(np.asarray(county.exterior.coords)))
    lon0, lat0, lon1, lat1 = county_lonlat.bounds
    west = math.floor(lon0 * 1200) / 1200 - PIXEL_DEG
    north = math.ceil(lat1 * 1200) / 1200 + PIXEL_DEG
    width = math.ceil((lon1 - west) * 1200) + 1
    height = math.ceil((north - lat0) * 1200) + 1
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    centre_lon = west + (cols + 0.5) * PIXEL_DEG
    centre_lat = north - (rows + 0.5) * PIXEL_DEG
    inside = shapely.contains_xy(county_lonlat, centre_lon, centre_lat)
    centre_xy = to_local(np.column_stack([centre_lon.ravel(), centre_lat.ravel()]))
    return _PixelGrid(width, height, west, north, centre_xy, inside)


def _eligible_pixels(grid: _PixelGrid, county: shapely.Polygon,
                     river_line: shapely.LineString, park: shapely.Polygon,
                     walk_ways: list[Way], coords: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Pixels where people may live: inside the county away from its border, off the
    river and the park, within :data:`LIVE_NEAR_ROAD_M` of a walkable street."""
    centre_xy = grid.centre_xy
    eligible = grid.inside.ravel().copy()
    sel = np.flatnonzero(eligible)
    eligible[sel] &= shapely.distance(county.exterior,
                                      shapely.points(centre_xy[sel])) > BORDER_CLEAR_M
    sel = np.flatnonzero(eligible)
    eligible[sel] &= river_distance_m(river_line, centre_xy[sel], RIVER_DRY_M + 1) > RIVER_DRY_M
    eligible &= ~shapely.contains_xy(park.buffer(20), centre_xy[:, 0], centre_xy[:, 1])
    # distance to the nearest walkable road, from road points every 20 m at most
    dense = []
    for way in walk_ways:
        pts = coords[way.nodes]
        dense.append(densify(pts, 20.0, rng) if len(pts) > 1 else pts)
    road_tree = cKDTree(np.vstack(dense))
    sel = np.flatnonzero(eligible)
    road_m, _ = road_tree.query(centre_xy[sel], distance_upper_bound=LIVE_NEAR_ROAD_M)
    eligible[sel] &= np.isfinite(road_m)
    return eligible.reshape(grid.height, grid.width)


def _quantised(people: np.ndarray, total: float) -> np.ndarray:
    """``people`` rounded to 1/:data:`QUANTUM` person, adding up to ``total`` exactly
    (the rounding's remainder goes to the largest pixels, one quantum each)."""
    quanta = np.floor(people * QUANTUM + 0.5)
    diff = int(round(total * QUANTUM) - quanta.sum())
    if diff:
        flat = quanta.ravel()
        order = np.lexsort((np.arange(flat.size), -flat))[: abs(diff)]
        flat[order] += np.sign(diff)
        quanta = flat.reshape(quanta.shape)
    return quanta / QUANTUM


def write_raster(path: Path, raster: ElderlyRaster) -> None:
    """Write ``raster`` as a deflate-compressed float32 GeoTIFF."""
    import rasterio

    height, width = raster.array.shape
    profile = {"driver": "GTiff", "height": height, "width": width, "count": 1,
               "dtype": "float32", "crs": raster.crs, "transform": raster.transform,
               "nodata": raster.nodata, "compress": "deflate", "predictor": 3, "tiled": False}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(raster.array, 1)
        dst.update_tags(description="people aged 60 and over per pixel (synthetic demo county)",
                        elderly_total=f"{raster.total:.4f}")
