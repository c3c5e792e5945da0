"""The pipeline on a hand-built street with hand-computed coverage."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from eldercare_coverage import settings
from eldercare_coverage.network import network_from_arrays
from eldercare_coverage.pipeline import run
from eldercare_coverage.policy import default_policy

UTM = "EPSG:32651"
X0, Y0 = 330000.0, 3140000.0  # a UTM 51N position near Wenling


def street():
    """One straight street 10 km long, from (X0, Y0) eastwards."""
    return network_from_arrays([[X0, Y0], [X0 + 10000, Y0]], [0], [1], crs=UTM)


def cells_along(n_per_row=100, elderly=1.0):
    """Two rows of 100 m cells, one on each side of the street."""
    geoms, rows, cols = [], [], []
    for r, y in enumerate((Y0, Y0 - 100)):
        for c in range(n_per_row):
            geoms.append(shapely.box(X0 + 100 * c, y, X0 + 100 * (c + 1), y + 100))
            rows.append(r)
            cols.append(c)
    return gpd.GeoDataFrame({"cell_id": range(len(geoms)), "row": rows, "col": cols,
                             "elderly": elderly}, geometry=geoms, crs=UTM)


def facilities(points, types):
    pts = gpd.GeoSeries(shapely.points(points), crs=UTM).to_crs(4326)
    n = len(points)
    return gpd.GeoDataFrame({
        "facility_id": [f"F{i}" for i in range(n)], "name": [f"设施{i}" for i in range(n)],
        "type": types, "beds": np.nan, "meals_per_day": np.nan,
        "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(),
        "source_row": np.arange(2, n + 2), "status": "ok", "reason": "",
    }, geometry=pts.to_numpy(), crs=4326)


@pytest.fixture
def cap100():
    before = settings.max_snap_m
    settings.max_snap_m = 100.0
    yield
    settings.max_snap_m = before


def test_coverage_along_one_street_is_hand_computed(cap100):
    fac = facilities([[X0 + 5010, Y0], [X0 + 9000, Y0 + 700], [X0 + 200, Y0]],
                     ["community_center", "nursing_home", "canteen"])
    res = run(street(), fac, cells_along(), circles=["walk_1500m", "home_500m"])
    s = res.summary
    assert s["elderly_total"] == 200
    c = {x["name"]: x for x in s["circles"]}
    # 1500 m circle: full width 200 m from x=3610 to 6410, tapering to 0 over 100 m each side
    assert c["walk_1500m"]["elderly_covered"] == pytest.approx((2800 * 200 + 2 * 10000) / 1e4)
    assert c["walk_1500m"]["coverage_rate"] == pytest.approx(58 / 200)
    # centroids (x = 50, 150, ...) 50 m from the street: covered when |x - 5010| <= 1450,
    # x = 3650 ... 6450 -> 29 per row
    assert c["walk_1500m"]["elderly_covered_centroid"] == 58
    assert c["home_500m"]["elderly_covered"] == pytest.approx((800 * 200 + 2 * 10000) / 1e4)
    pop = res.population
    assert pop["elderly"].sum() == 200
    assert pop["walk_1500m_dist"].min() == pytest.approx(40 + 50, abs=1e-3)  # cell at x=5050
    # accounting: the nursing home is 700 m off the street, the canteen serves no walking circle
    f = res.facilities.set_index("facility_id")
    assert f.loc["F0", "status"] == "used"
    assert f.loc["F1", "status"] == "excluded"
    assert "farther than 100 m" in f.loc["F1", "reason"]
    assert f.loc["F2", "status"] == "excluded" and "serves none" in f.loc["F2", "reason"]
    assert s["facilities"]["total"] == 3 and s["facilities"]["used"] == 1
    # gaps: two groups, west and east of the covered stretch, the larger (west) first
    g = res.gaps[res.gaps["circle"] == "walk_1500m"]
    assert g["rank"].tolist() == [1, 2]
    assert g["elderly_unserved"].sum() + c["walk_1500m"]["elderly_covered"] == pytest.approx(
        200, abs=2)
    assert res.population.crs.to_epsg() == 4326


def test_units_split_cells_and_keep_totals(cap100):
    fac = facilities([[X0 + 5000, Y0]], ["town_center"])
    west = shapely.box(X0 - 10, Y0 - 200, X0 + 5050, Y0 + 200)
    east = shapely.box(X0 + 5050, Y0 - 200, X0 + 8000, Y0 + 200)
    units = gpd.GeoDataFrame({"unit_id": ["T1", "T2"], "name": ["西镇", "东镇"],
                              "level": ["town", "town"], "parent_id": [None, None],
                              "urban_rural_code": pd.array([121, 220], dtype="Int64"),
                              "urban_rural": ["urban", "rural"]},
                             geometry=[west, east], crs=UTM)
    res = run(street(), fac, cells_along(), units, circles=["walk_1500m"])
    u = res.units.set_index("name")
    # west: 50.5 columns of cells x 2 rows; east: 29.5 x 2; outside (x > 8000): 20 x 2
    assert u.loc["西镇", "elderly"] == pytest.approx(101)
    assert u.loc["东镇", "elderly"] == pytest.approx(59)
    assert u.loc["(outside units)", "elderly"] == pytest.approx(40)
    assert u["elderly"].sum() == pytest.approx(200)
    assert u["walk_1500m_covered"].sum() == pytest.approx(
        res.summary["circles"][0]["elderly_covered"])
    assert u.loc["西镇", "walk_1500m_rate"] == pytest.approx(
        u.loc["西镇", "walk_1500m_covered"] / 101)


def test_policy_circles_default_and_minutes():
    p = default_policy()
    assert [c.name for c in p.circles] == ["walk_1500m", "walk_15min", "walk_20min", "home_500m",
                                           "meal_urban_15min", "meal_rural_30min",
                                           "meal_walk_15min"]
    assert p.circle("walk_20min").limit_cost(walk_speed_m_s=0.9) == pytest.approx(1080)
    assert p.type_codes(["care"]) == ["county_center", "town_center", "community_center",
                                      "nursing_home"]
