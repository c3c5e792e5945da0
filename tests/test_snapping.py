"""Fast nearest-edge snapping (sampled segments + a proof) against GEOS's exact search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from coverage.network import StreetNetwork, load_network
from coverage.snapping import SegmentIndex, snap_points

NETWORK = Path(__file__).resolve().parents[1] / "data" / "network" / "demo_county.osm"


@pytest.fixture(scope="module")
def network() -> StreetNetwork:
    return load_network(NETWORK)


def _geos_nearest(net: StreetNetwork, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = shapely.points(xy)
    i, e = net.edge_tree.query_nearest(pts, all_matches=False)
    e = e[np.argsort(i)]
    return shapely.distance(pts, net.edge_geometry[e]), e


def test_snapping_equals_the_exact_geos_search(network):
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


def test_points_the_samples_cannot_settle_go_to_the_exact_search():
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


def test_every_proved_answer_is_the_exact_nearest_on_random_streets():
    # random polylines mixing 0.2 m and 60 m segments (the bound's worst cases: samples
    # spaced exactly spacing_m apart, and crowds of vertices), points at all distances;
    # with k = 2 many rows are unproved, and every row claimed proved must be exact
    rng = np.random.default_rng(5)
    lines = []
    for _ in range(300):
        steps = rng.choice([0.2, 7.0, 10.0, 60.0], size=rng.integers(1, 12))
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.6, len(steps)))
        xy = rng.uniform(0, 3000, 2) + np.cumsum(
            np.c_[steps * np.cos(heading), steps * np.sin(heading)], axis=0)
        lines.append(shapely.LineString(np.vstack([xy[0] - [0.0, 1.0], xy])))
    geoms = np.array(lines, dtype=object)
    ends = shapely.get_coordinates(np.concatenate([shapely.get_point(geoms, 0),
                                                   shapely.get_point(geoms, -1)]))
    n = len(lines)
    net = StreetNetwork(pyproj.CRS(32651), np.arange(2 * n), ends, np.arange(n),
                        np.arange(n, 2 * n), shapely.length(geoms), geoms,
                        np.array(["footway"] * n, dtype=object))
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


def test_chunks_threads_and_missing_rows_change_no_answer(network):
    # the points are measured in chunks on a thread pool: any chunk size and thread
    # count give the same rows, and rows without coordinates leave the others untouched
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = network.bounds()
    xy = rng.uniform((x0, y0), (x1, y1), (5000, 2))
    idx = network.segment_index
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
