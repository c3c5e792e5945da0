"""Independent references.

- Network distances: networkx on a graph with the projection points inserted as nodes,
  and a brute-force nearest-segment snap in numpy. Nothing here calls coverage.snapping or
  coverage.isochrones.
- Street networks: osmnx's own path for a walking network (``graph_from_xml`` with every
  way both ways, DESIGN's walking rule restated here per way, ``simplify_graph``,
  ``project_graph``, ``convert.to_undirected``), and a complete street XML written from a
  PBF with pyosmium. Nothing here calls coverage.network or coverage.osm_reader.
"""

from __future__ import annotations

import collections
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
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


def reference_directed_times(geoms, edge_u, edge_v, seconds_forward, seconds_backward,
                             access_m_s: float, src_xy, tgt_xy,
                             *, max_snap_m: float = np.inf) -> np.ndarray:
    """Travel time from the nearest source to each target with networkx on a directed graph.

    Every edge (geometry from u to v) is cut at the projection points of the sources and
    targets on it; each piece costs its share of the edge's seconds in each allowed
    direction (``inf``: not allowed); access legs cost their straight length / ``access_m_s``.
    Independent of the package: only :func:`brute_snap` and networkx.
    """
    G = nx.MultiDiGraph()
    pts = np.vstack([src_xy, tgt_xy])
    e, s, d = brute_snap(geoms, pts)
    for edge, g in enumerate(geoms):
        length = float(shapely.length(g))
        ks = np.flatnonzero(e == edge)
        ks = ks[np.argsort(s[ks])]
        chain = [(int(edge_u[edge]), 0.0)] + [(("p", int(k)), float(s[k])) for k in ks] \
            + [(int(edge_v[edge]), length)]
        for (a, sa), (b, sb) in zip(chain[:-1], chain[1:], strict=True):
            part = (sb - sa) / length if length > 0 else 0.0
            if np.isfinite(seconds_forward[edge]):
                G.add_edge(a, b, weight=seconds_forward[edge] * part)
            if np.isfinite(seconds_backward[edge]):
                G.add_edge(b, a, weight=seconds_backward[edge] * part)
    n_src = len(src_xy)
    for k in range(len(pts)):
        if d[k] <= max_snap_m:
            if k < n_src:
                G.add_edge(("x", k), ("p", k), weight=d[k] / access_m_s)
            else:
                G.add_edge(("p", k), ("x", k), weight=d[k] / access_m_s)
    sources = [("x", k) for k in range(n_src) if G.has_node(("x", k))]
    lengths = nx.multi_source_dijkstra_path_length(G, sources, weight="weight") if sources else {}
    return np.array([lengths.get(("x", n_src + k), np.inf) for k in range(len(tgt_xy))])


# DESIGN.md "Walkable ways", restated: osmnx's walk filter per OSM way, foot=yes|designated|
# permissive lets in what access or class would keep out (a bare cycleway does not walk)
WALK_NEVER = frozenset({"abandoned", "bus_guideway", "construction", "corridor", "elevator",
                        "motorway", "motorway_link", "no", "planned", "platform", "proposed",
                        "raceway", "razed", "rest_area", "services"})
WALK_TAGS = ("highway", "foot", "area", "access", "service", "sidewalk", "sidewalk:both",
             "sidewalk:left", "sidewalk:right")


def reference_walkable(tags: dict) -> bool:
    """DESIGN's walking rule for one OSM way's tags."""
    highway = tags.get("highway")
    if highway is None or highway in WALK_NEVER:
        return False
    if tags.get("area") == "yes" or tags.get("foot") == "no":
        return False
    if any(tags.get(k) == "separate" for k in WALK_TAGS[5:]):
        return False
    foot_allowed = tags.get("foot") in ("yes", "designated", "permissive")
    restricted = (highway == "cycleway" or tags.get("access") == "private"
                  or tags.get("service") == "private")
    return foot_allowed or not restricted


def osmnx_walk_network(xml: str | Path) -> nx.MultiGraph:
    """osmnx's walking network of an OSM XML file: projected, undirected, simplified."""
    before = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*before, *WALK_TAGS]))
    try:
        G = ox.graph_from_xml(xml, simplify=False, retain_all=True, bidirectional=True)
    finally:
        ox.settings.useful_tags_way = before
    # unsimplified edges carry their own way's tags: the rule applies per OSM way
    G.remove_edges_from([(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
                         if not reference_walkable(d)])
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    return ox.convert.to_undirected(ox.project_graph(ox.simplify_graph(G)))


def osmnx_edge_multiset(U: nx.MultiGraph) -> collections.Counter:
    """(smaller end id, larger end id, length rounded to cm) of every edge, counted."""
    out: collections.Counter = collections.Counter()
    for u, v, d in U.edges(data=True):
        geom = d.get("geometry") or shapely.LineString(
            [(U.nodes[u]["x"], U.nodes[u]["y"]), (U.nodes[v]["x"], U.nodes[v]["y"])])
        out[(min(u, v), max(u, v), round(geom.length, 2))] += 1
    return out


def complete_street_xml(pbf: str | Path, xml: str | Path) -> int:
    """Write a PBF's highway ways, cut at nodes missing from it, with their nodes as XML.

    osmnx refuses ways with missing nodes; each run of a clipped way between them becomes a
    way of its own (a new negative id). Returns the number of clipped ways.
    """
    clipped = 0
    with osmium.BackReferenceWriter(str(xml), ref_src=str(pbf), overwrite=True) as writer:
        ways = (osmium.FileProcessor(str(pbf), osmium.osm.NODE | osmium.osm.WAY)
                .with_locations()
                .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                .with_filter(osmium.filter.KeyFilter("highway")))
        for way in ways:
            runs, run = [], []
            for node in way.nodes:
                if node.location.valid():
                    run.append(node.ref)
                    continue
                runs.append(run)
                run = []
            runs.append(run)
            runs = [r for r in runs if len(r) >= 2]
            clipped += not (len(runs) == 1 and len(runs[0]) == len(way.nodes))
            for k, nodes in enumerate(runs):
                writer.add_way(osmium.osm.mutable.Way(
                    base=way, id=way.id if k == 0 else -(way.id * 1000 + k), nodes=nodes))
    return clipped
