"""The pyosmium reader gives osmnx's walking network, with DESIGN's walking rule per OSM way.

- Real streets (the demo county, central Helsinki): the same nodes, edges and lengths as
  osmnx's own path (tests/_reference.py), from XML and PBF alike.
- Tiny hand-drawn files: which ways walk, and where ways are split into edges.
- Every reader (OSM files, GraphML and downloads through ``network_from_graph``) keeps the
  same ways; bad files give errors that name the file.
"""

from __future__ import annotations

import bz2
import collections
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import osmium
import pyproj
import pytest
import shapely

from eldercare_coverage import settings
from eldercare_coverage._errors import InputFileError, NetworkError
from eldercare_coverage.network import load_network, network_from_graph
from eldercare_coverage.network_cache import cache_key
from eldercare_coverage.osm_graph import graph_from_file
from eldercare_coverage.osm_rules import walkable

from ._reference import (
    complete_street_xml,
    osmnx_edge_multiset,
    osmnx_walk_network,
    reference_walkable,
)
from ._shared_data import helsinki_pbf

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "network" / "demo_county.osm"
DEMO_GZ = ROOT / "coverage" / "data" / "demo" / "demo_county.osm.gz"
ORIGIN = (121.37, 28.37)  # the hand-drawn streets lie in Wenling
LOGGER = "eldercare_coverage.osm_reader"




def _multiset(net) -> collections.Counter:
    """(smaller end id, larger end id, length rounded to cm) of every edge, counted."""
    ends = np.sort(np.column_stack([net.node_id[net.edge_u], net.node_id[net.edge_v]]), axis=1)
    return collections.Counter((int(a), int(b), round(float(length), 2))
                               for (a, b), length in zip(ends, net.edge_length_m, strict=True))


def _assert_osmnx_equal(net, U) -> None:
    """The network is osmnx's: the same nodes, edges between them and lengths."""
    assert net.n_nodes == U.number_of_nodes()
    assert net.n_edges == U.number_of_edges()
    assert set(net.node_id.tolist()) == set(U.nodes)
    assert _multiset(net) == osmnx_edge_multiset(U)
    reference_total = sum(shapely.length(d["geometry"]) if "geometry" in d else
                          math.dist((U.nodes[u]["x"], U.nodes[u]["y"]),
                                    (U.nodes[v]["x"], U.nodes[v]["y"]))
                          for u, v, d in U.edges(data=True))
    assert net.edge_length_m.sum() == pytest.approx(reference_total, rel=1e-12)
    assert net.crs == U.graph["crs"]


def _assert_same_arrays(a, b) -> None:
    assert a.crs == b.crs
    for name in ("node_id", "node_xy", "edge_u", "edge_v", "edge_length_m", "edge_highway"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert shapely.equals_exact(a.edge_geometry, b.edge_geometry, tolerance=0).all()


def _assert_geometry_runs_from_u_to_v(net) -> None:
    coords, owner = shapely.get_coordinates(net.edge_geometry, return_index=True)
    n = np.bincount(owner, minlength=net.n_edges)
    np.testing.assert_array_equal(coords[np.cumsum(n) - n], net.node_xy[net.edge_u])
    np.testing.assert_array_equal(coords[np.cumsum(n) - 1], net.node_xy[net.edge_v])


# --- real streets ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_reference():
    return osmnx_walk_network(DEMO)


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory):
    """Helsinki's PBF and the reference's complete XML of its streets."""
    pbf = helsinki_pbf()
    xml = tmp_path_factory.mktemp("helsinki") / "streets.osm"
    assert complete_street_xml(pbf, xml) > 100  # a clipped extract: the cut is tested too
    return pbf, xml


def test_demo_county_is_osmnx_walking_network(demo_reference):
    net = load_network(DEMO)
    _assert_osmnx_equal(net, demo_reference)
    _assert_geometry_runs_from_u_to_v(net)
    assert (np.diff(net.node_id) > 0).all()  # nodes in OSM id order
    assert net.meta["components"] == 2 and net.source == str(DEMO)
    west, south, east, north = net.meta["bounds_wgs84"]
    assert 121.2 < west < east < 121.5 and 28.3 < south < north < 28.5


def test_helsinki_pbf_is_osmnx_walking_network(helsinki, caplog):
    pbf, xml = helsinki
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        net = load_network(pbf)
    _assert_osmnx_equal(net, osmnx_walk_network(xml))
    _assert_geometry_runs_from_u_to_v(net)
    assert net.crs.to_epsg() == 32635
    # one warning for the clipped extract, naming the file and how many ways were cut
    (warning,) = [r for r in caplog.records if r.name == LOGGER]
    assert str(pbf) in warning.getMessage()
    assert f" {net.meta['clipped_ways']} walkable street ways" in warning.getMessage()
    assert net.meta["clipped_ways"] > 100


def test_xml_gz_bz2_and_pbf_of_the_same_streets_give_the_same_network(tmp_path):
    plain = load_network(DEMO)
    bz = tmp_path / "demo.osm.bz2"
    bz.write_bytes(bz2.compress(DEMO.read_bytes()))
    pbf = tmp_path / "demo.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(DEMO)):
            writer.add(obj)
    for other in (DEMO_GZ, bz, pbf):
        again = load_network(other)
        _assert_same_arrays(plain, again)
        assert again.source == str(other)


def test_graphs_through_network_from_graph_give_the_same_network(helsinki):
    """GraphML and downloads go through osmnx graphs: the same ways, the same edges."""
    for path in (DEMO, helsinki[0]):
        net = load_network(path)
        flat = network_from_graph(graph_from_file(path), source=str(path))
        assert flat.crs == net.crs
        assert (flat.n_nodes, flat.n_edges) == (net.n_nodes, net.n_edges)
        assert _multiset(flat) == _multiset(net)
        _assert_geometry_runs_from_u_to_v(flat)


def test_graphml_round_trip_gives_the_same_network(tmp_path):
    import osmnx as ox

    path = tmp_path / "demo.graphml"
    ox.save_graphml(graph_from_file(DEMO), path)
    assert _multiset(load_network(path)) == _multiset(load_network(DEMO))


def test_to_crs_is_kept_and_must_be_metres():
    net = load_network(DEMO, to_crs=32650)
    assert net.crs.to_epsg() == 32650
    utm = load_network(DEMO)
    assert net.edge_length_m.sum() == pytest.approx(utm.edge_length_m.sum(), rel=2e-3)
    flat = network_from_graph(graph_from_file(DEMO), to_crs=32650)
    assert _multiset(flat) == _multiset(net)
    for read in (lambda: load_network(DEMO, to_crs=4326),
                 lambda: network_from_graph(graph_from_file(DEMO), to_crs=4326)):
        with pytest.raises(NetworkError, match="not projected"):
            read()


# --- hand-drawn files ----------------------------------------------------------------------

def write_osm(path: Path, nodes: dict[str, tuple[float, float]],
              ways: list[tuple[int, str, dict[str, str]]], *, missing: str = "") -> Path:
    """An OSM XML file of hand-drawn streets.

    ``nodes`` are letters at (x, y) metres east and north of ``ORIGIN``, numbered 1, 2, ...
    in the order given; each way is (id, its node letters in order, tags). Nodes whose
    letter is in ``missing`` are referenced but not written (a clipped extract).
    """
    number = {name: i + 1 for i, name in enumerate(nodes)}
    m_per_deg_lat = 110_574.0
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(ORIGIN[1]))
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6'>"]
    for name, (x, y) in nodes.items():
        if name not in missing:
            lines.append(f"  <node id='{number[name]}' version='1' "
                         f"lat='{ORIGIN[1] + y / m_per_deg_lat:.7f}' "
                         f"lon='{ORIGIN[0] + x / m_per_deg_lon:.7f}'/>")
    for way_id, letters, tags in ways:
        lines.append(f"  <way id='{way_id}' version='1'>")
        lines += [f"    <nd ref='{number[c]}'/>" for c in letters]
        lines += [f"    <tag k='{k}' v='{v}'/>" for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ids(letters: str, nodes: dict[str, tuple[float, float]]) -> list[int]:
    order = list(nodes)
    return sorted(order.index(c) + 1 for c in letters)


def _vertices(net) -> list[int]:
    return [len(shapely.get_coordinates(g)) for g in net.edge_geometry]


RESIDENTIAL = {"highway": "residential"}

# The rule's street:
#
#     a --------- b --------- c        way 1: highway=residential (always walks)
#                 |
#                 |
#                 d                    way 2: the tags under test
#
# When way 2 walks, b is a junction: nodes a, b, c, d and three edges. When it does not, b
# is only a bend of one street: nodes a and c, one edge a-b-c.
BRANCH = {"a": (0.0, 0.0), "b": (100.0, 0.0), "c": (200.0, 0.0), "d": (100.0, -60.0)}
RULE_CASES = [
    ({"highway": "footway"}, True),
    ({"highway": "steps"}, True),
    ({"highway": "cycleway"}, False),  # OSM's default access: no pedestrians
    ({"highway": "cycleway", "foot": "designated"}, True),  # a shared foot-and-cycle path
    ({"highway": "cycleway", "foot": "yes"}, True),
    ({"highway": "cycleway", "foot": "permissive"}, True),
    ({"highway": "secondary", "sidewalk": "separate"}, False),  # its sidewalk is a way
    ({"highway": "secondary", "sidewalk:right": "separate"}, False),
    ({"highway": "secondary", "sidewalk": "both"}, True),
    ({"highway": "footway", "foot": "no"}, False),
    ({"highway": "service", "access": "private"}, False),
    ({"highway": "service", "access": "private", "foot": "yes"}, True),
    ({"highway": "service", "service": "private"}, False),
    ({"highway": "pedestrian", "area": "yes"}, False),  # a square's outline
    ({"highway": "motorway"}, False),
    ({"highway": "motorway_link", "foot": "yes"}, False),  # never, whatever foot says
    ({"highway": "construction"}, False),
]


@pytest.mark.parametrize(("tags", "walks"), RULE_CASES,
                         ids=[",".join(f"{k}={v}" for k, v in t.items()) for t, _ in RULE_CASES])
def test_walking_rule_per_way(tmp_path, tags, walks):
    assert walkable(tags) is walks
    assert reference_walkable(tags) is walks  # the reference restates the same rule
    path = write_osm(tmp_path / "branch.osm", BRANCH, [(1, "abc", RESIDENTIAL), (2, "bd", tags)])
    net = load_network(path)
    if walks:
        assert net.node_id.tolist() == _ids("abcd", BRANCH) and net.n_edges == 3
    else:
        assert net.node_id.tolist() == _ids("ac", BRANCH) and _vertices(net) == [3]
    # the osmnx graph path (GraphML, downloads) keeps the same ways
    assert _multiset(network_from_graph(graph_from_file(path))) == _multiset(net)
    _assert_osmnx_equal(net, osmnx_walk_network(path))


def test_walking_rule_is_settings(tmp_path, monkeypatch):
    path = write_osm(tmp_path / "branch.osm", BRANCH, [
        (1, "abc", RESIDENTIAL), (2, "bd", {"highway": "cycleway"})])
    before = cache_key(path)
    assert load_network(path).n_edges == 1
    monkeypatch.setattr(settings, "walk_foot_only_highway", frozenset())
    assert load_network(path).n_edges == 3  # bare cycleways walk now
    assert cache_key(path) != before
    monkeypatch.setattr(settings, "walk_exclude_highway",
                        settings.walk_exclude_highway | {"cycleway"})
    assert load_network(path).n_edges == 1
    monkeypatch.undo()
    path = write_osm(tmp_path / "branch.osm", BRANCH, [
        (1, "abc", RESIDENTIAL), (2, "bd", {"highway": "service", "access": "no"})])
    assert load_network(path).n_edges == 3  # DESIGN keeps out access=private only
    monkeypatch.setattr(settings, "walk_restricted_tags",
                        {**settings.walk_restricted_tags, "access": frozenset({"private", "no"})})
    assert load_network(path).n_edges == 1
    assert walkable({"highway": "service", "access": "no", "foot": "yes"})


def test_t_junction(tmp_path):
    """A way ending on another splits it::

        a --100 m-- b --100 m-- c      way 1
                    |
                   50 m
                    |
                    d                  way 2
    """
    nodes = {"a": (0.0, 0.0), "b": (100.0, 0.0), "c": (200.0, 0.0), "d": (100.0, -50.0)}
    path = write_osm(tmp_path / "t.osm", nodes, [(1, "abc", RESIDENTIAL),
                                                 (2, "bd", {"highway": "footway"})])
    net = load_network(path)
    assert net.node_id.tolist() == [1, 2, 3, 4]
    ends = {tuple(sorted(e)): round(length) for e, length in zip(
        zip(net.node_id[net.edge_u].tolist(), net.node_id[net.edge_v].tolist(), strict=True),
        net.edge_length_m, strict=True)}
    assert ends == {(1, 2): 100, (2, 3): 100, (2, 4): 50}
    assert sorted(net.edge_highway.tolist()) == ["footway", "residential", "residential"]
    _assert_osmnx_equal(net, osmnx_walk_network(path))


def test_ways_crossing_at_a_shared_node_and_a_bridge_without_one(tmp_path):
    """Way 2 crosses way 1 at b, a node of both: four edges meet there. Way 3 passes
    over way 1 between b and c without a shared node (a bridge): no junction::

                    e       f
                    |       |
        a --------- b ------+---- c    way 1 (a, b, c)
                    |       |
                    d       g          way 2 (e, b, d), way 3 (f, g) on a bridge
    """
    nodes = {"a": (0.0, 0.0), "b": (100.0, 0.0), "c": (200.0, 0.0), "d": (100.0, -80.0),
             "e": (100.0, 80.0), "f": (150.0, 80.0), "g": (150.0, -80.0)}
    path = write_osm(tmp_path / "cross.osm", nodes, [
        (1, "abc", RESIDENTIAL), (2, "ebd", RESIDENTIAL),
        (3, "fg", {"highway": "footway", "bridge": "yes", "layer": "1"})])
    net = load_network(path)
    b = net.node_id.tolist().index(2)
    assert ((net.edge_u == b) | (net.edge_v == b)).sum() == 4
    assert net.n_edges == 5
    _assert_osmnx_equal(net, osmnx_walk_network(path))


def test_loops_and_rings(tmp_path):
    """A closed way hanging on a street is one edge from b back to b; rings touching no other
    street are left out, as osmnx leaves them out (one closed way, or two ways end to end)::

        a --------- b --------- c      way 1 (a, b, c)
                   / \\
                  e - d                way 2 (b, d, e, b): a loop at b

           g - h        j ---- k       way 3 (g, h, i, g): a ring alone
            \\ /         |      |       ways 4 (j, k, l) and 5 (l, m, j): a ring of two
             i          m ---- l
    """
    nodes = {"a": (0.0, 0.0), "b": (100.0, 0.0), "c": (200.0, 0.0), "d": (130.0, -50.0),
             "e": (70.0, -50.0), "g": (0.0, -200.0), "h": (60.0, -200.0), "i": (30.0, -250.0),
             "j": (150.0, -200.0), "k": (250.0, -200.0), "l": (250.0, -260.0),
             "m": (150.0, -260.0)}
    path = write_osm(tmp_path / "loop.osm", nodes, [
        (1, "abc", RESIDENTIAL), (2, "bdeb", {"highway": "footway"}),
        (3, "ghig", {"highway": "footway"}), (4, "jkl", RESIDENTIAL), (5, "lmj", RESIDENTIAL)])
    net = load_network(path)
    assert net.node_id.tolist() == _ids("abc", nodes)
    loop = np.flatnonzero(net.edge_u == net.edge_v)
    assert len(loop) == 1 and net.n_edges == 3
    assert _vertices(net)[loop[0]] == 4
    assert net.edge_length_m[loop[0]] == pytest.approx(60 + 2 * math.hypot(30, 50), rel=0.01)
    assert net.csr.nnz == 4  # a loop never shortens a path
    _assert_osmnx_equal(net, osmnx_walk_network(path))


def test_ways_joined_end_to_end_one_way_streets_and_repeats(tmp_path):
    """A street drawn as two ways joined end to end is one edge; a one-way street splits
    nothing (walking uses it both ways); two ways over the same nodes are two streets; a
    way over the same segment twice gives it once::

        a ---- b ---- c ---- d         way 1 (a, b), way 2 (b, c, oneway), way 3 (c, d)
        e ---- f ---- g                ways 4 and 5, both (e, f, g)
        h ---- i ---- j                way 6 (h, i, j, i)
    """
    nodes = {"a": (0.0, 0.0), "b": (80.0, 0.0), "c": (160.0, 10.0), "d": (240.0, 0.0),
             "e": (0.0, -100.0), "f": (80.0, -100.0), "g": (160.0, -110.0),
             "h": (0.0, -200.0), "i": (80.0, -200.0), "j": (160.0, -210.0)}
    path = write_osm(tmp_path / "joined.osm", nodes, [
        (1, "ab", RESIDENTIAL), (2, "bc", {"highway": "residential", "oneway": "yes"}),
        (3, "cd", RESIDENTIAL), (4, "efg", RESIDENTIAL), (5, "efg", {"highway": "service"}),
        (6, "hiji", {"highway": "footway"})])
    net = load_network(path)
    ids = net.node_id.tolist()
    ends = sorted(tuple(sorted((ids[u], ids[v]))) for u, v in zip(net.edge_u, net.edge_v,
                                                                   strict=True))
    a, d, e, f, g, h, i, j = (_ids(c, nodes)[0] for c in "adefghij")
    assert ends == sorted([(a, d), (e, f), (e, f), (f, g), (f, g), (h, i), (i, j)])
    assert _vertices(net)[ends.index((a, d))] == 4
    _assert_osmnx_equal(net, osmnx_walk_network(path))


def test_clipped_way_is_cut_at_the_missing_node(tmp_path, caplog):
    """Node x is missing from the file (a clipped extract): way 1 is cut there::

        a ---- b ····x···· c ---- d    way 1 (a, b, x, c, d)
        e ---- f                       way 2 (e, x, f): its runs of one node are dropped
    """
    nodes = {"a": (0.0, 0.0), "b": (80.0, 0.0), "x": (160.0, 0.0), "c": (240.0, 0.0),
             "d": (320.0, 0.0), "e": (0.0, -100.0), "f": (80.0, -100.0)}
    path = write_osm(tmp_path / "clipped.osm", nodes, [
        (1, "abxcd", RESIDENTIAL), (2, "exf", RESIDENTIAL)], missing="x")
    pbf = tmp_path / "clipped.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(path)):
            writer.add(obj)
    for source in (path, pbf):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            net = load_network(source)
        assert net.node_id.tolist() == _ids("abcd", nodes)
        assert net.n_edges == 2 and net.meta["clipped_ways"] == 2
        (warning,) = [r for r in caplog.records if r.name == LOGGER]
        assert warning.getMessage().startswith(f"{source}: 2 walkable street ways reference "
                                               "nodes missing from the file")


# --- errors ----------------------------------------------------------------------------------

def test_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(InputFileError, match=r"missing\.osm: network file does not exist"):
        load_network(tmp_path / "missing.osm")
    cut = tmp_path / "cut.osm"
    cut.write_text(DEMO.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(InputFileError, match=rf"{cut}: cannot read OSM XML \(ParseError: .*"
                                             r"line \d+.*\n  Is the file complete"):
        load_network(cut)
    bad_pbf = tmp_path / "bad.osm.pbf"
    bad_pbf.write_bytes(b"\x00\x00\x00\x0dgarbage" * 10)
    with pytest.raises(InputFileError, match=rf"{bad_pbf}: cannot read OSM PBF .*osmium "
                                             "fileinfo"):
        load_network(bad_pbf)
    not_osm = tmp_path / "feed.xml"
    not_osm.write_text("<?xml version='1.0'?><rss/>", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"feed\.xml: cannot read OSM XML .*\n  Is it OSM"):
        load_network(not_osm)
    no_street = write_osm(tmp_path / "river.osm", BRANCH, [(1, "abc", {"waterway": "river"})])
    with pytest.raises(NetworkError, match=r"river\.osm: the file holds no street"):
        load_network(no_street)
    motorway = write_osm(tmp_path / "motorway.osm", BRANCH, [
        (1, "abc", {"highway": "motorway"}), (2, "bd", {"highway": "cycleway"})])
    with pytest.raises(NetworkError) as caught:
        load_network(motorway)
    first, second = str(caught.value).split("\n")
    assert first == f"{motorway}: no street in the file can be used for 'walk'"
    assert "2 street ways" in second and "motorway 1" in second and "cycleway 1" in second
    assert "settings.walk_exclude_highway" in second
    only_missing = write_osm(tmp_path / "gone.osm", BRANCH, [(1, "abc", RESIDENTIAL)],
                             missing="abc")
    with pytest.raises(NetworkError, match="complete_ways"):
        load_network(only_missing)
    ring = write_osm(tmp_path / "ring.osm", BRANCH, [(1, "abda", RESIDENTIAL)])
    with pytest.raises(NetworkError, match="closed rings"):
        load_network(ring)
    with pytest.raises(NetworkError, match="mode was 'drive'"):
        load_network(DEMO, mode="drive")


def test_unknown_suffix_is_refused(tmp_path):
    path = tmp_path / "roads.shp"
    shutil.copy(DEMO, path)
    with pytest.raises(InputFileError, match=r"unknown network format '\.shp'"):
        load_network(path)


def test_reprojected_geometry_matches_pyproj(tmp_path):
    """Node coordinates are the WGS-84 locations transformed by pyproj, nothing else."""
    path = write_osm(tmp_path / "t.osm", BRANCH, [(1, "abc", RESIDENTIAL),
                                                  (2, "bd", {"highway": "footway"})])
    net = load_network(path)
    lonlat = {int(n.id): (n.location.lon, n.location.lat)
              for n in osmium.FileProcessor(str(path), osmium.osm.NODE)}
    to_utm = pyproj.Transformer.from_crs(4326, 32651, always_xy=True)
    expected = np.array([to_utm.transform(*lonlat[i]) for i in net.node_id.tolist()])
    np.testing.assert_allclose(net.node_xy, expected, rtol=0, atol=1e-9)
