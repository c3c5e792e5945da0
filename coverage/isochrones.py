"""Network distances and service areas: the distance engine.

Definitions (DESIGN.md): the distance from a facility f to a point x is
``snap(f) + d_G(p_f, p_x) + snap(x)``, where ``p`` is the projection onto the
nearest edge, ``snap`` the straight access leg and ``d_G`` runs along edges,
counting partial edges from the projection points. The engine does not know the
mode: it searches on edge costs (:class:`~eldercare_coverage.costs.EdgeCosts`), a cost
forward (u -> v) and backward (v -> u) per edge, ``inf`` where a direction is not
allowed, proportional to the distance along the edge, and access legs of
``snap_m / access_m_per_cost``. Without costs (walking) both directions cost the
length in metres and the legs are metres.

How it is computed
------------------
* Every source becomes a virtual node joined to the two ends of its edge with the
  costs ``snap + offset`` and ``snap + (length - offset)`` (with edge costs: the leg,
  plus ``backward * s / L`` to u and ``forward * (L - s) / L`` to v, on the directed
  adjacency of the allowed directions); one scipy Dijkstra from
  all virtual nodes (``min_only``) gives each node its nearest source.
* A target on edge (u, v) at offset s costs ``min(D[u] + s, D[v] + length - s)``
  plus its own access leg (with edge costs ``D[u] + forward * s / L`` and
  ``D[v] + backward * (L - s) / L``); a source on the *same* edge also reaches it
  directly along the edge (``|s - s_f|``; with edge costs in the allowed direction).
* One facility's reach is computed on the nodes within a straight-line radius of
  the limit around it: a path no longer than the limit never leaves that disc, so
  the result is exact and the work is local.

Service-area polygons
---------------------
The area of a facility is the set of points x whose distance is within the limit.
Along an edge the budget left for the access leg, ``r(s) = limit - cost(s)``, is
piecewise linear; it is capped by ``max_snap_m``. Each straight piece of an edge
contributes the trapezoid of points projecting perpendicularly onto it within
``r``; each vertex contributes the sector of points that project onto the vertex
itself (the polar cone of its incident segments: half a disc at a dead end, a
wedge on the outside of a bend, nothing at a grid crossing). Their union is the
polygon; blocks whose middle is farther than the budget from every street stay
holes. A place is measured through its *nearest* street, so the pieces are clipped
to the region of the plane nearest to their edge (:mod:`eldercare_coverage.street_regions`;
the pieces of one region are united first, then clipped once): without the clip,
a well-reached street's strip would take in the far side of a block whose nearest
street is less reached (on the demo that overstated the 500 m circle by 6 points).
The wedge at a vertex is polygonised with one chord per ``pi / (2 * arc_segments)``
of its angle (most are bends of a few degrees: one chord) and joined to the strip
that ends there, so GEOS has fewer pieces to unite. Shape points within
``tolerance_m`` of a straight chord do not split pieces: pieces follow the chords,
and a run of pieces along one chord is one strip (left offsets forward, right
offsets back), so neighbours meet edge to edge. A region whose budget never drops
below its depth (how far it reaches from its street) lies wholly inside the area:
it is taken as it is, and the regions so taken, which share their boundaries
exactly, are dissolved by GEOS's coverage union; only the fringe is built from
pieces. The polygon is snapped to a 1 mm grid so it stays valid when reprojected. Tests compare the polygons with the point-wise rule on
sampled points, the shortcut with building every piece, and the area shares with a
lattice of points per cell.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ._geometry import GRID_M, checked_union, dissolve, lost_inputs, polygonal
from ._threads import run_threaded
from .costs import EdgeCosts, along
from .network import StreetNetwork, cheapest_edges_csr
from .snapping import NetworkLocations
from .street_regions import StreetRegions, street_regions

log = logging.getLogger(__name__)

_EPS = 1e-9  # metres: offsets closer than this are the same point
_EPS_WIDTH = 1e-6  # metres: a narrower strip is nothing (and an invalid ring)
_WHOLE_MARGIN_M = 0.5  # metres of slack before a region counts as wholly inside an area


@dataclass(frozen=True)
class Reach:
    """Shortest distances from a set of sources to every node.

    Attributes
    ----------
    dist
        Cost (metres) from the nearest source to each node, ``inf`` when unreached.
    source
        Index (into the sources) of that nearest source, -1 when unreached.
    """

    dist: np.ndarray
    source: np.ndarray


def _graph(network: StreetNetwork, costs: EdgeCosts | None
           ) -> tuple[sparse.csr_matrix, np.ndarray | None, np.ndarray | None, float]:
    """The adjacency, per-metre costs forward and backward and the access legs' metres
    per cost of ``costs`` (None: walking, the network's lengths both ways, per-metre
    costs None: one per metre)."""
    if costs is None:
        return network.csr, None, None, 1.0
    forward, backward = costs.per_metre(network)
    return costs.adjacency(network), forward, backward, costs.access_m_per_cost


def _along(per_metre: np.ndarray | None, edge: np.ndarray, distance_m: np.ndarray
           ) -> np.ndarray:
    """Cost of ``distance_m`` metres along ``edge`` (walking, ``per_metre`` None: the
    metres themselves, as they are)."""
    return distance_m if per_metre is None else along(per_metre[edge], distance_m)


def _seeds(
    network: StreetNetwork, sources: NetworkLocations, forward: np.ndarray | None,
    backward: np.ndarray | None, access_m_per_cost: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Virtual-node seeds: (source index, node index, cost) for every snapped source.

    A source at offset ``s`` of edge (u, v) reaches ``u`` backward over ``s`` metres and
    ``v`` forward over ``length - s`` (``inf`` where the direction is not allowed).
    """
    idx = np.flatnonzero(sources.on_network)
    e = sources.edge[idx]
    access = sources.snap_m[idx] if access_m_per_cost == 1.0 else \
        sources.snap_m[idx] / access_m_per_cost
    off = sources.offset_m[idx]
    length = network.edge_length_m[e]
    src = np.concatenate([idx, idx])
    node = np.concatenate([network.edge_u[e], network.edge_v[e]])
    cost = np.concatenate([access + _along(backward, e, off),
                           access + _along(forward, e, np.maximum(length - off, 0.0))])
    finite = np.isfinite(cost)
    return src[finite], node[finite], cost[finite]


def _augment(
    csr: sparse.csr_matrix, seed_row: np.ndarray, seed_node: np.ndarray, seed_cost: np.ndarray,
    n_virtual: int,
) -> sparse.csr_matrix:
    """``csr`` with ``n_virtual`` extra rows (virtual sources) holding the seed edges.

    Seed ``i`` is an edge from virtual source ``seed_row[i]`` to node ``seed_node[i]``;
    of repeated pairs the cheapest is kept. The matrix is square (the virtual sources
    are also columns, which nothing enters).
    """
    n = csr.shape[0]
    extra = cheapest_edges_csr(seed_row, seed_node, seed_cost, (n_virtual, n))
    indptr = np.concatenate([csr.indptr, csr.indptr[-1] + extra.indptr[1:]])
    return sparse.csr_matrix((np.concatenate([csr.data, extra.data]),
                              np.concatenate([csr.indices, extra.indices]), indptr),
                             shape=(n + n_virtual, n + n_virtual))


def nearest_source_reach(
    network: StreetNetwork, sources: NetworkLocations, *, limit: float = np.inf,
    costs: EdgeCosts | None = None,
) -> Reach:
    """Distance from the nearest of ``sources`` to every node (one multi-source Dijkstra).

    Parameters
    ----------
    network
        Projected street network.
    sources
        Snapped sources; unsnapped ones (``edge == -1``) are ignored.
    limit
        Stop exploring beyond this cost; farther nodes get ``inf``.
    costs
        Edge costs forward and backward (:class:`~eldercare_coverage.costs.EdgeCosts`);
        None: walking, metres both ways.

    Returns
    -------
    Reach
    """
    n = network.n_nodes
    adjacency, forward, backward, access = _graph(network, costs)
    src, node, cost = _seeds(network, sources, forward, backward, access)
    if costs is not None and costs.junction_cost:
        cost = cost + costs.arrival(network)[node]  # the junction at the source edge's end
    if len(src) == 0:
        return Reach(np.full(n, np.inf), np.full(n, -1, dtype=np.int64))
    used, row = np.unique(src, return_inverse=True)
    aug = _augment(adjacency, row, node, cost, len(used))
    dist, _pred, origin = dijkstra(
        aug, directed=True, indices=np.arange(n, n + len(used)), limit=limit,
        min_only=True, return_predecessors=True,
    )
    dist = dist[:n]
    origin = origin[:n]
    source = np.where(origin >= n, used[np.clip(origin - n, 0, len(used) - 1)], -1)
    source[~np.isfinite(dist)] = -1
    return Reach(dist, source.astype(np.int64))


def _same_edge(
    network: StreetNetwork, sources: NetworkLocations, targets: NetworkLocations,
    forward: np.ndarray | None, backward: np.ndarray | None, access_m_per_cost: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct along-edge trips between sources and targets that share an edge.

    Returns
    -------
    target, source, cost
        For every target with a source on its edge, the cheapest such source (the
        lowest index among equal costs) and the cost of the source's access leg plus
        the way along the edge between the offsets, in the allowed direction (walking:
        ``snap(source) + |offsets|``).
    """
    s_ok = np.flatnonzero(sources.on_network)
    t_ok = np.flatnonzero(targets.on_network)
    s_ok = s_ok[np.argsort(sources.edge[s_ok], kind="stable")]
    s_edge = sources.edge[s_ok]
    has_source = np.zeros(network.n_edges, dtype=bool)
    has_source[s_edge] = True
    t_ok = t_ok[has_source[targets.edge[t_ok]]]  # few: searched below (a gather, not np.isin's sort)
    t_edge = targets.edge[t_ok]
    lo = np.searchsorted(s_edge, t_edge, side="left")
    count = np.searchsorted(s_edge, t_edge, side="right") - lo
    target = np.repeat(t_ok, count)
    step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    source = s_ok[np.repeat(lo, count) + step]
    ahead = targets.offset_m[target] - sources.offset_m[source]  # > 0: the target lies towards v
    e = targets.edge[target]
    cost = sources.snap_m[source] / access_m_per_cost + np.where(
        ahead >= 0, _along(forward, e, ahead), _along(backward, e, -ahead))
    order = np.lexsort((source, cost, target))
    target, source, cost = target[order], source[order], cost[order]
    first = np.ones(len(target), dtype=bool)
    first[1:] = target[1:] != target[:-1]
    return target[first], source[first], cost[first]


def distances_to_locations(
    network: StreetNetwork, reach: Reach, sources: NetworkLocations, targets: NetworkLocations,
    *, costs: EdgeCosts | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Network distance from the nearest source to each target location.

    Parameters
    ----------
    network
        The network ``reach`` was computed on.
    reach
        Node distances from ``sources`` (see :func:`nearest_source_reach`).
    sources
        The sources of ``reach`` (needed for sources on a target's own edge).
    targets
        Snapped targets.
    costs
        The edge costs ``reach`` was computed with (None: walking).

    Returns
    -------
    dist, source
        Cost including both access legs (metres for walking; ``inf`` when unreachable
        or not snapped) and the index of the nearest source (-1 when none).
    """
    forward: np.ndarray | None = None  # walking: one per metre
    backward: np.ndarray | None = None
    access = 1.0
    if costs is not None:
        forward, backward = costs.per_metre(network)
        access = costs.access_m_per_cost
    n = len(targets)
    dist = np.full(n, np.inf)
    origin = np.full(n, -1, dtype=np.int64)
    ok = np.flatnonzero(targets.on_network)
    e = targets.edge[ok]
    u, v = network.edge_u[e], network.edge_v[e]
    off = targets.offset_m[ok]
    # reached from u forward over ``off`` metres, from v backward over the rest
    via_u = reach.dist[u] + _along(forward, e, off)
    via_v = reach.dist[v] + _along(backward, e, np.maximum(network.edge_length_m[e] - off, 0.0))
    take_u = via_u <= via_v
    dist[ok] = np.where(take_u, via_u, via_v)
    origin[ok] = np.where(take_u, reach.source[u], reach.source[v])
    t, s, cost = _same_edge(network, sources, targets, forward, backward, access)
    better = cost < dist[t]
    dist[t[better]] = cost[better]
    origin[t[better]] = s[better]
    dist[ok] += targets.snap_m[ok] if costs is None else targets.snap_m[ok] / access
    origin[~np.isfinite(dist)] = -1
    return dist, origin


def nearest_distances(
    network: StreetNetwork, sources: NetworkLocations, targets: NetworkLocations,
    *, costs: EdgeCosts | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cost (walking: metres) from the nearest source to every target, and which source.

    Convenience for :func:`nearest_source_reach` then :func:`distances_to_locations`.
    """
    reach = nearest_source_reach(network, sources, costs=costs)
    return distances_to_locations(network, reach, sources, targets, costs=costs)


class ServiceAreaBuilder:
    """Builds service-area polygons of single facilities on one network.

    Precomputes, once per network, the vertices of every edge, their offsets along
    the edge and the polar cone at every vertex; then each facility costs one local
    Dijkstra and a union of small polygons per limit.

    Parameters
    ----------
    network
        Projected street network.
    max_snap_m
        Cap of the access leg (half-width of the area on each side of a street).
    arc_segments
        Rounded corners get one chord per ``pi / (2 * arc_segments)`` of angle (a
        half circle ``2 * arc_segments``, a slight bend one).
    tolerance_m
        Streets are followed to within this distance (shape points closer than this to
        the chord of their neighbours do not split pieces); 0 follows every vertex.
    regions
        Nearest-street regions to clip each piece to (see :mod:`eldercare_coverage.street_regions`),
        so that the polygon follows the point-wise rule; computed here when None.
        ``False`` skips the clip (faster, slightly larger polygons).
    whole_regions
        Take the nearest-street regions that lie wholly inside an area as they are,
        instead of building and dissolving their pieces (the same polygon, faster);
        False builds every piece.
    """

    def __init__(self, network: StreetNetwork, *, max_snap_m: float, arc_segments: int = 4,
                 regions: StreetRegions | None | bool = None, tolerance_m: float = 0.25,
                 whole_regions: bool = True):
        self.network = network
        self.max_snap_m = float(max_snap_m)
        self.arc_segments = int(arc_segments)
        self.tolerance_m = float(tolerance_m)
        self.whole_regions = bool(whole_regions)
        self._node_tree = cKDTree(network.node_xy)
        self._prepare_vertices()
        self._prepare_incidence()
        if regions is None or regions is True:
            regions = street_regions(network, margin_m=self.max_snap_m + 100.0)
        self.regions: StreetRegions | None = regions or None

    # -- one-off preparation ------------------------------------------------------------
    def _prepare_vertices(self) -> None:
        net = self.network
        coords, edge_of = shapely.get_coordinates(net.edge_geometry, return_index=True)
        counts = np.bincount(edge_of, minlength=net.n_edges)
        start = np.concatenate([[0], np.cumsum(counts)])
        seg = np.hypot(*np.diff(coords, axis=0).T)
        same = edge_of[1:] == edge_of[:-1]
        seg = np.where(same, seg, 0.0)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        cum = cum - cum[start[:-1]][edge_of]
        self.coords, self.vertex_edge, self.vertex_cum = coords, edge_of, cum
        self.edge_start = start
        # a strictly increasing key over all vertices: edge e's vertices live in
        # [base[e], base[e] + length_e] and edges are separated by 1 m
        lengths = cum[start[1:] - 1]
        self.edge_base = np.concatenate([[0.0], np.cumsum(lengths + 1.0)[:-1]])
        self.vertex_key = self.edge_base[edge_of] + cum
        # pieces follow the chords between kept vertices (see _split_vertices); the
        # chord of every vertex runs from the kept vertex at or before it to the one at
        # or after it (both ends of an edge are kept)
        split = self._split_vertices(coords, edge_of, cum)
        ids = np.arange(len(coords))
        self.vertex_split = split
        self.kept_prev = np.maximum.accumulate(np.where(split, ids, 0))
        self.kept_next = np.minimum.accumulate(np.where(split, ids, len(coords))[::-1])[::-1]
        # polar cones of the chords at interior kept vertices and at nodes
        j = ids - start[:-1][edge_of]
        interior = (j > 0) & (ids != start[1:][edge_of] - 1)
        idx = np.flatnonzero(interior & split)
        prev_dir = coords[self.kept_prev[idx - 1]] - coords[idx]
        next_dir = coords[self.kept_next[idx + 1]] - coords[idx]
        groups = np.concatenate([idx, idx])
        dirs = np.concatenate([prev_dir, next_dir])
        v_start, v_width = _polar_cones(groups, dirs, len(coords))
        # nodes: the first chord of every edge seen from each end
        e_idx = np.arange(net.n_edges)
        s0, s1 = start[:-1], start[1:] - 1
        multi = (s1 - s0) >= 1
        e_idx, s0, s1 = e_idx[multi], s0[multi], s1[multi]
        node_groups = np.concatenate([net.edge_u[e_idx], net.edge_v[e_idx]])
        node_dirs = np.concatenate([coords[self.kept_next[s0 + 1]] - coords[s0],
                                    coords[self.kept_prev[s1 - 1]] - coords[s1]])
        n_start, n_width = _polar_cones(node_groups, node_dirs, net.n_nodes)
        self.vertex_cone = (v_start, v_width)
        self.node_cone = (n_start, n_width)

    def _split_vertices(self, coords: np.ndarray, edge_of: np.ndarray,
                        cum: np.ndarray) -> np.ndarray:
        """Vertices where pieces must split: those a Douglas-Peucker simplification keeps.

        OSM streets carry a shape point every few metres; between two kept vertices
        the street stays within ``tolerance_m`` of the chord, so one trapezoid on the
        chord replaces many (the polygon moves by at most that tolerance).
        """
        net = self.network
        if self.tolerance_m <= 0:
            return np.ones(len(coords), dtype=bool)
        simple = shapely.simplify(net.edge_geometry, self.tolerance_m, preserve_topology=False)
        sxy, s_edge = shapely.get_coordinates(simple, return_index=True)
        # kept vertices are copies of original ones: find them by (edge, x, y)
        keys = pd.MultiIndex.from_arrays([edge_of, coords[:, 0], coords[:, 1]])
        kept = pd.MultiIndex.from_arrays([s_edge, sxy[:, 0], sxy[:, 1]])
        split = keys.isin(kept)
        split[self.edge_start[:-1]] = True
        split[self.edge_start[1:] - 1] = True
        return np.asarray(split)

    def _prepare_incidence(self) -> None:
        net = self.network
        e = np.arange(net.n_edges)
        rows = np.concatenate([net.edge_u, net.edge_v])
        cols = np.concatenate([e, e])
        inc = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(net.n_nodes, net.n_edges)
        )
        self._inc_indptr, self._inc_edges = inc.indptr, inc.indices

    # -- per facility -----------------------------------------------------------------
    def reach(self, location: NetworkLocations, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """Nodes within ``limit`` of one snapped facility and their costs (local Dijkstra).

        Parameters
        ----------
        location
            A single snapped location (length 1).
        limit
            Cost limit, metres.

        Returns
        -------
        nodes, dist
            Node indices and their costs (only nodes with cost <= limit).
        """
        net = self.network
        e = int(location.edge[0])
        off, snap = float(location.offset_m[0]), float(location.snap_m[0])
        radius = limit - snap
        if e < 0 or radius < 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        p = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry[e], off))[0]
        local = np.array(sorted(self._node_tree.query_ball_point(p, radius + 1e-6)), dtype=np.int64)
        if len(local) == 0:
            return local, np.empty(0)
        pos = {int(n): i for i, n in enumerate(local)}
        length = net.edge_length_m[e]
        seeds = [(pos[int(n)], c) for n, c in ((net.edge_u[e], snap + off),
                                               (net.edge_v[e], snap + max(length - off, 0.0)))
                 if int(n) in pos]
        if not seeds:
            return np.empty(0, dtype=np.int64), np.empty(0)
        sub = net.csr[local][:, local]
        nodes_, costs_ = zip(*seeds, strict=True)
        aug = _augment(sub, np.zeros(len(seeds), dtype=np.int64), np.array(nodes_),
                       np.array(costs_), 1)
        d = dijkstra(aug, directed=True, indices=len(local), limit=limit)[: len(local)]
        keep = np.isfinite(d) & (d <= limit)
        return local[keep], d[keep]

    def polygons(
        self, location: NetworkLocations, limits: Sequence[float]
    ) -> list[shapely.Geometry]:
        """Service-area polygons of one facility for each of ``limits`` (metres)."""
        limits = [float(x) for x in limits]
        nodes, dist = self.reach(location, max(limits))
        return [self._polygon(location, nodes, dist, lim) for lim in limits]

    def _polygon(
        self, loc: NetworkLocations, nodes: np.ndarray, dist: np.ndarray, limit: float
    ) -> shapely.Geometry:
        net, cap = self.network, self.max_snap_m

        def D(node: np.ndarray) -> np.ndarray:  # cost of nodes; inf outside the reach
            i = np.clip(np.searchsorted(nodes, node), 0, max(len(nodes) - 1, 0))
            hit = (nodes[i] == node) if len(nodes) else np.zeros(len(node), dtype=bool)
            return np.where(hit, dist[i] if len(nodes) else np.inf, np.inf)

        e_f = int(loc.edge[0])
        if e_f < 0 or loc.snap_m[0] > min(cap, limit):
            return shapely.Polygon()
        s_f, h_f = float(loc.offset_m[0]), float(loc.snap_m[0])
        reached = nodes[dist <= limit]
        parts = [self._inc_edges[self._inc_indptr[n]:self._inc_indptr[n + 1]] for n in reached]
        edges = np.unique(np.concatenate([[e_f], *parts])).astype(np.int64)
        Du, Dv = D(net.edge_u[edges]), D(net.edge_v[edges])
        L = net.edge_length_m[edges]
        is_src = edges == e_f

        def cost(k: np.ndarray, s: np.ndarray) -> np.ndarray:
            c = np.minimum(Du[k] + s, Dv[k] + L[k] - s)
            tent = np.where(is_src[k], h_f + np.abs(s - s_f), np.inf)
            return np.minimum(c, tent)

        # 1. offsets where cost changes slope, plus every geometry vertex
        with np.errstate(invalid="ignore"):
            cand = [(Dv + L - Du) / 2]
        src_k = np.flatnonzero(is_src)
        cand_k = [np.arange(len(edges))]
        for extra in (np.full(len(src_k), s_f), (h_f + s_f - Du[src_k]) / 2,
                      (Dv[src_k] + L[src_k] - h_f + s_f) / 2):
            cand.append(extra)
            cand_k.append(src_k)
        ks = np.concatenate(cand_k)
        ss = np.concatenate(cand)
        inside = np.isfinite(ss) & (ss > 0) & (ss < L[ks])
        ks, ss = ks[inside], ss[inside]
        v0, v1 = self.edge_start[edges], self.edge_start[edges + 1]
        nv = v1 - v0
        vk = np.repeat(np.arange(len(edges)), nv)
        vidx = np.repeat(v0 - np.cumsum(nv) + nv, nv) + np.arange(nv.sum())
        split = self.vertex_split[vidx]
        vk, vidx = vk[split], vidx[split]
        ks = np.concatenate([vk, ks])
        ss = np.concatenate([self.vertex_cum[vidx], ss])
        # 2. split where the budget crosses 0 and the cap (it is linear between offsets)
        ks, ss = _sorted_unique(ks, ss)
        r = limit - cost(ks, ss)
        same = ks[1:] == ks[:-1]
        a, b = r[:-1], r[1:]
        new_k, new_s = [], []
        for level in (0.0, cap):
            cross = same & ((a - level) * (b - level) < 0)
            t = (level - a[cross]) / (b[cross] - a[cross])
            new_k.append(ks[:-1][cross])
            new_s.append(ss[:-1][cross] + t * (ss[1:][cross] - ss[:-1][cross]))
        ks = np.concatenate([ks, *new_k])
        ss = np.concatenate([ss, *new_s])
        ks, ss = _sorted_unique(ks, ss)
        r = np.clip(limit - cost(ks, ss), 0.0, cap)
        xy, along, chord = self._points_at(edges[ks], ss)
        # 3. regions of the plane wholly inside the area are taken whole (no pieces)
        ends = _ends_of(net, edges)
        whole_e, whole_n = self._whole_regions(edges, ks, r, ends, D(ends), limit)
        whole_u = whole_n[np.searchsorted(ends, net.edge_u[edges])]
        whole_v = whole_n[np.searchsorted(ends, net.edge_v[edges])]
        need = ~(whole_e & whole_u & whole_v)  # pieces of an edge with a region not taken whole
        # 4. wedges at interior vertices (the outside of a bend; offsets from the vertices)
        vkeys = self.edge_base[edges[ks]] + ss
        at_vertex = np.searchsorted(self.vertex_key, vkeys)
        at_vertex = np.clip(at_vertex, 0, len(self.vertex_key) - 1)
        h = np.flatnonzero((np.abs(self.vertex_key[at_vertex] - vkeys) <= 1e-7) & need[ks])
        vi = at_vertex[h]
        c_start, c_width = self.vertex_cone[0][vi], self.vertex_cone[1][vi]
        wedge = (r[h] > 0) & (c_width > 1e-6)
        h, vi = h[wedge], vi[wedge]
        arcs = _Arcs.around(self.coords[vi], r[h], c_start[wedge], c_width[wedge],
                            self.arc_segments)
        # 5. strips over pieces with any budget, one per run of pieces along a chord, each
        # with the wedge at its end where there is one; the other wedges on their own
        same = (ks[1:] == ks[:-1]) & ((ss[1:] - ss[:-1]) > _EPS)
        wide = r > _EPS_WIDTH
        piece = np.flatnonzero(same & (wide[:-1] | wide[1:]) & need[ks[:-1]])
        piece = piece[np.hypot(*(xy[piece + 1] - xy[piece]).T) > _EPS]
        traps, trap_first, attached = _strips(xy, along, chord, r, piece, arcs, h)
        trap_k = ks[trap_first]
        v_sect, v_k = arcs.sectors(~attached), ks[h[~attached]]
        # 6. sectors at nodes (from D)
        part_n = reached[~whole_n[np.searchsorted(ends, reached)]]
        node_r = np.clip(limit - D(part_n), 0.0, cap)
        n_sect, n_keep = self._sectors(net.node_xy[part_n], node_r, self.node_cone[0][part_n],
                                       self.node_cone[1][part_n])
        pieces = np.concatenate([traps, v_sect, n_sect])
        if self.regions is None:
            return _assemble(np.empty(0, dtype=object), pieces)
        # each piece only where its street is the nearest (the region it is clipped to)
        ends_whole = (whole_e, whole_u, whole_v)
        t_i, t_key = self._region_of(edges, trap_k, *ends_whole)
        v_i, v_key = self._region_of(edges, v_k, *ends_whole)
        pieces = np.concatenate([traps[t_i], v_sect[v_i], n_sect])
        keys = np.concatenate([t_key, v_key, net.n_edges + part_n[n_keep]])
        whole = np.concatenate([self.regions.edge_own[edges[whole_e]],
                                self.regions.node[ends[whole_n]]])
        return _assemble(whole, self._clipped(pieces, keys))

    def _region_of(self, edges: np.ndarray, k: np.ndarray, whole_e: np.ndarray,
                   whole_u: np.ndarray, whole_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The regions the pieces of ``edges[k]`` are clipped to: (piece index, region key).

        A piece belongs to its edge's region (key: the edge), unless that region is
        taken whole: then it is needed only inside its end nodes' regions that are not
        (key: ``n_edges`` + the node), so it may be listed twice or not at all.
        """
        net = self.network
        e = edges[k]
        part = np.flatnonzero(~whole_e[k])
        at_u = np.flatnonzero(whole_e[k] & ~whole_u[k])
        at_v = np.flatnonzero(whole_e[k] & ~whole_v[k])
        return (np.concatenate([part, at_u, at_v]),
                np.concatenate([e[part], net.n_edges + net.edge_u[e[at_u]],
                                net.n_edges + net.edge_v[e[at_v]]]))

    def _clipped(self, pieces: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """The union of the pieces of each region, clipped to that region.

        The same set as clipping every piece, with one overlay per region instead of
        one per piece, and fewer, simpler polygons left for the final union.
        """
        reg, n_edges = self.regions, self.network.n_edges
        assert reg is not None
        united, keys = _union_groups(pieces, keys)
        region = np.empty(len(keys), dtype=object)
        is_edge = keys < n_edges
        region[is_edge] = reg.edge[keys[is_edge]]
        region[~is_edge] = reg.node[keys[~is_edge] - n_edges]
        return shapely.intersection(united, region)

    def _whole_regions(
        self, edges: np.ndarray, ks: np.ndarray, r: np.ndarray, ends: np.ndarray,
        end_cost: np.ndarray, limit: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which nearest-street regions lie wholly inside the area.

        The budget ``r`` is linear between the offsets of ``ks``, so its minimum along
        an edge is the minimum at those offsets. An edge's own region lies within
        ``edge_depth`` of the edge: when the budget never drops below that (plus the
        simplification tolerance), every point of the region is within its nearest
        piece. A node's region lies within ``node_depth`` of the node and a point of it
        projects onto an incident street no farther than that from the node, where the
        budget is at least the node's less that distance: at a point ``t`` along the
        street and ``h`` off it, ``t**2 + h**2 <= depth**2``, so a budget of ``sqrt(2)``
        times the depth at the node covers the region.

        Returns
        -------
        whole_e, whole_n
            Masks over ``edges`` and over ``ends`` (their sorted end nodes).
        """
        reg = self.regions
        if reg is None or not self.whole_regions:
            return np.zeros(len(edges), bool), np.zeros(len(ends), bool)
        margin = self.tolerance_m + _WHOLE_MARGIN_M
        first = np.ones(len(ks), dtype=bool)
        first[1:] = ks[1:] != ks[:-1]
        min_r = np.zeros(len(edges))
        if len(ks):
            min_r[ks[first]] = np.minimum.reduceat(r, np.flatnonzero(first))
        whole_e = min_r >= reg.edge_depth[edges] + margin
        r_end = np.clip(limit - end_cost, 0.0, self.max_snap_m)
        whole_n = r_end >= np.sqrt(2.0) * reg.node_depth[ends] + margin
        return whole_e, whole_n

    def _points_at(
        self, edge: np.ndarray, s: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points at offsets ``s`` along edges ``edge``, on the chords between kept vertices.

        Returns the coordinates, the unit direction of each point's chord (the one
        running on from the point) and the chord's id (its first vertex). Pieces of
        one chord share the direction exactly, so they join without slivers.
        """
        key = self.edge_base[edge] + s
        i = np.searchsorted(self.vertex_key, key, side="right") - 1
        i = np.clip(i, self.edge_start[edge], self.edge_start[edge + 1] - 2)
        a, b = self.kept_prev[i], self.kept_next[i + 1]
        span = self.vertex_cum[b] - self.vertex_cum[a]
        ok = span > 0
        t = np.where(ok, (s - self.vertex_cum[a]) / np.where(ok, span, 1.0), 0.0)
        t = np.clip(t, 0.0, 1.0)[:, None]
        d = self.coords[b] - self.coords[a]
        norm = np.hypot(d[:, 0], d[:, 1])
        unit = d / np.where(norm > 0, norm, 1.0)[:, None]
        return self.coords[a] + t * d, unit, a

    def _sectors(
        self, center: np.ndarray, radius: np.ndarray, start: np.ndarray, width: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Circular sectors (see :class:`_Arcs`); the mask of those with an area."""
        keep = (radius > 0) & (width > 1e-6)
        arcs = _Arcs.around(center[keep], radius[keep], start[keep], width[keep],
                            self.arc_segments)
        return arcs.sectors(), keep


@dataclass(frozen=True)
class _Arcs:
    """Arcs of circles around centres, one chord per ``pi / (2 * arc_segments)`` of angle.

    A half circle (a dead end) gets ``2 * arc_segments`` chords, the slight bend of a
    street (most arcs: a few degrees) one: every chord spans at most the same angle, so
    the largest gap between arc and chord is the same everywhere. ``xy`` holds the
    points of every arc in turn, from its start angle on; ``offset`` and ``count`` say
    where each arc's points are.
    """

    centre: np.ndarray
    xy: np.ndarray
    offset: np.ndarray
    count: np.ndarray

    @classmethod
    def around(cls, centre: np.ndarray, radius: np.ndarray, start: np.ndarray,
               width: np.ndarray, arc_segments: int) -> _Arcs:
        step = np.pi / (2 * arc_segments)
        count = np.maximum(np.ceil(width / step - 1e-9).astype(np.int64), 1) + 1
        offset = np.cumsum(count) - count
        owner = np.repeat(np.arange(len(centre)), count)
        t = (np.arange(int(count.sum())) - offset[owner]) / (count[owner] - 1)
        ang = start[owner] + width[owner] * t
        xy = centre[owner] + radius[owner][:, None] * np.column_stack([np.cos(ang), np.sin(ang)])
        return cls(centre, xy, offset, count)

    def sectors(self, which: np.ndarray | None = None) -> np.ndarray:
        """Sector polygons (the centre, the arc, the centre again) of the arcs ``which``
        (a mask; all when None)."""
        idx = np.arange(len(self.centre)) if which is None else np.flatnonzero(which)
        if len(idx) == 0:
            return np.empty(0, dtype=object)
        m = self.count[idx]
        ring = np.repeat(np.arange(len(idx)), m + 2)
        q = np.arange(int((m + 2).sum())) - np.repeat(np.cumsum(m + 2) - (m + 2), m + 2)
        on_arc = (q > 0) & (q <= m[ring])
        arc_i = self.offset[idx][ring] + np.clip(q - 1, 0, m[ring] - 1)
        xy = np.where(on_arc[:, None], self.xy[arc_i], self.centre[idx][ring])
        return shapely.polygons(shapely.linearrings(xy, indices=ring))


def _strips(
    xy: np.ndarray, along: np.ndarray, chord: np.ndarray, r: np.ndarray, piece: np.ndarray,
    arcs: _Arcs | None = None, arc_at: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polygons of the points within ``r`` of runs of pieces along one chord.

    Piece ``j`` runs from point ``j`` to point ``j + 1`` with the half-width ``r``
    linear between them: a trapezoid. Consecutive pieces on the same chord share
    their end and its normal, so a run of them, split where the width drops to 0,
    is one simple polygon: the left offsets forward, the right offsets back.

    The wedge of ``arcs`` centred at point ``arc_at[i]`` is added to the run that ends
    there (the outside of a bend): its arc starts at one of the run's end corners, so
    the ring goes from that corner along the arc to the centre (or from the centre
    along the arc to the corner) and stays simple. Fewer pieces for GEOS to unite.

    Returns the polygons, the first piece of each and which wedges were added.
    """
    n_arcs = 0 if arcs is None else len(arcs.centre)
    attached = np.zeros(n_arcs, dtype=bool)
    if len(piece) == 0:
        return np.empty(0, dtype=object), piece, attached
    joined = np.zeros(len(piece), dtype=bool)
    joined[1:] = ((piece[1:] == piece[:-1] + 1) & (chord[piece[1:]] == chord[piece[:-1]])
                  & (r[piece[1:]] > _EPS_WIDTH))
    first = piece[~joined]
    last = np.concatenate([piece[:-1][~joined[1:]], [piece[-1]]])
    n = last - first + 2  # points per run
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    total = int(n.sum())
    run_of = np.repeat(np.arange(len(n)), n)
    q = np.arange(total) - start[run_of]
    pts = first[run_of] + q
    d = along[first][run_of]
    nrm = np.column_stack([-d[:, 1], d[:, 0]]) * r[pts][:, None]
    left, right = xy[pts] + nrm, xy[pts] - nrm
    back = start[run_of] + n[run_of] - 1 - q  # the right side, walked backwards
    coords = [left, right[back], left[start]]
    ring = [run_of, run_of, np.arange(len(n))]
    key = [q, n[run_of] + q, 2 * n]
    if arcs is not None and arc_at is not None and n_arcs:
        w_xy, w_run, w_key, attached = _wedges_at_ends(arcs, arc_at, last + 1, n,
                                                       left[start + n - 1], right[start + n - 1],
                                                       xy, r)
        coords.append(w_xy)
        ring.append(w_run)
        key.append(w_key)
    coords_, ring_, key_ = np.concatenate(coords), np.concatenate(ring), np.concatenate(key)
    order = np.lexsort((key_, ring_))
    polys = shapely.polygons(shapely.linearrings(coords_[order], indices=ring_[order]))
    return polys, first, attached


def _wedges_at_ends(
    arcs: _Arcs, arc_at: np.ndarray, end: np.ndarray, n: np.ndarray, left_end: np.ndarray,
    right_end: np.ndarray, xy: np.ndarray, r: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ring points that add each wedge to the run ending at its centre.

    ``end`` is the last point of each run (ascending), ``left_end`` and ``right_end``
    its end corners. Returns the points, their run, their ordering key (between the
    run's last left point, key ``n - 1``, and its last right point, key ``n``) and
    which wedges were added (those whose centre ends a run with a width).
    """
    j = np.clip(np.searchsorted(end, arc_at), 0, len(end) - 1)
    ok = (end[j] == arc_at) & (r[arc_at] > _EPS_WIDTH)
    w, run = np.flatnonzero(ok), j[ok]
    m = arcs.count[w]
    a0 = arcs.xy[arcs.offset[w]]
    a1 = arcs.xy[arcs.offset[w] + m - 1]

    def far(p: np.ndarray, c: np.ndarray) -> np.ndarray:
        return np.hypot(*(p - c).T)

    lc, rc = left_end[run], right_end[run]
    on_left = np.minimum(far(a0, lc), far(a1, lc)) <= np.minimum(far(a0, rc), far(a1, rc))
    corner = np.where(on_left[:, None], lc, rc)
    from_start = far(a0, corner) <= far(a1, corner)  # the arc starts at the corner
    k = np.repeat(np.arange(len(w)), m)
    u = np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
    mk = m[k]
    # left: the arc from the corner (its first point left out), then the centre;
    # right: the centre, then the arc back to the corner (its last point left out)
    t = np.where(on_left[k], u + 1, mk - u)  # position along the arc from the corner
    centre = np.where(on_left[k], u == mk - 1, u == 0)
    arc_i = arcs.offset[w][k] + np.where(from_start[k], t, mk - 1 - t).clip(0, mk - 1)
    pts = np.where(centre[:, None], xy[end[run]][k], arcs.xy[arc_i])
    key = (n[run][k] - 1) + (u + 1) / (mk + 1)
    attached = np.zeros(len(arcs.centre), dtype=bool)
    attached[w] = True
    return pts, run[k], key, attached


def _ends_of(network: StreetNetwork, edges: np.ndarray) -> np.ndarray:
    """Sorted unique end nodes of ``edges``."""
    return np.unique(np.concatenate([network.edge_u[edges], network.edge_v[edges]]))


def _union_groups(geoms: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of ``geoms`` per value of ``codes``: (unions, their codes, ascending).

    Pairs within a group are united at once (one vectorised call per level, the
    groups halving at each), so small groups cost no Python loop. A group whose union
    lost one of its members (:func:`eldercare_coverage._geometry.lost_inputs`) is united again,
    snap-rounded.
    """
    order = np.argsort(codes, kind="stable")
    members, member_codes = geoms[order], codes[order]
    geoms, codes = members.copy(), member_codes.copy()
    while len(codes) > 1:
        next_same = codes[1:] == codes[:-1]
        if not next_same.any():
            break
        i = np.arange(len(codes))
        first = np.ones(len(codes), dtype=bool)
        first[1:] = ~next_same
        even = (i - np.maximum.accumulate(np.where(first, i, 0))) % 2 == 0
        a = np.flatnonzero(even[:-1] & next_same)
        try:
            geoms[a] = shapely.union(geoms[a], geoms[a + 1])
        except shapely.errors.GEOSException:  # one pair at a time, snap-rounded if need be
            geoms[a] = [checked_union(np.array([x, y], dtype=object))
                        for x, y in zip(geoms[a], geoms[a + 1], strict=True)]
        geoms, codes = geoms[even], codes[even]
    of = np.searchsorted(codes, member_codes)
    for g in np.flatnonzero(lost_inputs(geoms, members, of)):
        geoms[g] = shapely.union_all(members[of == g], grid_size=GRID_M)
    return geoms, codes


def _assemble(whole: np.ndarray, pieces: np.ndarray) -> shapely.Geometry:
    """Union of whole regions (which tile without overlap) and clipped pieces.

    The whole regions are dissolved first (a coverage union, linear time), then
    united with the pieces in one call. The result is snapped to a millimetre grid:
    the union of pieces clipped along shared region boundaries can leave vertices
    within nanometres of other edges, valid here but self-intersecting once
    reprojected to degrees; snap-rounding keeps every vertex clear of the other edges.
    """
    pieces = pieces[~shapely.is_empty(pieces)] if len(pieces) else pieces
    body = dissolve(whole) if len(whole) else shapely.Polygon()
    if len(pieces):
        body = checked_union(np.concatenate([np.array([body], dtype=object), pieces]))
    return polygonal(shapely.set_precision(body, GRID_M))


def _sorted_unique(k: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((s, k))
    k, s = k[order], s[order]
    keep = np.ones(len(k), dtype=bool)
    keep[1:] = (k[1:] != k[:-1]) | (s[1:] - s[:-1] > _EPS)
    return k[keep], s[keep]


def _polar_cones(
    group: np.ndarray, dirs: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Polar cone {x: x.d <= 0 for every direction d} of each group of directions.

    Returns the start angle and the angular width of each group's cone (width 0
    when the directions do not fit in an open half-plane, NaN start then).
    """
    start = np.full(n, np.nan)
    width = np.zeros(n)
    ok = np.hypot(dirs[:, 0], dirs[:, 1]) > _EPS
    group, dirs = group[ok], dirs[ok]
    if len(group) == 0:
        return start, width
    ang = np.arctan2(dirs[:, 1], dirs[:, 0])
    order = np.lexsort((ang, group))
    g, a = group[order], ang[order]
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    firsts = np.flatnonzero(first)
    lasts = np.concatenate([firsts[1:] - 1, [len(g) - 1]])
    # gap after each direction to the next one of its group (wrapping around)
    nxt = np.arange(1, len(g) + 1)
    nxt[lasts] = firsts
    gap = np.mod(a[nxt] - a, 2 * np.pi)
    gap[lasts] = np.where(firsts == lasts, 2 * np.pi, a[firsts] + 2 * np.pi - a[lasts])
    # largest gap per group
    grp_id = np.cumsum(first) - 1
    best = pd.Series(gap).groupby(grp_id).idxmax().to_numpy()
    big = gap[best] > np.pi + 1e-9
    gs = g[best]
    start[gs[big]] = a[best][big] + np.pi / 2
    width[gs[big]] = gap[best][big] - np.pi
    return start, width


def service_areas(
    network: StreetNetwork,
    locations: NetworkLocations,
    limits: Sequence[float],
    *,
    max_snap_m: float,
    arc_segments: int = 4,
    progress: bool = False,
    builder: ServiceAreaBuilder | None = None,
    n_jobs: int | None = None,
) -> list[list[shapely.Geometry]]:
    """Service-area polygons of every facility for every limit.

    Parameters
    ----------
    network
        Projected street network.
    locations
        Snapped facilities; unsnapped ones get empty polygons.
    limits
        Limits in metres of walking.
    max_snap_m
        Cap of the access leg.
    arc_segments
        Rounded corners get one chord per ``pi / (2 * arc_segments)`` of angle.
    progress
        Show a progress bar.
    builder
        A :class:`ServiceAreaBuilder` to reuse for this network.
    n_jobs
        Threads (None: every core).

    Returns
    -------
    list of lists
        ``result[i][j]`` is facility i's polygon for ``limits[j]`` (network CRS).
    """
    builder = builder or ServiceAreaBuilder(network, max_snap_m=max_snap_m,
                                            arc_segments=arc_segments)
    jobs = [(locations.take(np.array([i])), list(limits)) for i in range(len(locations))]
    return run_threaded(builder.polygons, jobs, n_jobs=n_jobs, progress=progress,
                        desc="service areas")
