"""The meal circles on the demo county, through the command line: the contract's fields,
class-bound rates checked against direct sums over the population layer, the community
question in units.csv and summary.json."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from eldercare_coverage.cli import main

MEAL = ("meal_urban_15min", "meal_rural_30min", "meal_walk_15min")


@pytest.fixture(scope="module")
def demo_meals(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-meals")
    assert main(["demo", "--out", str(out), "--no-progress", "--no-map"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    pop = gpd.read_file(out / "coverage.gpkg", layer="population")
    catchments = gpd.read_file(out / "coverage.gpkg", layer="catchments")
    units = pd.read_csv(out / "units.csv")
    return summary, pop, catchments, units, out


def test_meal_circles_have_the_walking_circles_fields(demo_meals):
    summary, pop, catchments, _, _ = demo_meals
    circles = {c["name"]: c for c in summary["circles"]}
    walk_keys = set(circles["walk_1500m"]) - {"limit_m"}
    for name in MEAL:
        c = circles[name]
        assert walk_keys <= set(c), name
        assert c["unit"] == "min"
        assert 0 < c["coverage_rate"] < 1, name
        for col in ("dist", "facility", "share", "covered"):
            assert f"{name}_{col}" in pop.columns
        # cells of every class have minutes and a nearest source (NaN: no kitchen reaches
        # the street the cell snaps to: the demo's towns and villages are joined to the
        # core by the expressway and by footways, which no e-bike rides)
        for cls in ("urban", "rural"):
            mine = pop[pop["urban_rural"] == cls]
            assert mine[f"{name}_dist"].notna().mean() > 0.3, (name, cls)
        reached = pop[f"{name}_dist"].notna()
        assert pop.loc[reached, f"{name}_facility"].notna().all()
        mine = catchments[catchments["circle"] == name]
        assert mine["elderly_covered"].sum() == pytest.approx(c["elderly_covered"], rel=1e-9)
    assert circles["meal_urban_15min"]["mode"] == "delivery"
    assert circles["meal_urban_15min"]["limit_s"] == 900.0
    assert circles["meal_walk_15min"]["limit_m"] == pytest.approx(810.0)
    assert summary["delivery_network"]["profile"] == "ebike"


@pytest.mark.parametrize("name, cls", [("meal_urban_15min", "urban"),
                                       ("meal_rural_30min", "rural")])
def test_class_bound_rates_count_their_class_only(demo_meals, name, cls):
    summary, pop, _, _, _ = demo_meals
    c = {x["name"]: x for x in summary["circles"]}[name]
    mine = (pop["urban_rural"] == cls).to_numpy()
    assert 0 < mine.sum() < len(pop)
    covered = pop[f"{name}_covered"].to_numpy()
    assert (covered[~mine] == 0).all()
    elderly = pop["elderly"].to_numpy()
    assert c["elderly_counted"] == pytest.approx(elderly[mine].sum())
    assert c["elderly_covered"] == pytest.approx(covered.sum())
    assert c["coverage_rate"] == pytest.approx(covered[mine].sum() / elderly[mine].sum())
    # the share is every cell's: cells of the other class within the limit have one too
    share = pop[f"{name}_share"].to_numpy()
    assert np.allclose(covered[mine], elderly[mine] * share[mine])


def test_community_meal_rates(demo_meals):
    summary, _, _, units, _ = demo_meals
    villages = units[(units["level"] == "village") & (units["name"] != "(outside units)")]
    assert len(villages) == summary["communities"]
    with_people = villages[villages["elderly"] > 0]
    reached = with_people["meal_share_within"] >= summary["community_meal_reached_share"]
    assert (with_people["meal_reached"] == reached).all()
    assert summary["community_meal_coverage_rate"] == pytest.approx(reached.mean())
    assert summary["community_meal_service_rate"] == pytest.approx(
        villages["meal_facility_inside"].mean())
    assert 0 < summary["community_meal_coverage_rate"] < 1
    assert 0 < summary["community_meal_service_rate"] < 1
    limits = villages.set_index("meal_class")["meal_limit_min"]
    assert set(limits.loc["urban"]) == {15.0} and set(limits.loc["rural"]) == {30.0}
    cap = summary["meal_capacity"]
    assert cap["kitchens"] > 0 and cap["meals_per_100_elderly"] > 0


def test_report_puts_the_community_rates_beside_the_plans(demo_meals):
    summary, *_, out = demo_meals
    html = (out / "report.html").read_text(encoding="utf-8")
    for rate in (summary["community_meal_coverage_rate"], summary["community_meal_service_rate"],
                 0.648, 0.778, 1.0):
        assert f"{100 * rate:.1f} %" in html


@pytest.mark.filterwarnings("ignore::eldercare_coverage.facilities.FacilityRowWarning")
def test_without_boundaries_each_person_is_in_one_kitchen_catchment():
    """Without boundaries every cell has the area's class and both delivery circles count
    every cell: a kitchen's delivery catchment must still count each person once (the
    circle of the area's class), so the kitchens' catchments hold at most everyone and
    exactly the elderly that circle covers."""
    from pathlib import Path

    import eldercare_coverage as ec

    data = Path(__file__).resolve().parents[1] / "data"
    result = ec.run(data / "network" / "demo_county.osm",
                    data / "facilities" / "demo_facilities.csv",
                    data / "population" / "demo_elderly_60plus.tif",
                    circles=["meal_urban_15min", "meal_rural_30min"], progress=False)
    fac = result.facilities
    delivered = pd.to_numeric(fac["delivery_elderly"], errors="coerce").sum()
    total = result.summary["elderly_total"]
    cls = result.population["urban_rural"].dropna().unique().tolist()
    assert len(cls) == 1  # the area's class
    own = next(c for c in result.summary["circles"] if cls[0] in c["unit_classes"])
    assert delivered <= total + 1e-6
    assert delivered == pytest.approx(own["elderly_covered"], rel=1e-9)


def test_units_share_the_kitchens_meals(demo_meals):
    """Each level of units.csv holds every meal of the kitchens with a delivery catchment
    (their meals are shared over the units where their catchments' elderly live), and
    meals per 100 elderly is the unit's capacity over its elderly."""
    summary, _, _, units, out = demo_meals
    fac = gpd.read_file(out / "coverage.gpkg", layer="facilities")
    kitchens = fac[pd.to_numeric(fac["delivery_elderly"], errors="coerce") > 0]
    meals = pd.to_numeric(kitchens["meals_per_day"], errors="coerce").sum()
    assert meals == pytest.approx(summary["meal_capacity"]["meals_per_day"]) and meals > 0
    for level, rows in units.groupby("level"):
        assert rows["meal_capacity_per_day"].sum() == pytest.approx(meals), level
    with_people = units[units["elderly"] > 0]  # units.csv rounds elderly to whole people
    assert np.allclose(with_people["meals_per_100_elderly"],
                       100 * with_people["meal_capacity_per_day"] / with_people["elderly"],
                       rtol=2e-3)
    assert (units["meal_capacity_per_day"] > 0).sum() > 5
