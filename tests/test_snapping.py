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
    # one long straight street and a short one 300 m away: halfway between them the 8
    # nearest samples lie within 2.5 m of each other, too close to prove anything
    lines = [shapely.LineString([(0, 0), (1000, 0)]), shapely.LineString([(480, 300), (520, 300)])]
    net = StreetNetwork(pyproj.CRS(32651), np.arange(4), np.array([[0, 0], [1000, 0], [480, 300],
                                                                    [520, 300]], dtype=float),
                        np.array([0, 2]), np.array([1, 3]), np.array([1000.0, 40.0]),
                        np.array(lines, dtype=object), np.array(["footway"] * 2, dtype=object))
    idx = SegmentIndex.build(net, spacing_m=10.0)
    xy = np.array([[505.0, 150.5], [505.0, 149.5], [100.0, 1.0]])
    _, _, dist, proved = idx.nearest(xy)
    assert proved.tolist() == [False, False, True]
    assert dist[2] == pytest.approx(1.0)
    loc = snap_points(net, xy, max_snap_m=500)
    assert loc.edge.tolist() == [1, 0, 0]
    assert loc.snap_m.tolist() == pytest.approx([149.5, 149.5, 1.0])
    assert loc.offset_m.tolist() == pytest.approx([25.0, 505.0, 100.0])
