"""Which street is nearest: the plane split into the regions of edges and nodes.

The distance of a place x (DESIGN.md) is measured through its *nearest* street:
``snap(x) + cost(p_x)``, with ``p_x`` the projection onto the nearest edge. A
service-area polygon built by buffering each reached edge by its remaining budget
would also take in places whose nearest street is a different, less reached one
(the far side of a block, across the midline to a parallel street). Clipping each
edge's pieces to the region of the plane nearest to that edge makes the polygon
match the point-wise rule.

The regions are a Voronoi diagram of the streets, discretised: every edge is
sampled every ``spacing_m`` metres (its own vertices included), each sample keeps
the label of its edge (end points the label of their node), GEOS computes the
Voronoi cells of all samples at once and the cells are merged per label. Between
two streets D metres apart the discretised boundary strays from the true midline
by about ``spacing_m**2 / (4 D)`` (1 m for 20 m sampling and 100 m blocks).

:class:`StreetRegions` holds, per edge, the region nearest to it *or to one of its
end nodes* (a piece of an edge right at a crossing may project onto the node's
sample: the node's region belongs to every edge that meets there), and per node
the region nearest to the node itself (for the sectors around dead ends and bends
at nodes).

Only the per-facility service areas (``--facility-areas``,
:class:`~eldercare_coverage.isochrones.ServiceAreaBuilder`) use them: coverage reads the
distance field, where every point is measured through its own nearest street already.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import shapely

from ._geometry import dissolve, polygonal
from .network import StreetNetwork

FORMAT_VERSION = 1

log = logging.getLogger(__name__)

_JITTER_M = 1e-3


@dataclass(frozen=True)
class StreetRegions:
    """Regions of the plane nearest to each edge (with its end nodes) and to each node.

    Attributes
    ----------
    edge
        Polygon per edge (network CRS), shape (n_edges,): nearest to the edge or to
        one of its end nodes.
    node
        Polygon per node, shape (n_nodes,); empty for nodes without edges.
    edge_own
        Polygon per edge nearest to the edge's own samples (its end nodes' regions
        left out; empty for an edge too short to be sampled between its nodes).
        ``edge_own`` and ``node`` tile the plane: they share their boundaries exactly.
    edge_depth, node_depth
        Upper bound of the distance from any point of ``edge_own`` (``node``) to its
        edge (node), metres; ``inf`` for a node without a region.
    spacing_m
        Sampling step along the edges.
    """

    edge: np.ndarray
    node: np.ndarray
    edge_own: np.ndarray
    edge_depth: np.ndarray
    node_depth: np.ndarray
    spacing_m: float


def _merge(cells: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for i, idx in enumerate(groups):
        out[i] = dissolve(cells[idx])
    return out


def street_regions(network: StreetNetwork, *, spacing_m: float = 20.0,
                   margin_m: float = 1000.0) -> StreetRegions:
    """Split the plane around ``network`` into the regions nearest to each edge and node.

    Parameters
    ----------
    network
        Projected street network.
    spacing_m
        Sampling step along the edges, metres (smaller: more exact, slower).
    margin_m
        How far beyond the network's bounding box the regions reach; at least the
        longest access leg allowed.

    Returns
    -------
    StreetRegions
    """
    t0 = time.perf_counter()
    n_e, n_n = network.n_edges, network.n_nodes
    geoms = shapely.segmentize(shapely.simplify(network.edge_geometry, 0.05), spacing_m)
    xy, edge_of = shapely.get_coordinates(geoms, return_index=True)
    counts = np.bincount(edge_of, minlength=n_e)
    start = np.concatenate([[0], np.cumsum(counts)])
    label = edge_of.astype(np.int64)
    label[start[:-1]] = n_e + network.edge_u
    label[start[1:] - 1] = n_e + network.edge_v
    # node samples come once per incident edge: keep one sample per place
    xy = np.concatenate([network.node_xy, xy])
    label = np.concatenate([n_e + np.arange(n_n), label])
    xy, first = np.unique(xy, axis=0, return_index=True)
    label = label[first]
    # a millimetre of fixed jitter breaks the co-circular samples of regular grids, on
    # which GEOS's Voronoi cells can come out wrong
    xy = xy + np.random.default_rng(0).uniform(-_JITTER_M, _JITTER_M, xy.shape)
    x0, y0, x1, y1 = network.bounds()
    frame = shapely.box(x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True))
    if len(cells) != len(xy):  # pragma: no cover - GEOS < 3.12 cannot keep the order
        raise RuntimeError("GEOS did not return one Voronoi cell per sample; GEOS >= 3.12 needed")
    # the cells must tile the diagram's extent: a wrong cell overlaps its neighbours
    bx0, by0, bx1, by1 = shapely.total_bounds(cells)
    extent = (bx1 - bx0) * (by1 - by0)
    if abs(float(shapely.area(cells).sum()) - extent) > 1e-6 * extent:
        raise RuntimeError(f"Voronoi cells of {len(xy)} street samples do not tile the plane "
                           "(GEOS robustness); please report this network")
    bad = ~shapely.is_valid(cells)
    if bad.any():  # degenerate cells of (nearly) collinear samples
        cells[bad] = shapely.make_valid(cells[bad])
    # how far a cell reaches from its sample: bounds the distance from any point of a
    # region to its street (the distance to a point is convex: its maximum over a
    # convex cell is at a vertex)
    cxy, cell_of = shapely.get_coordinates(cells, return_index=True)
    far = np.zeros(len(cells))
    np.maximum.at(far, cell_of, np.hypot(*(cxy - xy[cell_of]).T))
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_e + n_n + 1))
    members = [order[bounds[k]:bounds[k + 1]] for k in range(n_e + n_n)]
    node_members = members[n_e:]
    node = np.array([polygonal(cells[m[0]]) if len(m) else shapely.Polygon()
                     for m in node_members], dtype=object)
    node_depth = np.array([far[m[0]] if len(m) else np.inf for m in node_members])
    own = _merge(cells, members[:n_e])
    edge_depth = np.array([far[m].max() if len(m) else 0.0 for m in members[:n_e]])
    edge = _merge(np.concatenate([own, node]),
                  [np.array([e, n_e + u, n_e + v]) for e, (u, v)
                   in enumerate(zip(network.edge_u, network.edge_v, strict=True))])
    log.info("street regions: %d samples every %g m, %d edges, %.1f s", len(xy), spacing_m,
             n_e, time.perf_counter() - t0)
    return StreetRegions(edge=edge, node=node, edge_own=own, edge_depth=edge_depth,
                         node_depth=node_depth, spacing_m=float(spacing_m))
