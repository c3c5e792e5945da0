"""Meal delivery: hand-computed minutes on small networks with known speeds, one-way
streets, the e-bike rule on hand-drawn OSM XML, and a networkx reference for directed
travel times (tests/_reference.py, independent of the engine)."""

from __future__ import annotations

import functools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from eldercare_coverage import settings
from eldercare_coverage.costs import EdgeCosts
from eldercare_coverage.delivery import delivery_costs, read_delivery_speeds
from eldercare_coverage.isochrones import nearest_distances
from eldercare_coverage.network import load_network, network_from_arrays
from eldercare_coverage.osm_rules import parse_maxspeed_kph
from eldercare_coverage.pipeline import run
from eldercare_coverage.policy import Circle
from eldercare_coverage.prepared import prepare_network

from ._reference import reference_directed_times

UTM = "EPSG:32651"
X0, Y0 = 330000.0, 3140000.0


def _delivery(node_xy, u, v, *, highway, oneway=None, maxspeed=None):
    net = network_from_arrays(np.asarray(node_xy, float) + [X0, Y0], u, v, crs=UTM,
                              edge_highway=np.asarray(highway, dtype=object))
    n = len(u)
    net.edge_oneway = np.asarray(oneway if oneway is not None else np.zeros(n), dtype=np.int8)
    net.edge_maxspeed_kph = np.asarray(maxspeed if maxspeed is not None else np.full(n, np.nan),
                                       dtype=float)
    return net


def _times(net, costs, src_xy, tgt_xy):
    prepared = prepare_network(net)
    src = prepared.snap(np.asarray(src_xy, float) + [X0, Y0], max_snap_m=500)
    tgt = prepared.snap(np.asarray(tgt_xy, float) + [X0, Y0], max_snap_m=500)
    return nearest_distances(net, src, tgt, costs=costs)[0]


def loop_block():
    """A block of four residential streets, the bottom one one-way west to east::

        3 ------ 1000 m ------ 2
        |                      |
       500 m                  500 m
        |                      |
        0 ---- one-way ---->-- 1
    """
    return _delivery([[0, 0], [1000, 0], [1000, 500], [0, 500]], [0, 1, 2, 3], [1, 2, 3, 0],
                     highway=["residential"] * 4, oneway=[1, 0, 0, 0])


def test_one_way_street_takes_the_long_way_round():
    """Rural residential streets: 18 km/h = 5 m/s; access legs of 12 m at 1.2 m/s = 10 s.

    Kitchen 12 m south of x = 800 on the bottom street, door 12 m south of x = 200.
    With the traffic (door to kitchen's place, west to east): 600 m = 120 s + 20 s = 140 s.
    Against it (kitchen to door): round the block, 200 + 500 + 1000 + 500 + 200 = 2400 m
    = 480 s + 20 s = 500 s: 360 s (6 minutes, 1800 m) longer.
    """
    net = loop_block()
    costs = delivery_costs(net, urban=np.zeros(4, dtype=bool))
    kitchen, door = [[800, -12]], [[200, -12]]
    against = _times(net, costs, kitchen, door)[0]
    along = _times(net, costs, door, kitchen)[0]
    assert along == pytest.approx(140.0)
    assert against == pytest.approx(500.0)
    assert against - along == pytest.approx(360.0)
    # walking ignores one-way streets: 600 m + 2 x 12 m both ways
    assert _times(net, None, kitchen, door)[0] == pytest.approx(624.0)
    # oneway:bicycle=no (code 0): the bike rides straight back
    net.edge_oneway[:] = 0
    two_way = delivery_costs(net, urban=np.zeros(4, dtype=bool))
    assert _times(net, two_way, kitchen, door)[0] == pytest.approx(140.0)


def test_speeds_maxspeed_cap_and_junction_delay():
    """A chain of three primary roads with a side street at each inner node::

        0 --e0-- 1 --e1-- 2 --e2-- 3
                 |        |
                 4        5

    e0 urban, 1000 m: urban primary 20 km/h -> 180 s. e1 urban, 500 m, maxspeed 10 km/h
    -> 180 s. e2 rural, 1250 m, maxspeed 80: min(80, rural primary 25, e-bike 25) -> 180 s.
    Kitchen at node 0, door at node 3: 540 s = 9 min; with 5 s per junction passed
    (nodes 1 and 2) 550 s.
    """
    net = _delivery([[0, 0], [1000, 0], [1500, 0], [2750, 0], [1000, -300], [1500, -300]],
                    [0, 1, 2, 1, 2], [1, 2, 3, 4, 5], highway=["primary"] * 3 + ["residential"] * 2,
                    maxspeed=[np.nan, 10, 80, np.nan, np.nan])
    urban = np.array([True, True, False, True, False])
    costs = delivery_costs(net, urban=urban)
    assert costs.forward[:3].tolist() == pytest.approx([180.0, 180.0, 180.0])
    assert _times(net, costs, [[0, 0]], [[2750, 0]])[0] == pytest.approx(540.0)
    delayed = delivery_costs(net, urban=urban, junction_delay_s=5.0)
    assert _times(net, delayed, [[0, 0]], [[2750, 0]])[0] == pytest.approx(550.0)
    van = read_delivery_speeds(profile="van")
    assert van.max_kph == math.inf and van.urban_kph["primary"] == 40.0


@pytest.mark.parametrize("tag, kph", [
    ("50", 50.0), ("50 km/h", 50.0), ("40kmh", 40.0), ("60 kph", 60.0), ("30 mph", 48.28032),
    ("60;40", 40.0), ("CN:urban", math.nan), ("walk", math.nan), ("", math.nan),
    (None, math.nan), ("none", math.nan)])
def test_maxspeed_parsing(tag, kph):
    got = parse_maxspeed_kph(tag)
    assert (math.isnan(got) and math.isnan(kph)) or got == pytest.approx(kph)


OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="hand">
{nodes}
{ways}
</osm>
"""
# (way id, node ids, tags, expected: kept?, oneway code, maxspeed km/h); footways are kept
# with the bike pushed (both ways, see DISMOUNT)
WAYS = [
    (1, [1, 2], {"highway": "residential"}, True, 0, math.nan),
    (2, [2, 3], {"highway": "residential", "oneway": "yes"}, True, 1, math.nan),
    (3, [3, 4], {"highway": "residential", "oneway": "-1"}, True, -1, math.nan),
    (4, [4, 5], {"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"}, True, 0,
     math.nan),
    (5, [5, 6], {"highway": "tertiary", "junction": "roundabout"}, True, 1, math.nan),
    (6, [6, 7], {"highway": "motorway"}, False, 0, math.nan),
    (7, [7, 8], {"highway": "footway"}, True, 0, math.nan),
    (8, [8, 9], {"highway": "footway", "bicycle": "yes"}, True, 0, math.nan),
    (9, [9, 10], {"highway": "cycleway"}, True, 0, math.nan),
    (10, [10, 11], {"highway": "service", "access": "private"}, False, 0, math.nan),
    (11, [11, 12], {"highway": "residential", "bicycle": "no"}, False, 0, math.nan),
    (12, [1, 13], {"highway": "primary", "maxspeed": "30 mph"}, True, 0, 48.28032),
    (13, [13, 14], {"highway": "track"}, True, 0, math.nan),
    (14, [14, 15], {"highway": "residential", "motor_vehicle": "no"}, True, 0, math.nan),
    (15, [15, 16], {"highway": "motorway_link"}, False, 0, math.nan),
    (16, [16, 17], {"highway": "path"}, True, 0, math.nan),
    (17, [17, 18], {"highway": "steps", "bicycle": "yes"}, False, 0, math.nan),
    (18, [18, 19], {"highway": "service", "service": "parking_aisle"}, True, 0, math.nan),
    (19, [19, 20], {"highway": "footway", "oneway": "yes"}, True, 1, math.nan),
    (20, [20, 21], {"highway": "residential", "bicycle": "dismount", "oneway": "yes"}, True, 1,
     math.nan),
]
DISMOUNT = {7, 19, 20}  # pushed: a footway (oneway or not), bicycle=dismount


def _osm_file(tmp_path):
    nodes = "\n".join(f'<node id="{i}" lat="{28.35 + 0.001 * (i % 7)}" '
                      f'lon="{121.35 + 0.0013 * i}" version="1"/>' for i in range(1, 22))
    ways = "\n".join(
        f'<way id="{w}" version="1">' + "".join(f'<nd ref="{n}"/>' for n in refs)
        + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>"
        for w, refs, tags, *_ in WAYS)
    path = tmp_path / "ebike.osm"
    path.write_text(OSM_XML.format(nodes=nodes, ways=ways), encoding="utf-8")
    return path


def test_ebike_rule_on_hand_drawn_osm(tmp_path):
    """Each way is its own edge (split at way ends), running along the way's nodes."""
    net = load_network(_osm_file(tmp_path), mode="delivery")
    assert net.directed and net.mode == "delivery"
    ends = {(int(net.node_id[u]), int(net.node_id[v])): e
            for e, (u, v) in enumerate(zip(net.edge_u, net.edge_v, strict=True))}
    for way, refs, tags, kept, oneway, kph in WAYS:
        e = ends.get((refs[0], refs[-1]))
        assert (e is not None) == kept, tags
        if e is None:
            continue
        assert bool(net.edge_dismount[e]) == (way in DISMOUNT), tags
        assert int(net.edge_oneway[e]) == oneway, tags
        got = float(net.edge_maxspeed_kph[e])
        assert (math.isnan(got) and math.isnan(kph)) or got == pytest.approx(kph), tags
    # pushed edges cost the courier's pace both ways, whatever oneway says
    costs = delivery_costs(net, urban=np.zeros(net.n_edges, dtype=bool))
    for way in DISMOUNT:
        refs = next(r for w, r, *_ in WAYS if w == way)
        e = ends[(refs[0], refs[-1])]
        assert costs.forward[e] == costs.backward[e] == pytest.approx(
            net.edge_length_m[e] / 1.2)
    # the van: drivable roads only, oneway:bicycle does not apply
    before = settings.delivery_profile
    settings.delivery_profile = "van"
    try:
        van = load_network(_osm_file(tmp_path), mode="delivery")
    finally:
        settings.delivery_profile = before
    van_ends = {(int(van.node_id[u]), int(van.node_id[v])): e
                for e, (u, v) in enumerate(zip(van.edge_u, van.edge_v, strict=True))}
    # bicycle=no is no matter to a van; motor_vehicle=no, tracks, service roads are
    assert set(van_ends) == {(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (11, 12), (1, 13),
                             (15, 16), (20, 21)}
    assert not van.edge_dismount.any()
    assert int(van.edge_oneway[van_ends[(4, 5)]]) == 1


def test_directed_times_match_networkx():
    """A 5 x 5 grid of bent streets with random one-way streets and speeds: the engine's
    travel times equal networkx's on the graph with the projection points inserted."""
    rng = np.random.default_rng(7)
    xy = np.array([[x * 200.0, y * 150.0] for y in range(5) for x in range(5)])
    u, v = [], []
    for y in range(5):
        for x in range(5):
            k = y * 5 + x
            if x < 4:
                u.append(k)
                v.append(k + 1)
            if y < 4:
                u.append(k)
                v.append(k + 5)
    u, v = np.array(u), np.array(v)
    bend = rng.uniform(-30, 30, (len(u), 2))
    geoms = shapely.linestrings([[xy[a] + [X0, Y0], (xy[a] + xy[b]) / 2 + [X0, Y0] + d,
                                  xy[b] + [X0, Y0]] for a, b, d in zip(u, v, bend, strict=True)])
    net = network_from_arrays(xy + [X0, Y0], u, v, crs=UTM, edge_geometry=geoms)
    seconds = net.edge_length_m / rng.uniform(2.0, 7.0, len(u))
    direction = rng.choice([0, 0, 1, -1], len(u))
    costs = EdgeCosts(np.where(direction >= 0, seconds, np.inf),
                      np.where(direction <= 0, seconds * rng.uniform(1, 1.5, len(u)), np.inf),
                      access_m_per_cost=1.2, unit="s")
    src_xy = rng.uniform([0, 0], [800, 600], (3, 2))
    tgt_xy = rng.uniform([0, 0], [800, 600], (60, 2))
    got = _times(net, costs, src_xy, tgt_xy)
    want = reference_directed_times(net.edge_geometry, net.edge_u, net.edge_v, costs.forward,
                                    costs.backward, 1.2, src_xy + [X0, Y0], tgt_xy + [X0, Y0])
    assert np.isfinite(want).sum() > 40
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6)


def test_delivery_circle_policy():
    c = Circle("meal_x", "delivery", 30, "min", ("meal",), ("rural",))
    assert c.limit_cost(walk_speed_m_s=0.9) == 1800.0
    assert c.cost_to_unit(900.0, walk_speed_m_s=0.9) == 15.0
    assert c.class_bound
    with pytest.raises(ValueError, match="must be 'min'"):
        Circle("meal_y", "delivery", 3000, "m")


def _road_and_villages():
    """A rural road 12 km long; a kitchen at its west end; two rural villages along it
    (the near one holds the kitchen and the road's middle, so the road is ridden at the
    rural speed), each with one small cell 6 m off the road, at x = 8960 (29.95 min) and
    x = 9040 (30.22 min)."""
    net = _delivery([[0, 0], [12000, 0]], [0], [1], highway=["residential"])
    cells = gpd.GeoDataFrame(
        {"cell_id": [0, 1], "row": [-1, -1], "col": [-1, -1], "elderly": [10.0, 30.0]},
        geometry=[shapely.box(X0 + x - 2, Y0 + 4, X0 + x + 2, Y0 + 8) for x in (8960, 9040)],
        crs=UTM)
    villages = gpd.GeoDataFrame(
        {"unit_id": ["V1", "V2"], "name": ["近村", "远村"], "level": ["village", "village"],
         "parent_id": [None, None], "urban_rural_code": pd.array([220, 220], dtype="Int64"),
         "urban_rural": ["rural", "rural"]},
        geometry=[shapely.box(X0 - 500, Y0 - 500, X0 + 9000, Y0 + 500),
                  shapely.box(X0 + 9000, Y0 - 500, X0 + 12500, Y0 + 500)], crs=UTM)
    pts = gpd.GeoSeries(shapely.points([[X0, Y0]]), crs=UTM).to_crs(4326)
    kitchen = gpd.GeoDataFrame({
        "facility_id": ["K1"], "name": ["中心厨房"], "type": ["central_kitchen"], "beds": [np.nan],
        "meals_per_day": [50.0], "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(),
        "source_row": [2], "status": ["ok"], "reason": [""]}, geometry=pts.to_numpy(), crs=4326)
    return net, cells, villages, kitchen


def test_village_just_inside_and_just_past_30_minutes():
    """Rural residential road: 18 km/h = 5 m/s; each door 6 m off the road (5 s at 1.2 m/s).
    Near village: 8960 m / 5 + 5 = 1797 s = 29.95 min, inside. Far village: 9040 / 5 + 5 =
    1813 s = 30.217 min, past. The rural circle covers the 10 elderly of the near village
    of 40; the urban circle counts no one (there are no urban cells)."""
    net, cells, villages, kitchen = _road_and_villages()
    res = run(net, kitchen, cells, villages, delivery_network=net,
              circles=["meal_urban_15min", "meal_rural_30min"])
    pop = res.population.set_index("cell_id")
    assert pop.loc[0, "meal_rural_30min_dist"] == pytest.approx(1797 / 60)
    assert pop.loc[1, "meal_rural_30min_dist"] == pytest.approx(1813 / 60)
    assert pop.loc[0, "meal_urban_15min_dist"] == pytest.approx(1797 / 60)  # every cell has it
    assert (pop["meal_rural_30min_facility"] == "K1").all()
    assert pop["urban_rural"].tolist() == ["rural", "rural"]
    c = {x["name"]: x for x in res.summary["circles"]}
    assert c["meal_rural_30min"]["elderly_covered"] == pytest.approx(10.0)
    assert c["meal_rural_30min"]["coverage_rate"] == pytest.approx(10 / 40)
    assert c["meal_urban_15min"]["elderly_covered"] == 0.0
    assert c["meal_urban_15min"]["elderly_counted"] == 0.0
    # the villages: the near one reached, the far one not; the kitchen lies in the near one
    u = res.units.set_index("name")
    assert u.loc["近村", "meal_reached"] and not u.loc["远村", "meal_reached"]
    assert u.loc["近村", "meal_facility_inside"] and not u.loc["远村", "meal_facility_inside"]
    assert u.loc["近村", "meal_limit_min"] == 30.0
    assert u.loc["远村", "meal_kitchen_min_median"] == pytest.approx(1813 / 60)
    assert res.summary["community_meal_coverage_rate"] == pytest.approx(0.5)
    assert res.summary["community_meal_service_rate"] == pytest.approx(0.5)
    # capacity: 50 meals a day for the 10 elderly of its catchment (the rural circle's;
    # the urban one counts no one)
    assert res.summary["meal_capacity"]["meals_per_100_elderly"] == pytest.approx(500.0)
    f = res.facilities.set_index("facility_id")
    assert f.loc["K1", "delivery_elderly"] == pytest.approx(10.0)
    assert f.loc["K1", "meals_per_100_elderly"] == pytest.approx(500.0)


def test_delivery_circles_need_a_delivery_network():
    """A network given as arrays has no OSM file to read the delivery network from: asked
    for by name, the delivery circles are an error; in the default policy they are left
    out and listed."""
    from eldercare_coverage._errors import NetworkError

    net, cells, villages, kitchen = _road_and_villages()
    walk_only = network_from_arrays(net.node_xy, net.edge_u, net.edge_v, crs=UTM)
    with pytest.raises(NetworkError, match="no delivery network"):
        run(walk_only, kitchen, cells, villages, circles=["meal_rural_30min"])
    res = run(walk_only, kitchen, cells, villages)
    names = [c["name"] for c in res.summary["circles"]]
    assert "meal_rural_30min" not in names and "meal_walk_15min" in names
    assert {c["name"] for c in res.summary["circles_left_out"]} == {"meal_urban_15min",
                                                                    "meal_rural_30min"}


def test_without_boundaries_class_bound_circles_count_every_cell():
    """No units: every cell counts for both delivery circles; the road is classed by the
    study area's density (40 elderly on a few m2: urban, 15 km/h = 4.1667 m/s)."""
    net, cells, _, kitchen = _road_and_villages()
    res = run(net, kitchen, cells, delivery_network=net,
              circles=["meal_urban_15min", "meal_rural_30min"])
    c = {x["name"]: x for x in res.summary["circles"]}
    for name in ("meal_urban_15min", "meal_rural_30min"):
        assert c[name]["elderly_counted"] == 40.0
    pop = res.population.set_index("cell_id")
    assert pop.loc[0, "meal_rural_30min_dist"] == pytest.approx((8960 / (15 / 3.6) + 5) / 60)
    assert set(pop["urban_rural"]) == {"urban"}
    assert res.summary["communities"] == 1  # the study area


def test_delivery_network_through_the_cache(tmp_path):
    from eldercare_coverage.network_cache import cached_network

    path = _osm_file(tmp_path)
    first = cached_network(path, mode="delivery", cache_dir=tmp_path / "cache")
    again = cached_network(path, mode="delivery", cache_dir=tmp_path / "cache")
    walk = cached_network(path, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("network-*.npz"))) == 2
    assert walk.edge_oneway is None and again.directed
    np.testing.assert_array_equal(again.edge_oneway, first.edge_oneway)
    np.testing.assert_array_equal(again.edge_maxspeed_kph, first.edge_maxspeed_kph)
    np.testing.assert_array_equal(again.edge_u, first.edge_u)


# --- the van and the e-bike on one hand-drawn OSM network --------------------------------
# node: (metres east, metres north) of the kitchen K, in UTM zone 51N
VAN_NODES = {1: (0, 0), 2: (3000, 0), 3: (0, 3000), 4: (3000, 3000), 5: (0, -500),
             6: (3000, -500), 7: (0, 3500)}
K, D = 1, 2  # the kitchen and the door
VAN_WAYS = [
    (101, [1, 2], {"highway": "motorway", "oneway": "yes"}),
    (102, [1, 3], {"highway": "residential"}),
    (103, [3, 4], {"highway": "residential"}),
    (104, [4, 2], {"highway": "residential"}),
    (105, [1, 5], {"highway": "footway"}),
    (106, [5, 6], {"highway": "path"}),
    (107, [6, 2], {"highway": "path"}),
    (108, [3, 7], {"highway": "residential"}),  # a dead end: the walking network is no ring
]


def _van_osm(tmp_path):
    """Three ways from the kitchen K to the door D (metres east and north of K)::

        7 (0, 3500)
        |
        3 (0, 3000) ---- residential 3000 m ---- 4 (3000, 3000)
        |                                        |
        residential 3000 m                       residential 3000 m
        |                                        |
        K (0, 0) ==== motorway 3000 m, one way ==> D (3000, 0)
        |                                        |
        footway 500 m                            path 500 m
        |                                        |
        5 (0, -500) ------- path 3000 m -------- 6 (3000, -500)
    """
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(UTM, 4326, always_xy=True)
    nodes = "\n".join(
        f'<node id="{i}" lat="{lat:.10f}" lon="{lon:.10f}" version="1"/>'
        for i, (x, y) in VAN_NODES.items()
        for lon, lat in [to_wgs.transform(X0 + x, Y0 + y)])
    ways = "\n".join(
        f'<way id="{w}" version="1">' + "".join(f'<nd ref="{n}"/>' for n in refs)
        + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>"
        for w, refs, tags in VAN_WAYS)
    path = tmp_path / "van.osm"
    path.write_text(OSM_XML.format(nodes=nodes, ways=ways), encoding="utf-8")
    return path


def _node_times(net, costs, src, tgt):
    xy = {int(i): net.node_xy[k] - [X0, Y0] for k, i in enumerate(net.node_id)}
    return _times(net, costs, [xy[src]], [xy[tgt]])[0]


def _with_profile(profile, func):
    before = settings.delivery_profile
    settings.delivery_profile = profile
    try:
        return func()
    finally:
        settings.delivery_profile = before


def test_van_and_ebike_minutes_on_hand_drawn_osm(tmp_path):
    """Rural speeds. The e-bike may not use the motorway: it pushes along the footway
    (500 m at 1.2 m/s = 416.67 s) and rides the paths (3500 m at 12 km/h = 1050 s):
    1466.67 s = 24.44 min each way (the residential loop, 9000 m at 18 km/h = 1800 s, is
    longer). The van takes the motorway K -> D (3000 m at 90 km/h = 120 s = 2 min), may not
    use the footway or the paths, and must come back D -> K round the residential loop
    against the one-way motorway (9000 m at 25 km/h = 1296 s = 21.6 min); urban speeds:
    60 km/h on the motorway, 180 s."""
    path = _van_osm(tmp_path)
    ebike = load_network(path, mode="delivery", to_crs=UTM)
    van = _with_profile("van", lambda: load_network(path, mode="delivery", to_crs=UTM))
    rural = np.zeros(ebike.n_edges, dtype=bool)
    ebike_costs = delivery_costs(ebike, urban=rural, speeds=read_delivery_speeds(profile="ebike"))
    approx = functools.partial(pytest.approx, rel=1e-5)  # OSM keeps 7 decimals: about 1 cm
    assert _node_times(ebike, ebike_costs, K, D) == approx(500 / 1.2 + 3500 / (12 / 3.6))
    assert _node_times(ebike, ebike_costs, K, D) / 60 == approx(24.4444)
    assert _node_times(ebike, ebike_costs, D, K) == approx(1466.667)
    assert set(ebike.node_id.tolist()) == {1, 2, 3, 4, 5, 6, 7}
    assert int(ebike.edge_dismount.sum()) == 1  # the footway
    # the van: the motorway and the residential loop only
    assert set(van.node_id.tolist()) == {1, 2, 3, 4, 7} and van.n_edges == 5
    van_speeds = read_delivery_speeds(profile="van")
    rural = np.zeros(van.n_edges, dtype=bool)
    van_costs = delivery_costs(van, urban=rural, speeds=van_speeds)
    assert _node_times(van, van_costs, K, D) == approx(120.0)
    assert _node_times(van, van_costs, D, K) == approx(1296.0)
    urban = delivery_costs(van, urban=~rural, speeds=van_speeds)
    assert _node_times(van, urban, K, D) == approx(180.0)
    # no 25 km/h cap on the van; the e-bike's speeds are capped
    assert van_speeds.max_kph == math.inf and read_delivery_speeds(profile="ebike").max_kph == 25


def _kitchen_at(x, y, fid="K1", meals=50.0, kind="central_kitchen"):
    pts = gpd.GeoSeries(shapely.points([[X0 + x, Y0 + y]]), crs=UTM).to_crs(4326)
    return gpd.GeoDataFrame({
        "facility_id": [fid], "name": [fid], "type": [kind], "beds": [np.nan],
        "meals_per_day": [meals], "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(),
        "source_row": [2], "status": ["ok"], "reason": [""]}, geometry=pts.to_numpy(), crs=4326)


def test_van_profile_through_the_run(tmp_path):
    """The whole run with ``settings.delivery_profile = "van"``: a kitchen at K, one small
    cell centred on D (no boundaries: the area is urban by its density). The van: the
    motorway at the urban 60 km/h, 3000 m = 180 s = 3 min; the e-bike: the footway pushed
    (416.67 s) and the paths at the urban 10 km/h (3500 m = 1260 s): 27.94 min."""
    path = _van_osm(tmp_path)
    cells = gpd.GeoDataFrame({"cell_id": [0], "row": [-1], "col": [-1], "elderly": [10.0]},
                             geometry=[shapely.box(X0 + 2998, Y0 - 2, X0 + 3002, Y0 + 2)],
                             crs=UTM)
    kitchen = _kitchen_at(0, 0)
    circles = ["meal_urban_15min", "meal_rural_30min"]
    van = _with_profile("van", lambda: run(path, kitchen, cells, circles=circles))
    ebike = run(path, kitchen, cells, circles=circles)
    assert van.population["meal_urban_15min_dist"].iat[0] == pytest.approx(3.0, rel=1e-5)
    assert ebike.population["meal_urban_15min_dist"].iat[0] == pytest.approx(
        (500 / 1.2 + 3500 / (10 / 3.6)) / 60, rel=1e-5)
    assert van.summary["delivery_network"]["profile"] == "van"
    assert van.summary["delivery_network"]["max_speed_kph"] is None
    assert "van" in van.summary["delivery_network"]["rule"]
    rule = ebike.summary["delivery_network"]["rule"]
    assert "paths" in rule and "pushes along footways" in rule
    assert ebike.summary["delivery_network"]["pushed_km"] == pytest.approx(0.5, rel=1e-5)
    c = {x["name"]: x for x in van.summary["circles"]}
    assert c["meal_urban_15min"]["elderly_covered"] == pytest.approx(10.0)
    assert {x["name"]: x for x in ebike.summary["circles"]}["meal_urban_15min"][
        "elderly_covered"] == 0.0


def test_meal_capacity_per_unit_by_hand():
    """A rural road 4000 m long, kitchen K1 (100 meals a day) at x = 0 and K2 (60) at
    x = 4000; four one-pixel cells 6 m off the road at x = 500 (10 elderly), 1500 (30),
    2500 (20), 3500 (40), all within 30 minutes; each goes to its nearer kitchen: K1 serves
    40 (10 + 30), K2 60 (20 + 40). Village A (x < 1000) holds the first cell, village B the
    other three. K1's 100 meals split 10 : 30 over A and B: A gets 25, B 75 + K2's 60 =
    135; 25 + 135 = 160, every kitchen's meals. Per 100 elderly: A 25 / 10 = 250,
    B 135 / 90 = 150."""
    net = _delivery([[0, 0], [4000, 0]], [0], [1], highway=["residential"])
    xs, people = [500, 1500, 2500, 3500], [10.0, 30.0, 20.0, 40.0]
    cells = gpd.GeoDataFrame(
        {"cell_id": range(4), "row": [-1] * 4, "col": [-1] * 4, "elderly": people},
        geometry=[shapely.box(X0 + x - 2, Y0 + 4, X0 + x + 2, Y0 + 8) for x in xs], crs=UTM)
    villages = gpd.GeoDataFrame(
        {"unit_id": ["A", "B"], "name": ["甲村", "乙村"], "level": ["village", "village"],
         "parent_id": [None, None], "urban_rural_code": pd.array([220, 220], dtype="Int64"),
         "urban_rural": ["rural", "rural"]},
        geometry=[shapely.box(X0 - 500, Y0 - 500, X0 + 1000, Y0 + 500),
                  shapely.box(X0 + 1000, Y0 - 500, X0 + 4500, Y0 + 500)], crs=UTM)
    kitchens = pd.concat([_kitchen_at(0, 0, "K1", 100.0), _kitchen_at(4000, 0, "K2", 60.0)],
                         ignore_index=True)
    kitchens["source_row"] = [2, 3]
    res = run(net, kitchens, cells, villages, delivery_network=net,
              circles=["meal_urban_15min", "meal_rural_30min"])
    f = res.facilities.set_index("facility_id")
    assert f["delivery_elderly"].to_dict() == pytest.approx({"K1": 40.0, "K2": 60.0})
    u = res.units.set_index("name")
    assert u.loc["甲村", "meal_capacity_per_day"] == pytest.approx(25.0)
    assert u.loc["乙村", "meal_capacity_per_day"] == pytest.approx(135.0)
    assert u.loc["甲村", "meals_per_100_elderly"] == pytest.approx(250.0)
    assert u.loc["乙村", "meals_per_100_elderly"] == pytest.approx(150.0)
    assert u["meal_capacity_per_day"].sum() == pytest.approx(
        res.summary["meal_capacity"]["meals_per_day"])


def test_a_delivery_circle_of_a_class_absent_serves_no_one():
    """Without boundaries the area is urban (its density): a run of the rural circle alone
    counts no cell, so the kitchen's catchment is empty and no unit gets its meals."""
    net, cells, _, kitchen = _road_and_villages()
    res = run(net, kitchen, cells, delivery_network=net, circles=["meal_rural_30min"])
    assert res.facilities["delivery_elderly"].tolist() == [0.0]
    assert res.summary["meal_capacity"]["elderly_in_catchments"] == 0.0
    assert res.summary["meal_capacity"]["meals_per_100_elderly"] is None
    assert res.units["meal_capacity_per_day"].isna().all()
