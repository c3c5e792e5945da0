"""Street networks: load, keep what a mode can use, project to metres, flatten to arrays.

A :class:`StreetNetwork` is the engine's view of a street graph: node coordinates
and, per edge, its end nodes, its geometry (oriented from ``u`` to ``v``) and its
length in metres, all in a projected CRS. Walking networks are undirected: each
physical street appears once.

Sources: OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``) read through
:func:`osmnx.graph_from_xml`, OSM PBF (``.osm.pbf``, through the same XML path, see
:mod:`eldercare_coverage.osm_pbf`) and GraphML saved by osmnx. Any osmnx graph can be passed to
:func:`network_from_graph` (the seam for place downloads, which return osmnx graphs too).

Lengths are the planar lengths of the projected edge geometries, so that partial
edges, access legs and whole edges are measured the same way (the UTM scale error
near a zone's edge is below 0.05 %).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
import shapely
from scipy import sparse

from ._errors import InputFileError, NetworkError
from .settings import settings as _settings

if TYPE_CHECKING:
    from .snapping import SegmentIndex

log = logging.getLogger(__name__)

XML_SUFFIXES = (".osm", ".xml", ".osm.bz2", ".osm.gz", ".xml.bz2", ".xml.gz")
GRAPHML_SUFFIXES = (".graphml",)
PBF_SUFFIXES = (".osm.pbf", ".pbf")
MODES = ("walk",)  # what the distance engine (StreetNetwork) supports
GRAPH_MODES = ("walk", "drive")  # what the readers can filter a graph for

# OSM way tags the walking filter needs beyond osmnx's defaults.
_EXTRA_WAY_TAGS = ("foot", "sidewalk", "bridge", "layer", "tunnel", "motor_vehicle", "motorcar")


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
        Travel mode the network was filtered for.
    directed
        False for walking: every edge can be used both ways.
    source
        Where the network came from (file path or description).
    meta
        Free-form facts about the source (bounding box, OSM timestamp, ...).
    cache_file
        This network's entry in the disk cache (:mod:`eldercare_coverage.network_cache`), where
        data derived from it (street regions) is cached alongside; None when uncached.
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
    cache_file: str | None = None

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

        Symmetric for undirected networks. Self-loops are left out: they never
        shorten a path.
        """
        u, v, w = self.edge_u, self.edge_v, self.edge_length_m
        keep = u != v
        u, v, w = u[keep], v[keep], w[keep]
        if not self.directed:
            u, v, w = np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w])
        return cheapest_edges_csr(u, v, w, (self.n_nodes, self.n_nodes))

    @cached_property
    def edge_tree(self) -> shapely.STRtree:
        """Spatial index of the edge geometries."""
        return shapely.STRtree(self.edge_geometry)

    @cached_property
    def segment_index(self) -> SegmentIndex:
        """Sampled straight segments for fast exact nearest-edge queries (see snapping)."""
        from .snapping import SegmentIndex

        return SegmentIndex.build(self)

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Edges as a GeoDataFrame (projected CRS)."""
        return gpd.GeoDataFrame(
            {
                "u": self.node_id[self.edge_u],
                "v": self.node_id[self.edge_v],
                "length_m": self.edge_length_m,
                "highway": self.edge_highway,
            },
            geometry=self.edge_geometry,
            crs=self.crs,
        )

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


@contextlib.contextmanager
def _osmnx_way_tags(extra: tuple[str, ...]) -> Iterator[None]:
    """Temporarily add way tags to osmnx's ``useful_tags_way`` (restored afterwards)."""
    before = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(dict.fromkeys([*before, *extra]))
    try:
        yield
    finally:
        ox.settings.useful_tags_way = before


def _values(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return [str(value)]


def walkable(data: dict[str, Any], *, exclude_highway: frozenset[str] | None = None) -> bool:
    """Whether walking may use an OSM way with these tags.

    The rule follows osmnx's ``walk`` network filter: a ``highway`` is needed,
    motorways, construction and similar are excluded, and so are ``area=yes``,
    ``foot=no`` and ``access=private`` (unless ``foot`` allows it) and
    ``service=private``. Ways merged from several OSM ways (lists of values) are
    kept if any of their highway values is walkable.

    Examples
    --------
    >>> walkable({"highway": "residential"})
    True
    >>> walkable({"highway": "motorway"})
    False
    >>> walkable({"highway": "service", "access": "private", "foot": "yes"})
    True
    >>> walkable({"waterway": "river"})
    False
    """
    excluded = _settings.walk_exclude_highway if exclude_highway is None else exclude_highway
    highways = _values(data.get("highway"))
    if not highways or all(h in excluded for h in highways):
        return False
    if "yes" in _values(data.get("area")):
        return False
    foot = set(_values(data.get("foot")))
    if foot and foot <= {"no"}:
        return False
    foot_allowed = bool(foot & {"yes", "designated", "permissive"})
    if "private" in _values(data.get("access")) and not foot_allowed:
        return False
    return not ("private" in _values(data.get("service")) and not foot_allowed)


_DRIVE_EXCLUDE_HIGHWAY = frozenset({
    "abandoned", "bridleway", "bus_guideway", "construction", "corridor", "cycleway",
    "elevator", "escalator", "footway", "no", "path", "pedestrian", "planned", "platform",
    "proposed", "raceway", "razed", "rest_area", "service", "services", "steps", "track"})
_DRIVE_EXCLUDE_SERVICE = frozenset({"alley", "driveway", "emergency_access", "parking",
                                    "parking_aisle", "private"})


def drivable(data: dict[str, Any]) -> bool:
    """Whether a delivery vehicle may use an OSM way with these tags (osmnx's ``drive``).

    Examples
    --------
    >>> drivable({"highway": "primary"}), drivable({"highway": "footway"})
    (True, False)
    >>> drivable({"highway": "residential", "motor_vehicle": "no"})
    False
    """
    highways = _values(data.get("highway"))
    if not highways or all(h in _DRIVE_EXCLUDE_HIGHWAY for h in highways):
        return False
    if "yes" in _values(data.get("area")) or "private" in _values(data.get("access")):
        return False
    if "no" in _values(data.get("motor_vehicle")) or "no" in _values(data.get("motorcar")):
        return False
    return not set(_values(data.get("service"))) & _DRIVE_EXCLUDE_SERVICE


def _keep_mode_edges(G: nx.MultiDiGraph, mode: str) -> nx.MultiDiGraph:
    if mode not in GRAPH_MODES:
        raise NetworkError(f"mode was {mode!r} but is expected to be in {GRAPH_MODES}")
    keep = walkable if mode == "walk" else drivable
    drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not keep(d)]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    return G


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted((*XML_SUFFIXES, *GRAPHML_SUFFIXES, *PBF_SUFFIXES), key=len)[::-1]:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def graph_from_file(path: str | Path, *, mode: str = "walk") -> nx.MultiDiGraph:
    """Read a street graph (WGS-84, osmnx conventions) from an OSM XML or GraphML file.

    Ways that ``mode`` cannot use are removed before simplification, every
    connected component is kept (an island of streets is reported, not dropped).

    Parameters
    ----------
    path
        ``.osm``/``.osm.bz2``/``.osm.gz`` (OSM XML), ``.osm.pbf`` or ``.graphml`` (osmnx).
    mode
        ``"walk"`` (undirected use later) or ``"drive"`` (osmnx's drive filter; one-way
        streets stay one-way in the directed graph), one of :data:`GRAPH_MODES`.

    Returns
    -------
    networkx.MultiDiGraph
        Simplified, unprojected osmnx graph.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: network file does not exist")
    suffix = _suffix(path)
    if suffix in GRAPHML_SUFFIXES:
        try:
            G = ox.load_graphml(path)
        except Exception as exc:  # osmnx raises a variety of parser errors
            raise InputFileError(f"{path}: cannot read GraphML ({exc})") from exc
        return _keep_mode_edges(G, mode)
    if suffix in PBF_SUFFIXES:
        from .osm_pbf import graph_from_pbf

        return graph_from_pbf(path, mode=mode)
    if suffix not in XML_SUFFIXES:
        raise InputFileError(
            f"{path}: unknown network format {suffix!r}; expected one of "
            f"{', '.join((*XML_SUFFIXES, *PBF_SUFFIXES, *GRAPHML_SUFFIXES))}"
        )
    try:
        with _osmnx_way_tags(_EXTRA_WAY_TAGS):
            G = ox.graph_from_xml(path, simplify=False, retain_all=True, bidirectional=False)
    except Exception as exc:  # ParseError, InsufficientResponseError, ...
        raise InputFileError(f"{path}: cannot read OSM XML ({type(exc).__name__}: {exc})") from exc
    G = _keep_mode_edges(G, mode)
    if G.number_of_edges() == 0:
        raise NetworkError(f"{path}: no street in the file can be used for {mode!r}")
    return ox.simplify_graph(G)


def _oriented(geom: shapely.LineString, start: np.ndarray) -> shapely.LineString:
    coords = shapely.get_coordinates(geom)
    d_first = np.hypot(*(coords[0] - start))
    d_last = np.hypot(*(coords[-1] - start))
    return geom if d_first <= d_last else shapely.LineString(coords[::-1])


def network_from_graph(
    G: nx.MultiDiGraph, *, mode: str = "walk", to_crs: Any = None, source: str = ""
) -> StreetNetwork:
    """Flatten an osmnx graph into a projected :class:`StreetNetwork`.

    Parameters
    ----------
    G
        osmnx graph, in WGS-84 or already projected (``G.graph["crs"]``).
    mode
        Travel mode; ``walk`` makes the network undirected, one edge per street.
    to_crs
        Projected CRS to use; by default osmnx picks the UTM zone of the graph.
    source
        Description kept in the result.

    Returns
    -------
    StreetNetwork
    """
    if mode not in MODES:
        raise NetworkError(
            f"mode was {mode!r} but the distance engine supports {MODES}: delivery ('drive') "
            "networks are read as directed graphs (graph_from_file(path, mode='drive')); their "
            "travel-time distances come with the meal-delivery circles")
    if G.number_of_edges() == 0:
        raise NetworkError(f"{source or 'graph'}: the street network has no edges")
    if "crs" not in G.graph:
        raise NetworkError(f"{source or 'graph'}: graph has no 'crs' attribute (osmnx graphs do)")
    crs = pyproj.CRS.from_user_input(G.graph["crs"])
    if to_crs is not None or not crs.is_projected:
        G = ox.project_graph(G, to_crs=to_crs)
    crs = pyproj.CRS.from_user_input(G.graph["crs"])
    U = ox.convert.to_undirected(G)

    nodes = list(U.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    node_xy = np.array([(U.nodes[n]["x"], U.nodes[n]["y"]) for n in nodes], dtype=float)
    us, vs, geoms, highways = [], [], [], []
    for u, v, data in U.edges(data=True):
        iu, iv = index[u], index[v]
        geom = data.get("geometry")
        if geom is None:
            geom = shapely.LineString([node_xy[iu], node_xy[iv]])
        else:
            geom = _oriented(geom, node_xy[iu])
        us.append(iu)
        vs.append(iv)
        geoms.append(geom)
        hw = _values(data.get("highway"))
        highways.append(hw[0] if hw else "")
    edge_geometry = np.array(geoms, dtype=object)
    net = StreetNetwork(
        crs=crs,
        node_id=np.array(nodes, dtype=np.int64),
        node_xy=node_xy,
        edge_u=np.array(us, dtype=np.int64),
        edge_v=np.array(vs, dtype=np.int64),
        edge_length_m=shapely.length(edge_geometry).astype(float),
        edge_geometry=edge_geometry,
        edge_highway=np.array(highways, dtype=object),
        mode=mode,
        directed=False,
        source=source,
    )
    n_comp = sparse.csgraph.connected_components(net.csr, directed=False)[0]
    net.meta["components"] = int(n_comp)
    log.info(
        "network %s: %d nodes, %d edges, %d connected components, CRS %s",
        source, net.n_nodes, net.n_edges, n_comp, crs.to_string(),
    )
    return net


def load_network(path: str | Path, *, mode: str = "walk", to_crs: Any = None) -> StreetNetwork:
    """Load a street network file and return it projected, filtered for ``mode``.

    Parameters
    ----------
    path
        OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``) or osmnx GraphML.
    mode
        Travel mode (``walk``).
    to_crs
        Projected CRS; by default the UTM zone of the network.

    Returns
    -------
    StreetNetwork

    Examples
    --------
    >>> net = load_network("data/network/demo_county.osm")  # doctest: +SKIP
    >>> net.crs.to_epsg()  # doctest: +SKIP
    32651
    """
    G = graph_from_file(path, mode=mode)
    return network_from_graph(G, mode=mode, to_crs=to_crs, source=str(path))


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
