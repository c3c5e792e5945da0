"""Nearest-edge snapping (the C ring search, and sampled segments + a proof) against GEOS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from eldercare_coverage import snapping
from eldercare_coverage.network import StreetNetwork, load_network
from eldercare_coverage.snapping import BucketGrid, SegmentIndex, snap_points

NETWORK = Path(__file__).resolve().parents[1] / "data" / "network" / "demo_county.osm"


@pytest.fixture(scope="module")
def network() -> StreetNetwork:
    return load_network(NETWORK)


@pytest.fixture(params=["ring search", "kd-tree"])
def search(request, monkeypatch):
    """Run a test with the C ring search (where built) and with the numpy and KD-tree
    search it falls back to without a C compiler."""
    if request.param == "kd-tree":
        monkeypatch.setattr(snapping, "_accelerator", None)
    elif snapping._accelerator is None:
        pytest.skip("the C extension eldercare_coverage._nearest is not built here")
    return request.param


def _geos_nearest(net: StreetNetwork, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = shapely.points(xy)
    i, e = net.edge_tree.query_nearest(pts, all_matches=False)
    e = e[np.argsort(i)]
    return shapely.distance(pts, net.edge_geometry[e]), e


def test_snapping_equals_the_exact_geos_search(network, search):
    rng = np.random.default_rng(11)
    x0, y0, x1, y1 = network.bounds()
    xy = np.concatenate([
        rng.uniform((x0 - 2000, y0 - 2000), (x1 + 2000, y1 + 2000), (20000, 2)),  # far too
        network.node_xy[:500],  # exactly on junctions: ties between edges
        shapely.get_coordinates(shapely.line_interpolate_point(  # on streets, and 3 m off
            network.edge_geometry[:500], 0.37, normalized=True)) + [0.0, 3.0],
    ])
    loc = snap_points(network, xy, max_snap_m=1e9)
    want, _ = _geos_nearest(network, xy)
    np.testing.assert_allclose(loc.snap_m, want, atol=1e-6)
    # the edge and offset found describe a point at exactly that distance
    at = shapely.line_interpolate_point(network.edge_geometry[loc.edge], loc.offset_m)
    np.testing.assert_allclose(shapely.distance(shapely.points(xy), at), want, atol=1e-6)


def test_points_the_samples_cannot_settle_go_to_the_exact_search(search):
    # a roundabout of radius 100 m drawn with a vertex every degree, and a straight street
    # 150 m east of it: from the centre every sample lies 100 m away and every chord
    # 99.9962 m away, closer than the proof's bound sqrt(100**2 - 5**2) = 99.875 allows,
    # even with 32 samples; the exact search settles it
    angle = np.radians(np.arange(361.0))
    ring = np.c_[100 * np.cos(angle), 100 * np.sin(angle)]
    ring[-1] = ring[0]
    lines = [shapely.LineString(ring), shapely.LineString([(250, -500), (250, 500)])]
    net = StreetNetwork(pyproj.CRS(32651), np.arange(3), np.array([[100, 0], [250, -500],
                                                                    [250, 500]], dtype=float),
                        np.array([0, 1]), np.array([0, 2]),
                        np.array([shapely.length(line) for line in lines]),
                        np.array(lines, dtype=object), np.array(["footway"] * 2, dtype=object))
    idx = SegmentIndex.build(net, spacing_m=10.0)
    xy = np.array([[0.0, 0.0], [103.0, 0.5], [247.0, 10.0]])
    _, _, dist, proved = idx.nearest(xy, k=32)
    assert proved.tolist() == [False, True, True]
    chord = 100 * np.cos(np.radians(0.5))  # the centre's distance to every chord
    near_ring = shapely.distance(shapely.Point(103.0, 0.5), lines[0])  # GEOS, about 3 m
    assert dist[1:].tolist() == pytest.approx([near_ring, 3.0], abs=1e-9)
    loc = snap_points(net, xy, max_snap_m=500)
    assert loc.edge.tolist() == [0, 0, 1]
    assert loc.snap_m.tolist() == pytest.approx([chord, near_ring, 3.0], abs=1e-9)
    # the centre's projection is the middle of one of the 360 chords
    assert (loc.offset_m[0] / shapely.length(lines[0]) * 360) % 1 == pytest.approx(0.5, abs=1e-6)
    assert loc.offset_m[2] == pytest.approx(510.0)


def _random_streets(rng: np.random.Generator, n: int = 300,
                    steps: tuple[float, ...] = (0.0, 0.2, 7.0, 10.0, 60.0, 900.0),
                    p: tuple[float, ...] | None = (0.05, 0.2, 0.3, 0.3, 0.14, 0.01)
                    ) -> StreetNetwork:
    """``n`` random polylines with segments of the lengths ``steps`` (drawn with
    probabilities ``p``): by default 0.2 m and 60 m ones, zero-length ones and long
    diagonals."""
    lines = []
    for _ in range(n):
        step = rng.choice(steps, size=rng.integers(1, 12), p=p)
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.6, len(step)))
        xy = rng.uniform(0, 3000, 2) + np.cumsum(
            np.c_[step * np.cos(heading), step * np.sin(heading)], axis=0)
        lines.append(shapely.LineString(np.vstack([xy[0] - [0.0, 1.0], xy])))
    geoms = np.array(lines, dtype=object)
    ends = shapely.get_coordinates(np.concatenate([shapely.get_point(geoms, 0),
                                                   shapely.get_point(geoms, -1)]))
    return StreetNetwork(pyproj.CRS(32651), np.arange(2 * n), ends, np.arange(n),
                         np.arange(n, 2 * n), shapely.length(geoms), geoms,
                         np.array(["footway"] * n, dtype=object))


def test_every_proved_answer_is_the_exact_nearest_on_random_streets(search):
    # random polylines mixing 0.2 m and 60 m segments (the bound's worst cases: samples
    # spaced exactly spacing_m apart, and crowds of vertices), points at all distances;
    # with k = 2 many rows are unproved, and every row claimed proved must be exact
    rng = np.random.default_rng(5)
    net = _random_streets(rng, steps=(0.2, 7.0, 10.0, 60.0), p=None)
    geoms = net.edge_geometry
    xy = rng.uniform(-300, 3300, (20000, 2))
    want, _ = _geos_nearest(net, xy)
    idx = SegmentIndex.build(net, spacing_m=10.0)
    for k in (1, 2, 4, 32):
        edge, offset, dist, proved = idx.nearest(xy, k=k)
        assert proved.any() == (k > 1)  # one sample proves nothing
        np.testing.assert_allclose(dist[proved], want[proved], atol=1e-9)
        at = shapely.line_interpolate_point(geoms[edge[proved]], offset[proved])
        np.testing.assert_allclose(shapely.distance(shapely.points(xy[proved]), at),
                                   want[proved], atol=1e-6)
    assert (~idx.nearest(xy, k=2)[3]).any()  # the test reaches unproved rows too
    # a search bounded at 40 m: rows with fewer than k samples within it prove with the
    # bound, rows with none are unproved, and what is proved is still exact
    bounded = idx.nearest(xy, k=4, bound_m=40.0)
    edge, offset, dist, proved = bounded
    assert proved[want < 30].mean() > 0.9
    assert not proved[want > 40].any()  # nothing within the bound proves nothing
    np.testing.assert_allclose(dist[proved], want[proved], atol=1e-9)
    np.testing.assert_allclose(snap_points(net, xy, max_snap_m=1e9).snap_m, want, atol=1e-9)
    # the first search stops near the snap limit; points beyond it are measured exactly
    small = snap_points(net, xy, max_snap_m=20.0)
    np.testing.assert_allclose(small.snap_m, want, atol=1e-9)
    assert ((small.edge >= 0) == (want <= 20.0)).all()


def test_chunks_threads_and_missing_rows_change_no_answer(network, search):
    # the points are measured in chunks on a thread pool: any chunk size and thread
    # count give the same rows, and rows without coordinates leave the others untouched
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = network.bounds()
    xy = rng.uniform((x0, y0), (x1, y1), (5000, 2))
    idx = SegmentIndex.build(network)
    one = idx.nearest(xy, chunk=len(xy), n_jobs=1)
    many = idx.nearest(xy, chunk=333, n_jobs=3)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)
    holes = xy.copy()
    holes[::7] = np.nan
    full = snap_points(network, xy, max_snap_m=300)
    part = snap_points(network, holes, max_snap_m=300, n_jobs=1)
    keep = np.isfinite(holes[:, 0])
    np.testing.assert_array_equal(part.edge[keep], full.edge[keep])
    np.testing.assert_array_equal(part.offset_m[keep], full.offset_m[keep])
    np.testing.assert_array_equal(part.snap_m[keep], full.snap_m[keep])
    assert (part.edge[~keep] == -1).all() and np.isnan(part.snap_m[~keep]).all()
    far = full.snap_m > 300  # beyond the limit: measured but not snapped
    assert far.any() and (full.edge[far] == -1).all() and np.isnan(full.offset_m[far]).all()


def test_the_ring_search_is_built_where_a_compiler_is():
    # setup.py builds coverage/_nearest.c as an optional extension: a failed build must
    # not go unnoticed where it should have worked
    import shutil
    import sys

    if sys.platform == "win32" or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler here: the numpy and KD-tree search is used")
    assert snapping._accelerator is not None, "eldercare_coverage._nearest was not built"


def test_ring_search_equals_geos_inside_outside_and_on_cell_edges():
    if snapping._accelerator is None:
        pytest.skip("the C extension eldercare_coverage._nearest is not built here")
    rng = np.random.default_rng(17)
    net = _random_streets(rng)
    idx = SegmentIndex.build(net, spacing_m=10.0)
    g = idx.grid
    assert g is not None
    # every segment is registered in the cells its bounding box overlaps
    reg = np.zeros(len(idx.ax), dtype=int)
    np.add.at(reg, g.items, 1)
    assert (reg >= 1).all()
    xy = np.concatenate([
        rng.uniform(-300, 3300, (20000, 2)),  # around and among the streets
        rng.uniform(-40000, 40000, (300, 2)),  # far outside the grid
        # on cell corners and edges of the grid (and just off them)
        np.c_[g.x0 + g.size * rng.integers(0, g.nx, 500), g.y0 + g.size * rng.integers(0, g.ny, 500)]
        + rng.choice([0.0, 1e-9, -1e-9], (500, 2)),
        shapely.get_coordinates(net.edge_geometry[:200]),  # on the streets' vertices
    ])
    want, _ = _geos_nearest(net, xy)
    edge, offset, dist, settled = idx.nearest_in_grid(xy, bound_m=np.inf)
    assert settled.all()
    np.testing.assert_allclose(dist, want, atol=1e-9)
    at = shapely.line_interpolate_point(net.edge_geometry[edge], offset)
    np.testing.assert_allclose(shapely.distance(shapely.points(xy), at), want, atol=1e-6)
    # with a bound: what is settled is exact, the search ends within three cells beyond it
    edge_b, _, dist_b, settled_b = idx.nearest_in_grid(xy, bound_m=50.0)
    assert not settled_b[want > 50.0 + 3 * g.size].any()
    assert settled_b[want <= 50.0].all()
    np.testing.assert_allclose(dist_b[settled_b], want[settled_b], atol=1e-9)
    # any chunk size and thread count give the same rows; rows without coordinates none
    holes = xy.copy()
    holes[::9] = np.nan
    one = idx.nearest_in_grid(holes, chunk=len(xy), n_jobs=1)
    many = idx.nearest_in_grid(holes, chunk=777, n_jobs=3)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (one[0][::9] == -1).all() and not one[3][::9].any()
    np.testing.assert_array_equal(one[2][1::9], dist[1::9])


def test_ring_search_cells_of_any_size_give_the_same_distances():
    # the grid's cell size is a speed knob, never an answer: a few segments per cell or
    # hundreds, the distances are GEOS's
    if snapping._accelerator is None:
        pytest.skip("the C extension eldercare_coverage._nearest is not built here")
    rng = np.random.default_rng(4)
    net = _random_streets(rng, 80)
    idx = SegmentIndex.build(net, spacing_m=10.0)
    xy = rng.uniform(-500, 3500, (5000, 2))
    want, _ = _geos_nearest(net, xy)
    for per_cell in (0.05, 1.0, 50.0, 1e6):
        grid = BucketGrid.build(idx.ax, idx.ay, idx.vx, idx.vy, idx.inv_len2, per_cell=per_cell)
        alt = SegmentIndex(**{**idx.__dict__, "grid": grid})
        _, _, dist, settled = alt.nearest_in_grid(xy)
        assert settled.all()
        np.testing.assert_allclose(dist, want, atol=1e-9)


def test_ring_search_refuses_buffers_that_do_not_fit():
    if snapping._accelerator is None:
        pytest.skip("the C extension eldercare_coverage._nearest is not built here")
    net = _random_streets(np.random.default_rng(1), 5)
    g = SegmentIndex.build(net).grid
    assert g is not None
    out = (np.empty(3, dtype=np.int64), np.empty(3), np.empty(3), np.empty(3, dtype=bool))
    xy = np.zeros((3, 2))
    with pytest.raises(ValueError, match="out_seg"):
        snapping._accelerator.nearest(xy, g.data, g.start, g.items, g.x0, g.y0, g.size, 1.0,
                                      g.nx, g.ny, np.empty(2, dtype=np.int64), *out[1:])
    with pytest.raises(ValueError, match="cell_start"):
        snapping._accelerator.nearest(xy, g.data, g.start[:-1], g.items, g.x0, g.y0, g.size,
                                      1.0, g.nx, g.ny, *out)
    with pytest.raises(ValueError, match="size"):
        snapping._accelerator.nearest(xy, g.data, g.start, g.items, g.x0, g.y0, 0.0, 1.0,
                                      g.nx, g.ny, *out)


def test_grid_registers_a_segment_in_the_cells_it_crosses_and_no_others():
    # every cell a segment touches must hold it (the ring search's exactness rests on
    # it); a long diagonal takes the cells along it, not its bounding box
    rng = np.random.default_rng(23)
    n = 400
    a = rng.uniform(0, 5000, (n, 2))
    length = np.where(rng.random(n) < 0.1, rng.uniform(2000, 7000, n), rng.uniform(0, 40, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    v = np.c_[length * np.cos(angle), length * np.sin(angle)]
    v[:5, 0] = 0.0  # vertical
    v[5:10, 1] = 0.0  # horizontal
    v[10:12] = 0.0  # points
    a[12:14] = [[1000.0, 1000.0], [1000.0 + 1e-12, 2000.0]]  # on or next to a cell line
    len2 = (v ** 2).sum(axis=1)
    inv = np.divide(1.0, len2, out=np.zeros(n), where=len2 > 0)
    g = BucketGrid.build(a[:, 0], a[:, 1], v[:, 0], v[:, 1], inv, per_cell=0.1)
    cell_of = np.repeat(np.arange(g.nx * g.ny), np.diff(g.start))
    registered = set(zip(g.items.tolist(), cell_of.tolist(), strict=True))
    lines = shapely.linestrings(np.stack([a, a + v], axis=1))
    cx, cy = np.meshgrid(np.arange(g.nx), np.arange(g.ny))
    boxes = shapely.box(g.x0 + cx.ravel() * g.size, g.y0 + cy.ravel() * g.size,
                        g.x0 + (cx.ravel() + 1) * g.size, g.y0 + (cy.ravel() + 1) * g.size)
    tree = shapely.STRtree(boxes)
    seg, cell = tree.query(lines, predicate="intersects")
    touched = set(zip(seg.tolist(), (cy.ravel()[cell] * g.nx + cx.ravel()[cell]).tolist(),
                      strict=True))
    assert touched <= registered
    # and nothing farther than a hair from the segment
    near_seg, near_cell = tree.query(lines, predicate="dwithin", distance=1e-6)
    near = set(zip(near_seg.tolist(),
                   (cy.ravel()[near_cell] * g.nx + cx.ravel()[near_cell]).tolist(), strict=True))
    assert registered <= near
    lo, hi = np.minimum(a, a + v), np.maximum(a, a + v)
    span = (hi - [g.x0, g.y0]) // g.size - (lo - [g.x0, g.y0]) // g.size + 1
    assert len(g.items) < span.prod(axis=1).sum() / 2  # the bounding boxes' cells: far more


def test_grid_tables_that_do_not_hold_together_are_refused():
    net = _random_streets(np.random.default_rng(2), 20)
    idx = SegmentIndex.build(net)
    g = BucketGrid.build(idx.ax, idx.ay, idx.vx, idx.vy, idx.inv_len2)
    bad = g.start.copy()
    bad[len(bad) // 2] = len(g.items) + 10  # a cell running past the items
    with pytest.raises(ValueError, match="cell table"):
        BucketGrid(g.x0, g.y0, g.size, g.nx, g.ny, bad, g.items, g.data)
    with pytest.raises(ValueError, match="cell table"):
        BucketGrid(g.x0, g.y0, g.size, g.nx, g.ny, g.start, g.items.astype(np.int32), g.data)
    if snapping._accelerator is not None:
        with pytest.raises(ValueError, match="bound_m"):
            idx.nearest_in_grid(np.zeros((2, 2)), bound_m=np.nan)
