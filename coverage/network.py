"""Street networks: load, keep what a mode can use, project to metres, flatten to arrays.

A :class:`StreetNetwork` is the engine's view of a street graph: node coordinates
and, per edge, its end nodes, its geometry (oriented from ``u`` to ``v``) and its
length in metres, all in a projected CRS. Walking networks are undirected: each
physical street appears once.

Sources: OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``) and PBF (``.osm.pbf``) read with
pyosmium straight into arrays (:mod:`eldercare_coverage.osm_reader`), and GraphML saved by
osmnx. Any osmnx graph can be passed to :func:`network_from_graph` (the seam for place
downloads, which return osmnx graphs too). Every reader keeps the same ways, with one rule
applied to each OSM way before simplification (:func:`walkable`, its values in
``settings.walk_*``), and simplifies as osmnx does for walking.

Lengths are the planar lengths of the projected edge geometries, so that partial
edges, access legs and whole edges are measured the same way (the UTM scale error
near a zone's edge is below 0.05 %).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from scipy import sparse

from ._errors import InputFileError, NetworkError
from .osm_reader import PBF_SUFFIXES, XML_SUFFIXES, network_format, read_ways, streets_from_ways
from .osm_rules import (
    DELIVERY_TAG_KEYS,
    WalkRule,
    delivery_usable,
    dismount,
    oneway_code,
    parse_maxspeed_kph,
    values_of,
    walkable,
)
from .settings import settings as _settings

if TYPE_CHECKING:
    import networkx

log = logging.getLogger(__name__)

MODES = ("walk", "delivery")  # the networks the readers build for the distance engine

@dataclass(eq=False)
class StreetNetwork:
    """Arrays of a projected street network, ready for shortest paths.

    Attributes
    ----------
    crs
        Projected CRS of all coordinates (metres).
    node_id
        OSM id of each node, shape (N,).
    node_xy
        Node coordinates, shape (N, 2), metres.
    edge_u, edge_v
        Node indices of each edge's ends, shape (E,); geometry runs from u to v.
    edge_length_m
        Planar length of each edge geometry, metres, shape (E,).
    edge_geometry
        LineString of each edge, shape (E,), object array.
    edge_highway
        OSM ``highway`` value of each edge (the first when several were merged).
    mode
        Travel mode the network was filtered for (``walk`` or ``delivery``).
    directed
        False for walking: every edge can be used both ways. True for delivery: the
        allowed directions are ``edge_oneway``; the engine's costs say what each
        direction costs (:class:`~eldercare_coverage.costs.EdgeCosts`), ``csr`` stays the
        undirected adjacency of lengths.
    source
        Where the network came from (file path or description).
    meta
        Free-form facts about the source (bounding box, OSM timestamp, ...).
    edge_oneway
        Delivery networks: the allowed direction of each edge (0 both, 1 only u -> v,
        -1 only v -> u), int8, shape (E,); None for walking.
    edge_maxspeed_kph
        Delivery networks: the ``maxspeed`` tag of each edge's way in km/h (NaN
        untagged), shape (E,); None for walking.
    edge_dismount
        Delivery networks: whether the e-bike is pushed along each edge (a footway:
        :func:`~eldercare_coverage.osm_rules.dismount`), bool, shape (E,); None for walking.
"""

    crs: pyproj.CRS
    node_id: np.ndarray
    node_xy: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_geometry: np.ndarray
    edge_highway: np.ndarray
    mode: str = "walk"
    directed: bool = False
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    edge_oneway: np.ndarray | None = None
    edge_maxspeed_kph: np.ndarray | None = None
    edge_dismount: np.ndarray | None = None

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(len(self.node_xy))

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return int(len(self.edge_u))

    @cached_property
    def csr(self) -> sparse.csr_matrix:
        """Adjacency matrix of edge lengths (metres), the shortest of parallel edges kept.

        Symmetric: every edge both ways (a directed network's allowed directions and
        costs are :class:`~eldercare_coverage.costs.EdgeCosts`). Self-loops are left out:
        they never shorten a path.
        """
        u, v, w = self.edge_u, self.edge_v, self.edge_length_m
        keep = u != v
        u, v, w = u[keep], v[keep], w[keep]
        u, v, w = np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w])
        return cheapest_edges_csr(u, v, w, (self.n_nodes, self.n_nodes))

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index of the edge geometries."""
        return shapely.STRtree(self.edge_geometry)

    def bounds(self) -> tuple[float, float, float, float]:
        """Bounding box of the nodes in the projected CRS."""
        x, y = self.node_xy[:, 0], self.node_xy[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def cheapest_edges_csr(row: np.ndarray, col: np.ndarray, weight: np.ndarray,
                       shape: tuple[int, int]) -> sparse.csr_matrix:
    """Sparse adjacency of weighted edges ``row -> col``, the cheapest of repeated pairs kept.

    scipy's constructors would *sum* repeated pairs, and its graph routines read an
    explicit zero as no edge: weights are floored at 1e-9 m so a zero-length edge stays one.
    """
    row, col = np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)
    weight = np.asarray(weight, dtype=float)
    order = np.lexsort((weight, col, row))  # the first of a pair is its cheapest
    row, col, weight = row[order], col[order], weight[order]
    first = np.ones(len(row), dtype=bool)
    first[1:] = (row[1:] != row[:-1]) | (col[1:] != col[:-1])
    return sparse.csr_matrix((np.maximum(weight[first], 1e-9), (row[first], col[first])),
                             shape=shape)


def utm_crs(lon: np.ndarray, lat: np.ndarray) -> pyproj.CRS:
    """The UTM (or polar UPS) zone osmnx projects these WGS-84 nodes to.

    osmnx's rule (``projection.project_gdf``): UPS north or south when the nodes' centroid
    lies beyond 84 N or 80 S, else the UTM zone of the centre of their bounding box
    (geopandas' ``estimate_utm_crs``).

    Examples
    --------
    >>> utm_crs(np.array([121.24, 121.49]), np.array([28.31, 28.45])).to_epsg()
    32651
    >>> utm_crs(np.array([24.93, 24.95]), np.array([60.16, 60.17])).to_epsg()
    32635
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if lat.mean() < -80:
        return pyproj.CRS.from_epsg(32761)
    if lat.mean() > 84:
        return pyproj.CRS.from_epsg(32661)
    centre_lon = (lon.min() + lon.max()) / 2
    centre_lat = (lat.min() + lat.max()) / 2
    zones = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(
        west_lon_degree=centre_lon, south_lat_degree=centre_lat,
        east_lon_degree=centre_lon, north_lat_degree=centre_lat))
    return pyproj.CRS.from_epsg(zones[0].code)


def _target_crs(to_crs: Any, lon: np.ndarray, lat: np.ndarray, *, source: str) -> pyproj.CRS:
    """``to_crs`` checked to be projected, or the UTM zone of the nodes when None."""
    if to_crs is None:
        return utm_crs(lon, lat)
    crs = pyproj.CRS.from_user_input(to_crs)
    if not crs.is_projected:
        raise NetworkError(f"{source}: to_crs {crs.to_string()} is not projected; the "
                           "network needs metres (pass a UTM zone, or None to pick one)")
    return crs


def _project_lines(geoms: np.ndarray, transformer: pyproj.Transformer) -> np.ndarray:
    """The lines with every vertex transformed, in one call."""
    return np.asarray(shapely.transform(
        geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))),
        dtype=object)


def describe(net: StreetNetwork, *, started: float,
             bounds_wgs84: tuple[float, float, float, float] | None = None) -> StreetNetwork:
    """Record the network's components and WGS-84 bounds in ``net.meta`` and log its size.

    Parameters
    ----------
    net
        A network just built.
    started
        ``time.perf_counter()`` when reading began (the log line gives the time taken).
    bounds_wgs84
        ``(west, south, east, north)`` of the nodes when the reader knows it; else the
        projected bounds are transformed back.
    """
    n_comp = int(sparse.csgraph.connected_components(net.csr, directed=False)[0])
    if bounds_wgs84 is None:
        to_wgs84 = pyproj.Transformer.from_crs(net.crs, 4326, always_xy=True)
        bounds_wgs84 = to_wgs84.transform_bounds(*net.bounds())
    net.meta["components"] = n_comp
    net.meta["bounds_wgs84"] = [round(float(b), 7) for b in bounds_wgs84]
    log.info("network %s: %d nodes, %d edges, %d connected components, CRS %s, in %.2f s",
             net.source, net.n_nodes, net.n_edges, n_comp, net.crs.to_string(),
             time.perf_counter() - started)
    return net


def _twins(end_lo: np.ndarray, end_hi: np.ndarray, way_key: np.ndarray,
           geoms: np.ndarray) -> np.ndarray:
    """Which edges repeat an earlier one: the same ends, ways and geometry, either way round.

    osmnx's ``to_undirected`` rule (``convert._is_duplicate_edge``): the two directions of a
    two-way street are one street; parallel streets (other ways or another shape) stay.

    Examples
    --------
    >>> line = shapely.LineString([(0, 0), (1, 1), (2, 0)])
    >>> geoms = np.array([line, line.reverse(), line, shapely.LineString([(0, 0), (2, 0)])])
    >>> _twins(np.zeros(4, int), np.ones(4, int), np.array([7, 7, 8, 7]), geoms).tolist()
    [False, True, False, False]
    """
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    n_coords = np.bincount(owner, minlength=len(geoms))
    start = np.concatenate([[0], np.cumsum(n_coords)[:-1]])
    first, last = coords[start], coords[start + n_coords - 1]
    # a canonical direction per edge: from its lexicographically smaller end (rings: below)
    forward = (first[:, 0] < last[:, 0]) | ((first[:, 0] == last[:, 0])
                                            & (first[:, 1] <= last[:, 1]))
    order = np.lexsort((n_coords, way_key, end_hi, end_lo))
    key = np.column_stack([end_lo, end_hi, way_key, n_coords])[order]
    new_group = np.concatenate([[True], (key[1:] != key[:-1]).any(axis=1)])
    group = np.cumsum(new_group) - 1
    group_size = np.bincount(group)[group]  # per position in `order`
    ring = (first == last).all(axis=1)
    twin = np.zeros(len(geoms), dtype=bool)

    # groups of two (nearly every two-way street of a bidirectional graph): each pair's
    # canonical coordinates compared at once
    pair_at = np.flatnonzero(new_group & (group_size == 2))
    a, b = order[pair_at], order[pair_at + 1]
    plain = ~(ring[a] | ring[b])
    a, b = a[plain], b[plain]
    pair_of = np.repeat(np.arange(len(a)), n_coords[a])  # the pair of each compared vertex
    j = np.arange(len(pair_of)) - np.repeat(np.cumsum(n_coords[a]) - n_coords[a], n_coords[a])

    def canonical(e: np.ndarray) -> np.ndarray:
        """Index into ``coords`` of the j-th vertex of edges ``e`` in canonical direction."""
        e = e[pair_of]
        return np.where(forward[e], start[e] + j, start[e] + n_coords[e] - 1 - j)

    mismatch = (coords[canonical(a)] != coords[canonical(b)]).any(axis=1)
    same = np.bincount(pair_of, weights=mismatch, minlength=len(a)) == 0
    twin[np.maximum(a, b)[same]] = True

    # the rest (larger groups, rings): vertex sequences compared whole, one edge at a time
    rest = np.zeros(len(geoms), dtype=bool)
    rest[order[group_size > 2]] = True
    rest[order[pair_at][~plain]] = rest[order[pair_at + 1][~plain]] = True
    seen: set[tuple[int, int, int, bytes]] = set()
    for e in np.flatnonzero(rest):
        xy = coords[start[e]:start[e] + n_coords[e]]
        shape = min(xy.tobytes(), xy[::-1].tobytes())
        k = (int(end_lo[e]), int(end_hi[e]), int(way_key[e]), shape)
        twin[e] = k in seen
        seen.add(k)
    return twin


def check_engine_mode(mode: str) -> None:
    """Raise :class:`NetworkError` unless the distance engine supports ``mode``."""
    if mode not in MODES:
        raise NetworkError(
            f"mode was {mode!r} but the distance engine supports {MODES}; osmnx's directed "
            "'drive' graphs are read by graph_from_file(path, mode='drive')")


def network_from_graph(
    G: networkx.MultiDiGraph, *, mode: str = "walk", to_crs: Any = None, source: str = ""
) -> StreetNetwork:
    """Flatten an osmnx graph into a projected :class:`StreetNetwork`.

    Each street once: the two directions of a two-way street (same ways, same geometry
    reversed) become one edge, as :func:`osmnx.convert.to_undirected` makes them; the arrays
    are built from the graph's edge list directly.

    Parameters
    ----------
    G
        osmnx graph, in WGS-84 or already projected (``G.graph["crs"]``).
    mode
        Travel mode; ``walk`` makes the network undirected, one edge per street.
    to_crs
        Projected CRS to use; by default osmnx's UTM zone of the graph's nodes.
    source
        Description kept in the result.

    Returns
    -------
    StreetNetwork
    """
    started = time.perf_counter()
    check_engine_mode(mode)
    if mode != "walk":
        raise NetworkError(f"{source or 'graph'}: delivery networks are read from OSM XML or "
                           f"PBF files (their oneway and maxspeed tags per way), not from "
                           f"osmnx graphs")
    if G.number_of_edges() == 0:
        raise NetworkError(f"{source or 'graph'}: the street network has no edges")
    if "crs" not in G.graph:
        raise NetworkError(f"{source or 'graph'}: graph has no 'crs' attribute (osmnx graphs do)")
    crs = pyproj.CRS.from_user_input(G.graph["crs"])

    nodes = list(G.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    node_xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)], dtype=float)
    edge_u, edge_v, way_key, geoms, highways = [], [], [], [], []
    way_codes: dict[Any, int] = {}  # an osmid, or the set of a merged edge's, as a number
    for u, v, data in G.edges(data=True):
        edge_u.append(index[u])
        edge_v.append(index[v])
        osmid = data.get("osmid")
        ways = frozenset(osmid) if isinstance(osmid, list) else osmid
        way_key.append(way_codes.setdefault(ways, len(way_codes)))
        geoms.append(data.get("geometry"))
        hw = values_of(data.get("highway"))
        highways.append(hw[0] if hw else "")
    u_arr, v_arr = np.array(edge_u, dtype=np.int64), np.array(edge_v, dtype=np.int64)
    edge_geometry = np.empty(len(geoms), dtype=object)
    edge_geometry[:] = geoms
    # osmnx leaves the geometry off an edge that is one straight segment
    straight = np.flatnonzero(shapely.is_missing(edge_geometry))
    edge_geometry[straight] = shapely.linestrings(
        np.stack([node_xy[u_arr[straight]], node_xy[v_arr[straight]]], axis=1))

    if to_crs is not None or not crs.is_projected:
        lonlat = node_xy
        if not crs.equals(pyproj.CRS.from_epsg(4326)):
            lonlat = np.column_stack(pyproj.Transformer.from_crs(
                crs, 4326, always_xy=True).transform(node_xy[:, 0], node_xy[:, 1]))
        target = _target_crs(to_crs, lonlat[:, 0], lonlat[:, 1], source=source or "graph")
        transformer = pyproj.Transformer.from_crs(crs, target, always_xy=True)
        node_xy = np.column_stack(transformer.transform(node_xy[:, 0], node_xy[:, 1]))
        edge_geometry = _project_lines(edge_geometry, transformer)
        crs = target

    keep = ~_twins(np.minimum(u_arr, v_arr), np.maximum(u_arr, v_arr),
                   np.array(way_key, dtype=np.int64), edge_geometry)
    u_arr, v_arr, edge_geometry = u_arr[keep], v_arr[keep], edge_geometry[keep]
    # geometries run from u to v (osmnx draws them so; a graph edited by hand may not)
    coords, owner = shapely.get_coordinates(edge_geometry, return_index=True)
    n_coords = np.bincount(owner, minlength=len(edge_geometry))
    first = coords[np.cumsum(n_coords) - n_coords]
    last = coords[np.cumsum(n_coords) - 1]
    backwards = (np.hypot(*(first - node_xy[u_arr]).T) > np.hypot(*(last - node_xy[u_arr]).T))
    edge_geometry[backwards] = shapely.reverse(edge_geometry[backwards])

    net = StreetNetwork(
        crs=crs,
        node_id=np.array(nodes, dtype=np.int64),
        node_xy=node_xy,
        edge_u=u_arr,
        edge_v=v_arr,
        edge_length_m=shapely.length(edge_geometry).astype(float),
        edge_geometry=edge_geometry,
        edge_highway=np.array(highways, dtype=object)[keep],
        mode=mode,
        directed=False,
        source=source,
    )
    return describe(net, started=started)


def load_network(path: str | Path, *, mode: str = "walk", to_crs: Any = None) -> StreetNetwork:
    """Load a street network file and return it projected, filtered for ``mode``.

    OSM XML and PBF are read with pyosmium straight into arrays (:func:`network_from_osm`);
    GraphML through osmnx (:func:`network_from_graph`).

    Parameters
    ----------
    path
        OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``), OSM PBF (``.osm.pbf``) or osmnx
        GraphML.
    mode
        Travel mode (``walk``).
    to_crs
        Projected CRS; by default osmnx's UTM zone of the network.

    Returns
    -------
    StreetNetwork

    Examples
    --------
    >>> net = load_network("data/network/demo_county.osm")  # doctest: +SKIP
    >>> net.crs.to_epsg()  # doctest: +SKIP
    32651
    """
    path = Path(path)
    if path.exists() and network_format(path) in (*XML_SUFFIXES, *PBF_SUFFIXES):
        return network_from_osm(path, mode=mode, to_crs=to_crs)
    from .osm_graph import graph_from_file  # osmnx, imported only for GraphML

    G = graph_from_file(path, mode=mode)  # GraphML, or the error for a missing or odd file
    return network_from_graph(G, mode=mode, to_crs=to_crs, source=str(path))


_RULE_SETTINGS = ("settings.walk_exclude_highway, walk_foot_only_highway, walk_foot_allowed, "
                  "walk_exclude_tags and walk_restricted_tags")


def network_from_osm(path: str | Path, *, mode: str = "walk", to_crs: Any = None
                     ) -> StreetNetwork:
    """Read an OSM XML or PBF file straight into a projected :class:`StreetNetwork`.

    pyosmium reads the ways :func:`walkable` keeps and :mod:`eldercare_coverage.osm_reader`
    splits them into edges as osmnx's simplification does (see there); here they are
    projected to ``to_crs`` or osmnx's UTM zone (:func:`utm_crs`) and measured.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2``, ``.osm.gz`` (OSM XML) or ``.osm.pbf``.
    mode
        Travel mode, one of :data:`MODES` (``walk``).
    to_crs
        Projected CRS; by default osmnx's UTM zone of the network.

    Returns
    -------
    StreetNetwork
        Undirected, each street once, nodes in OSM id order; ``meta`` holds the number of
        connected components, the WGS-84 bounds and how many street ways were read, kept
        and clipped.

    Raises
    ------
    InputFileError
        When the file does not exist or cannot be read.
    NetworkError
        When no street in it can be used for ``mode``.
    """
    started = time.perf_counter()
    path = Path(path)
    check_engine_mode(mode)
    if not path.exists():
        raise InputFileError(f"{path}: network file does not exist")
    if mode == "delivery":
        profile = _settings.delivery_profile
        ways = read_ways(path, tag_keys=DELIVERY_TAG_KEYS,
                         keep=functools.partial(delivery_usable, profile=profile))
        rule_text = f"the delivery rule of the {profile!r} profile (osm_rules.delivery_usable)"
    else:
        rule = WalkRule.from_settings()
        ways = read_ways(path, tag_keys=rule.keys(), keep=functools.partial(walkable, rule=rule))
        rule_text = f"the walking rule: {_RULE_SETTINGS}"
    if ways.n_street == 0:
        raise NetworkError(f"{path}: the file holds no street (no way tagged highway=*)")
    if len(ways.way_id) == 0:
        counts = ", ".join(f"{hw} {n}" for hw, n in ways.left_out.most_common(8))
        raise NetworkError(
            f"{path}: no street in the file can be used for {mode!r}\n  its "
            f"{ways.n_street} street ways (highway: {counts}) are all kept out by "
            f"{rule_text}")
    streets = streets_from_ways(ways, source=path, split_at_way_ends=mode == "delivery")
    lon, lat = streets.node_lonlat[:, 0], streets.node_lonlat[:, 1]
    crs = _target_crs(to_crs, lon, lat, source=str(path))
    to_metres = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    node_xy = np.column_stack(to_metres.transform(lon, lat))
    vertex_xy = np.column_stack(to_metres.transform(streets.vertex_lonlat[:, 0],
                                                    streets.vertex_lonlat[:, 1]))
    edge_geometry = np.asarray(shapely.linestrings(vertex_xy, indices=streets.vertex_edge),
                               dtype=object)
    net = StreetNetwork(
        crs=crs,
        node_id=streets.node_id,
        node_xy=node_xy,
        edge_u=streets.edge_u,
        edge_v=streets.edge_v,
        edge_length_m=shapely.length(edge_geometry).astype(float),
        edge_geometry=edge_geometry,
        edge_highway=streets.edge_highway,
        mode=mode,
        directed=mode == "delivery",
        source=str(path),
        meta={"street_ways": ways.n_street, "walkable_ways": len(ways.way_id),
              "clipped_ways": streets.n_clipped},
    )
    if mode == "delivery":
        profile = _settings.delivery_profile
        oneway = np.array([oneway_code(t, profile=profile) for t in ways.tag_sets],
                          dtype=np.int8)
        maxspeed = np.array([parse_maxspeed_kph(t.get("maxspeed")) for t in ways.tag_sets],
                            dtype=float)
        pushed = np.array([profile == "ebike" and dismount(t) for t in ways.tag_sets],
                          dtype=bool)
        tag_set = ways.tag_set[streets.edge_way]
        net.edge_oneway, net.edge_maxspeed_kph = oneway[tag_set], maxspeed[tag_set]
        net.edge_dismount = pushed[tag_set]
        net.meta = {"street_ways": ways.n_street, "delivery_ways": len(ways.way_id),
                    "clipped_ways": streets.n_clipped, "delivery_profile": profile}
    return describe(net, started=started, bounds_wgs84=streets.bounds())


def network_from_arrays(
    node_xy: np.ndarray,
    edge_u: np.ndarray,
    edge_v: np.ndarray,
    *,
    crs: Any,
    edge_geometry: np.ndarray | None = None,
    node_id: np.ndarray | None = None,
    edge_highway: np.ndarray | None = None,
    mode: str = "walk",
    source: str = "arrays",
) -> StreetNetwork:
    """Build a :class:`StreetNetwork` from node coordinates and edge index pairs.

    Parameters
    ----------
    node_xy
        Node coordinates in the projected ``crs``, shape (N, 2).
    edge_u, edge_v
        Node indices of each edge.
    crs
        A projected CRS (metres).
    edge_geometry
        LineStrings from u to v; straight segments when None.
    node_id, edge_highway
        Optional ids and highway values.

    Returns
    -------
    StreetNetwork

    Examples
    --------
    >>> net = network_from_arrays([[0, 0], [300, 400]], [0], [1], crs=32651)
    >>> net.edge_length_m.tolist()
    [500.0]
    """
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        raise NetworkError(f"crs {crs.to_string()} is not projected; metres are required")
    node_xy = np.asarray(node_xy, dtype=float).reshape(-1, 2)
    edge_u = np.asarray(edge_u, dtype=np.int64)
    edge_v = np.asarray(edge_v, dtype=np.int64)
    if edge_geometry is None:
        edge_geometry = shapely.linestrings(
            np.stack([node_xy[edge_u], node_xy[edge_v]], axis=1)
        )
    edge_geometry = np.asarray(edge_geometry, dtype=object)
    return StreetNetwork(
        crs=crs,
        node_id=np.arange(len(node_xy), dtype=np.int64) if node_id is None else np.asarray(node_id),
        node_xy=node_xy,
        edge_u=edge_u,
        edge_v=edge_v,
        edge_length_m=shapely.length(edge_geometry).astype(float),
        edge_geometry=edge_geometry,
        edge_highway=(np.full(len(edge_u), "residential", dtype=object)
                      if edge_highway is None else np.asarray(edge_highway, dtype=object)),
        mode=mode,
        directed=False,
        source=source,
    )
