"""The distance field on hand-built streets: pixel counts, catchments and drawn areas
against hand-computed numbers and the networkx reference.

One straight street 10 km long along y = Y0 (x from X0 - 5000 to X0 + 5000)::

    cells (100 m) above and below the street, 10 m pixels inside each
    ─────────────────F─────────────────────────G───────────  street
                     x = X0               x = X0 + 2000

A pixel centre (x, y) snaps perpendicularly onto the street, so its distance from a
facility on the street at x_f is |x - x_f| + |y - Y0|.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from eldercare_coverage.drawing import FineField, draw_grid, drawn_areas, drawn_bands
from eldercare_coverage.field import (
    FacilityReach,
    band_people,
    circle_coverage,
    population_pixels,
)
from eldercare_coverage.network import network_from_arrays
from eldercare_coverage.prepared import prepare_network
from eldercare_coverage.snapping import snap_points

from ._reference import reference_distances

UTM = "EPSG:32651"
X0, Y0 = 330000.0, 3140000.0


def _street():
    return network_from_arrays([[X0 - 5000, Y0], [X0 + 5000, Y0]], [0], [1], crs=UTM)


def _setup(cells, elderly, facility_x):
    net = _street()
    fac_xy = np.column_stack([np.asarray(facility_x, float) + X0, np.full(len(facility_x), Y0)])
    fac = snap_points(net, fac_xy, max_snap_m=500)
    pixels = population_pixels(prepare_network(net), np.asarray(cells, dtype=object),
                               np.asarray(elderly, float), pixel_m=10, max_snap_m=500)
    centroids = snap_points(net, shapely.get_coordinates(shapely.centroid(cells)), max_snap_m=500)
    reach = FacilityReach(net, fac, np.arange(len(facility_x)))
    return net, fac_xy, pixels, reach, reach.field(pixels, centroids)


def test_a_cell_across_the_limit_counts_its_pixels_by_hand():
    # the cell x in [1400, 1600], y in [0, 100] above the street; facility at x = 0:
    # a pixel centre (1405 + 10 j, 5 + 10 k) is within 1500 m when j <= 9 - k, so row k
    # has 10 - k pixels inside: 55 of the cell's 200
    cell = shapely.box(X0 + 1400, Y0, X0 + 1600, Y0 + 100)
    _, _, pixels, _, fld = _setup([cell], [200.0], [0.0])
    assert pixels.n_pixels.tolist() == [200]
    cov = circle_coverage(fld, pixels, np.array([200.0]), 1500.0, n_facilities=1)
    assert cov.share.tolist() == [pytest.approx(55 / 200)]
    assert cov.covered.tolist() == [pytest.approx(55.0)]
    assert cov.catchment.tolist() == [pytest.approx(55.0)]
    # the centroid (1500, 50) is 1550 m away: the cross-check says "not covered"
    assert fld.centroid_cost.tolist() == [pytest.approx(1550.0)]


def test_catchments_split_at_the_midpoint_and_add_up_to_the_circle():
    # facilities at x = 0 and x = 2000; one row of cells 0..2000 above the street, 10
    # people each: pixels with x < 1000 are nearest F, x > 1000 nearest G; everything
    # within 1500 m of one of them
    cells = shapely.box(X0 + np.arange(0, 2000, 100), Y0, X0 + np.arange(100, 2100, 100),
                        Y0 + 100)
    elderly = np.full(20, 10.0)
    _, _, pixels, _, fld = _setup(cells, elderly, [0.0, 2000.0])
    cov = circle_coverage(fld, pixels, elderly, 1500.0, n_facilities=2)
    assert cov.covered.sum() == pytest.approx(200.0)
    assert cov.catchment.tolist() == [pytest.approx(100.0), pytest.approx(100.0)]
    # within 300.5 m (off the pixel lattice's sums, which end in 0): F's pixels x + y <= 300, G's 2000 - x + y <= 300 (x < 2000): each
    # side counts, per 10 m row k, 30 - k pixels (F: x centres 5 .. 295 - 10 k; G: 1705 +
    # 10 k .. 1995): 255 pixels of 0.1 person each
    near = circle_coverage(fld, pixels, elderly, 300.5, n_facilities=2)
    assert near.catchment.tolist() == [pytest.approx(25.5), pytest.approx(25.5)]
    assert near.catchment.sum() == pytest.approx(near.covered.sum())


def test_bands_hold_every_person_once():
    cells = shapely.box(X0 + np.arange(-3000, 3000, 100), Y0 - 100,
                        X0 + np.arange(-2900, 3100, 100), Y0)
    elderly = np.arange(60, dtype=float)
    _, _, pixels, _, fld = _setup(cells, elderly, [0.0])
    bands = band_people(fld, pixels, np.array([500.0, 1000.0, 1500.0]))
    assert bands.sum() == pytest.approx(elderly.sum())
    # the 1000 m circle's covered people are the first two bands
    cov = circle_coverage(fld, pixels, elderly, 1000.0, n_facilities=1)
    assert bands[:2].sum() == pytest.approx(cov.covered.sum())


def test_a_cell_finer_than_a_pixel_is_one_pixel_at_its_centroid():
    tiny = shapely.box(X0 + 1000, Y0 + 2, X0 + 1004, Y0 + 6)  # no 10 m pixel centre inside
    big = shapely.box(X0, Y0 + 10, X0 + 100, Y0 + 110)
    _, _, pixels, _, fld = _setup([tiny, big], [3.0, 7.0], [0.0])
    assert pixels.n_pixels.tolist() == [1, 100]
    # the tiny cell's centroid (1002, 4) is 1006 m away: all or nothing at that limit
    elderly = np.array([3.0, 7.0])
    assert circle_coverage(fld, pixels, elderly, 1005.9, n_facilities=1).share[0] == 0.0
    assert circle_coverage(fld, pixels, elderly, 1006.1, n_facilities=1).share[0] == 1.0
    assert pixels.people.sum() == pytest.approx(10.0)


def test_pixel_distances_equal_networkx_on_a_grid_of_streets():
    # a 6 x 6 grid of 200 m blocks with a diagonal shortcut: random pixels' distances
    # equal the networkx reference with projection points inserted as nodes
    n, step = 6, 200.0
    # streets at x = 3 + 200 i and y = 200 j: no pixel centre (5 + 10 k) is equally near
    # a north-south and an east-west street (a tie the definition leaves open)
    xy = np.array([[X0 + 3 + i * step, Y0 + j * step] for j in range(n) for i in range(n)])
    u, v = [], []
    for j in range(n):
        for i in range(n):
            k = j * n + i
            if i + 1 < n:
                u.append(k)
                v.append(k + 1)
            if j + 1 < n:
                u.append(k)
                v.append(k + n)
    u.append(0)
    v.append(n * n - 1)
    net = network_from_arrays(xy, u, v, crs=UTM)
    rng = np.random.default_rng(3)
    cells = np.array([shapely.box(X0 - 100, Y0 - 100, X0 + 1100, Y0 + 1100)])  # 14,400 pixels
    fac_xy = np.array([[X0 + 130, Y0 + 470], [X0 + 810, Y0 + 905]])
    fac = snap_points(net, fac_xy, max_snap_m=500)
    pixels = population_pixels(prepare_network(net), cells, np.array([1.0]), pixel_m=10,
                               max_snap_m=500)
    reach = FacilityReach(net, fac, np.array([0, 1]))
    pick = rng.choice(len(pixels.xy), 300, replace=False)
    cost, source = reach.at(pixels.locations.take(pick))
    want = reference_distances(net, fac_xy, pixels.xy[pick], max_snap_m=500)
    np.testing.assert_allclose(cost, want, atol=1e-6)
    assert set(np.unique(source)) <= {0, 1}


def test_drawn_areas_agree_with_the_pointwise_rule_and_partition_into_catchments():
    net = _street()
    fac_xy = np.array([[X0, Y0], [X0 + 2000, Y0]])
    fac = snap_points(net, fac_xy, max_snap_m=500)
    reach = FacilityReach(net, fac, np.array([0, 1]))
    grid = draw_grid(prepare_network(net), fac_xy, reach_m=1500, pixel_m=20, max_snap_m=500)
    cost, source = reach.at(grid.locations)
    area, catchments = drawn_areas(grid, cost, source, 1500.0)
    # the exact area: |x - x_f| + |y| <= 1500 around each, capped at 500 m from the
    # street: two clipped diamonds (squares turned 45 degrees) overlapping
    diamonds = shapely.union_all([shapely.Polygon([(x - 1500, Y0), (x, Y0 + 1500),
                                                   (x + 1500, Y0), (x, Y0 - 1500)])
                                  for x in (X0, X0 + 2000)])
    exact = shapely.intersection(diamonds, shapely.box(X0 - 5000, Y0 - 500, X0 + 5000, Y0 + 500))
    assert shapely.area(shapely.symmetric_difference(area, exact)) < 0.01 * exact.area
    # catchments partition the area: disjoint, and they add up to it
    a, b = catchments["geometry"]
    assert shapely.area(shapely.intersection(a, b)) < 1.0
    assert shapely.area(a) + shapely.area(b) == pytest.approx(area.area, rel=0.01)
    # the boundary between them is the midline x = 1000
    assert shapely.centroid(a).x < X0 + 1000 < shapely.centroid(b).x
    # bands: 0-500 m is two diamonds of half-diagonal 500 around each facility
    bands = drawn_bands(grid, cost, np.array([500.0, 1000.0]))
    assert bands[0].area == pytest.approx(2 * 2 * 500**2, rel=0.03)


def test_boundaries_refined_on_fine_pixels_come_closer_to_the_exact_area():
    """A FineField measures the 10 m pixels along the 20 m boundary: the drawn area's
    error against the exact clipped diamonds shrinks (about halves, as the pixel does)."""
    net = prepare_network(_street())
    fac_xy = np.array([[X0, Y0], [X0 + 2000, Y0]])
    reach = FacilityReach(net.network, net.snap(fac_xy, max_snap_m=500), np.array([0, 1]))
    one_pixel = np.array([[X0 + 5, Y0 + 5]])  # on the 10 m lattice: the grid gets fine pixels
    grid = draw_grid(net, fac_xy, reach_m=1500, pixel_m=20, max_snap_m=500).with_fine_pixels(
        one_pixel, 10.0)
    assert grid.fine == 2
    cost, source = reach.at(grid.locations)
    diamonds = shapely.union_all([shapely.Polygon([(x - 1500, Y0), (x, Y0 + 1500),
                                                   (x + 1500, Y0), (x, Y0 - 1500)])
                                  for x in (X0, X0 + 2000)])
    exact = shapely.intersection(diamonds, shapely.box(X0 - 5000, Y0 - 500, X0 + 5000, Y0 + 500))

    def error(area: shapely.Geometry) -> float:
        return float(shapely.area(shapely.symmetric_difference(area, exact)))

    coarse, _ = drawn_areas(grid, cost, source, 1500.0)
    fine = FineField(grid, None, lambda xy: reach.at(
        net.snap(xy, max_snap_m=500, exact_beyond=False))[0])
    refined, _ = drawn_areas(grid, cost, source, 1500.0, fine=fine)
    assert error(refined) < 0.7 * error(coarse)
    # only the boundary was measured: far fewer fine pixels than the whole area holds
    measured, _ = fine.inside(1500.0)
    assert 0 < len(measured) < 0.25 * exact.area / 100
