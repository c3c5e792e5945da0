"""osmnx graphs of OSM files: GraphML, delivery (``drive``) graphs, and osmnx's own objects.

The engine reads OSM XML and PBF straight into arrays (:mod:`eldercare_coverage.osm_reader`,
:func:`eldercare_coverage.network.load_network`); this module is the osmnx path, for GraphML
files, for directed drive graphs and for users who want osmnx's graph. The same rules keep
the ways a mode may use (:mod:`eldercare_coverage.osm_rules`). Importing it imports osmnx,
so the engine's own path never does.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import osmnx as ox

from ._errors import InputFileError, NetworkError
from .osm_pbf import street_xml_from_pbf
from .osm_reader import GRAPHML_SUFFIXES, PBF_SUFFIXES, XML_SUFFIXES, network_format
from .osm_rules import WalkRule, drivable, walkable

log = logging.getLogger(__name__)

GRAPH_MODES = ("walk", "drive")  # what the readers can filter a graph for

# OSM way tags the mode filters need beyond osmnx's defaults (the walking rule's own keys,
# which a user may extend in the settings, are added by _osmnx_way_tags).
_EXTRA_WAY_TAGS = ("foot", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right",
                   "bridge", "layer", "tunnel", "motor_vehicle", "motorcar")


@contextlib.contextmanager
def _osmnx_way_tags(extra: tuple[str, ...]) -> Iterator[None]:
    """Temporarily add way tags to osmnx's ``useful_tags_way`` (restored afterwards).

    The keys the walking rule reads (:meth:`WalkRule.keys`) are always added, so a tag a
    user adds to the rule reaches the graph too.
    """
    before = list(ox.settings.useful_tags_way)
    keys = (*extra, *WalkRule.from_settings().keys())
    ox.settings.useful_tags_way = list(dict.fromkeys([*before, *keys]))
    try:
        yield
    finally:
        ox.settings.useful_tags_way = before


def _keep_mode_edges(G: nx.MultiDiGraph, mode: str) -> nx.MultiDiGraph:
    if mode not in GRAPH_MODES:
        raise NetworkError(f"mode was {mode!r} but is expected to be in {GRAPH_MODES}")
    if mode == "walk":
        rule = WalkRule.from_settings()
        drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
                if not walkable(d, rule=rule)]
    else:
        drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not drivable(d)]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    return G


def graph_from_file(path: str | Path, *, mode: str = "walk") -> nx.MultiDiGraph:
    """Read a street graph (WGS-84, osmnx conventions) from an OSM XML, PBF or GraphML file.

    Ways that ``mode`` cannot use are removed before simplification, every
    connected component is kept (an island of streets is reported, not dropped). The
    engine's arrays come faster from :func:`load_network`; this osmnx graph is for
    delivery (``drive``) graphs and for users who want osmnx's own objects.

    Parameters
    ----------
    path
        ``.osm``/``.osm.bz2``/``.osm.gz`` (OSM XML), ``.osm.pbf`` or ``.graphml`` (osmnx).
    mode
        ``"walk"`` (every way both ways, as osmnx builds its walking graphs) or ``"drive"``
        (osmnx's drive filter; one-way streets stay one-way in the directed graph), one
        of :data:`GRAPH_MODES`.

    Returns
    -------
    networkx.MultiDiGraph
        Simplified, unprojected osmnx graph.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: network file does not exist")
    suffix = network_format(path)
    if suffix in GRAPHML_SUFFIXES:
        try:
            G = ox.load_graphml(path)
        except Exception as exc:  # osmnx raises a variety of parser errors
            raise InputFileError(f"{path}: cannot read GraphML ({exc})") from exc
        return _keep_mode_edges(G, mode)
    if suffix in PBF_SUFFIXES:
        return _graph_from_pbf(path, mode=mode)
    if suffix not in XML_SUFFIXES:
        raise InputFileError(
            f"{path}: unknown network format {suffix!r}; expected one of "
            f"{', '.join((*XML_SUFFIXES, *PBF_SUFFIXES, *GRAPHML_SUFFIXES))}"
        )
    try:
        with _osmnx_way_tags(_EXTRA_WAY_TAGS):
            # walking uses a one-way street both ways: osmnx's walk graphs are bidirectional,
            # so a one-way stretch does not split a street into extra edges either
            G = ox.graph_from_xml(path, simplify=False, retain_all=True,
                                  bidirectional=mode == "walk")
    except Exception as exc:  # ParseError, InsufficientResponseError, ...
        raise InputFileError(f"{path}: cannot read OSM XML ({type(exc).__name__}: {exc})") from exc
    G = _keep_mode_edges(G, mode)
    if G.number_of_edges() == 0:
        raise NetworkError(f"{path}: no street in the file can be used for {mode!r}")
    return ox.simplify_graph(G)


def _graph_from_pbf(path: Path, *, mode: str) -> nx.MultiDiGraph:
    """osmnx's graph of a PBF: its streets written as OSM XML (osm_pbf) and read as XML."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eldercare-pbf-") as tmp:
        xml = Path(tmp) / (path.name.split(".")[0] + ".osm")
        n_ways = street_xml_from_pbf(path, xml)
        G = graph_from_file(xml, mode=mode)
    G.graph["source"] = str(path)
    log.info("%s: %d street ways, graph with %d nodes in %.1f s", path, n_ways,
             G.number_of_nodes(), time.perf_counter() - started)
    return G
