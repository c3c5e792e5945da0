"""The nearest-street regions: a partition of the plane whose depths bound how far each
region reaches from its street, checked on sampled points against GEOS distances."""

from __future__ import annotations

import numpy as np
import shapely

from eldercare_coverage.street_regions import street_regions

from .test_distances import grid_network, river_network


def test_own_and_node_regions_tile_the_plane_and_their_depths_bound_the_distance():
    for net in (grid_network(6, 120.0), river_network()):
        reg = street_regions(net, margin_m=300.0)
        tiles = np.concatenate([reg.edge_own, reg.node])
        tiles = tiles[~shapely.is_empty(tiles)]
        frame = shapely.box(*shapely.total_bounds(tiles))
        # a partition: the areas add up to the frame and the union has no overlap
        assert np.isclose(shapely.area(tiles).sum(), frame.area, rtol=1e-9)
        assert np.isclose(shapely.union_all(tiles).area, frame.area, rtol=1e-9)
        # every point of a region is within its depth of its own street (or node)
        rng = np.random.default_rng(5)
        for e in range(net.n_edges):
            region = reg.edge_own[e]
            if region.is_empty:
                continue
            pts = shapely.points(rng.uniform(region.bounds[:2], region.bounds[2:], (400, 2)))
            pts = pts[shapely.contains(region, pts)]
            d = shapely.distance(pts, net.edge_geometry[e])
            assert d.max() <= reg.edge_depth[e] + 1e-6
            # and the bound is not loose by more than a sampling step
            assert reg.edge_depth[e] <= shapely.hausdorff_distance(
                shapely.boundary(region), net.edge_geometry[e]) + reg.spacing_m
        for n in range(net.n_nodes):
            region = reg.node[n]
            pts = shapely.points(rng.uniform(region.bounds[:2], region.bounds[2:], (200, 2)))
            pts = pts[shapely.contains(region, pts)]
            d = shapely.distance(pts, shapely.points(net.node_xy[n]))
            assert d.max() <= reg.node_depth[n] + 1e-6
