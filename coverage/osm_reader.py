"""OSM XML and PBF streets read with pyosmium into arrays, split into edges as osmnx splits them.

osmnx reads OSM XML into a networkx graph of every way segment, simplifies it, projects
it and makes it undirected, object by object: on a county of 125,000 ways that takes tens
of seconds, while libosmium parses the same file in well under one. This module asks
pyosmium for the few things the engine needs and does the rest on arrays:

1. **Read** (:func:`read_ways`, one pass, node locations kept by libosmium): for every way
   tagged ``highway`` that the mode can use, its id, its ``highway`` value and its node
   ids and locations. Which ways a mode can use is the caller's rule (for walking
   :func:`eldercare_coverage.osm_rules.walkable`), asked once per distinct combination of the
   tags it reads (a county has a few hundred), for each OSM way before anything is merged.
2. **Cut** what a clipped extract lacks (:func:`cut_paths`): a way is cut at the nodes
   missing from the file (one warning names the file and how many ways); a node repeated
   right after itself is read once (as osmnx does).
3. **Split** the ways into edges (:func:`split_at_endpoints`) as :func:`osmnx.simplify_graph`
   does for a walking graph, where every way runs both ways: a node ends an edge unless
   exactly two street segments meet there and they lead to two different neighbours (a
   dead end, a junction, a way running into the middle of another, two ways over the same
   segment all end edges; two ways joined end to end do not). Chains of segments between
   such nodes are the edges, across way boundaries; a closed ring that touches no other
   street has no such node and is left out, as osmnx's ``remove_rings`` leaves it out.
4. **Each street once** (:func:`streets_from_ways`), as :func:`osmnx.convert.to_undirected`
   keeps it: the two directions of a street are one edge; two ways drawn over the same two
   nodes are two edges; a way that runs over the same segment twice gives it once.

:func:`eldercare_coverage.network.load_network` projects the result to the UTM zone osmnx
picks and makes the :class:`~eldercare_coverage.network.StreetNetwork`; the whole equals
osmnx's (``graph_from_xml`` with every way both ways, the walking rule on each way,
``simplify_graph``, ``project_graph``, ``convert.to_undirected``): the same nodes, the same
edges between them and the same lengths (tests/test_osm_reader.py holds it to that on the
demo county and on Helsinki). Nodes come in OSM id order; an edge merged from several ways
carries the ``highway`` of the first along it.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import osmium

from ._errors import InputFileError, NetworkError

log = logging.getLogger(__name__)

XML_SUFFIXES = (".osm", ".xml", ".osm.bz2", ".osm.gz", ".xml.bz2", ".xml.gz")
GRAPHML_SUFFIXES = (".graphml",)
PBF_SUFFIXES = (".osm.pbf", ".pbf")


def network_format(path: Path) -> str:
    """The file's format suffix (the longest known one it ends with, e.g. ``.osm.bz2``).

    Examples
    --------
    >>> network_format(Path("county.OSM.bz2")), network_format(Path("x.graphml"))
    ('.osm.bz2', '.graphml')
    """
    name = path.name.lower()
    for suffix in sorted((*XML_SUFFIXES, *GRAPHML_SUFFIXES, *PBF_SUFFIXES), key=len)[::-1]:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()

# libosmium's name of each file format this reader takes
OSMIUM_FORMATS = {".osm": "osm", ".xml": "osm", ".osm.bz2": "osm.bz2", ".xml.bz2": "osm.bz2",
                  ".osm.gz": "osm.gz", ".xml.gz": "osm.gz", ".osm.pbf": "pbf", ".pbf": "pbf"}
_COORDINATE_SCALE = 1e7  # libosmium stores degrees as integers of 1e-7 degree
_FIX_DAMAGED = "is the file complete? Download it again or check it with `osmium fileinfo`"
_FIX_NOT_OSM = ("is it OSM XML (<osm version=\"0.6\"> with nodes and ways)? Check it with "
                "`osmium fileinfo`")


@dataclass
class OsmWays:
    """The street ways a mode can use, as read from the file.

    Attributes
    ----------
    way_id, highway
        OSM id and ``highway`` value of each kept way, shape (W,).
    n_refs
        Number of node references of each way, shape (W,).
    node_ref
        The ways' node ids, way after way, shape (sum of ``n_refs``,).
    lon_e7, lat_e7
        Each reference's location in 1e-7 degrees; out of range (libosmium's undefined
        location) where the node is missing from the file.
    n_street
        Ways tagged ``highway`` in the file, kept or not.
    left_out
        ``highway`` values of the street ways the mode cannot use, with their counts.
    tag_set
        Index of each kept way's tags (those of the keys read) in ``tag_sets``, shape (W,).
    tag_sets
        The distinct tag combinations of the kept ways (a county has a few hundred).
    """

    way_id: np.ndarray
    highway: np.ndarray
    n_refs: np.ndarray
    node_ref: np.ndarray
    lon_e7: np.ndarray
    lat_e7: np.ndarray
    n_street: int
    left_out: collections.Counter[str]
    tag_set: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    tag_sets: list[dict[str, str]] = field(default_factory=list)


def _format(path: Path) -> str:
    """libosmium's name of the file's format, from its suffix."""
    name = path.name.lower()
    for suffix in sorted(OSMIUM_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return OSMIUM_FORMATS[suffix]
    raise InputFileError(f"{path}: unknown OSM format {path.suffix!r}; expected one of "
                         f"{', '.join(OSMIUM_FORMATS)}")


def _xml_problem(path: Path) -> str | None:
    """What Python's XML parser finds wrong with a file libosmium refused (None: nothing).

    expat names the first broken token with its line and column, where libosmium may
    only say that the ``version`` attribute is missing.
    """
    name = path.name.lower()
    opener = bz2.open if name.endswith(".bz2") else gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for _ in ET.iterparse(f):
                pass
    except ET.ParseError as exc:
        return f"ParseError: {exc}"
    except (OSError, EOFError) as exc:  # a damaged .gz or .bz2
        return f"{type(exc).__name__}: {exc}"
    return None


def read_ways(path: str | Path, *, tag_keys: tuple[str, ...],
              keep: Callable[[Mapping[str, str]], bool]) -> OsmWays:
    """Read the street ways a mode can use from an OSM XML or PBF file, with their nodes.

    Parameters
    ----------
    path
        ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.
    tag_keys
        The tag keys ``keep`` reads, ``highway`` first.
    keep
        Whether the mode can use a way with these tags (those of ``tag_keys`` it has).

    Returns
    -------
    OsmWays

    Raises
    ------
    InputFileError
        When libosmium cannot read the file.
    """
    path = Path(path)
    keys = tag_keys
    no_other_tags = (None,) * (len(keys) - 1)
    way_ids: list[int] = []
    highways: list[str] = []
    n_refs: list[int] = []
    refs: list[int] = []
    lon_e7: list[int] = []
    lat_e7: list[int] = []
    left_out: collections.Counter[str] = collections.Counter()
    verdict: dict[tuple[str | None, ...], int] = {}  # tag values read -> tag set, -1 unusable
    tag_sets: list[dict[str, str]] = []
    way_tag_set: list[int] = []
    n_street = 0
    fmt = _format(path)
    processor = (osmium.FileProcessor(osmium.io.File(str(path), fmt),
                                      osmium.osm.NODE | osmium.osm.WAY)
                 .with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.KeyFilter("highway")))
    street_ways = cast("Iterator[osmium.osm.Way]", iter(processor))  # the filters pass ways
    # the per-way loop is the reader's hot path (about 1 us per node reference): locals
    # only, a method bound once, one dictionary look-up decides a way
    add_ref, add_lon, add_lat = refs.append, lon_e7.append, lat_e7.append
    try:
        for way in street_ways:
            n_street += 1
            tags = way.tags
            # most lanes carry no tag but highway: one call instead of one per key
            values = ((tags.get("highway"), *no_other_tags) if len(tags) == 1
                      else tuple(map(tags.get, keys)))
            usable = verdict.get(values)
            if usable is None:
                tags_read = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
                usable = verdict[values] = len(tag_sets) if keep(tags_read) else -1
                if usable >= 0:
                    tag_sets.append(tags_read)
            if usable < 0:
                left_out[str(values[0])] += 1
                continue
            count = 0
            for node in way.nodes:
                add_ref(node.ref)
                location = node.location
                add_lon(location.x)
                add_lat(location.y)
                count += 1
            way_ids.append(way.id)
            highways.append(str(values[0]))
            n_refs.append(count)
            way_tag_set.append(usable)
    except RuntimeError as exc:  # libosmium reports every format error as RuntimeError
        if fmt == "pbf":
            raise InputFileError(f"{path}: cannot read OSM PBF ({exc}); {_FIX_DAMAGED}"
                                 ) from exc
        # the first line is the whole message of earlier versions; the fix on its own line
        broken = _xml_problem(path)
        hint = _FIX_DAMAGED if broken else _FIX_NOT_OSM
        raise InputFileError(f"{path}: cannot read OSM XML ({broken or exc})\n  "
                             f"{hint[0].upper()}{hint[1:]}") from exc
    return OsmWays(
        way_id=np.array(way_ids, dtype=np.int64),
        highway=np.array(highways, dtype=object),
        n_refs=np.array(n_refs, dtype=np.int64),
        node_ref=np.array(refs, dtype=np.int64),
        lon_e7=np.array(lon_e7, dtype=np.int64),
        lat_e7=np.array(lat_e7, dtype=np.int64),
        n_street=n_street,
        left_out=left_out,
        tag_set=np.array(way_tag_set, dtype=np.int64),
        tag_sets=tag_sets,
    )


def cut_paths(ways: OsmWays) -> tuple[np.ndarray, np.ndarray, int]:
    """The runs of each way between nodes missing from the file, as paths of references.

    A node repeated right after itself is kept once (osmnx drops such repeats); runs of
    fewer than two nodes are dropped.

    Returns
    -------
    position_ref
        Index into ``ways.node_ref`` of each path position, paths one after another.
    position_path
        Path of each position (non-decreasing).
    n_clipped
        Number of ways that reference a node missing from the file.
    """
    n_ways = len(ways.way_id)
    ref_way = np.repeat(np.arange(n_ways), ways.n_refs)
    located = ((np.abs(ways.lon_e7) <= 180 * _COORDINATE_SCALE)
               & (np.abs(ways.lat_e7) <= 90 * _COORDINATE_SCALE))
    n_clipped = len(_distinct(ref_way[~located]))
    repeat = np.zeros(len(ref_way), dtype=bool)
    repeat[1:] = (ways.node_ref[1:] == ways.node_ref[:-1]) & (ref_way[1:] == ref_way[:-1])
    missing_before = np.cumsum(~located)  # a missing node between two references cuts
    kept = np.flatnonzero(located & ~repeat)
    new_run = np.ones(len(kept), dtype=bool)
    new_run[1:] = ((ref_way[kept[1:]] != ref_way[kept[:-1]])
                   | (missing_before[kept[1:]] != missing_before[kept[:-1]]))
    run = np.cumsum(new_run) - 1
    long_enough = np.bincount(run)[run] >= 2
    kept, run = kept[long_enough], run[long_enough]
    return kept, np.unique(run, return_inverse=True)[1].astype(np.int64), n_clipped


def split_at_endpoints(position_node: np.ndarray, position_path: np.ndarray,
                       n_nodes: int, *, forced: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut paths of nodes into the edges of osmnx's simplified walking graph.

    Parameters
    ----------
    position_node
        Node (0..n_nodes-1) at each position of the paths, paths one after another; no
        node twice in a row.
    position_path
        Path of each position (non-decreasing), at least two positions each.
    n_nodes
        Number of nodes.
    forced
        Nodes that end edges whatever the rule says (bool, shape (n_nodes,)), or None.

    Returns
    -------
    edge_position
        Positions of each edge's vertices, edge after edge, from its first end to its last.
    edge_offset
        Where each edge starts in ``edge_position``, shape (E + 1,).
    is_endpoint
        Whether each node ends edges (osmnx's ``_is_endpoint`` for a bidirectional graph).

    Examples
    --------
    A T junction (path 0-1-2 and path 1-3) and a path that only continues another (4-0):
    node 0 ends no edge, 4-0-1 is one edge.

    >>> nodes, paths = np.array([0, 1, 2, 1, 3, 4, 0]), np.array([0, 0, 0, 1, 1, 2, 2])
    >>> pos, off, end = split_at_endpoints(nodes, paths, 5)
    >>> [nodes[pos[a:b]].tolist() for a, b in zip(off[:-1], off[1:])]
    [[1, 0, 4], [1, 2], [1, 3]]
    >>> end.tolist()
    [False, True, True, True, True]
    """
    n_positions = len(position_node)
    # street segments: consecutive positions of one path
    segment = position_path[1:] == position_path[:-1]
    seg_a, seg_b = position_node[:-1][segment], position_node[1:][segment]
    incidence = np.bincount(seg_a, minlength=n_nodes) + np.bincount(seg_b, minlength=n_nodes)
    neighbour_pairs = _distinct(np.concatenate([seg_a * n_nodes + seg_b,
                                                seg_b * n_nodes + seg_a]))
    n_neighbours = np.bincount(neighbour_pairs // n_nodes, minlength=n_nodes)
    # osmnx: not an endpoint when it has two neighbours and degree 2 or 4; every segment is
    # two directed edges here, and no segment loops (repeats were dropped), so rules 1 and 2
    # never fire
    is_endpoint = ~((n_neighbours == 2) & (incidence == 2))
    if forced is not None:
        is_endpoint |= forced

    # pieces: stretches of one path between its ends and the endpoints inside it
    path_start = np.ones(n_positions, dtype=bool)
    path_start[1:] = ~segment
    path_end = np.ones(n_positions, dtype=bool)
    path_end[:-1] = ~segment
    cut = np.flatnonzero(path_start | path_end | is_endpoint[position_node])
    inside = position_path[cut[:-1]] == position_path[cut[1:]]
    piece_first, piece_last = cut[:-1][inside], cut[1:][inside]
    first_is_end = is_endpoint[position_node[piece_first]]
    last_is_end = is_endpoint[position_node[piece_last]]

    alone = first_is_end & last_is_end  # one piece between two endpoints: an edge
    chained, chain_len = _follow_joins(position_node, piece_first, piece_last, first_is_end,
                                       last_is_end)
    item = np.concatenate([2 * np.flatnonzero(alone), np.array(chained, dtype=np.int64)])
    n_items = np.concatenate([np.ones(int(alone.sum()), dtype=np.int64),
                              np.array(chain_len, dtype=np.int64)])
    item_piece, item_backwards = item // 2, item % 2 == 1
    first_item = np.cumsum(n_items) - n_items
    # edges in the order of the file (of their first piece)
    rank = np.argsort(np.argsort(np.minimum.reduceat(item_piece, first_item), kind="stable"))
    item_edge = rank[np.repeat(np.arange(len(n_items)), n_items)]
    in_order = np.argsort(item_edge, kind="stable")
    first_in_edge = np.zeros(len(item), dtype=bool)
    first_in_edge[first_item] = True
    item_piece, item_backwards = item_piece[in_order], item_backwards[in_order]
    item_edge, first_in_edge = item_edge[in_order], first_in_edge[in_order]
    # every piece after an edge's first starts where the previous one ended: skip that vertex
    skip = np.where(first_in_edge, 0, 1)
    n_vertices = piece_last[item_piece] - piece_first[item_piece] + 1 - skip
    vertex_item = np.repeat(np.arange(len(item)), n_vertices)
    step = (np.arange(n_vertices.sum()) - np.repeat(np.cumsum(n_vertices) - n_vertices,
                                                    n_vertices) + skip[vertex_item])
    edge_position = np.where(item_backwards[vertex_item],
                             piece_last[item_piece[vertex_item]] - step,
                             piece_first[item_piece[vertex_item]] + step)
    edge_offset = np.concatenate([[0], np.cumsum(np.bincount(item_edge[vertex_item],
                                                             minlength=len(n_items)))])
    return edge_position, edge_offset, is_endpoint


def _follow_joins(position_node: np.ndarray, piece_first: np.ndarray, piece_last: np.ndarray,
                  first_is_end: np.ndarray, last_is_end: np.ndarray
                  ) -> tuple[list[int], list[int]]:
    """Chain the pieces that meet end to end at nodes that are no endpoints.

    Returns the chains' pieces as ``piece * 2 + walked backwards``, chain after chain, each
    from an endpoint to an endpoint, and the number of pieces of each chain. Pieces on a
    ring that touches no endpoint are in no chain.
    """
    # a piece end on a node that is no endpoint is where two ways join end to end (or a
    # closed way closes): exactly two piece ends meet there; pair them
    open_first = np.flatnonzero(~first_is_end)
    open_last = np.flatnonzero(~last_is_end)
    join_node = np.concatenate([position_node[piece_first[open_first]],
                                position_node[piece_last[open_last]]])
    piece_end_code = np.concatenate([open_first * 2, open_last * 2 + 1])  # piece*2 + side
    paired = piece_end_code[np.argsort(join_node, kind="stable")]
    partner = dict(zip(paired[0::2].tolist(), paired[1::2].tolist(), strict=True))
    partner.update(zip(paired[1::2].tolist(), paired[0::2].tolist(), strict=True))

    # followed in Python: joins are few (most edges are one piece)
    first_end, last_end = first_is_end.tolist(), last_is_end.tolist()
    visited = bytearray(len(piece_first))
    chained: list[int] = []
    chain_len: list[int] = []
    for piece in np.flatnonzero(~(first_is_end & last_is_end)).tolist():
        if visited[piece] or not (first_end[piece] or last_end[piece]):
            continue  # done from its chain's other end, inside a chain, or on a ring
        backwards = not first_end[piece]
        start = len(chained)
        while True:
            visited[piece] = 1
            chained.append(2 * piece + backwards)
            if (first_end if backwards else last_end)[piece]:
                break
            piece, side = divmod(partner[2 * piece + (not backwards)], 2)
            backwards = side == 1  # entered by its last position: walked backwards
        chain_len.append(len(chained) - start)
    n_ring_pieces = len(visited) - sum(visited) - int((first_is_end & last_is_end).sum())
    if n_ring_pieces:
        log.debug("%d pieces on closed rings that touch no other street left out",
                  n_ring_pieces)
    return chained, chain_len


@dataclass
class OsmStreets:
    """The edges of a street network in WGS-84, as :func:`streets_from_ways` makes them.

    Attributes
    ----------
    node_id
        OSM id of each node that ends an edge, ascending, shape (N,).
    node_lonlat
        Their longitude and latitude, degrees, shape (N, 2).
    edge_u, edge_v
        Indices into ``node_id`` of each edge's first and last vertex, shape (E,).
    edge_highway
        ``highway`` of the first way along each edge, shape (E,).
    vertex_lonlat
        Every edge's vertices from u to v, edge after edge, shape (V, 2).
    vertex_edge
        The edge of each vertex, non-decreasing, shape (V,).
    n_clipped
        Ways cut at nodes missing from the file.
    edge_way
        Index (into the ways read) of the first way along each edge, shape (E,).
    """

    node_id: np.ndarray
    node_lonlat: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_highway: np.ndarray
    vertex_lonlat: np.ndarray
    vertex_edge: np.ndarray
    n_clipped: int
    edge_way: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of every vertex, degrees."""
        lon, lat = self.vertex_lonlat[:, 0], self.vertex_lonlat[:, 1]
        return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def streets_from_ways(ways: OsmWays, *, source: str | Path, split_at_way_ends: bool = False
                      ) -> OsmStreets:
    """Cut, split and deduplicate the ways read into the edges of the street network.

    Parameters
    ----------
    ways
        What :func:`read_ways` read (at least one way).
    source
        The file, named in the warning about a clipped extract and in errors.
    split_at_way_ends
        End an edge wherever a way (or a run of it between missing nodes) ends, so
        that every edge lies on one way and runs in its direction (a directed network
        whose ways differ in ``oneway`` or speed); False: osmnx's walking rule, ways
        joined end to end are one edge.

    Returns
    -------
    OsmStreets

    Raises
    ------
    NetworkError
        When no way has two of its nodes in the file, or every street is a closed ring that
        touches no other.
    """
    position_ref, position_path, n_clipped = cut_paths(ways)
    if n_clipped:
        log.warning("%s: %d walkable street ways reference nodes missing from the file (a "
                    "clipped extract); they were cut at the missing nodes", source, n_clipped)
    if len(position_ref) == 0:
        raise NetworkError(
            f"{source}: no walkable street has two of its nodes in the file (a clipped extract "
            f"without the streets' nodes?); extract the area again with complete ways, e.g. "
            f"`osmium extract --strategy complete_ways`")
    node_id, first_seen, position_node = np.unique(
        ways.node_ref[position_ref], return_index=True, return_inverse=True)
    forced = None
    if split_at_way_ends:
        ends = np.ones(len(position_path), dtype=bool)
        ends[1:-1] = (position_path[1:-1] != position_path[:-2]) \
            | (position_path[1:-1] != position_path[2:])
        forced = np.zeros(len(node_id), dtype=bool)
        forced[position_node[ends]] = True
    edge_position, edge_offset, _ = split_at_endpoints(
        position_node.astype(np.int64), position_path, len(node_id), forced=forced)
    if len(edge_offset) == 1:
        raise NetworkError(f"{source}: the walkable streets are closed rings that touch no "
                           "other street, which osmnx's simplification leaves out; is this the "
                           "whole area?")
    n_vertices = np.diff(edge_offset)
    vertex_edge = np.repeat(np.arange(len(n_vertices)), n_vertices)
    vertex_node = position_node[edge_position]
    edge_u = vertex_node[edge_offset[:-1]]
    edge_v = vertex_node[edge_offset[1:] - 1]
    edge_way = np.repeat(np.arange(len(ways.way_id)), ways.n_refs)[
        position_ref[edge_position[edge_offset[:-1]]]]
    # a way over the same segment twice gives it once (osmnx's to_undirected: same way, same
    # geometry); two ways over it stay two edges
    straight = np.flatnonzero(n_vertices == 2)
    pair_key = np.column_stack([np.minimum(edge_u, edge_v), np.maximum(edge_u, edge_v),
                                edge_way])[straight]
    once = np.ones(len(n_vertices), dtype=bool)
    once[straight] = False
    once[straight[np.unique(pair_key, axis=0, return_index=True)[1]]] = True
    keep_vertex = once[vertex_edge]
    vertex_node = vertex_node[keep_vertex]
    vertex_edge = np.cumsum(once)[vertex_edge[keep_vertex]] - 1  # edges renumbered
    edge_u, edge_v, edge_way = edge_u[once], edge_v[once], edge_way[once]

    node_lonlat = np.column_stack([ways.lon_e7, ways.lat_e7])[position_ref[first_seen]] \
        / _COORDINATE_SCALE
    network_nodes, edge_u, edge_v = _renumber(edge_u, edge_v)
    return OsmStreets(
        node_id=node_id[network_nodes],
        node_lonlat=node_lonlat[network_nodes],
        edge_u=edge_u,
        edge_v=edge_v,
        edge_highway=ways.highway[edge_way],
        vertex_lonlat=node_lonlat[vertex_node],
        vertex_edge=vertex_edge,
        n_clipped=n_clipped,
        edge_way=edge_way,
    )


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending (``np.unique`` by sorting: numpy 2's hashing path is
    ten times slower on a million integers)."""
    values = np.sort(values)
    first = np.ones(len(values), dtype=bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]


def _renumber(edge_u: np.ndarray, edge_v: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nodes that end edges (ascending) and the edge ends as indices into them."""
    network_nodes, inverse = np.unique(np.concatenate([edge_u, edge_v]), return_inverse=True)
    return network_nodes, inverse[:len(edge_u)].astype(np.int64), \
        inverse[len(edge_u):].astype(np.int64)
