"""The policy as data: a folder of tables (a table missing there is the shipped one), the
delivery speeds read from it and used by the run, local facility-type names, and errors
that name the file, the row and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eldercare_coverage import settings
from eldercare_coverage._errors import PolicyError
from eldercare_coverage.delivery import read_delivery_speeds
from eldercare_coverage.facilities import match_facility_type
from eldercare_coverage.pipeline import run
from eldercare_coverage.policy import POLICY_FILES, default_policy, read_policy

from .test_delivery import _road_and_villages

SHIPPED = Path(__file__).resolve().parents[1] / "coverage" / "data"

CIRCLES = """\
name,mode,limit,unit,facility_kinds,unit_classes,target_rate,label_zh,label_en,source
meal_urban_15min,delivery,15,min,central_kitchen;canteen,urban,,城市,urban,test
meal_rural_60min,delivery,60,min,central_kitchen;canteen,rural,0.5,农村60分钟,rural 60 min,test
"""


def _speeds(residential_rural_kph: str = "9") -> str:
    """The shipped speeds table with the e-bike's rural residential speed changed."""
    lines = (SHIPPED / "delivery_speeds.csv").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.startswith("ebike,residential,"):
            line = f"ebike,residential,15,{residential_rural_kph},edited"
        out.append(line)
    return "\n".join(out) + "\n"


def _folder(tmp_path: Path, **tables: str) -> Path:
    folder = tmp_path / "policy"
    folder.mkdir(exist_ok=True)
    for key, text in tables.items():
        (folder / POLICY_FILES[key]).write_text(text, encoding="utf-8")
    return folder


def test_folder_tables_fall_back_to_the_shipped_ones(tmp_path):
    folder = _folder(tmp_path, circles=CIRCLES, delivery_speeds=_speeds())
    policy = read_policy(folder)
    assert [c.name for c in policy.circles] == ["meal_urban_15min", "meal_rural_60min"]
    shipped = default_policy()
    assert policy.rings == shipped.rings
    assert policy.facility_types == shipped.facility_types
    assert policy.capacity == shipped.capacity
    sources = dict(policy.sources)
    assert sources["circles"] == str(folder / "circles.csv")
    assert sources["delivery_speeds"] == str(folder / "delivery_speeds.csv")
    assert sources["rings"] == "coverage/data/rings.csv"
    speeds = read_delivery_speeds(table=policy.delivery_speeds, profile="ebike")
    assert speeds.rural_kph["residential"] == 9.0 and speeds.urban_kph["residential"] == 15.0
    assert speeds.source == str(folder / "delivery_speeds.csv")
    # a single circles CSV still works, every other table shipped
    alone = read_policy(folder / "circles.csv")
    assert [c.name for c in alone.circles] == ["meal_urban_15min", "meal_rural_60min"]
    assert alone.delivery_speeds == shipped.delivery_speeds


def test_a_run_uses_the_folders_circles_and_speeds(tmp_path):
    """The village road of tests/test_delivery.py, rural residential ridden at 9 km/h
    (2.5 m/s) by the folder's speeds table instead of 18: the near door (8960 m, 6 m off
    the road: 5 s walked) is 8960 / 2.5 + 5 = 3589 s = 59.82 min from the kitchen, the far
    one (9040 m) 3621 s = 60.35 min; the folder's 60-minute rural circle covers the near
    village's 10 elderly of 40."""
    net, cells, villages, kitchen = _road_and_villages()
    policy = read_policy(_folder(tmp_path, circles=CIRCLES, delivery_speeds=_speeds()))
    res = run(net, kitchen, cells, villages, delivery_network=net, policy=policy)
    pop = res.population.set_index("cell_id")
    assert pop.loc[0, "meal_rural_60min_dist"] == pytest.approx(3589 / 60)
    assert pop.loc[1, "meal_rural_60min_dist"] == pytest.approx(3621 / 60)
    c = {x["name"]: x for x in res.summary["circles"]}
    assert c["meal_rural_60min"]["elderly_covered"] == pytest.approx(10.0)
    assert c["meal_rural_60min"]["target_rate"] == 0.5
    assert res.summary["delivery_network"]["speeds_source"] == str(
        tmp_path / "policy" / "delivery_speeds.csv")
    # the rings fell back to the shipped walking rings
    assert [r["name"] for r in res.summary["rings"]] == ["walk_rings"]


@pytest.mark.parametrize("key, text, row, words", [
    ("delivery_speeds", "profile,highway,urban_kph,rural_kph\nebike,residential,15,18\n"
     "ebike,primary,fast,25\n", 3, "urban_kph, rural_kph"),
    ("delivery_speeds", "profile,highway,urban_kph,rural_kph\nebike,residential,15,18\n"
     "bike,primary,20,25\n", 3, "expected to be in ('ebike', 'van')"),
    ("delivery_speeds", "profile,highway,urban_kph,rural_kph\nebike,residential,0,18\n", 2,
     "positive speed"),
    ("circles", CIRCLES + "walk_x,walk,fifteen,min,care,all,,,,\n", 4, "limit"),
    ("circles", CIRCLES + "walk_y,walk,15,min,hospital,all,,,,\n", 4, "facility_kinds"),
    ("rings", "name,mode,breaks,unit,facility_kinds\nr,walk,500;300,m,care\n", 2, "breaks"),
    ("capacity", "name,measure,per_elderly,target\nbeds_x,rooms,100,6\n", 2, "measure"),
    ("facility_types", "code,kind,label_zh,label_en,aliases\n,care,x,x,\n", 2, "code"),
    ("type_aliases", "alias,type\n幸福院,community_center\n老年之家,old_home\n", 3,
     "fix the type column"),
])
def test_a_bad_row_names_its_file_and_row(tmp_path, key, text, row, words):
    folder = _folder(tmp_path, **{key: text})
    with pytest.raises(PolicyError) as err:
        read_policy(folder)
    message = str(err.value)
    assert f"{folder / POLICY_FILES[key]} row {row}:" in message, message
    assert words in message, message


def test_unknown_tables_in_a_policy_folder_are_an_error(tmp_path):
    folder = _folder(tmp_path, circles=CIRCLES)
    (folder / "circle.csv").write_text(CIRCLES, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"circle\.csv.*not policy tables"):
        read_policy(folder)


def test_type_aliases_from_the_folder_or_a_file(tmp_path):
    aliases = "alias,type\n幸福院,community_center\n敬老院,community_center\n"
    policy = read_policy(_folder(tmp_path, type_aliases=aliases))
    assert match_facility_type("幸福院", policy.facility_types) == "community_center"
    assert match_facility_type("城东村幸福院", policy.facility_types) == "community_center"
    # a name another type had moves to the mapped type
    assert match_facility_type("敬老院", policy.facility_types) == "community_center"
    assert match_facility_type("敬老院", default_policy().facility_types) == "nursing_home"
    # mapping a name onto the type that already has it keeps it there, once
    same = default_policy().with_type_aliases({"养老院": "nursing_home"})
    home = next(t for t in same.facility_types if t.code == "nursing_home")
    assert home.aliases.count("养老院") == 1
    assert match_facility_type("养老院", same.facility_types) == "nursing_home"
    path = tmp_path / "aliases.csv"
    path.write_text("alias,type\n长者之家,canteen\n", encoding="utf-8-sig")
    both = policy.with_type_aliases(path)
    assert match_facility_type("长者之家", both.facility_types) == "canteen"
    assert match_facility_type("幸福院", both.facility_types) == "community_center"


def test_the_van_needs_its_rows_in_the_speeds_table(tmp_path):
    only_ebike = "profile,highway,urban_kph,rural_kph\nebike,*,12,15\n"
    policy = read_policy(_folder(tmp_path, delivery_speeds=only_ebike))
    before = settings.delivery_profile
    settings.delivery_profile = "van"
    try:
        with pytest.raises(PolicyError, match="no speeds for the delivery profile 'van'"):
            read_delivery_speeds(table=policy.delivery_speeds)
    finally:
        settings.delivery_profile = before


def test_a_road_class_without_a_speed_is_an_error_not_a_slower_county(tmp_path):
    """Without a ``*`` row, a class the table does not list would have no speed (NaN costs:
    streets nobody can ride, a silently lower meal coverage): the error names the file, the
    classes and the fix."""
    from eldercare_coverage.delivery import read_delivery_speeds

    table = "profile,highway,urban_kph,rural_kph\nebike,primary,20,25\n"
    folder = _folder(tmp_path, delivery_speeds=table)
    policy = read_policy(folder)
    speeds = read_delivery_speeds(profile="ebike", table=policy.delivery_speeds)
    assert speeds.class_speed_kph(np.array(["primary"]), np.array([True])).tolist() == [20.0]
    with pytest.raises(PolicyError) as err:
        speeds.class_speed_kph(np.array(["primary", "residential", "path"]),
                               np.array([True, False, True]))
    message = str(err.value)
    assert str(folder / POLICY_FILES["delivery_speeds"]) in message, message
    assert "['path']" in message and "ebike,*," in message, message
