"""The committed demo inputs: regenerated identically, shipped once (the package data and
the readable copy in data/ hold the same content), small, and as realistic as promised (a
river walking crosses only on bridges, roads walking cannot use, WorldPop-format grid,
Chinese facility table, official-format urban-rural codes)."""

from __future__ import annotations

import ast
import csv
import glob
import gzip
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import pytest
import rasterio
import shapely

import eldercare_coverage as ec
from eldercare_coverage.demo import DEMO_FILES, DemoInputs
from eldercare_coverage.osm_graph import graph_from_file
from eldercare_coverage.policy import default_policy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
PACKAGE_DATA = ROOT / "coverage" / "data" / "demo"
FILES = ("network/demo_county.osm", "facilities/demo_facilities.csv",
         "population/demo_elderly_60plus.tif", "boundaries/demo_units.geojson")
TEXT_FIELDS = ("network", "facilities", "boundaries")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory, demo_generator):
    """The script's output: the readable files under ``data/``, the package data under
    ``package/``."""
    out = tmp_path_factory.mktemp("regen")
    assert demo_generator.main(["--out", str(out / "data"),
                                "--package-out", str(out / "package")]) == 0
    return out


@pytest.fixture(scope="module")
def osm():
    return ET.parse(DATA / "network" / "demo_county.osm").getroot()


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")


def _assert_same_raster(path_a: Path, path_b: Path) -> None:
    """Same grid, CRS, nodata, tags and pixels (bytes may differ between GDAL builds)."""
    with rasterio.open(path_a) as a, rasterio.open(path_b) as b:
        assert a.profile == b.profile
        assert (a.crs, a.transform, a.nodata) == (b.crs, b.transform, b.nodata)
        assert a.tags() == b.tags()
        np.testing.assert_array_equal(a.read(), b.read())


def _assert_same_content(field: str, path_a: Path, path_b: Path) -> None:
    """The same OSM XML, CSV and GeoJSON text once decompressed (so the same elements,
    rows and features); the same GeoTIFF grid and pixels."""
    if field == "population":
        _assert_same_raster(path_a, path_b)
    else:
        assert _text(path_a) == _text(path_b), field


def test_regenerating_gives_the_committed_files(regenerated):
    for sub in FILES[:2] + FILES[3:]:
        assert (regenerated / "data" / sub).read_bytes() == (DATA / sub).read_bytes(), sub
    _assert_same_raster(regenerated / "data" / FILES[2], DATA / FILES[2])
    # the package data: the same content (gzip and GDAL bytes may differ between builds)
    for field, (name, _) in DEMO_FILES.items():
        _assert_same_content(field, regenerated / "package" / name, PACKAGE_DATA / name)


def test_package_data_and_the_readable_copy_are_one_source():
    """data/ is the readable copy of the package's coverage/data/demo/, nothing else."""
    assert sorted(p.name for p in PACKAGE_DATA.iterdir()) == sorted(
        name for name, _ in DEMO_FILES.values())
    for field, (name, copy) in DEMO_FILES.items():
        _assert_same_content(field, PACKAGE_DATA / name, DATA / copy)


def test_write_demo_inputs_copies_the_shipped_files(tmp_path):
    inputs = ec.write_demo_inputs(tmp_path / "inputs")
    assert isinstance(inputs, DemoInputs)
    for field, (_, copy) in DEMO_FILES.items():
        path = getattr(inputs, field)
        assert path == tmp_path / "inputs" / copy
        if field in TEXT_FIELDS:
            assert path.read_bytes() == (DATA / copy).read_bytes(), field
    _assert_same_raster(inputs.population, DATA / FILES[2])


def test_package_data_is_in_the_wheel():
    """Every shipped file matches a package-data pattern of pyproject.toml."""
    # (read without tomllib, which Python 3.10 lacks: the list is one line)
    section = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split(
        "[tool.setuptools.package-data]", 1)[1]
    line = next(x for x in section.splitlines() if x.startswith("eldercare_coverage"))
    patterns = ast.literal_eval(line.split("=", 1)[1].strip())
    packaged = {f for p in patterns for f in glob.glob(p, root_dir=ROOT / "coverage")}
    for path in PACKAGE_DATA.iterdir():
        assert path.relative_to(ROOT / "coverage").as_posix() in packaged, path.name


def test_network_reader_reads_the_shipped_osm_gz():
    gz = graph_from_file(PACKAGE_DATA / DEMO_FILES["network"][0])
    plain = graph_from_file(DATA / FILES[0])
    assert (gz.number_of_nodes(), gz.number_of_edges()) == (
        plain.number_of_nodes(), plain.number_of_edges())
    assert set(gz.nodes) == set(plain.nodes)


def test_committed_inputs_are_small():
    assert sum((DATA / f).stat().st_size for f in FILES) < 3_000_000
    assert sum(p.stat().st_size for p in PACKAGE_DATA.iterdir()) < 300_000


def test_raster_is_worldpop_format_with_the_documented_total(demo_generator):
    with rasterio.open(DATA / FILES[2]) as src:
        assert src.crs.to_epsg() == 4326
        assert src.res == pytest.approx((1 / 1200, 1 / 1200), rel=1e-12)
        assert src.dtypes == ("float32",) and src.nodata == -99999
        a = src.read(1)
        west, south, east, north = src.bounds
    people = a[a != -99999]
    assert (people >= 0).all()
    total = demo_generator.DEMO_ELDERLY_TOTAL
    assert float(people.sum(dtype=np.float64)) == total == 47836
    assert 40_000 <= total <= 60_000
    assert (a == -99999).any()  # sea/outside-county cells carry nodata, as WorldPop's do
    assert west < 121.37 < east and south < 28.37 < north


def test_river_is_crossed_only_on_bridges(osm):
    tags = {w.get("id"): {t.get("k"): t.get("v") for t in w.iter("tag")}
            for w in osm.iter("way")}
    rivers = [i for i, t in tags.items() if t.get("waterway") == "river"]
    assert len(rivers) == 1 and "highway" not in tags[rivers[0]]
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in osm.iter("node")}
    river_way = next(w for w in osm.iter("way") if w.get("id") == rivers[0])
    river = shapely.LineString([nodes[nd.get("ref")] for nd in river_way.iter("nd")])
    crossing, bridges = [], []
    for w in osm.iter("way"):
        t = tags[w.get("id")]
        if "highway" not in t:
            continue
        line = shapely.LineString([nodes[nd.get("ref")] for nd in w.iter("nd")])
        if line.intersects(river):
            crossing.append(w.get("id"))
            if t.get("bridge") == "yes":
                bridges.append(w.get("id"))
    assert crossing == bridges, "a road crosses the river without a bridge"
    walk_bridges = [i for i in bridges if not tags[i]["highway"].startswith("motorway")]
    assert 3 <= len(walk_bridges) <= 8  # three core bridges and two rural ones (few)


def test_walking_network_leaves_out_what_walkers_cannot_use(osm):
    G = graph_from_file(DATA / FILES[0])
    tags = {int(w.get("id")): {t.get("k"): t.get("v") for t in w.iter("tag")}
            for w in osm.iter("way")}
    kept: set[int] = set()
    for _, _, osmid in G.edges(data="osmid"):
        kept.update(osmid if isinstance(osmid, list) else [osmid])
    forbidden = {i for i, t in tags.items() if t.get("highway", "").startswith("motorway")
                 or t.get("foot") == "no" or t.get("access") == "private"}
    assert {tags[i].get("highway") for i in forbidden} >= {"motorway"}
    assert any(tags[i].get("foot") == "no" for i in forbidden)
    assert any(tags[i].get("access") == "private" for i in forbidden)
    assert not kept & forbidden
    highways = {t.get("highway") for i, t in tags.items() if i in kept}
    assert {"footway", "residential", "service"} <= highways
    assert any(t.get("oneway") == "yes" for i, t in tags.items() if i in kept)
    # the disconnected hamlet is a second component, kept so its people are accounted for
    assert nx.number_weakly_connected_components(G) == 2


def test_river_makes_network_distance_longer_than_straight_line(demo_generator):
    county = demo_generator.build_demo_county()
    G = graph_from_file(DATA / FILES[0]).to_undirected()
    to_utm = pyproj.Transformer.from_crs(4326, 32651, always_xy=True)
    ids = np.array(list(G.nodes))
    xy = np.array(to_utm.transform(*np.array([(G.nodes[n]["x"], G.nodes[n]["y"])
                                              for n in ids]).T)).T
    river = shapely.transform(county.river, lambda c: np.column_stack(to_utm.transform(*c.T)))
    # a node is south of the river when a ray going north from it meets the river
    south_of = np.array([shapely.LineString([p, p + [0, 20000]]).intersects(river) for p in xy])
    near = shapely.distance(shapely.points(xy), river) < 200
    south, north = np.flatnonzero(near & south_of), np.flatnonzero(near & ~south_of)
    ratios = []
    for a in south:
        d = np.hypot(*(xy[north] - xy[a]).T)
        if d.min() > 250:
            continue
        b = north[np.argmin(d)]
        if nx.has_path(G, ids[a], ids[b]):
            ratios.append(nx.shortest_path_length(G, ids[a], ids[b], weight="length") / d.min())
    assert len(ratios) >= 10, len(ratios)
    assert np.median(ratios) > 2.0  # across the river, the bridge detour dominates


def test_facility_table_is_a_chinese_office_export(demo_generator):
    with open(DATA / FILES[1], encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["id", "name", "type", "lon", "lat", "beds", "meals_per_day"]
    codes = {t.code for t in default_policy().facility_types}
    assert {r["type"] for r in rows} == codes  # every kind of facility appears
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r["name"]) for r in rows)
    assert sum(1 for r in rows if not r["lon"] and not r["lat"]) == 1  # one planned facility
    beds = [int(r["beds"]) for r in rows if r["type"] == "nursing_home"]
    assert len(beds) == 5 and sum(beds) == demo_generator.DemoSpec.demo().nursing_beds


def test_boundaries_have_levels_parents_and_urban_rural_codes():
    units = gpd.read_file(DATA / FILES[3])
    assert set(units["level"]) == {"town", "village"}
    towns, villages = units[units["level"] == "town"], units[units["level"] == "village"]
    assert set(villages["parent_id"]) == set(towns["unit_id"])
    assert units["urban_rural_code"].astype(int).between(100, 299).all()
    assert (units["urban_rural_code"].astype(int) // 100).isin([1, 2]).all()
    assert (units["urban_rural_code"].astype(int) >= 200).any()
    # villages tile their towns
    utm = units.to_crs(32651)
    for _, town in utm[utm["level"] == "town"].iterrows():
        parts = utm[utm["parent_id"] == town["unit_id"]]
        assert parts.union_all().symmetric_difference(town.geometry).area < 1.0


def test_wenling_preset_has_wenling_figures(demo_generator):
    w = demo_generator.DemoSpec.wenling()
    assert (w.elderly_total, w.area_km2) == (276870, 926)
    assert (w.town_centers, w.community_centers, w.nursing_homes, w.nursing_beds) == \
        (24, 585, 48, 9512)
    assert (w.central_kitchens, w.canteens, w.meal_points) == (33, 16, 520)


def test_delivery_graph_keeps_motor_roads_and_one_way_streets(osm):
    from eldercare_coverage._errors import NetworkError
    from eldercare_coverage.network import load_network

    G = graph_from_file(DATA / FILES[0], mode="drive")
    tags = {int(w.get("id")): {t.get("k"): t.get("v") for t in w.iter("tag")}
            for w in osm.iter("way")}
    kept: set[int] = set()
    for _, _, osmid in G.edges(data="osmid"):
        kept.update(osmid if isinstance(osmid, list) else [osmid])
    highways = {tags[i]["highway"] for i in kept}
    assert "motorway" in highways
    assert not highways & {"footway", "steps", "path", "pedestrian", "track", "service"}
    oneway = [i for i in kept if tags[i].get("oneway") == "yes"]
    assert oneway
    for u, v, d in G.edges(data=True):
        ids = d["osmid"] if isinstance(d["osmid"], list) else [d["osmid"]]
        if all(i in oneway for i in ids):
            assert not G.has_edge(v, u) or all(
                not set(e["osmid"] if isinstance(e["osmid"], list) else [e["osmid"]]) <= set(ids)
                for e in G.get_edge_data(v, u).values())
    with pytest.raises(NetworkError, match="the distance engine supports"):
        load_network(DATA / FILES[0], mode="drive")
