"""Snap points to the nearest street edge (not the nearest node).

A point x becomes a *network location*: the edge ``e`` nearest to it, the offset
``s`` of its projection ``p_x`` along ``e`` (metres from the edge's ``u`` end) and the
straight-line access leg ``|x - p_x|`` (``snap_m``). DESIGN.md: the network distance
from a facility f to x is ``snap(f) + d_G(p_f, p_x) + snap(x)``.

Two exact searches find the nearest segment. The fast one is a small C extension
(``coverage/_nearest.c``, built by ``setup.py`` where a C compiler exists): a bucket
grid of the segments walked in rings around each point (:class:`BucketGrid`). The
other, and the fallback for the points the grid leaves (beyond the snap limit) or
when the extension is not built, is numpy and scipy's KD-tree over samples of the
segments with a proof of exactness (:meth:`SegmentIndex.nearest`). Both give the
nearest segment exactly; where two are equally near they may name different ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from ._threads import run_threaded
from .network import StreetNetwork
from .settings import settings as _settings

_accelerator: ModuleType | None
try:
    from . import _nearest as _accelerator  # the C ring search (setup.py; optional)
except ImportError:  # built without a C compiler: the numpy and KD-tree search only
    _accelerator = None


@dataclass(frozen=True)
class BucketGrid:
    """The segments registered in the square cells they cross.

    The C ring search visits the cells around a point ring by ring; a segment not yet
    measured lies wholly in cells outside the square visited so far, so the search
    stops, exactly, once the best distance is within the point's distance to that
    square's edge (see ``coverage/_nearest.c``).

    Attributes
    ----------
    x0, y0
        Lower-left corner of the grid, metres.
    size
        Cell width, metres.
    nx, ny
        Cells per row and per column.
    start, items
        CSR table: the segments of cell ``y * nx + x`` are
        ``items[start[c]:start[c + 1]]``.
    data
        Per item, its segment's ``ax, ay, vx, vy, 1/|v|**2``, shape (len(items), 5):
        a cell's segments are read from adjacent memory.
    """

    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    start: np.ndarray
    items: np.ndarray
    data: np.ndarray

    def __post_init__(self) -> None:
        n = self.nx * self.ny
        st, it, d = self.start, self.items, self.data
        fits = (self.size > 0 and self.nx > 0 and self.ny > 0
                and st.dtype == np.int64 and it.dtype == np.int64 and d.dtype == np.float64
                and st.flags.c_contiguous and it.flags.c_contiguous and d.flags.c_contiguous
                and st.shape == (n + 1,) and it.ndim == 1 and d.shape == (len(it), 5))
        # the C search reads items[start[c]:start[c + 1]]: the table must hold together
        if not (fits and st[0] == 0 and st[-1] == len(it) and bool((np.diff(st) >= 0).all())):
            raise ValueError("BucketGrid: the cell table does not fit its grid (start must run "
                             "from 0 to len(items) without decreasing; int64, float64, C order)")

    @classmethod
    def build(cls, ax: np.ndarray, ay: np.ndarray, vx: np.ndarray, vy: np.ndarray,
              inv_len2: np.ndarray, *, per_cell: float = 4.0, max_cells: int = 4_000_000
              ) -> BucketGrid:
        """Register segments ``a -> a + v`` in the cells they cross, the cells holding
        about ``per_cell`` segments on average over the extent (about ``max_cells`` cells
        at most).

        A segment is registered column by column: in each column of cells its x range
        crosses, in the rows between its y at the column's two sides (a long diagonal
        street takes the cells along it, not its whole bounding box). Every range is
        widened by a nanometre, so rounding can add a neighbouring cell but never drop
        one the segment touches.
        """
        bx0, bx1 = np.minimum(ax, ax + vx), np.maximum(ax, ax + vx)
        by0, by1 = np.minimum(ay, ay + vy), np.maximum(ay, ay + vy)
        x0, y0 = float(bx0.min()), float(by0.min())
        w, h = float(bx1.max()) - x0, float(by1.max()) - y0
        area = max(w, 1.0) * max(h, 1.0)
        size = float(max(np.sqrt(area * per_cell / len(ax)), np.sqrt(area / max_cells), 1.0))
        nx, ny = int(w // size) + 1, int(h // size) + 1
        pad = 1e-9 * max(size, abs(x0), abs(y0), 1.0)

        def index(v: np.ndarray, origin: float, n: int) -> np.ndarray:
            return np.clip((v - origin) // size, 0, n - 1).astype(np.int64)

        def expand(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(owner, value) for every value in first[i]..last[i]."""
            count = last - first + 1
            owner = np.repeat(np.arange(len(first)), count)
            return owner, first[owner] + np.arange(int(count.sum())) - np.repeat(
                np.cumsum(count) - count, count)

        seg, col = expand(index(bx0 - pad, x0, nx), index(bx1 + pad, x0, nx))
        # the segment's part in the column (padded), by its parameter t along a -> a + v
        xa = np.maximum(bx0[seg], x0 + col * size - pad)
        xb = np.minimum(bx1[seg], x0 + (col + 1) * size + pad)
        sx, sy, svx, svy = ax[seg], ay[seg], vx[seg], vy[seg]
        flat = svx == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ta = np.where(flat, 0.0, np.clip((xa - sx) / svx, 0.0, 1.0))
            tb = np.where(flat, 1.0, np.clip((xb - sx) / svx, 0.0, 1.0))
        ya, yb = sy + ta * svy, sy + tb * svy
        part, row = expand(index(np.minimum(ya, yb) - pad, y0, ny),
                           index(np.maximum(ya, yb) + pad, y0, ny))
        seg, cell = seg[part], row * nx + col[part]
        order = np.argsort(cell, kind="stable")
        start = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=nx * ny), out=start[1:])
        items = np.ascontiguousarray(seg[order], dtype=np.int64)
        data = np.ascontiguousarray(np.column_stack([ax, ay, vx, vy, inv_len2])[items])
        return cls(x0, y0, size, nx, ny, start, items, data)


@dataclass(frozen=True)
class NetworkLocations:
    """Points projected onto their nearest edge.

    Attributes
    ----------
    edge
        Index of the nearest edge, -1 where no edge lies within the snap limit
        (or the point had no coordinates).
    offset_m
        Distance along the edge from its ``u`` end to the projection, metres.
    snap_m
        Straight-line length of the access leg, metres; the distance to the
        nearest edge even where it exceeds the limit, NaN without coordinates.
    """

    edge: np.ndarray
    offset_m: np.ndarray
    snap_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def on_network(self) -> np.ndarray:
        """Boolean mask of points that were snapped."""
        return self.edge >= 0

    def take(self, index: np.ndarray) -> NetworkLocations:
        """The locations at ``index`` (integer or boolean array)."""
        return NetworkLocations(self.edge[index], self.offset_m[index], self.snap_m[index])


@dataclass(frozen=True)
class SegmentIndex:
    """Every straight segment of the network, sampled for fast nearest-edge queries.

    The samples are each edge's vertices (one per vertex, standing for the segments
    before and after it) and points inside segments longer than ``spacing_m``, so that
    consecutive samples of a segment are never more than ``spacing_m`` apart. A query
    takes the ``k`` samples nearest to x, measures x exactly against their segments and
    keeps the nearest; the answer is *proved* exact when no segment left out can be
    nearer. A segment left out has all its samples at least ``d_k`` (the ``k``-th
    distance) from x; its nearest point lies between two consecutive samples ``a`` and
    ``b``, and since ``|x - a|, |x - b| >= d_k`` and ``|a - b| <= spacing_m``, that point
    is at least ``sqrt(d_k**2 - spacing_m**2 / 4)`` away (Pythagoras from the foot of
    the perpendicular, which lies within ``spacing_m / 2`` of ``a`` or ``b``). Points
    that fail the proof (rare: the centre of a roundabout, a point amid many streets at
    nearly the same distance) are asked again with more samples, then go to the exact
    STRtree search.

    Attributes
    ----------
    ax, ay, vx, vy
        Segment start points and direction vectors, shape (S,) each.
    inv_len2
        ``1 / |v|**2`` per segment (0 for zero-length segments).
    edge
        Edge of each segment, shape (S,).
    offset0
        Distance along the edge to the segment's start, metres.
    tree
        KD-tree of the samples; ``sample_segments`` (shape (N, 2)) gives the one or two
        segments each sample stands for.
    spacing_m
        Largest gap between two consecutive samples of a segment.
    grid
        The segments' :class:`BucketGrid` for the C ring search (None when the
        extension is not built, or there is no segment).
    """

    ax: np.ndarray
    ay: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    inv_len2: np.ndarray
    edge: np.ndarray
    offset0: np.ndarray
    tree: cKDTree
    sample_segments: np.ndarray
    spacing_m: float
    grid: BucketGrid | None = None

    @classmethod
    def build(cls, network: StreetNetwork, spacing_m: float = 10.0) -> SegmentIndex:
        """Index the segments of ``network``'s edge geometries."""
        coords, edge_of = shapely.get_coordinates(network.edge_geometry, return_index=True)
        same = edge_of[1:] == edge_of[:-1]
        seg_start = np.flatnonzero(same)  # segment i runs from coords[i] to coords[i + 1]
        n_seg = len(seg_start)
        a = coords[seg_start]
        vec = coords[seg_start + 1] - a
        len2 = np.einsum("ij,ij->i", vec, vec)
        step = np.where(same, np.hypot(*np.diff(coords, axis=0).T), 0.0)
        cum = np.concatenate([[0.0], np.cumsum(step)])
        first = np.concatenate([[0], np.flatnonzero(~same) + 1])[: len(coords)]
        edge_start_cum = np.zeros(network.n_edges)
        edge_start_cum[edge_of[first]] = cum[first]  # edges without coordinates have none
        offset0 = cum[seg_start] - edge_start_cum[edge_of[seg_start]]
        # vertex samples: the segment after the vertex and the one before (either may be
        # missing at an edge's ends; a vertex of no segment is no sample)
        after = np.full(len(coords), -1, dtype=np.int64)
        before = np.full(len(coords), -1, dtype=np.int64)
        after[seg_start] = np.arange(n_seg)
        before[seg_start + 1] = np.arange(n_seg)
        vertex = np.flatnonzero((after >= 0) | (before >= 0))
        va = np.where(after[vertex] >= 0, after[vertex], before[vertex])
        vb = np.where(before[vertex] >= 0, before[vertex], after[vertex])
        # inner samples: m evenly spaced points inside each segment longer than spacing_m
        m = np.maximum(np.ceil(np.sqrt(len2) / spacing_m).astype(np.int64) - 1, 0)
        owner = np.repeat(np.arange(n_seg), m)
        pos = np.arange(m.sum()) - np.repeat(np.cumsum(m) - m, m) + 1
        inner = a[owner] + vec[owner] * (pos / (m[owner] + 1))[:, None]
        samples = np.concatenate([coords[vertex], inner])
        sample_segments = np.stack([np.concatenate([va, owner]), np.concatenate([vb, owner])],
                                   axis=1)
        with np.errstate(divide="ignore"):
            inv_len2 = np.where(len2 > 0, 1.0 / len2, 0.0)
        ax, ay, vx, vy = (np.ascontiguousarray(c) for c in (a[:, 0], a[:, 1], vec[:, 0], vec[:, 1]))
        grid = BucketGrid.build(ax, ay, vx, vy, inv_len2) if _accelerator is not None and n_seg \
            else None
        return cls(ax, ay, vx, vy, inv_len2, edge_of[seg_start], offset0,
                   cKDTree(samples, leafsize=32, balanced_tree=False), sample_segments,
                   float(spacing_m), grid)

    def nearest_in_grid(self, xy: np.ndarray, *, bound_m: float = np.inf, chunk: int = 4096,
                        n_jobs: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`nearest` by the C ring search over :attr:`grid` (exact by construction).

        Rows whose search reaches ``bound_m`` without settling (and rows without
        coordinates) come back with ``settled`` False, as ``proved`` in
        :meth:`nearest`. Chunks run on ``n_jobs`` threads (the C loop releases the GIL).
        """
        if self.grid is None or _accelerator is None:
            raise RuntimeError("the C ring search is not available (eldercare_coverage._nearest)")
        if not bound_m >= 0:
            raise ValueError(f"bound_m must be >= 0 metres (inf for none), not {bound_m!r}")
        g = self.grid
        xy = np.ascontiguousarray(xy, dtype=float).reshape(-1, 2)
        n = len(xy)
        seg = np.empty(n, dtype=np.int64)
        t, d2 = np.empty(n), np.empty(n)
        settled = np.empty(n, dtype=bool)

        def search(lo: int) -> None:
            hi = min(lo + chunk, n)
            _accelerator.nearest(xy[lo:hi], g.data, g.start, g.items, g.x0, g.y0, g.size,
                                 float(bound_m), g.nx, g.ny, seg[lo:hi], t[lo:hi], d2[lo:hi],
                                 settled[lo:hi])

        run_threaded(search, [(lo,) for lo in range(0, n, chunk)],
                     n_jobs=_settings.n_jobs if n_jobs is None else n_jobs)
        found = seg >= 0
        s = np.maximum(seg, 0)
        edge = np.where(found, self.edge[s], -1)
        offset = np.where(found, self.offset0[s] + t * np.hypot(self.vx[s], self.vy[s]), np.nan)
        return edge, offset, np.sqrt(d2), settled & found

    def nearest(self, xy: np.ndarray, *, k: int = 4, chunk: int = 4096,
                n_jobs: int | None = None, bound_m: float = np.inf
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest edge, offset along it and distance for each point.

        The points are taken ``chunk`` at a time, the chunks spread over ``n_jobs``
        threads (None: ``settings.n_jobs``): the KD-tree query and the measuring both
        release the GIL, and a chunk's candidates stay in the processor's cache.
        ``bound_m`` limits the KD-tree search to samples within it (a finite bound
        prunes the search from its start: 10-20 % faster); where fewer than ``k``
        samples lie within it, the proof uses the bound, so a point with no sample
        within it is not proved.

        Returns
        -------
        edge, offset_m, dist_m, proved
            ``proved`` is False where the answer could not be proved exact (see the
            class docstring); those rows hold the best of the candidates.
        """
        n = len(xy)
        k = int(min(k, self.tree.n))
        edge = np.empty(n, dtype=np.int64)
        offset = np.empty(n)
        dist = np.empty(n)
        proved = np.empty(n, dtype=bool)
        slack = self.spacing_m ** 2 / 4

        def measure(lo: int) -> None:
            p = xy[lo:lo + chunk]
            dk, sk = self.tree.query(p, k=k, workers=1, distance_upper_bound=bound_m)
            dk, sk = dk.reshape(len(p), k), sk.reshape(len(p), k)
            # np.take gathers about 3x faster than fancy indexing here; a missing
            # neighbour (index n, beyond the bound) is clipped to a real sample, whose
            # segments are measured like any other and cannot break the proof
            seg = np.take(self.sample_segments, sk, axis=0, mode="clip").reshape(len(p), 2 * k)
            vx, vy = np.take(self.vx, seg), np.take(self.vy, seg)
            rx = p[:, :1] - np.take(self.ax, seg)
            ry = p[:, 1:] - np.take(self.ay, seg)
            t = rx * vx
            t += ry * vy
            t *= np.take(self.inv_len2, seg)
            np.clip(t, 0.0, 1.0, out=t)
            rx -= vx * t
            ry -= vy * t
            rx *= rx
            ry *= ry
            d2 = np.add(rx, ry, out=rx)
            best = np.argmin(d2, axis=1)
            rows = np.arange(len(p))
            bseg, bt, bd2 = seg[rows, best], t[rows, best], d2[rows, best]
            out = slice(lo, lo + len(p))
            edge[out] = self.edge[bseg]
            offset[out] = self.offset0[bseg] + bt * np.hypot(self.vx[bseg], self.vy[bseg])
            dist[out] = np.sqrt(bd2)
            proved[out] = bd2 <= np.minimum(dk[:, -1], bound_m) ** 2 - slack

        run_threaded(measure, [(lo,) for lo in range(0, n, chunk)],
                     n_jobs=_settings.n_jobs if n_jobs is None else n_jobs)
        return edge, offset, dist, proved


def snap_points(
    network: StreetNetwork, xy: np.ndarray, *, max_snap_m: float, n_jobs: int | None = None,
    exact_beyond: bool = True, index: SegmentIndex | None = None,
) -> NetworkLocations:
    """Project points onto their nearest edge.

    Parameters
    ----------
    network
        Projected street network.
    xy
        Point coordinates in the network's CRS, shape (n, 2); NaN rows allowed.
    max_snap_m
        Points farther than this from every edge are not snapped (``edge == -1``).
    n_jobs
        Threads (None: ``settings.n_jobs``, every core by default).
    exact_beyond
        Measure the distance to the nearest edge of points beyond ``max_snap_m`` too
        (reported in ``snap_m``). False leaves their ``snap_m`` at ``inf``: the pixels of
        a distance field only need to know that they are off the network.
    index
        The network's segment index (:meth:`SegmentIndex.build`); built here when None.
        A pipeline builds it once (:class:`eldercare_coverage.prepared.PreparedNetwork`)
        and passes it to every call.

    Returns
    -------
    NetworkLocations

    Examples
    --------
    >>> import numpy as np, pyproj, shapely
    >>> from eldercare_coverage.network import StreetNetwork
    >>> line = shapely.LineString([(0, 0), (100, 0)])
    >>> net = StreetNetwork(pyproj.CRS(32651), np.array([1, 2]), np.array([[0., 0.], [100., 0.]]),
    ...     np.array([0]), np.array([1]), np.array([100.]), np.array([line], dtype=object),
    ...     np.array(["residential"], dtype=object))
    >>> loc = snap_points(net, np.array([[30., 40.], [50., 900.]]), max_snap_m=500)
    >>> loc.edge.tolist(), loc.offset_m.tolist(), loc.snap_m.tolist()
    ([0, -1], [30.0, nan], [40.0, 900.0])
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    snap = np.full(n, np.nan)
    valid = np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])  # 30x faster than .all(axis=1)
    if not valid.any():
        return NetworkLocations(edge, offset, snap)
    index = SegmentIndex.build(network) if index is None else index
    if index.tree.n == 0:  # no street at all: nothing is near one
        snap[valid] = np.inf
        return NetworkLocations(edge, offset, snap)
    jobs = _settings.n_jobs if n_jobs is None else n_jobs
    pos = None if valid.all() else np.flatnonzero(valid)
    pts = xy if pos is None else xy[pos]
    # the first search stops a sample spacing beyond the snap limit (a point within the
    # limit is then settled); points beyond the limit are asked again by the KD-tree,
    # unbounded, and the few it could not prove (amid many streets) with more samples
    bound = max(float(max_snap_m), 0.0) + index.spacing_m
    if index.grid is not None and _accelerator is not None:
        e_all, off_all, d_all, proved = index.nearest_in_grid(pts, n_jobs=jobs, bound_m=bound)
        beyond = np.flatnonzero(~proved)
    else:
        e_all, off_all, d_all, proved = index.nearest(pts, n_jobs=jobs, bound_m=bound)
        beyond = np.flatnonzero(~proved & (d_all > max_snap_m))
    if len(beyond) and not exact_beyond:
        # nothing within the bound: off the network, how far is not asked
        e_all[beyond], d_all[beyond], proved[beyond] = -1, np.inf, True
    elif len(beyond):
        e_all[beyond], off_all[beyond], d_all[beyond], proved[beyond] = index.nearest(
            pts[beyond], n_jobs=jobs)
    for k in (12, 48):
        again = np.flatnonzero(~proved)
        if not len(again):
            break
        e_all[again], off_all[again], d_all[again], proved[again] = index.nearest(
            pts[again], k=k, n_jobs=jobs)
    hard = np.flatnonzero(~proved)
    if len(hard):
        # not proved by the samples: ask the STRtree for any edge strictly nearer
        points = shapely.points(pts[hard])
        ii, jj = network.edge_tree.query(points, predicate="dwithin",
                                         distance=np.maximum(d_all[hard] * (1 - 1e-12) - 1e-9, 0))
        if len(ii):
            d = shapely.distance(points[ii], network.edge_geometry[jj])
            better = pd.DataFrame({"i": ii, "j": jj, "d": d})
            better = better.loc[better.groupby("i")["d"].idxmin()]
            i, j = better["i"].to_numpy(), better["j"].to_numpy()
            fix = better["d"].to_numpy() < d_all[hard[i]]
            i, j = i[fix], j[fix]
            e_all[hard[i]] = j
            d_all[hard[i]] = better["d"].to_numpy()[fix]
            off_all[hard[i]] = shapely.line_locate_point(network.edge_geometry[j], points[i])
    far = d_all > max_snap_m
    e_all[far] = -1
    off_all[far] = np.nan
    if pos is None:
        return NetworkLocations(e_all, off_all, d_all)
    edge[pos], offset[pos], snap[pos] = e_all, off_all, d_all
    return NetworkLocations(edge, offset, snap)
