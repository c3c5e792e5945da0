"""An independent reference for network distances: networkx on a graph with the
projection points inserted as nodes, and a brute-force nearest-segment snap in numpy.

Nothing here calls coverage.snapping or coverage.isochrones.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import shapely


def brute_snap(geoms: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest edge, offset along it and distance, by checking every segment in numpy."""
    seg_edge, a, b, base = [], [], [], []
    for e, g in enumerate(geoms):
        c = np.asarray(g.coords)
        lens = np.hypot(*np.diff(c, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(lens)])
        for k in range(len(c) - 1):
            seg_edge.append(e)
            a.append(c[k])
            b.append(c[k + 1])
            base.append(cum[k])
    seg_edge, a, b, base = map(np.asarray, (seg_edge, a, b, base))
    ab = b - a
    ab2 = np.maximum((ab**2).sum(1), 1e-300)
    out_e, out_s, out_d = [], [], []
    for p in xy:
        t = np.clip(((p - a) * ab).sum(1) / ab2, 0, 1)
        q = a + t[:, None] * ab
        d = np.hypot(*(p - q).T)
        k = int(np.argmin(d))
        out_e.append(seg_edge[k])
        out_s.append(base[k] + t[k] * np.sqrt(ab2[k]))
        out_d.append(d[k])
    return np.array(out_e), np.array(out_s), np.array(out_d)


def reference_distances(net, src_xy, tgt_xy, *, max_snap_m: float = np.inf) -> np.ndarray:
    """Distance from the nearest source to each target with networkx (inf if none)."""
    geoms = net.edge_geometry
    G = nx.MultiGraph()
    G.add_nodes_from(range(net.n_nodes))
    for e in range(net.n_edges):
        G.add_edge(int(net.edge_u[e]), int(net.edge_v[e]), key=("e", e),
                   weight=float(shapely.length(geoms[e])))
    pts = np.vstack([src_xy, tgt_xy])
    e, s, d = brute_snap(geoms, pts)
    # insert projection points edge by edge, in offset order
    for edge in np.unique(e):
        ks = np.flatnonzero(e == edge)
        ks = ks[np.argsort(s[ks])]
        u, v = int(net.edge_u[edge]), int(net.edge_v[edge])
        length = float(shapely.length(geoms[edge]))
        G.remove_edge(u, v, key=("e", edge))
        prev, prev_s = u, 0.0
        for k in ks:
            G.add_edge(prev, ("p", k), weight=s[k] - prev_s)
            prev, prev_s = ("p", k), s[k]
        G.add_edge(prev, v, weight=length - prev_s)
    for k in range(len(pts)):
        if d[k] <= max_snap_m:
            G.add_edge(("x", k), ("p", k), weight=d[k])
    n_src = len(src_xy)
    sources = [("x", k) for k in range(n_src) if G.has_node(("x", k))]
    lengths = nx.multi_source_dijkstra_path_length(G, sources, weight="weight") if sources else {}
    return np.array([lengths.get(("x", n_src + k), np.inf) for k in range(len(tgt_xy))])
