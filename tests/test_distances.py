"""Network distances against hand-computed values and an independent networkx reference."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from eldercare_coverage.isochrones import (
    ServiceAreaBuilder,
    nearest_distances,
    nearest_source_reach,
)
from eldercare_coverage.network import network_from_arrays
from eldercare_coverage.snapping import snap_points

from ._reference import brute_snap, reference_distances

UTM = 32651


def grid_network(n: int = 5, step: float = 100.0):
    """An n x n street grid with ``step`` metre blocks.

    ::

        (0,400)---(100,400)--- ... ---(400,400)
           |          |                  |
          ...        ...                ...
           |          |                  |
        (0,0)-----(100,0)----- ... ---(400,0)
    """
    xs = np.arange(n) * step
    xy = np.array([(x, y) for y in xs for x in xs])
    u, v = [], []
    for j in range(n):
        for i in range(n):
            if i < n - 1:
                u.append(j * n + i)
                v.append(j * n + i + 1)
            if j < n - 1:
                u.append(j * n + i)
                v.append((j + 1) * n + i)
    return network_from_arrays(xy, u, v, crs=UTM)


def river_network():
    """Two bank streets 200 m apart joined by one bridge at x = 1000.

    ::

        (0,200)==========(1000,200)=====(2000,200)   north bank
                              |  bridge
        (0,0)============(1000,0)=======(2000,0)     south bank
    """
    xy = np.array([[0, 0], [1000, 0], [2000, 0], [0, 200], [1000, 200], [2000, 200]], float)
    return network_from_arrays(xy, [0, 1, 3, 4, 1], [1, 2, 4, 5, 4], crs=UTM)


def dist(net, src, tgt, max_snap_m=500.0):
    s = snap_points(net, np.asarray(src, float), max_snap_m=max_snap_m)
    t = snap_points(net, np.asarray(tgt, float), max_snap_m=max_snap_m)
    return nearest_distances(net, s, t)


def test_access_legs_and_partial_edges_on_one_street():
    net = network_from_arrays([[0, 0], [1000, 0]], [0], [1], crs=UTM)
    # facility 30 m north of offset 200, home 40 m south of offset 700
    d, src = dist(net, [[200, 30]], [[700, -40], [200, 30], [0, 0]])
    assert d.tolist() == pytest.approx([30 + 500 + 40, 60, 230])
    assert src.tolist() == [0, 0, 0]


def test_river_with_one_bridge_is_far_on_foot():
    net = river_network()
    # facility on the south bank at x=0, home facing it on the north bank at x=0
    d, _ = dist(net, [[0, -10]], [[0, 210], [1000, 100], [1500, 220]])
    # 10 + 1000 along the bank + 200 over the bridge + 1000 back + 10
    assert d[0] == pytest.approx(2220.0)
    # a point next to the bridge snaps onto it (offset 100 from the south end)
    assert d[1] == pytest.approx(10 + 1000 + 100 + 0)
    assert d[2] == pytest.approx(10 + 1000 + 200 + 500 + 20)
    straight = np.hypot(0 - 0, 210 + 10)
    assert d[0] > 10 * straight


def test_bent_edge_offsets_follow_the_geometry():
    # one street with a right-angle bend: (0,0) -> (300,0) -> (300,400)
    geom = shapely.LineString([(0, 0), (300, 0), (300, 400)])
    net = network_from_arrays([[0, 0], [300, 400]], [0], [1], crs=UTM, edge_geometry=[geom])
    assert net.edge_length_m[0] == pytest.approx(700)
    d, _ = dist(net, [[0, 5]], [[310, 200]])
    assert d[0] == pytest.approx(5 + 300 + 200 + 10)


def test_nearest_of_several_sources_and_unreachable_points():
    net = river_network()
    # second bridge-less component: an island street far away
    d, src = dist(net, [[0, -5], [2000, 205]], [[100, 0], [1900, 200], [0, 5000]])
    assert d[:2] == pytest.approx([105, 105])
    assert src[:2].tolist() == [0, 1]
    assert np.isinf(d[2]) and src[2] == -1


def test_points_beyond_snap_limit_are_not_snapped():
    net = river_network()
    loc = snap_points(net, np.array([[0, 900.0], [np.nan, 1.0]]), max_snap_m=500)
    assert loc.edge.tolist() == [-1, -1]
    assert loc.snap_m[0] == pytest.approx(700)
    assert np.isnan(loc.snap_m[1])


def test_source_and_target_on_the_same_edge_go_straight():
    net = grid_network()
    d, _ = dist(net, [[20, 3]], [[80, -4]])
    assert d[0] == pytest.approx(3 + 60 + 4)


def test_several_sources_on_the_target_street_the_nearest_wins_ties_to_the_first():
    # one straight street (0,0)-(1000,0); by hand: from (100, 50) 50 + 100 = 150, from
    # (300, 5) 5 + 100 = 105 (nearest); (-40, 0) is 40 m beyond the street's end:
    # 50 + 100 + 40 = 190 from the first
    net = network_from_arrays(np.array([[0.0, 0.0], [1000.0, 0.0]]), [0], [1], crs=UTM)
    d, src = dist(net, [[100, 50], [300, 5]], [[200, 0], [900, 0], [-40, 0]])
    assert d.tolist() == pytest.approx([105, 605, 190])
    assert src.tolist() == [1, 1, 0]
    # two facilities at one address (a centre and a nursing home in one building):
    # the first listed serves
    d, src = dist(net, [[100, 50], [300, 5], [300, 5]], [[200, 0], [900, 0]])
    assert d.tolist() == pytest.approx([105, 605]) and src.tolist() == [1, 1]


def test_source_on_a_loop_street_leaves_by_the_shorter_way_round():
    # a 400 m square loop from node 1 back to itself, on a 100 m stem from node 0:
    # a facility 30 m along the loop (and 2 m off it) reaches node 1 in 2 + 30 m,
    # not 2 + 370 m, and node 0 in 132 m
    loop = shapely.LineString([(100, 0), (200, 0), (200, 100), (100, 100), (100, 0)])
    net = network_from_arrays(np.array([[0.0, 0.0], [100.0, 0.0]]), [0, 1], [1, 1], crs=UTM,
                              edge_geometry=np.array([shapely.LineString([(0, 0), (100, 0)]),
                                                      loop], dtype=object))
    s = snap_points(net, np.array([[130.0, -2.0]]), max_snap_m=10)
    assert s.edge.tolist() == [1] and s.offset_m[0] == pytest.approx(30)
    reach = nearest_source_reach(net, s)
    assert reach.dist.tolist() == pytest.approx([132, 32])
    d, _ = dist(net, [[130, -2]], [[0, 10], [100, 60]], max_snap_m=50)
    # (100, 60) is on the loop's last side, 340 m along it: straight along the loop
    # 310 m, or back through node 1: 32 + 60; plus the legs
    assert d.tolist() == pytest.approx([132 + 10, 32 + 60])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_points_match_networkx_reference(seed):
    rng = np.random.default_rng(seed)
    net = grid_network(8, 130.0)
    # bend a few edges so offsets along polylines matter
    geoms = net.edge_geometry.copy()
    for e in rng.choice(net.n_edges, 15, replace=False):
        a, b = net.node_xy[net.edge_u[e]], net.node_xy[net.edge_v[e]]
        mid = (a + b) / 2 + rng.normal(0, 20, 2)
        geoms[e] = shapely.LineString([a, mid, b])
    net = network_from_arrays(net.node_xy, net.edge_u, net.edge_v, crs=UTM, edge_geometry=geoms)
    src = rng.uniform(-50, 960, (6, 2))
    tgt = rng.uniform(-50, 960, (300, 2))
    got, _ = dist(net, src, tgt, max_snap_m=1e9)
    want = reference_distances(net, src, tgt)
    assert np.max(np.abs(got - want)) < 1e-6


def test_snap_matches_brute_force():
    net = grid_network(6, 90.0)
    rng = np.random.default_rng(7)
    xy = rng.uniform(-30, 480, (400, 2))
    loc = snap_points(net, xy, max_snap_m=1e9)
    e, s, d = brute_snap(net.edge_geometry, xy)
    assert np.allclose(loc.snap_m, d)
    # ties between edges may pick either edge, but the projected point must agree
    pa = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry[loc.edge],
                                                                loc.offset_m))
    pb = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry[e], s))
    assert np.allclose(pa, pb, atol=1e-6)


def test_reach_limit_cuts_far_nodes():
    net = river_network()
    s = snap_points(net, np.array([[0.0, 0.0]]), max_snap_m=10)
    reach = nearest_source_reach(net, s, limit=1100)
    assert reach.dist[[0, 1]] == pytest.approx([0, 1000], abs=1e-6)
    assert np.isinf(reach.dist[[2, 3, 4, 5]]).all()


def test_local_reach_equals_global_dijkstra():
    net = grid_network(9, 110.0)
    b = ServiceAreaBuilder(net, max_snap_m=100)
    rng = np.random.default_rng(3)
    for xy in rng.uniform(0, 880, (5, 2)):
        loc = snap_points(net, xy[None, :], max_snap_m=100)
        nodes, d = b.reach(loc, 500.0)
        full = nearest_source_reach(net, loc).dist
        inside = np.flatnonzero(full <= 500)
        assert set(nodes.tolist()) == set(inside.tolist())
        assert np.allclose(np.sort(d), np.sort(full[inside]))


def _agreement(net, facility_xy, limit, cap, n_points, rng, box):
    b = ServiceAreaBuilder(net, max_snap_m=cap)
    loc = snap_points(net, np.asarray(facility_xy, float)[None, :], max_snap_m=cap)
    poly = b.polygons(loc, [limit])[0]
    pts = rng.uniform(box[0], box[1], (n_points, 2))
    t = snap_points(net, pts, max_snap_m=cap)
    d, _ = nearest_distances(net, loc, t)
    pointwise = d <= limit
    inside = shapely.contains_xy(poly, pts[:, 0], pts[:, 1])
    return np.mean(pointwise == inside), pointwise, inside


def test_polygon_and_pointwise_distance_agree_on_a_grid():
    rng = np.random.default_rng(11)
    net = grid_network(12, 120.0)
    rate, pointwise, inside = _agreement(net, (610, 655), 700.0, 80.0, 4000, rng, (-150, 1470))
    assert pointwise.sum() > 500  # the area is not trivial
    # a dense 120 m grid with the whole sample near the frontier is the hard case: where a
    # point's nearest street is less reached than a parallel one within the cap, the buffered
    # polygon includes it and the point-wise rule does not (measured: 97.7 %)
    assert rate >= 0.97
    # the polygon never misses a point the definition covers
    assert not (pointwise & ~inside).any()


def test_river_polygon_does_not_jump_the_river():
    net = river_network()
    b = ServiceAreaBuilder(net, max_snap_m=80)
    loc = snap_points(net, np.array([[100.0, -10.0]]), max_snap_m=80)
    poly = b.polygons(loc, [1000.0])[0]
    # south bank in front of the facility is covered, the north bank facing it is not
    assert poly.contains(shapely.Point(100, -50))
    assert not poly.contains(shapely.Point(100, 150))
    # holes stay holes: the middle of the river is farther than 80 m from any street
    assert not poly.contains(shapely.Point(500, 100))


def test_hole_in_a_large_block_stays_a_hole():
    # a 600 m square block: its centre is 300 m from every street, the cap is 100 m
    xy = np.array([[0, 0], [600, 0], [600, 600], [0, 600]], float)
    net = network_from_arrays(xy, [0, 1, 2, 3], [1, 2, 3, 0], crs=UTM)
    b = ServiceAreaBuilder(net, max_snap_m=100)
    loc = snap_points(net, np.array([[300.0, 0.0]]), max_snap_m=100)
    poly = b.polygons(loc, [5000.0])[0]
    assert len(poly.interiors) == 1
    # 800 m square with four rounded corners, minus the hole; a quarter circle gets 4
    # chords (one per pi / 8 of angle with arc_segments=4, as a half circle gets 8); the
    # vertices are snapped to a 1 mm grid (0.1 m2 on this 3.2 km outline)
    sector = 0.5 * 100**2 * 4 * np.sin(np.pi / 2 / 4)
    expected = 800 * 800 - 4 * (100 * 100 - sector) - 400 * 400
    assert poly.area == pytest.approx(expected, abs=0.5)


@pytest.mark.parametrize("bend_deg", [180.0, 170.0, 120.0, 190.0, 240.0])
def test_rounded_corners_get_chords_by_their_angle(bend_deg):
    # a street 0 -> 200 m along x, then 200 m on at `bend_deg` (180: straight on; below
    # 180 it turns left, above right): one edge, so the only rounded pieces are the two
    # dead ends (half circles: 8 chords of pi / 8 with arc_segments=4) and the outside of
    # the bend (a wedge of |180 - bend_deg| degrees: one chord per pi / 8 or part of it,
    # joined to the strip that ends there); nothing is clipped (regions=False)
    turn = np.radians(180.0 - bend_deg)
    a, b = np.array([0.0, 0.0]), np.array([200.0, 0.0])
    c = b + 200 * np.array([np.cos(turn), np.sin(turn)])
    geom = np.array([shapely.LineString([a, b, c])], dtype=object)
    net = network_from_arrays(np.array([a, c]), [0], [1], crs=UTM, edge_geometry=geom)
    r = 50.0
    b_ = ServiceAreaBuilder(net, max_snap_m=r, regions=False, tolerance_m=0)
    loc = snap_points(net, np.array([[100.0, 0.0]]), max_snap_m=r)
    poly = b_.polygons(loc, [10_000.0])[0]

    def chords(width: float, n: int) -> float:  # area of a sector polygonised by n chords
        return 0.5 * r**2 * n * np.sin(width / n) if width > 0 else 0.0

    n_bend = int(np.ceil(abs(turn) / (np.pi / 8) - 1e-9))
    # two strips 400 m x 100 m, less the overlap inside the bend (a kite of two right
    # triangles with legs r and r * tan(turn / 2)), plus the rounded pieces
    inner = r * r * np.tan(abs(turn) / 2)
    expected = 2 * 200 * 2 * r - inner + 2 * chords(np.pi, 8) + chords(abs(turn), n_bend)
    # vertices snapped to a 1 mm grid move the area by well under 0.5 m2 on this outline
    assert poly.area == pytest.approx(expected, abs=0.5)
    # the arcs' points lie exactly r from their centre (within the 1 mm grid): 9 at each
    # dead end, n_bend + 1 at the bend (a straight street: the strips' two corners)
    (one,) = shapely.get_parts(poly)  # one polygon (maybe typed multi after the mm grid)
    outline = shapely.get_coordinates(one.exterior)[:-1]

    def on_circle(centre: np.ndarray) -> int:
        return int((np.abs(np.hypot(*(outline - centre).T) - r) < 2e-3).sum())

    assert on_circle(a) == on_circle(c) == 9
    assert on_circle(b) == (2 if bend_deg == 180 else n_bend + 1)
    assert poly.is_valid and len(one.interiors) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_budget_along_a_winding_street_is_geos_buffer(seed):
    # with the whole budget everywhere (a facility far inside its limit), the area of one
    # winding street is the street buffered by the cap: compare with GEOS's buffer (a
    # second implementation; fine arcs in both, so they differ by arc sagittas only)
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.uniform(-0.9, 0.9, 25))  # bends of up to 50 degrees both ways
    step = rng.uniform(15, 60, 25)[:, None] * np.column_stack([np.cos(heading), np.sin(heading)])
    pts = np.vstack([[0.0, 0.0], np.cumsum(step, axis=0)])
    line = shapely.LineString(pts)
    net = network_from_arrays(pts[[0, -1]], [0], [1], crs=UTM,
                              edge_geometry=np.array([line], dtype=object))
    cap = 40.0
    b = ServiceAreaBuilder(net, max_snap_m=cap, regions=False, tolerance_m=0, arc_segments=32)
    loc = snap_points(net, pts[:1], max_snap_m=cap)
    poly = b.polygons(loc, [1e6])[0]
    expected = shapely.buffer(line, cap, quad_segs=32)
    assert poly.is_valid
    # sagitta of a chord of pi / 64 at 40 m: 5 mm; times the outline (< 4 km): < 20 m2
    assert shapely.symmetric_difference(poly, expected).area < 20.0
    assert poly.area == pytest.approx(expected.area, abs=20.0)


def test_polygon_stops_at_the_midline_to_an_unreached_parallel_street():
    """Two parallel streets 100 m apart, not connected; the facility is on the lower one.
    Places above the midline (y > 50) have the upper street as nearest street, which no
    path reaches: they are outside, however much budget the lower street has left.
    Hand-computed area of {nearest street is the lower one, |x - 500| + |y| <= 600}:
    150,000 (|y| <= 100 strip, y < 50) + 90,000 (y < -100) + 2 x 12,637 (end caps: half
    discs of radius 100 at the ends, minus their part above y = 50) = 265,274 m2."""
    xy = np.array([[0, 0], [1000, 0], [0, 100], [1000, 100]], float)
    net = network_from_arrays(xy, [0, 2], [1, 3], crs=UTM)
    b = ServiceAreaBuilder(net, max_snap_m=200, arc_segments=32)
    loc = snap_points(net, np.array([[500.0, 0.0]]), max_snap_m=200)
    poly = b.polygons(loc, [600.0])[0]
    cap = np.pi * 100**2 / 2 - (100**2 * np.arccos(0.5) - 50 * np.sqrt(100**2 - 50**2)) / 2
    assert poly.area == pytest.approx(150_000 + 90_000 + 2 * cap, rel=2e-3)
    assert poly.bounds[3] == pytest.approx(50.0, abs=0.5)
    unclipped = ServiceAreaBuilder(net, max_snap_m=200, arc_segments=32, regions=False)
    assert unclipped.polygons(loc, [600.0])[0].bounds[3] == pytest.approx(200.0)


def test_no_sliver_where_a_wavy_street_splits_between_shape_points():
    """A street with shape points every 10 m, 0.1 m either side of its chord (within the
    0.25 m simplification tolerance, so the pieces follow the chord). The budget reaches
    the 200 m cap exactly at the 51st shape point, a valley at y = -0.1, so the area is
    split there. Pieces aimed at that shape point would bend by 0.05 degrees and leave a
    wedge open below it: 0.12 m wide 150 m out, where the point-wise rule covers
    (distance to the valley 149.9 m, budget 200 m)."""
    x = np.arange(0.0, 1001.0, 10.0)
    y = np.where(np.arange(len(x)) % 2 == 0, 0.1, -0.1)
    geom = shapely.LineString(np.column_stack([x, y]))
    net = network_from_arrays([[0, 0.1], [1000, 0.1]], [0], [1], crs=UTM, edge_geometry=[geom])
    b = ServiceAreaBuilder(net, max_snap_m=200)
    loc = snap_points(net, np.array([[0.0, 0.1]]), max_snap_m=200)
    s51 = 51 * np.hypot(10.0, 0.2)
    limit = s51 + 200.0
    poly = b.polygons(loc, [limit])[0]
    probe = np.array([[510.0, -150.0], [510.0, 150.0]])
    d, _ = nearest_distances(net, loc, snap_points(net, probe, max_snap_m=200))
    assert (d <= limit).all()
    assert shapely.contains_xy(poly, probe[:, 0], probe[:, 1]).all()
    assert poly.geom_type == "Polygon" and len(poly.interiors) == 0


def test_union_per_group_equals_one_union_per_group():
    # groups of 1 to 9 overlapping discs, codes shuffled: each group's union must be
    # what one shapely.union_all of its members gives (odd sizes keep a member unpaired)
    from eldercare_coverage.isochrones import _union_groups

    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 10, 40)
    codes = np.repeat(np.arange(40) * 7, sizes)  # gaps between codes are allowed
    centre = rng.uniform(0, 30, (len(codes), 2)) + (codes[:, None] // 7) * 100.0
    discs = shapely.buffer(shapely.points(centre), rng.uniform(3, 12, len(codes)))
    perm = rng.permutation(len(codes))
    united, got = _union_groups(discs[perm], codes[perm])
    np.testing.assert_array_equal(got, np.arange(40) * 7)
    for g, geom in zip(got, united, strict=True):
        expected = shapely.union_all(discs[codes == g])
        assert shapely.symmetric_difference(geom, expected).area < 1e-6
        assert geom.area == pytest.approx(expected.area, rel=1e-12)
