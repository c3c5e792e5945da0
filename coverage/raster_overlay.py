"""Area-weighted overlay of service areas on population cells, by fine pixels.

The population cells are burnt once onto a raster of ``pixel_m`` pixels in the work
CRS (metres); each pixel belongs to the cell that holds its centre. A cell's share
inside a set of polygons is the share of its pixels whose centre falls inside their
union (GDAL's scanline rasterisation: the union is never built), and the elderly
people inside one polygon are the sum over its pixels of each cell's people spread
evenly over the cell's pixels. This is the area-weighted overlay of DESIGN.md with
areas measured by counting a lattice of points per cell (about 100 for 100 m cells
and 10 m pixels): counts stay extensive and totals are conserved exactly (shares lie
in 0..1). Per cell the share is within about one pixel row of the exact polygon
clip (up to 0.1 of a 100 m cell where a boundary runs along it, 0.002 on average on
the demo); county rates agree within 0.05 point (tests compare it with exact clipping).

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

_RASTERIZE_LOCK = threading.Lock()
_MAX_PIXELS = 400_000_000  # refuse absurd extents (a mis-projected input) before allocating


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
    >>> grid.elderly_in([shapely.box(0, 0, 150, 100), shapely.Polygon()]).tolist()
    [20.0, 0.0]
    """

    def __init__(self, cells: np.ndarray, elderly: np.ndarray, *, pixel_m: float = 10.0):
        self.cells = np.asarray(cells, dtype=object)
        self.elderly = np.asarray(elderly, dtype=float)
        self.pixel_m = float(pixel_m)
        n = len(self.cells)
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
        idx = np.flatnonzero(ok)
        label = np.full((self.height, self.width), -1, dtype=np.int32)
        if len(idx):
            with _RASTERIZE_LOCK:
                label = features.rasterize(
                    zip(self.cells[idx], idx.tolist(), strict=True),
                    out_shape=(self.height, self.width), transform=self.transform, fill=-1,
                    dtype="int32")
        self.label = label
        inside = label >= 0
        self.n_pixels = np.bincount(label[inside], minlength=n)
        # cells without a pixel centre are clipped exactly (see the module docstring)
        self.small = np.flatnonzero(ok & (self.n_pixels == 0))
        per_pixel = np.where(self.n_pixels > 0, self.elderly / np.maximum(self.n_pixels, 1), 0.0)
        self.density = np.where(inside, per_pixel[np.clip(label, 0, None)], 0.0)

    def _burn(self, polygons: Iterable[shapely.Geometry], window: tuple[int, int, int, int] | None
              = None) -> np.ndarray:
        r0, r1, c0, c1 = window or (0, self.height, 0, self.width)
        geoms = np.array([g for g in polygons if g is not None and not g.is_empty], dtype=object)
        # a tenth of a pixel changes no pixel centre in practice and drops most arc vertices
        geoms = shapely.simplify(geoms, self.pixel_m / 10) if len(geoms) else geoms
        shapes = [(g, 1) for g in geoms]
        if not shapes or r1 <= r0 or c1 <= c0:
            return np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=bool)
        px = self.pixel_m
        tr = Affine(px, 0.0, self.x0 + c0 * px, 0.0, -px, self.y1 - r0 * px)
        # one rasterisation at a time: two at once in threads sometimes make rasterio
        # read a new in-memory raster's transform before it is set (a spurious
        # NotGeoreferencedWarning, rasterio 1.4)
        with _RASTERIZE_LOCK:
            return features.rasterize(shapes, out_shape=(r1 - r0, c1 - c0), transform=tr,
                                      fill=0, dtype="uint8").astype(bool)

    def _window(self, geom: shapely.Geometry) -> tuple[int, int, int, int]:
        bx0, by0, bx1, by1 = geom.bounds
        px = self.pixel_m
        c0 = max(int(np.floor((bx0 - self.x0) / px)), 0)
        c1 = min(int(np.ceil((bx1 - self.x0) / px)), self.width)
        r0 = max(int(np.floor((self.y1 - by1) / px)), 0)
        r1 = min(int(np.ceil((self.y1 - by0) / px)), self.height)
        return r0, r1, c0, c1

    def covered_share(self, polygons: Iterable[shapely.Geometry]) -> np.ndarray:
        """Share (0..1) of each cell's area inside the union of ``polygons``."""
        polygons = [g for g in polygons if g is not None and not g.is_empty]
        inside = self._burn(polygons)
        hit = self.label[inside]
        covered = np.bincount(hit[hit >= 0], minlength=len(self.cells))
        share = np.where(self.n_pixels > 0, covered / np.maximum(self.n_pixels, 1), 0.0)
        if len(self.small) and polygons:
            share[self.small] = self._exact_union_share(self.small, polygons)
        return np.clip(share, 0.0, 1.0)

    def elderly_in(self, polygons: Iterable[shapely.Geometry]) -> np.ndarray:
        """People inside each polygon (area-weighted; polygons may overlap)."""
        polygons = list(polygons)
        out = np.zeros(len(polygons))
        for k, g in enumerate(polygons):
            if g is None or g.is_empty:
                continue
            r0, r1, c0, c1 = self._window(g)
            mask = self._burn([g], (r0, r1, c0, c1))
            out[k] = float(self.density[r0:r1, c0:c1][mask].sum())
        if len(self.small):
            w = area_weights(self.cells[self.small], np.array(polygons, dtype=object))
            np.add.at(out, w["polygon"].to_numpy(),
                      self.elderly[self.small][w["cell"].to_numpy()] * w["weight"].to_numpy())
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
