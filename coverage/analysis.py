"""Overlay, coverage, unit statistics and gap areas.

Counts of elderly people are extensive: when a cell is split by a service area or a
unit boundary its people are split by area, so totals are conserved. Rates are
intensive and are recomputed from the summed counts, never averaged.

All geometry here is in one projected CRS (metres).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage, sparse

from ._geometry import dissolve
from .policy import Policy
from .settings import settings as _settings

OUTSIDE_UNITS = "(outside units)"

_MAX_VERTICES = 256  # pieces of diced regions have at most about this many vertices


def dice(polygons: np.ndarray, max_vertices: int = _MAX_VERTICES
         ) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons into small pieces by recursive quartering of their bounding boxes.

    Overlaying a cell on a polygon with thousands of vertices costs thousands of
    operations; on a piece of at most ``max_vertices`` vertices it is cheap, and the
    quartering itself costs about ``n log n`` for a polygon of ``n`` vertices.

    Returns
    -------
    pieces, owner
        The (valid, non-empty) pieces and the index of the polygon each came from.
    """
    polygons = np.asarray(polygons, dtype=object)
    keep = ~(shapely.is_missing(polygons) | shapely.is_empty(polygons))
    todo, owner = polygons[keep], np.flatnonzero(keep)
    out_p: list[np.ndarray] = []
    out_o: list[np.ndarray] = []
    while len(todo):
        small = shapely.get_num_coordinates(todo) <= max_vertices
        out_p.append(todo[small])
        out_o.append(owner[small])
        big, big_owner = todo[~small], owner[~small]
        if not len(big):
            break
        x0, y0, x1, y1 = shapely.bounds(big).T
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        quads = [shapely.box(x0, y0, mx, my), shapely.box(mx, y0, x1, my),
                 shapely.box(x0, my, mx, y1), shapely.box(mx, my, x1, y1)]
        parts = np.concatenate([shapely.intersection(big, q) for q in quads])
        part_owner = np.tile(big_owner, 4)
        ok = ~shapely.is_empty(parts) & (shapely.area(parts) > 0)
        todo, owner = parts[ok], part_owner[ok]
    if not out_p:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    return np.concatenate(out_p), np.concatenate(out_o)


def _overlay(cells: np.ndarray, polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell, polygon, area of their intersection) for every intersecting pair."""
    cells = np.asarray(cells, dtype=object)
    pieces, owner = dice(polygons)
    if len(pieces) == 0 or len(cells) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    tree = shapely.STRtree(pieces)
    ci, pi = tree.query(cells, predicate="intersects")
    shapely.prepare(pieces)
    inside = shapely.contains_properly(pieces[pi], cells[ci])
    area = shapely.area(cells)
    inter = np.where(inside, area[ci], 0.0)
    part = ~inside
    inter[part] = shapely.area(shapely.intersection(cells[ci[part]], pieces[pi[part]]))
    # pieces of one polygon do not overlap: sum them per (cell, polygon)
    key = pd.DataFrame({"cell": ci, "polygon": owner[pi], "area": inter})
    key = key.groupby(["cell", "polygon"], sort=False, as_index=False)["area"].sum()
    return key["cell"].to_numpy(), key["polygon"].to_numpy(), key["area"].to_numpy()


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
    ci, _, inter = _overlay(cells, np.array([region], dtype=object))
    np.add.at(share, ci, inter)
    area = shapely.area(cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(area > 0, share / area, 0.0)
    return np.clip(share, 0.0, 1.0)


def area_weights(cells: np.ndarray, polygons: np.ndarray) -> pd.DataFrame:
    """Area shares of cells falling in each of several polygons.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell``, ``polygon``, ``weight`` (share of the cell's area).
    """
    cells = np.asarray(cells, dtype=object)
    ci, pi, inter = _overlay(cells, np.asarray(polygons, dtype=object))
    area = shapely.area(cells)
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


def union_by_label(geometry: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the geometries of each label: (the labels, ascending; their unions).

    Cells of one grid share their edges exactly, so a group is dissolved by GEOS's
    coverage union (the general union where that fails); a group of one cell is the
    cell as it is.
    """
    geometry = np.asarray(geometry, dtype=object)
    order = np.argsort(labels, kind="stable")
    uniq, start, count = np.unique(labels[order], return_index=True, return_counts=True)
    out = geometry[order][start]
    for k in np.flatnonzero(count > 1):
        out[k] = dissolve(geometry[order[start[k]:start[k] + count[k]]])
    return uniq, out


def mode_by_label(labels: np.ndarray, values: np.ndarray) -> pd.Series:
    """The most frequent value of each label (missing values ignored; of ties the
    smallest, as pandas' ``mode``), indexed by label; labels with no value are absent.

    Examples
    --------
    >>> mode_by_label(np.array([1, 1, 1, 2, 2, 3]),
    ...               np.array(["b", "a", "b", "y", "x", None], dtype=object)).to_dict()
    {1: 'b', 2: 'x'}
    """
    df = pd.DataFrame({"label": labels, "value": values}).dropna()
    n = df.groupby(["label", "value"], sort=False).size().reset_index(name="n")
    n = n.sort_values(["label", "n", "value"], ascending=[True, False, True], kind="stable")
    return n.drop_duplicates("label").set_index("label")["value"]


def unit_statistics(
    cells: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, policy: Policy, crs: Any,
    *, counted: Mapping[str, np.ndarray | None] | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Per-unit elderly, covered and rates; cells get their town / village by centroid.

    A circle with cells in ``counted`` (a class-bound circle) also gets
    ``<name>_elderly``, the people of its cells in the unit, and its rate is measured
    against them.
    """
    elderly = cells["elderly"].to_numpy(dtype=float)
    bound: dict[str, np.ndarray] = {k: v for k, v in (counted or {}).items() if v is not None}
    cells = cells.copy()
    base_cols = []
    for name, mask in bound.items():
        cells[f"{name}_elderly"] = np.where(mask, elderly, 0.0)
        base_cols.append(f"{name}_elderly")
    if units is None or len(units) == 0:
        hull = shapely.convex_hull(shapely.union_all(cells.geometry.to_numpy()))
        units = gpd.GeoDataFrame({"unit_id": ["all"], "name": ["study area"], "level": ["all"],
                                  "parent_id": [None], "urban_rural_code": [pd.NA],
                                  "urban_rural": [None]}, geometry=[hull], crs=crs)
    units = units.to_crs(crs).reset_index(drop=True)
    covered_cols = [f"{c.name}_covered" for c in policy.circles] + base_cols
    rows = []
    cent = shapely.centroid(cells.geometry.to_numpy())
    for level in units["level"].drop_duplicates():
        lv = units[units["level"] == level]
        w = area_weights(cells.geometry.to_numpy(), lv.geometry.to_numpy())
        cell_i, poly_i, wt = w["cell"].to_numpy(), w["polygon"].to_numpy(), w["weight"].to_numpy()
        # weights of a cell over non-overlapping units sum to <= 1; the rest is outside
        sums = {"elderly": np.bincount(poly_i, elderly[cell_i] * wt, minlength=len(lv))}
        for col in covered_cols:
            sums[col] = np.bincount(poly_i, cells[col].to_numpy()[cell_i] * wt, minlength=len(lv))
        table = lv.copy()
        for k, v in sums.items():
            table[k] = v
        inside = np.bincount(cell_i, wt, minlength=len(cells))
        outside_share = np.clip(1.0 - inside, 0.0, 1.0)
        outside_share[outside_share < 1e-9] = 0.0
        if (elderly * outside_share).sum() > 0:
            extra = {"unit_id": f"outside-{level}", "name": OUTSIDE_UNITS, "level": level,
                     "elderly": float((elderly * outside_share).sum()), "geometry": None}
            for col in covered_cols:
                extra[col] = float((cells[col].to_numpy() * outside_share).sum())
            table = pd.concat([table, gpd.GeoDataFrame([extra], geometry="geometry", crs=crs)],
                              ignore_index=True)
        rows.append(table)
        # name of the unit holding each cell centroid, for the population layer
        tree = shapely.STRtree(lv.geometry.to_numpy())
        ci, pi = tree.query(cent, predicate="within")
        names = np.full(len(cells), None, dtype=object)
        names[ci] = lv["name"].to_numpy()[pi]
        cells[str(level)] = names
    table = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=crs)
    cells = cells.drop(columns=base_cols)
    for c in policy.circles:
        base = table[f"{c.name}_elderly"] if c.name in bound else table["elderly"]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = table[f"{c.name}_covered"] / base
        table[f"{c.name}_rate"] = rate.where(base > 0)
        table[f"{c.name}_meets_target"] = (None if c.target_rate is None
                                           else table[f"{c.name}_rate"] >= c.target_rate)
    return table, cells


def weighted_median_by_label(labels: np.ndarray, values: np.ndarray, weights: np.ndarray
                             ) -> pd.Series:
    """The weighted (lower) median of ``values`` per label: the smallest value at which
    the weights of the values up to it reach half the label's weight.

    A missing value (NaN: e.g. a cell no facility reaches) counts as farther than every
    other; when the median falls on one the label's median is NaN. Entries of zero weight
    are left out (a label with no weight gets NaN).

    Examples
    --------
    >>> weighted_median_by_label(np.array([1, 1, 1, 2, 2]),
    ...                          np.array([100.0, 300.0, 200.0, 50.0, np.nan]),
    ...                          np.array([1.0, 1.0, 3.0, 1.0, 2.0])).to_dict()
    {1: 200.0, 2: nan}
    """
    labels = np.asarray(labels)
    key = np.where(np.isnan(values), np.inf, values)  # unreachable: farthest of all
    keep = np.asarray(weights, dtype=float) > 0
    df = pd.DataFrame({"label": labels[keep], "key": key[keep],
                       "w": np.asarray(weights, dtype=float)[keep]})
    df = df.sort_values(["label", "key"], kind="stable")
    cum = df.groupby("label", sort=False)["w"].cumsum()
    half = df.groupby("label", sort=False)["w"].transform("sum") / 2
    first = df[cum.to_numpy() >= half.to_numpy() * (1 - 1e-12)].drop_duplicates("label")
    median = first.set_index("label")["key"].replace(np.inf, np.nan)
    return median.reindex(pd.unique(labels)).sort_index()


def gap_areas(cells: gpd.GeoDataFrame, policy: Policy, crs: Any,
              *, counted: Mapping[str, np.ndarray | None] | None = None) -> gpd.GeoDataFrame:
    """Connected groups of cells served below ``settings.gap_max_share``, ranked; a circle
    with cells in ``counted`` (class-bound) looks only at those.

    Each gap has ``nearest_dist``, the distance of its closest cell to the nearest facility,
    and ``nearest_dist_median``, the distance of its median unserved person (the median of
    its cells' ``<circle>_dist`` weighted by their unserved elderly; NaN when that person
    is unreachable), both in the circle's unit."""
    rows = []
    row = cells["row"].to_numpy() if "row" in cells else np.full(len(cells), -1)
    col = cells["col"].to_numpy() if "col" in cells else np.full(len(cells), -1)
    elderly = cells["elderly"].to_numpy(dtype=float)
    for c in policy.circles:
        share = cells[f"{c.name}_share"].to_numpy()
        mask = (share < _settings.gap_max_share) & (elderly > 0)
        only = (counted or {}).get(c.name)
        if only is not None:
            mask &= only
        lab = connected_groups(mask, row, col, cells.geometry.to_numpy())
        if lab.max() == 0:
            continue
        pos = np.flatnonzero(lab > 0)
        labs = lab[pos]
        df = pd.DataFrame({"lab": labs, "unserved": (elderly * (1 - share))[pos],
                           "dist": cells[f"{c.name}_dist"].to_numpy()[pos]})
        agg = df.groupby("lab").agg(elderly_unserved=("unserved", "sum"),
                                    cells=("unserved", "size"),
                                    nearest_dist=("dist", "min"))
        # the distance of the gap's median unserved person (a cell's people at its centre)
        agg["nearest_dist_median"] = weighted_median_by_label(
            labs, df["dist"].to_numpy(dtype=float), df["unserved"].to_numpy()
        ).reindex(agg.index).to_numpy()
        ulab, geoms = union_by_label(cells.geometry.to_numpy()[pos], labs)
        agg["geometry"] = pd.Series(geoms, index=ulab).reindex(agg.index).to_numpy()
        for extra in ("town", "village"):
            if extra in cells:
                mode = mode_by_label(labs, cells[extra].to_numpy()[pos]).reindex(agg.index)
                agg[extra] = mode.astype(object).where(mode.notna(), None).to_numpy()
        agg = agg.sort_values("elderly_unserved", ascending=False).reset_index(drop=True)
        agg["rank"] = np.arange(1, len(agg) + 1)
        agg["circle"] = c.name
        agg["gap_id"] = [f"{c.name}-{k}" for k in agg["rank"]]
        rows.append(agg)
    cols = ["gap_id", "circle", "rank", "elderly_unserved", "cells", "area_km2", "town",
            "village", "nearest_dist", "nearest_dist_median"]
    if not rows:
        return gpd.GeoDataFrame({k: [] for k in cols}, geometry=[], crs=crs)
    g = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=crs)
    g["area_km2"] = g.geometry.area / 1e6
    for k in ("town", "village"):
        if k not in g:
            g[k] = None
    return g[[*cols, "geometry"]]
