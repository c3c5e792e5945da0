"""Area-weighted overlay of service areas on population cells, by fine pixels.

The population cells are burnt once onto a raster of ``pixel_m`` pixels in the work
CRS (metres); each pixel belongs to the cell that holds its centre. A cell's share
inside a set of polygons is the share of its pixels whose centre falls inside their
union (a scanline fill, vectorised over all polygons, that burns the pixels GDAL
would: the union is never built), and the elderly people inside one polygon are the
sum over its pixels of each cell's people spread evenly over the cell's pixels (two
lookups per run of pixels in a row, in running sums along the rows). This is the
area-weighted overlay of DESIGN.md with areas measured by counting a lattice of
points per cell (about 100 for 100 m cells and 10 m pixels): counts stay extensive
and totals are conserved exactly (shares lie in 0..1). Per cell the share is within
about one pixel row of the exact polygon clip (up to 0.1 of a 100 m cell where a
boundary runs along it, 0.002 on average on the demo); county rates agree within
0.05 point (tests compare it with exact clipping, and the pixels with GDAL's).

Cells too small to hold a pixel centre (fine vector grids, slivers at a boundary)
are clipped exactly against the polygons instead, so no cell is left out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import shapely
from affine import Affine
from rasterio import features

from .analysis import area_weights

# GDAL rasterises overlapping cells (rare): one call at a time, since rasterio's in-memory
# datasets toggle the process-wide warning filters (warnings.catch_warnings, not thread-safe)
_RASTERIZE_LOCK = threading.Lock()
_MAX_PIXELS = 400_000_000  # refuse absurd extents (a mis-projected input) before allocating


def cell_pixel_labels(cells: np.ndarray, *, pixel_m: float) -> tuple[np.ndarray, float, float]:
    """The cell holding each pixel centre on a raster of ``pixel_m`` pixels over the cells.

    Returns
    -------
    label, x0, y1
        The cell index of each pixel (-1 for none), shape (rows, columns), and the
        raster's left and top edges (pixel ``[r, c]`` has its centre at
        ``(x0 + (c + 0.5) * pixel_m, y1 - (r + 0.5) * pixel_m)``).

    Examples
    --------
    >>> import shapely
    >>> label, x0, y1 = cell_pixel_labels(shapely.box([0, 20], [0, 0], [20, 30], [10, 10]),
    ...                                   pixel_m=10)
    >>> label.tolist(), x0, y1
    ([[0, 0, 1]], 0.0, 10.0)
    """
    grid = OverlayGrid.__new__(OverlayGrid)
    grid._frame(np.asarray(cells, dtype=object), float(pixel_m))
    return grid.label, float(grid.x0), float(grid.y1)


class OverlayGrid:
    """Population cells on a fine raster, for fast area shares of many polygons.

    Parameters
    ----------
    cells
        Cell polygons in a projected CRS (metres), non-overlapping.
    elderly
        People per cell (spread evenly over each cell's area).
    pixel_m
        Pixel size, metres.

    Examples
    --------
    >>> import numpy as np, shapely
    >>> cells = shapely.box([0, 100], [0, 0], [100, 200], [100, 100])
    >>> grid = OverlayGrid(cells, np.array([10.0, 20.0]), pixel_m=10)
    >>> grid.covered_share([shapely.box(50, 0, 150, 100)]).tolist()
    [0.5, 0.5]
    >>> grid.elderly_in([shapely.box(0, 0, 150, 100), shapely.Polygon()]).round(9).tolist()
    [20.0, 0.0]
    """

    def __init__(self, cells: np.ndarray, elderly: np.ndarray, *, pixel_m: float = 10.0):
        self._frame(np.asarray(cells, dtype=object), float(pixel_m))
        self.elderly = np.asarray(elderly, dtype=float)
        n = len(self.cells)
        ok = ~(shapely.is_missing(self.cells) | shapely.is_empty(self.cells))
        self.n_pixels = np.bincount(self.label.ravel() + 1, minlength=n + 1)[1:]
        # cells without a pixel centre are clipped exactly (see the module docstring)
        self.small = np.flatnonzero(ok & (self.n_pixels == 0))
        per_pixel = np.where(self.n_pixels > 0, self.elderly / np.maximum(self.n_pixels, 1), 0.0)
        density = np.take(np.append(per_pixel, 0.0), self.label)  # label -1: the 0 appended
        # people left of each pixel edge in its row: a run's people in two lookups
        self.row_cumsum = np.zeros((self.height, self.width + 1))
        np.cumsum(density, axis=1, out=self.row_cumsum[:, 1:])

    def _frame(self, cells: np.ndarray, pixel_m: float) -> None:
        """The raster over the cells and the cell of each pixel (:attr:`label`)."""
        self.cells = cells
        self.pixel_m = pixel_m
        ok = ~(shapely.is_missing(self.cells) | shapely.is_empty(self.cells))
        if ok.any():
            x0, y0, x1, y1 = shapely.total_bounds(self.cells[ok])
        else:
            x0 = y0 = x1 = y1 = 0.0
        px = self.pixel_m
        self.x0, self.y1 = np.floor(x0 / px) * px, np.ceil(y1 / px) * px
        self.width = max(int(np.ceil((x1 - self.x0) / px)), 1)
        self.height = max(int(np.ceil((self.y1 - y0) / px)), 1)
        if self.width * self.height > _MAX_PIXELS:
            raise ValueError(
                f"population cells span {self.width * px / 1000:.0f} x "
                f"{self.height * px / 1000:.0f} km: too large for {px:g} m overlay pixels "
                "(is the population in the right coordinate system?)")
        self.transform = Affine(px, 0.0, self.x0, 0.0, -px, self.y1)
        self.label = self._labels(ok)

    def _labels(self, ok: np.ndarray) -> np.ndarray:
        """The cell holding each pixel centre (-1 for none), from the cells' runs.

        Cells do not overlap, so along a row a running sum of ``+(cell + 1)`` where a
        run starts and ``-(cell + 1)`` where it ends is the cell's label + 1 inside its
        runs and 0 elsewhere. Overlapping cells (a malformed grid) are burnt by GDAL
        instead, the last cell winning.
        """
        h, w = self.height, self.width + 1
        geoms = self.cells.copy()
        geoms[~ok] = None  # cells left out burn nothing
        cell, row, c0, c1 = self._spans(geoms, simplify=False)
        start, end = row * w + c0, row * w + c1
        depth = np.zeros(h * w, dtype=np.int32)
        np.add.at(depth, start, 1)
        np.add.at(depth, end, -1)
        if len(cell) and np.cumsum(depth.reshape(h, w), axis=1, dtype=np.int32).max() > 1:
            idx = np.flatnonzero(ok)
            with _RASTERIZE_LOCK:
                return features.rasterize(
                    zip(self.cells[idx], idx.tolist(), strict=True),
                    out_shape=(self.height, self.width), transform=self.transform, fill=-1,
                    dtype="int32")
        step = depth  # reused: the labels' steps
        step[:] = 0
        np.add.at(step, start, (cell + 1).astype(np.int32))
        np.add.at(step, end, -(cell + 1).astype(np.int32))
        label = np.cumsum(step.reshape(h, w), axis=1, dtype=np.int32)[:, :-1]
        label -= 1
        return label

    def _spans(self, polygons: Iterable[shapely.Geometry], *, simplify: bool = True
               ) -> tuple[np.ndarray, ...]:
        """Runs of pixel centres inside each polygon: ``(polygon, row, col0, col1)``.

        Scanline fill, vectorised over all polygons: every ring edge crosses the rows
        whose pixel centre lies in its half-open span of y; within one polygon and row
        the sorted crossings pair up (even-odd rule: holes and parts included) and a
        run holds the columns whose centre lies in ``[x_in, x_out)``. The same pixels
        GDAL's rasterisation burns (pixel-centre rule), without a raster per polygon.
        """
        polys = np.asarray(list(polygons), dtype=object)
        empty = np.empty(0, dtype=np.int64)
        ok = np.flatnonzero(~(shapely.is_missing(polys) | shapely.is_empty(polys))) \
            if len(polys) else empty
        if len(ok) == 0:
            return empty, empty, empty, empty
        # a tenth of a pixel changes no pixel centre in practice and drops most arc vertices
        geoms = shapely.simplify(polys[ok], self.pixel_m / 10) if simplify else polys[ok]
        parts, part_of = shapely.get_parts(geoms, return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        xy, vertex_of = shapely.get_coordinates(rings, return_index=True)
        px = self.pixel_m
        u = (xy[:, 0] - self.x0) / px - 0.5  # column centres at integer u
        v = (self.y1 - xy[:, 1]) / px - 0.5  # row centres at integer v
        same = vertex_of[1:] == vertex_of[:-1]
        ua, va, ub, vb = u[:-1][same], v[:-1][same], u[1:][same], v[1:][same]
        owner = ok[part_of[ring_of[vertex_of[:-1][same]]]]
        lo = np.clip(np.ceil(np.minimum(va, vb)), 0, self.height).astype(np.int64)
        hi = np.clip(np.ceil(np.maximum(va, vb)), 0, self.height).astype(np.int64)
        n = hi - lo  # rows r with min(va, vb) <= r < max(va, vb), inside the raster
        keep = n > 0
        ua, va, ub, vb, owner, lo, n = ua[keep], va[keep], ub[keep], vb[keep], owner[keep], \
            lo[keep], n[keep]
        edge = np.repeat(np.arange(len(n)), n)
        row = lo[edge] + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        slope = (ub - ua) / (vb - va)
        x = ua[edge] + (row - va[edge]) * slope[edge]
        order = np.lexsort((x, row, owner[edge]))
        poly, row, x = owner[edge][order], row[order], x[order]
        # a closed ring crosses each row an even number of times (half-open rule), so
        # the crossings of one polygon and row pair up in order: in, out, in, out
        poly, row = poly[0::2], row[0::2]
        c0 = np.clip(np.ceil(x[0::2]), 0, self.width).astype(np.int64)
        c1 = np.clip(np.ceil(x[1::2]), 0, self.width).astype(np.int64)
        run = c1 > c0
        return poly[run], row[run], c0[run], c1[run]

    def _burn(self, spans: tuple[np.ndarray, ...]) -> tuple[np.ndarray, int, int]:
        """Pixels whose centre lies in the union of the polygons of ``spans``: a mask over
        the window of rows and columns they touch, and the window's first row and column."""
        _, row, c0, c1 = spans
        if len(row) == 0:
            return np.zeros((0, 0), dtype=bool), 0, 0
        r_lo, col_lo = int(row.min()), int(c0.min())
        h, w = int(row.max()) + 1 - r_lo, int(c1.max()) + 1 - col_lo
        # +1 where a run starts, -1 where it ends: a running sum > 0 is inside a run
        step = np.zeros(h * w, dtype=np.int32)
        np.add.at(step, (row - r_lo) * w + (c0 - col_lo), 1)
        np.add.at(step, (row - r_lo) * w + (c1 - col_lo), -1)
        inside = np.cumsum(step.reshape(h, w), axis=1, dtype=np.int32)[:, :-1] > 0
        return inside, r_lo, col_lo

    def measure(self, polygons: Iterable[shapely.Geometry], *, people: bool = True
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`covered_share` of the polygons' union and, when ``people``,
        :meth:`elderly_in` each polygon, from one scanline pass."""
        polygons = [shapely.Polygon() if g is None else g for g in polygons]
        spans = self._spans(polygons)
        inside, r0, c0 = self._burn(spans)
        hit = self.label[r0:r0 + inside.shape[0], c0:c0 + inside.shape[1]][inside]
        covered = np.bincount(hit[hit >= 0], minlength=len(self.cells))
        share = np.where(self.n_pixels > 0, covered / np.maximum(self.n_pixels, 1), 0.0)
        solid = [g for g in polygons if not g.is_empty]
        if len(self.small) and solid:
            share[self.small] = self._exact_union_share(self.small, solid)
        share = np.clip(share, 0.0, 1.0)
        if not people:
            return share, None
        poly, row, c0_, c1_ = spans
        # people of a run: the difference of the row's running sums at its ends
        out = np.bincount(poly, weights=self.row_cumsum[row, c1_] - self.row_cumsum[row, c0_],
                          minlength=len(polygons)).astype(float)  # int when there is no run
        if len(self.small):
            w = area_weights(self.cells[self.small], np.array(polygons, dtype=object))
            np.add.at(out, w["polygon"].to_numpy(),
                      self.elderly[self.small][w["cell"].to_numpy()] * w["weight"].to_numpy())
        return share, out

    def covered_share(self, polygons: Iterable[shapely.Geometry]) -> np.ndarray:
        """Share (0..1) of each cell's area inside the union of ``polygons``."""
        return self.measure(polygons, people=False)[0]

    def elderly_in(self, polygons: Iterable[shapely.Geometry]) -> np.ndarray:
        """People inside each polygon (area-weighted; polygons may overlap)."""
        out = self.measure(polygons)[1]
        assert out is not None
        return out

    def _exact_union_share(self, which: np.ndarray, polygons: list[shapely.Geometry]
                           ) -> np.ndarray:
        polys = np.array(polygons, dtype=object)
        tree = shapely.STRtree(polys)
        out = np.zeros(len(which))
        for k, c in enumerate(which):
            cell = self.cells[c]
            near = tree.query(cell, predicate="intersects")
            if len(near) and cell.area > 0:
                out[k] = shapely.intersection(cell, shapely.union_all(polys[near])).area / cell.area
        return out
