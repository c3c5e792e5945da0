"""Which places each of many single sources reaches within a limit: the coverage matrix.

Site selection needs, for every candidate site on its own, the set of population pixels
within the circle's limit of it, measured exactly as the distance field measures them
(:mod:`eldercare_coverage.isochrones`): ``snap(c) + d_G(p_c, p_x) + snap(x)``, partial
edges counted from the projection points, a candidate on a pixel's own edge reaching it
directly along the edge. A multi-source search gives only the *nearest* source, so here
every source has its own bounded search:

* Sources are grouped by a grid of cells as wide as the reach radius (the straight-line
  distance no place within the limit lies beyond: the limit itself for walking, the
  limit at the fastest edge for delivery, :meth:`~eldercare_coverage.modes.ModeNetwork.reach_m`);
  a chunk of up to ``chunk`` sources of one cell is searched on the sub-network of the
  nodes within ``radius + half the chunk's extent`` of the chunk's centre. A path no
  costlier than the limit never leaves the disc of that radius around its source, so the
  sub-network gives the same distances as the whole network (the same local search as a
  facility's own area in :mod:`eldercare_coverage.isochrones`).
* One scipy Dijkstra per chunk (``limit`` = the circle's limit; each source a virtual
  node joined to both ends of its edge with the same seeds as
  :func:`~eldercare_coverage.isochrones.nearest_source_reach`) gives every reached node.
* A target on edge ``(u, v)`` is within the limit of a source when
  ``min(D[u] + s, D[v] + L - s, direct) + snap`` is: only the edges incident to reached
  nodes are visited, so the work grows with the pairs found, not sources x targets.

The result is a sparse boolean matrix, targets x sources. ``tests/test_siting.py`` holds
sampled columns identical to :class:`~eldercare_coverage.field.FacilityReach` with that
source alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from .costs import EdgeCosts
from .isochrones import _along, _augment, _graph, _seeds
from .network import StreetNetwork
from .snapping import NetworkLocations

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 48  # sources per bounded search: the dense result is chunk x sub-network nodes


@dataclass(frozen=True, eq=False)
class ReachIndex:
    """A network and a set of targets, prepared for many bounded single-source searches.

    Parameters
    ----------
    network
        The projected network.
    targets
        The places asked about (population pixels on their streets).
    costs
        Edge costs (None: walking, metres both ways).
    """

    network: StreetNetwork
    targets: NetworkLocations
    costs: EdgeCosts | None = None
    # built from the above once (__post_init__)
    adjacency: sparse.csr_matrix = field(init=False)
    forward: np.ndarray | None = field(init=False)  # cost per metre (None: walking, 1)
    backward: np.ndarray | None = field(init=False)
    access: float = field(init=False)  # metres of access leg per unit of cost
    target_order: np.ndarray = field(init=False)  # targets on the network, by edge
    edge_ptr: np.ndarray = field(init=False)  # edge e's targets: target_order[ptr[e]:ptr[e+1]]
    node_edges: np.ndarray = field(init=False)  # node n's edges: node_edges[ptr[n]:ptr[n+1]]
    node_ptr: np.ndarray = field(init=False)
    arrival: np.ndarray | None = field(init=False)  # junction cost per node (delivery)
    tree: cKDTree = field(init=False)

    def __post_init__(self) -> None:
        net = self.network
        adjacency, forward, backward, access = _graph(net, self.costs)
        on = np.flatnonzero(self.targets.on_network)
        order = on[np.argsort(self.targets.edge[on], kind="stable")]
        edge_ptr = np.zeros(net.n_edges + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.targets.edge[order], minlength=net.n_edges), out=edge_ptr[1:])
        ends = np.concatenate([net.edge_u, net.edge_v])
        by_node = np.argsort(ends, kind="stable")
        node_ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(ends, minlength=net.n_nodes), out=node_ptr[1:])
        arrival = self.costs.arrival(net) if self.costs is not None \
            and self.costs.junction_cost else None
        for name, value in (("adjacency", adjacency.tocsr()), ("forward", forward),
                            ("backward", backward), ("access", access),
                            ("target_order", order), ("edge_ptr", edge_ptr),
                            ("node_edges", (by_node % net.n_edges).astype(np.int64)),
                            ("node_ptr", node_ptr), ("arrival", arrival),
                            ("tree", cKDTree(net.node_xy))):
            object.__setattr__(self, name, value)

    def matrix(self, sources: NetworkLocations, source_xy: np.ndarray, limit_cost: float,
               *, radius_m: float | None = None, chunk: int = DEFAULT_CHUNK
               ) -> sparse.csc_matrix:
        """Targets x sources, True where the target is within ``limit_cost`` of the source.

        Parameters
        ----------
        sources
            The sources on their streets (off-network ones reach nothing).
        source_xy
            Their coordinates in the network's CRS (where they were snapped from).
        limit_cost
            The limit in the engine's cost (metres of walking, seconds of delivery).
        radius_m
            Straight-line distance no place within the limit lies beyond (default: the
            limit, right for walking).
        chunk
            Sources per bounded search.
        """
        radius = float(limit_cost if radius_m is None else radius_m)
        valid = np.flatnonzero(sources.on_network)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for part in _chunks(np.asarray(source_xy, dtype=float), valid, radius, chunk):
            t, s = self._chunk_pairs(sources.take(part), source_xy[part], limit_cost, radius)
            rows.append(t)
            cols.append(part[s])
        row = np.concatenate([np.empty(0, np.int64), *rows])
        col = np.concatenate([np.empty(0, np.int64), *cols])
        return sparse.csc_matrix((np.ones(len(row), dtype=bool), (row, col)),
                                 shape=(len(self.targets), len(sources)))

    def _chunk_pairs(self, sources: NetworkLocations, xy: np.ndarray, limit: float,
                     radius: float) -> tuple[np.ndarray, np.ndarray]:
        """(target, source) pairs within the limit for one chunk of nearby sources."""
        net = self.network
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        sub = np.sort(np.asarray(self.tree.query_ball_point(
            (lo + hi) / 2, radius + float(np.hypot(*(hi - lo))) / 2 + 1.0), dtype=np.int64))
        local = np.full(net.n_nodes, -1, dtype=np.int64)
        local[sub] = np.arange(len(sub))
        src, node, cost = _seeds(net, sources, self.forward, self.backward, self.access)
        if self.arrival is not None:
            cost = cost + self.arrival[node]  # the junction at the source edge's end
        inside = local[node] >= 0  # a seed outside the disc costs more than the limit
        n_src, n_sub = len(sources), len(sub)
        aug = _augment(self.adjacency[sub][:, sub], src[inside], local[node[inside]],
                       cost[inside], n_src)
        dist = dijkstra(aug, directed=True, indices=np.arange(n_sub, n_sub + n_src),
                        limit=limit)[:, :n_sub]
        r, j = np.nonzero(np.isfinite(dist))
        # every edge at a reached node, once per source
        g = sub[j]
        count = self.node_ptr[g + 1] - self.node_ptr[g]
        pos = np.repeat(self.node_ptr[g] - np.cumsum(count) + count, count) \
            + np.arange(int(count.sum()))
        key = np.unique(np.repeat(r, count) * net.n_edges + self.node_edges[pos])
        pr, pe = key // net.n_edges, key % net.n_edges
        lu, lv = local[net.edge_u[pe]], local[net.edge_v[pe]]
        d_u = np.where(lu >= 0, dist[pr, np.maximum(lu, 0)], np.inf)
        d_v = np.where(lv >= 0, dist[pr, np.maximum(lv, 0)], np.inf)
        # the targets on those edges
        count = self.edge_ptr[pe + 1] - self.edge_ptr[pe]
        pos = np.repeat(self.edge_ptr[pe] - np.cumsum(count) + count, count) \
            + np.arange(int(count.sum()))
        target = self.target_order[pos]
        pr, pe = np.repeat(pr, count), np.repeat(pe, count)
        off = self.targets.offset_m[target]
        via_u = np.repeat(d_u, count) + _along(self.forward, pe, off)
        via_v = np.repeat(d_v, count) + _along(
            self.backward, pe, np.maximum(net.edge_length_m[pe] - off, 0.0))
        best = np.minimum(via_u, via_v)
        # a source on the target's own edge also reaches it along the edge
        dr, dt, direct = self._same_edge(sources)
        target, pr = np.concatenate([target, dt]), np.concatenate([pr, dr])
        best = np.concatenate([best, direct])
        snap = self.targets.snap_m[target]
        total = best + (snap if self.costs is None else snap / self.access)
        keep = total <= limit
        pairs = np.unique(target[keep] * n_src + pr[keep])
        return pairs // n_src, pairs % n_src

    def _same_edge(self, sources: NetworkLocations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source, target, cost before the target's leg) of targets on a source's edge."""
        idx = np.flatnonzero(sources.on_network)
        e = sources.edge[idx]
        count = self.edge_ptr[e + 1] - self.edge_ptr[e]
        pos = np.repeat(self.edge_ptr[e] - np.cumsum(count) + count, count) \
            + np.arange(int(count.sum()))
        target = self.target_order[pos]
        src = np.repeat(idx, count)
        e = np.repeat(e, count)
        ahead = self.targets.offset_m[target] - sources.offset_m[src]  # > 0: towards v
        cost = sources.snap_m[src] / self.access + np.where(
            ahead >= 0, _along(self.forward, e, ahead), _along(self.backward, e, -ahead))
        return src, target, cost


def _chunks(xy: np.ndarray, valid: np.ndarray, cell_m: float, chunk: int) -> list[np.ndarray]:
    """Indices of ``valid`` sources in groups of at most ``chunk``, each within one grid
    cell of ``cell_m`` (so a chunk's sub-network is a disc not much wider than one)."""
    if len(valid) == 0:
        return []
    cell = np.floor(xy[valid] / max(cell_m, 1.0)).astype(np.int64)
    cell -= cell.min(axis=0)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    order = np.argsort(key, kind="stable")
    key, ordered = key[order], valid[order]
    bounds = np.flatnonzero(np.diff(key)) + 1
    out = []
    for group in np.split(ordered, bounds):
        out.extend(np.array_split(group, int(np.ceil(len(group) / chunk))))
    return out
