"""Polygons drawn from the distance field, for maps and GIS.

Coverage is computed on the field (:mod:`eldercare_coverage.field`); the polygons a
planner sees are drawn from the same field, evaluated on a grid of ``pixel_m`` pixels
(``settings.draw_pixel_m``, 20 m by default) over all ground within ``max_snap_m`` of a
street, not only where people live:

* a circle's **service area**: the pixels whose centre is within the limit, dissolved
  into one (Multi)Polygon;
* a facility's **catchment** in a circle: the pixels within the limit whose nearest
  facility it is. Catchments partition the service area;
* the **distance bands** of a rings set (0-500, 500-1000, 1000-1500 m).

Where people live the field is already known on finer pixels (the population pixels,
``settings.overlay_pixel_m``, 10 m): when the drawing pixel is a whole multiple of them
the raster is drawn at the fine size, the coarse pixels repeated and the population
pixels written over them, so the areas are sharpest where the people are.

Pixels are turned into polygons by GDAL's polygonize (:func:`rasterio.features.shapes`),
then the staircase of pixel edges is simplified: a service area by 0.7 of a fine pixel
(7 m), catchments and bands by one coarse pixel (20 m; catchments together, as a
coverage, so neighbours keep sharing their edges). The fine pixels serve the service
areas; catchments and bands are drawn on the coarse pixels, a partition for GIS with a
tenth of the vertices (a county's GeoPackage stays under 30 MB). A drawn boundary is within
about a pixel of the true one; tests check that the drawn areas agree with the point-wise
distances on at least 99 % of points sampled evenly over the ground.

Only ground that some facility could reach is evaluated: a pixel farther in a
straight line than the largest limit from every facility is outside every area (a
network distance is never shorter than the straight line), so it is neither snapped
nor searched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio import features
from scipy.spatial import cKDTree

from .prepared import PreparedNetwork
from .snapping import NetworkLocations

log = logging.getLogger(__name__)

_MAX_PIXELS = 200_000_000  # refuse absurd extents (a mis-projected network) before allocating
_COARSE_SIMPLIFY = 1.0  # catchments and bands: simplified by this many coarse pixels
_FINE_SIMPLIFY = 0.7  # service areas: simplified by this many fine pixels


@dataclass(frozen=True)
class DrawGrid:
    """The ground near streets (and near a facility) as pixels snapped to their streets.

    Attributes
    ----------
    transform
        Affine transform of the coarse raster (north up, metres of the work CRS).
    shape
        (rows, columns) of the coarse raster.
    index
        Flat coarse-raster index of each evaluated pixel, shape (P,).
    locations
        Each evaluated pixel centre on its nearest street.
    pixel_m
        Coarse pixel size, metres.
    fine
        How many fine pixels a coarse pixel spans along a side (1: no fine pixels).
    fine_index, fine_of
        Flat fine-raster index of the population pixels that lie in the raster, and
        their position among the population pixels.
    """

    transform: Affine
    shape: tuple[int, int]
    index: np.ndarray
    locations: NetworkLocations
    pixel_m: float
    fine: int = 1
    fine_index: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    fine_of: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def fine_transform(self) -> Affine:
        """Affine transform of the fine raster."""
        t = self.transform
        return Affine(t.a / self.fine, t.b, t.c, t.d, t.e / self.fine, t.f)

    def raster(self, values: np.ndarray, fine: tuple[np.ndarray, np.ndarray] | None = None
               ) -> np.ndarray:
        """``values`` of the evaluated pixels as a raster (0 elsewhere, int32); with
        ``fine`` = (fine-raster flat indices, their values), at the fine size with those
        written over the coarse pixels."""
        out = np.zeros(self.shape[0] * self.shape[1], dtype=np.int32)
        out[self.index] = values
        out = out.reshape(self.shape)
        if self.fine == 1 or fine is None:
            return out
        out = np.repeat(np.repeat(out, self.fine, axis=0), self.fine, axis=1)
        out.ravel()[fine[0]] = fine[1]
        return out

    def centres(self) -> np.ndarray:
        """Centres (x, y) of the evaluated coarse pixels."""
        row, col = np.divmod(self.index, self.shape[1])
        x0, y1, px = self.transform.c, self.transform.f, self.pixel_m
        return np.column_stack([x0 + (col + 0.5) * px, y1 - (row + 0.5) * px])

    def with_fine_pixels(self, xy: np.ndarray, pixel_m: float) -> DrawGrid:
        """This grid with the pixels centred at ``xy`` (of size ``pixel_m``) as its fine
        pixels, when ``pixel_m`` divides the coarse pixel and the pixels align."""
        ratio = self.pixel_m / pixel_m
        fine = int(round(ratio))
        if fine < 2 or abs(ratio - fine) > 1e-9 or len(xy) == 0:
            return self
        x0, y1 = self.transform.c, self.transform.f
        col = (xy[:, 0] - x0) / pixel_m - 0.5
        row = (y1 - xy[:, 1]) / pixel_m - 0.5
        on_lattice = (np.abs(col - np.round(col)) < 1e-6) & (np.abs(row - np.round(row)) < 1e-6)
        col, row = np.round(col).astype(np.int64), np.round(row).astype(np.int64)
        height, width = self.shape[0] * fine, self.shape[1] * fine
        inside = on_lattice & (col >= 0) & (col < width) & (row >= 0) & (row < height)
        which = np.flatnonzero(inside)
        return DrawGrid(self.transform, self.shape, self.index, self.locations, self.pixel_m,
                        fine, row[which] * width + col[which], which)


def draw_grid(
    network: PreparedNetwork, facility_xy: np.ndarray, *, reach_m: float, pixel_m: float,
    max_snap_m: float,
) -> DrawGrid:
    """Pixels within ``max_snap_m`` of a street and ``reach_m`` of a facility, snapped.

    Parameters
    ----------
    network
        The prepared street network.
    facility_xy
        Coordinates of every facility that serves some circle, shape (F, 2).
    reach_m
        The largest limit (metres of network cost) anything will be drawn for.
    pixel_m
        Pixel size, metres.
    max_snap_m
        Longest access leg.

    Returns
    -------
    DrawGrid
    """
    facility_xy = np.asarray(facility_xy, dtype=float).reshape(-1, 2)
    facility_xy = facility_xy[np.isfinite(facility_xy).all(axis=1)]
    x_lo, y_lo, x_hi, y_hi = network.network.bounds()
    margin = max_snap_m + pixel_m
    x0 = np.floor((x_lo - margin) / pixel_m) * pixel_m
    y1 = np.ceil((y_hi + margin) / pixel_m) * pixel_m
    width = max(int(np.ceil((x_hi + margin - x0) / pixel_m)), 1)
    height = max(int(np.ceil((y1 - (y_lo - margin)) / pixel_m)), 1)
    if width * height > _MAX_PIXELS:
        raise ValueError(f"the network spans {width * pixel_m / 1000:.0f} x "
                         f"{height * pixel_m / 1000:.0f} km: too large to draw at {pixel_m:g} m")
    transform = Affine(pixel_m, 0.0, x0, 0.0, -pixel_m, y1)
    empty = NetworkLocations(np.empty(0, np.int64), np.empty(0), np.empty(0))
    if len(facility_xy) == 0:
        return DrawGrid(transform, (height, width), np.empty(0, np.int64), empty, pixel_m)
    # rows at a time: the pixels within reach_m of a facility in a straight line
    tree = cKDTree(facility_xy)
    cols = np.arange(width)
    keep: list[np.ndarray] = []
    rows_per_block = max(1, 2_000_000 // width)
    for r0 in range(0, height, rows_per_block):
        rows = np.arange(r0, min(r0 + rows_per_block, height))
        rr, cc = np.repeat(rows, width), np.tile(cols, len(rows))
        xy = np.column_stack([x0 + (cc + 0.5) * pixel_m, y1 - (rr + 0.5) * pixel_m])
        dist, _ = tree.query(xy, distance_upper_bound=reach_m, workers=-1)
        keep.append((rr * width + cc)[np.isfinite(dist)])
    index = np.concatenate(keep)
    grid = DrawGrid(transform, (height, width), index, empty, pixel_m)
    located = network.snap(grid.centres(), max_snap_m=max_snap_m, exact_beyond=False)
    on = located.on_network
    log.info("drawing grid: %d pixels of %g m near a facility, %d near a street",
             len(index), pixel_m, int(on.sum()))
    return DrawGrid(transform, (height, width), index[on], located.take(on), pixel_m)


def polygons_by_value(grid: DrawGrid, values: np.ndarray,
                      fine: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of each positive value as one (Multi)Polygon each.

    Parameters
    ----------
    grid
        The drawing grid.
    values
        An int per evaluated pixel; 0 is drawn as nothing.
    fine
        Fine pixels drawn over the coarse ones: their flat indices in the fine raster
        and an int each (see :meth:`DrawGrid.raster`).

    Returns
    -------
    value, geometry
        The positive values present (sorted) and their polygons (pixel staircases).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> none = np.array([], dtype=np.int64)
    >>> grid = DrawGrid(Affine(10, 0, 0, 0, -10, 20), (2, 3), np.arange(6),
    ...                 NetworkLocations(none, none, none), 10.0)
    >>> vals, geoms = polygons_by_value(grid, np.array([1, 1, 0, 2, 0, 2]))
    >>> vals.tolist(), [g.area for g in geoms], geoms[1].geom_type
    ([1, 2], [200.0, 200.0], 'MultiPolygon')
    """
    raster = grid.raster(values, fine)
    transform = grid.transform if raster.shape == grid.shape else grid.fine_transform
    found = list(features.shapes(raster, mask=raster > 0, transform=transform, connectivity=4))
    if not found:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    parts = _polygons_from_geojson([geom["coordinates"] for geom, _ in found])
    value = np.array([v for _, v in found], dtype=np.int64)
    order = np.argsort(value, kind="stable")
    uniq, group = np.unique(value[order], return_inverse=True)
    # the parts of one value never overlap (each pixel is in one part): a MultiPolygon
    # of them is valid without a union
    geoms = shapely.multipolygons(parts[order], indices=group)
    single = np.bincount(group) == 1
    geoms[single] = shapely.get_geometry(geoms[single], 0)
    return uniq, geoms


def _polygons_from_geojson(rings_of: list[list[list[tuple[float, float]]]]) -> np.ndarray:
    """Polygons from GeoJSON polygon coordinates (a list of rings each, shell first), built
    in one vectorised call: 1.5 M vertices in well under a second (shapely.geometry.shape
    takes seconds, a Python tuple at a time)."""
    ring_len = [len(ring) for rings in rings_of for ring in rings]
    ring_poly = np.repeat(np.arange(len(rings_of)), [len(rings) for rings in rings_of])
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(chain.from_iterable(rings_of))),
                       dtype=float, count=2 * sum(ring_len)).reshape(-1, 2)
    rings = shapely.linearrings(flat, indices=np.repeat(np.arange(len(ring_len)), ring_len))
    return np.asarray(shapely.polygons(rings, indices=ring_poly), dtype=object)


def simplified_coverage(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Pixel staircases simplified together, so neighbours keep sharing their edges."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0 or tolerance_m <= 0:
        return geoms
    # valid in, valid out (GEOS's coverage simplifier keeps the topology); outputs are
    # checked and repaired once more after reprojection (_geometry.valid)
    return np.asarray(shapely.coverage_simplify(geoms, tolerance_m, simplify_boundary=True),
                      dtype=object)


class FineField:
    """A facility set's field on the fine pixels of a drawing grid, measured where asked.

    It starts with what is known already, the population pixels (``known_cost``, one per
    population pixel); :meth:`refine` measures the fine pixels of the coarse pixels along
    a circle's boundary (snapped and searched once by ``measure``, kept for the next
    circle of the same facilities). The service area is then drawn at the fine size along
    all of its boundary, where the coarse pixels would put about a coarse pixel's width of
    ground on the wrong side.

    Parameters
    ----------
    grid
        The drawing grid (with its fine pixels, :meth:`DrawGrid.with_fine_pixels`).
    known_cost
        The field at the population pixels, or None.
    measure
        The field at given points (x, y): cost from the nearest facility (``inf`` off the
        network), e.g. a :class:`~eldercare_coverage.field.FacilityReach` asked at the
        points snapped.
    """

    def __init__(self, grid: DrawGrid, known_cost: np.ndarray | None,
                 measure: Callable[[np.ndarray], np.ndarray] | None = None):
        self.grid = grid
        self.measure = measure
        width = grid.shape[1] * grid.fine
        self._width = width
        self._cost = np.full(grid.shape[0] * grid.fine * width, np.nan, dtype=np.float32)
        if known_cost is not None and grid.fine > 1:
            self._cost[grid.fine_index] = np.asarray(known_cost)[grid.fine_of]

    def refine(self, inside: np.ndarray) -> None:
        """Measure the fine pixels of the evaluated coarse pixels whose ``inside`` (one
        bool per evaluated coarse pixel) differs from a neighbour's."""
        grid, f = self.grid, self.grid.fine
        if f == 1 or self.measure is None or len(grid.index) == 0:
            return
        coarse = grid.raster(inside.astype(np.int32)).astype(bool)
        edge = np.zeros_like(coarse)
        edge[:-1] |= coarse[:-1] != coarse[1:]
        edge[1:] |= coarse[1:] != coarse[:-1]
        edge[:, :-1] |= coarse[:, :-1] != coarse[:, 1:]
        edge[:, 1:] |= coarse[:, 1:] != coarse[:, :-1]
        flat = grid.index[edge.ravel()[grid.index]]  # evaluated pixels on a boundary
        row, col = np.divmod(flat, grid.shape[1])
        sub_row = (row[:, None] * f + np.repeat(np.arange(f), f)[None, :]).ravel()
        sub_col = (col[:, None] * f + np.tile(np.arange(f), f)[None, :]).ravel()
        fine_flat = sub_row * self._width + sub_col
        todo = np.isnan(self._cost[fine_flat])
        if not todo.any():
            return
        px = grid.pixel_m / f
        x0, y1 = grid.transform.c, grid.transform.f
        xy = np.column_stack([x0 + (sub_col[todo] + 0.5) * px, y1 - (sub_row[todo] + 0.5) * px])
        self._cost[fine_flat[todo]] = self.measure(xy)

    def inside(self, limit_cost: float) -> tuple[np.ndarray, np.ndarray]:
        """The measured fine pixels (flat fine-raster indices) and whether each is within
        ``limit_cost`` (int32 0/1), for :meth:`DrawGrid.raster`."""
        known = np.flatnonzero(~np.isnan(self._cost))
        return known, (self._cost[known] <= limit_cost).astype(np.int32)


def drawn_areas(
    grid: DrawGrid, cost: np.ndarray, source: np.ndarray, limit_cost: float,
    *, fine: FineField | None = None,
) -> tuple[shapely.Geometry, pd.DataFrame]:
    """A circle's service area and its facilities' catchments on the drawing grid.

    Parameters
    ----------
    grid
        The drawing grid.
    cost, source
        The field at the grid's pixels: cost from the nearest facility and its row in
        the facility table (see :meth:`~eldercare_coverage.field.FacilityReach.at`).
    limit_cost
        The circle's limit in engine cost.
    fine
        The field on the fine pixels, refined along this circle's boundary before the
        area is drawn (:class:`FineField`).

    Returns
    -------
    area, catchments
        The dissolved service area, and a table with ``facility`` (row in the facility
        table) and ``geometry`` (its catchment) for every facility that has one.
    """
    inside = cost <= limit_cost
    if fine is not None:
        fine.refine(inside)
    _, whole = polygons_by_value(grid, inside.astype(np.int32),
                                 None if fine is None else fine.inside(limit_cost))
    area = shapely.simplify(whole[0], grid.pixel_m / grid.fine * _FINE_SIMPLIFY) if len(whole) \
        else shapely.Polygon()
    # catchments on the coarse pixels only: a partition for GIS, a tenth of the vertices
    rows, staircase = polygons_by_value(grid, np.where(cost <= limit_cost, source + 1, 0))
    geoms = simplified_coverage(staircase, grid.pixel_m * _COARSE_SIMPLIFY)
    return area, pd.DataFrame({"facility": rows - 1, "geometry": geoms})


def drawn_bands(grid: DrawGrid, cost: np.ndarray, breaks: np.ndarray) -> list[shapely.Geometry]:
    """The ground in each distance band ``[0, b0]``, ``(b0, b1]``, ... up to the last break
    (on the coarse pixels)."""
    band = np.searchsorted(np.asarray(breaks, dtype=float), cost, side="left") + 1
    vals, geoms = polygons_by_value(grid, np.where(band > len(breaks), 0, band))
    geoms = simplified_coverage(geoms, grid.pixel_m * _COARSE_SIMPLIFY)
    out = [shapely.Polygon()] * len(breaks)
    for v, g in zip(vals, geoms, strict=True):
        out[v - 1] = g
    return out
