"""Overlay, coverage, unit statistics and gap areas.

Counts of elderly people are extensive: when a cell is split by a service area or a
unit boundary its people are split by area, so totals are conserved. Rates are
intensive and are recomputed from the summed counts, never averaged.

All geometry here is in one projected CRS (metres).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage, sparse

_TILE_M = 1000.0  # metres: regions are diced into tiles this size before overlay


def _dice(region: shapely.Geometry, tile_m: float = _TILE_M) -> np.ndarray:
    """Cut a large polygon into pieces along a square grid (keeps overlays local)."""
    if region.is_empty:
        return np.empty(0, dtype=object)
    x0, y0, x1, y1 = region.bounds
    xs = np.arange(np.floor(x0 / tile_m), np.ceil(x1 / tile_m) + 1) * tile_m
    ys = np.arange(np.floor(y0 / tile_m), np.ceil(y1 / tile_m) + 1) * tile_m
    gx, gy = np.meshgrid(xs[:-1], ys[:-1])
    tiles = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + tile_m, gy.ravel() + tile_m)
    tiles = tiles[shapely.intersects(region, tiles)]
    pieces = shapely.intersection(region, tiles)
    pieces = pieces[~shapely.is_empty(pieces) & (shapely.area(pieces) > 0)]
    return pieces


def covered_share(cells: np.ndarray, region: shapely.Geometry) -> np.ndarray:
    """Share of each cell's area inside ``region`` (0..1).

    Parameters
    ----------
    cells
        Cell polygons (array of shapely geometries).
    region
        A (multi)polygon in the same CRS.

    Returns
    -------
    numpy.ndarray
        Area share per cell.

    Examples
    --------
    >>> import shapely
    >>> cells = shapely.box([0, 10], [0, 0], [10, 20], [10, 10])
    >>> covered_share(cells, shapely.box(5, 0, 30, 10)).tolist()
    [0.5, 1.0]
    """
    cells = np.asarray(cells, dtype=object)
    share = np.zeros(len(cells))
    pieces = _dice(region)
    if len(pieces) == 0 or len(cells) == 0:
        return share
    tree = shapely.STRtree(pieces)
    ci, pi = tree.query(cells, predicate="intersects")
    if len(ci) == 0:
        return share
    shapely.prepare(pieces)
    inside = shapely.contains_properly(pieces[pi], cells[ci])
    area = shapely.area(cells)
    inter = np.zeros(len(ci))
    inter[inside] = area[ci[inside]]
    part = ~inside
    inter[part] = shapely.area(shapely.intersection(cells[ci[part]], pieces[pi[part]]))
    np.add.at(share, ci, inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(area > 0, share / area, 0.0)
    return np.clip(share, 0.0, 1.0)


def area_weights(cells: np.ndarray, polygons: np.ndarray) -> pd.DataFrame:
    """Area shares of cells falling in each of several (non-overlapping) polygons.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell``, ``polygon``, ``weight`` (share of the cell's area).
    """
    cells = np.asarray(cells, dtype=object)
    polygons = np.asarray(polygons, dtype=object)
    tree = shapely.STRtree(polygons)
    ci, pi = tree.query(cells, predicate="intersects")
    shapely.prepare(polygons)
    inside = shapely.contains_properly(polygons[pi], cells[ci])
    area = shapely.area(cells)
    inter = np.where(inside, area[ci], 0.0)
    part = ~inside
    inter[part] = shapely.area(shapely.intersection(cells[ci[part]], polygons[pi[part]]))
    w = pd.DataFrame({"cell": ci, "polygon": pi, "weight": inter / np.maximum(area[ci], 1e-12)})
    return w[w["weight"] > 0].reset_index(drop=True)


def elderly_in_regions(
    cells: np.ndarray, elderly: np.ndarray, regions: np.ndarray
) -> np.ndarray:
    """Elderly people (area-weighted) inside each region; regions may overlap."""
    regions = np.asarray(regions, dtype=object)
    out = np.zeros(len(regions))
    ok = ~shapely.is_empty(regions)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    w = area_weights(cells, regions[idx])
    np.add.at(out, idx[w["polygon"].to_numpy()], elderly[w["cell"].to_numpy()] * w["weight"].to_numpy())
    return out


def connected_groups(
    mask: np.ndarray, row: np.ndarray, col: np.ndarray, geometry: np.ndarray
) -> np.ndarray:
    """Label connected groups of cells where ``mask`` is true (0 = not in a group).

    Grid cells (``row``, ``col`` >= 0) connect to their 8 neighbours; other cells
    (vector grids) connect when their polygons touch.
    """
    labels = np.zeros(len(mask), dtype=np.int64)
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return labels
    if (row[idx] >= 0).all() and (col[idx] >= 0).all():
        r, c = row[idx] - row[idx].min(), col[idx] - col[idx].min()
        grid = np.zeros((r.max() + 1, c.max() + 1), dtype=bool)
        grid[r, c] = True
        lab, _ = ndimage.label(grid, structure=np.ones((3, 3), dtype=int))
        labels[idx] = lab[r, c]
        return labels
    geoms = np.asarray(geometry, dtype=object)[idx]
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    adj = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(idx), len(idx)))
    _, comp = sparse.csgraph.connected_components(adj, directed=False)
    labels[idx] = comp + 1
    return labels
