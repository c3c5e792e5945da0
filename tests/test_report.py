"""The report and the tables around it, as a planner reads them: the plan's words in Chinese
or English, a gap table for every circle with the median person's distance, facilities
excluded for their data apart from those no circle asked for, the run's warnings, whole
people, and the pictures inline."""

from __future__ import annotations

import base64
import html as html_module
import re
import struct
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import eldercare_coverage as ec
from eldercare_coverage.analysis import gap_areas, weighted_median_by_label
from eldercare_coverage.policy import Circle, Policy
from eldercare_coverage.report import render_report

DATA = Path(__file__).resolve().parents[1] / "data"
WALKING = ["walk_1500m", "walk_15min", "walk_20min", "home_500m"]
MEAL_TYPES = {"central_kitchen", "canteen", "meal_point"}
#: The labels of the walking circles at 0.9 m/s, written out by hand.
LABELS = {
    "zh": {"walk_1500m": "1500米实际步行距离（老年人步速0.9米/秒约28分钟）",
           "walk_15min": "15分钟步行圈（老年人步速0.9米/秒，约810米）",
           "walk_20min": "20分钟步行圈（老年人步速0.9米/秒，约1,080米）",
           "home_500m": "500米实际步行距离（老年人步速0.9米/秒约9分钟）"},
    "en": {"walk_1500m": "1500 m of real walking distance (≈28 min at 0.9 m/s)",
           "walk_15min": "15-minute walk at 0.9 m/s (≈810 m)",
           "walk_20min": "20-minute walk at 0.9 m/s (≈1,080 m)",
           "home_500m": "500 m of real walking distance (≈9 min at 0.9 m/s)"},
}


# --- the median person's distance of a gap, by hand -------------------------------------------


def test_gap_distance_is_the_median_unserved_persons():
    """Two gaps on a row of 100 m cells (share below one half is unserved):

    cells 0-4 (one gap)   elderly 10, 4, 3, 2, 5; share 0.4, 0, 0, 0, 0.2
                          unserved 6, 4, 3, 2, 4 (19 people); distance 500, 100, 300, 200, -
    nearest first: 100 m (4 people), 200 (2: 6), 300 (3: 9), 500 (6: 15 >= 19 / 2) -> 500 m,
    where the cells' plain median would say 300 m and the closest cell 100 m;
    cells 10-11 (another) unserved 1 and 3, distances 50 m and unreachable: the median
    person (3 of 4) is unreachable -> NaN.
    """
    cols = [0, 1, 2, 3, 4, 10, 11]
    cells = gpd.GeoDataFrame({
        "row": 0, "col": cols, "elderly": [10.0, 4, 3, 2, 5, 1, 3],
        "c_share": [0.4, 0, 0, 0, 0.2, 0, 0],
        "c_dist": [500.0, 100, 300, 200, np.nan, 50, np.nan]},
        geometry=[shapely.box(100 * k, 0, 100 * (k + 1), 100) for k in cols], crs="EPSG:32651")
    policy = Policy((Circle("c", "walk", 1000.0, "m"),))
    gaps = gap_areas(cells, policy, cells.crs).set_index("rank")
    assert gaps.loc[1, "elderly_unserved"] == pytest.approx(19.0)
    assert gaps.loc[1, "nearest_dist_median"] == 500.0
    assert gaps.loc[1, "nearest_dist"] == 100.0
    assert gaps.loc[2, "elderly_unserved"] == pytest.approx(4.0)
    assert np.isnan(gaps.loc[2, "nearest_dist_median"])
    assert gaps.loc[2, "nearest_dist"] == 50.0


def test_weighted_median_takes_the_lower_middle_on_a_tie():
    # weights 1, 1: half of 2 is reached at the first value
    got = weighted_median_by_label(np.array([7, 7]), np.array([20.0, 10.0]), np.array([1.0, 1.0]))
    assert got.to_dict() == {7: 10.0}


# --- the demo with the walking circles only ---------------------------------------------------


@pytest.fixture(scope="module")
def walking(tmp_path_factory):
    """The demo county with its four walking circles: (result, output folder, warnings)."""
    out = tmp_path_factory.mktemp("walking")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ec.run(DATA / "network" / "demo_county.osm",
                        DATA / "facilities" / "demo_facilities.csv",
                        DATA / "population" / "demo_elderly_60plus.tif",
                        DATA / "boundaries" / "demo_units.geojson", circles=WALKING,
                        title="示范县 walking", progress=False)
    ec.write_outputs(result, out)
    return result, out, caught


def test_excluded_facilities_say_whether_the_data_or_the_run_left_them_out(walking):
    result, _, caught = walking
    table = pd.read_csv(DATA / "facilities" / "demo_facilities.csv", dtype={"id": str})
    excluded = {e["facility_id"]: e for e in result.summary["facilities"]["excluded"]}
    # the planned centre without coordinates: a problem of its row
    planned = table.loc[table["lon"].isna(), "id"].tolist()
    assert planned and all(excluded[f]["category"] == "data" for f in planned)
    # kitchens, canteens and meal points serve no walking circle: not asked for
    meals = table.loc[table["type"].isin(MEAL_TYPES), "id"].tolist()
    assert meals and all(excluded[f]["category"] == "not_requested" for f in meals)
    assert set(excluded) == set(planned) | set(meals)
    fac = result.facilities.set_index("facility_id")
    assert (fac.loc[meals, "exclusion"] == "not_requested").all()
    assert fac.loc[fac["status"] == "used", "exclusion"].isna().all()
    # the row without coordinates is in the accounting, not a Python warning of the run
    assert not [w for w in caught if "facility rows excluded" in str(w.message)]
    assert result.summary["warnings"] == []


def test_the_report_has_every_circles_gap_table_pictures_and_the_two_groups(walking):
    result, out, _ = walking
    html = (out / "report.html").read_text(encoding="utf-8")
    assert len(html.encode()) < 1.5e6
    # a gap table per circle, most unserved first, with the median person's distance
    for name in WALKING:
        section = html.split(f"<h3>{LABELS['zh'][name]} <span class='id'>{name}</span></h3>")
        assert len(section) == 2, name
        table = section[1].split("</table>")[0]
        gaps = result.gaps[result.gaps["circle"] == name].sort_values("rank").head(10)
        assert len(gaps) > 0
        rows = re.findall(r"<tr><td class='n'>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td>"
                          r"<td class='n'>([\d,]+|&lt;1)</td>.*?<td class='n'>([^<]*)</td></tr>", table)
        assert [int(r[0]) for r in rows] == gaps["rank"].tolist()
        for r, (_, g) in zip(rows, gaps.iterrows(), strict=True):
            assert (r[1], r[2]) == (g["town"] or "", g["village"] or "")
            unserved = g["elderly_unserved"]  # a fraction of one person is not 0
            assert r[3] == ("&lt;1" if unserved < 0.5 else f"{unserved:,.0f}")
            unit = "m" if name in ("walk_1500m", "home_500m") else "min"
            median = g["nearest_dist_median"]
            assert r[4] == ("不可达" if np.isnan(median) else
                            f"{median:,.{0 if unit == 'm' else 1}f} {unit}")
    # the coverage map and the two charts, inline PNGs
    images = re.findall(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 3
    for data in images:
        png = base64.b64decode(data)
        width, height = struct.unpack(">II", png[16:24])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and width > 300 and height > 200
    # excluded for their data: listed by row; not asked for: counted by reason
    data = html.split("数据问题：请核对这些行")[1].split("</table>")[0]
    assert "规划中：小港村居家养老服务照料中心" in data and "missing coordinates" in data
    idle = html.split("本次未计算的服务类型")[1].split("</table>")[0]
    by_reason = pd.Series([e["reason"] for e in result.summary["facilities"]["excluded"]
                           if e["category"] == "not_requested"]).value_counts()
    assert len(by_reason) >= 2
    for reason, count in by_reason.items():
        shown = html_module.escape(reason)  # quotes as character references
        assert re.search(re.escape(shown) + rf"</td><td class='n'>{count}</td>", idle), reason
    assert idle.count("<tr>") == len(by_reason) + 1  # one row per reason, not per facility


def test_the_report_and_map_speak_the_chosen_language(walking):
    result, _, _ = walking
    zh, en = render_report(result, charts=False), render_report(result, lang="en", charts=False)
    for name in WALKING:
        assert LABELS["zh"][name] in zh and LABELS["en"][name] in en
        assert LABELS["zh"][name] not in en
    assert "服务圈覆盖" in zh and "Service-circle coverage" not in zh
    assert "Service-circle coverage" in en and "服务圈覆盖" not in en
    # the two "15-minute" circles explained: 1500 m take 28 minutes, 15 minutes reach 810 m
    circles = {c["name"]: c for c in result.summary["circles"]}
    # the difference of the whole people the table shows
    gap = (round(circles["walk_1500m"]["elderly_covered"])
           - round(circles["walk_15min"]["elderly_covered"]))
    assert "两个“15分钟”服务圈" in zh and "约<b>28分钟</b>" in zh and "约<b>810米</b>" in zh
    assert f"{gap:,.0f} 名老年人" in zh
    assert "about <b>28 minutes</b>" in en and f"{gap:,.0f} elderly people" in en
    with pytest.raises(ValueError, match="lang was 'de'"):
        render_report(result, lang="de")


def test_units_csv_has_whole_people_that_still_add_up(walking):
    result, out, _ = walking
    units = pd.read_csv(out / "units.csv", dtype={"unit_id": str})
    total = result.summary["elderly_total"]
    people = ["elderly", *[f"{n}_covered" for n in WALKING]]
    for col in people:
        assert pd.api.types.is_integer_dtype(units[col]), col
    assert units["walk_1500m_rate"].between(0, 1).all()
    assert not (units["walk_1500m_rate"] == units["walk_1500m_rate"].round()).all()  # as is
    for level, rows in units.groupby("level"):
        # a planner's sums are the headline's numbers: each level adds up to the rounded
        # total (largest remainders), not each row rounded on its own
        assert rows["elderly"].sum() == round(total), level
        for name in WALKING:
            covered = next(c for c in result.summary["circles"] if c["name"] == name)
            assert rows[f"{name}_covered"].sum() == round(covered["elderly_covered"]), \
                (level, name)
        assert (rows[[f"{n}_covered" for n in WALKING]].le(rows["elderly"], axis=0)).all().all()


# --- warnings of a run ---------------------------------------------------------------------


def test_warnings_of_a_run_are_recorded_and_emitted_once(walking):
    """The run's warnings go into summary["warnings"] and reach the caller once; rows of a
    facility file the run excluded are in the accounting, not warnings."""
    from eldercare_coverage.facilities import FacilityRowWarning
    from eldercare_coverage.pipeline import _recording_warnings

    result, _, _ = walking

    @_recording_warnings
    def fake_run():
        warnings.warn("facilities look offset <by GCJ-02>", UserWarning, stacklevel=1)
        warnings.warn("1 of 3 facility rows excluded", FacilityRowWarning, stacklevel=1)
        return result

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fake_run()
    assert [(w.category, str(w.message)) for w in caught] == [
        (UserWarning, "facilities look offset <by GCJ-02>")]
    assert result.summary["warnings"] == [
        {"category": "UserWarning", "message": "facilities look offset <by GCJ-02>"}]
    html = render_report(result, charts=False)
    assert "运行警告" in html and "facilities look offset &lt;by GCJ-02&gt;" in html
    result.summary["warnings"] = []
    assert "运行警告" not in render_report(result, charts=False)


def _drawn_texts(monkeypatch) -> list[list[str]]:
    """The text of every figure the charts save from now on, one list per figure."""
    from matplotlib.text import Text

    from eldercare_coverage import charts

    drawn: list[list[str]] = []
    save = charts._png

    def recording(fig):
        png = save(fig)  # drawn first: tick labels exist
        drawn.append([t.get_text() for t in fig.findobj(Text) if t.get_text()])
        return png

    monkeypatch.setattr(charts, "_png", recording)
    return drawn


HAN = re.compile(r"[\u4e00-\u9fff]")


def test_pictures_fall_back_to_english_without_a_chinese_font(walking, monkeypatch):
    """Without a CJK font the charts are drawn in English (town names as boxes), no
    warning about missing glyphs reaches the caller (pytest makes warnings errors), and a
    Chinese report says so under each picture."""
    from eldercare_coverage import charts
    from eldercare_coverage.report import NO_CJK_FONT_NOTE

    result, _, _ = walking
    assert charts.chart_lang("zh") == ("zh" if charts.cjk_font() else "en")
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    assert charts.chart_lang("zh") == "en"
    drawn = _drawn_texts(monkeypatch)
    html = render_report(result, lang="zh")
    assert len(drawn) == 3
    assert html.count(NO_CJK_FONT_NOTE) == 3
    assert html.count("<figcaption>") == 3
    for caption in html.split("<figcaption>")[1:]:
        assert NO_CJK_FONT_NOTE in caption.split("</figcaption>")[0]
    # the pictures' own words are English; Chinese only in the names of the data
    names = {str(n) for n in result.units["name"]}
    words = [t for texts in drawn for t in texts]
    assert any(t.startswith("Coverage by town: ") for t in words)
    assert any("walking distance to the nearest care facility" in t for t in words)
    assert [t for t in words if HAN.search(t) and t not in names] == []
    # an English report needs no note
    assert NO_CJK_FONT_NOTE not in render_report(result, lang="en")


def test_a_chinese_font_draws_chinese_pictures_without_the_note(walking, monkeypatch):
    from eldercare_coverage import charts
    from eldercare_coverage.report import NO_CJK_FONT_NOTE

    result, _, _ = walking
    monkeypatch.setattr(charts, "cjk_font", lambda: "DejaVu Sans")  # said to draw Chinese
    drawn = _drawn_texts(monkeypatch)
    html = render_report(result, lang="zh")
    assert NO_CJK_FONT_NOTE not in html
    assert any(t.startswith("各乡镇街道覆盖率：") for texts in drawn for t in texts)


def _han_font_file() -> str | None:
    """A font file on this machine whose character map has 中 (not Last Resort)."""
    from matplotlib import font_manager

    from eldercare_coverage import charts

    return next((str(f.fname) for f in font_manager.fontManager.ttflist
                 if not f.name.startswith("Last Resort")
                 and charts._has_han(str(f.fname), getattr(f, "index", 0))), None)


def test_a_chinese_font_is_found_by_its_characters_not_only_its_name(monkeypatch):
    """Debian's fonts-noto-cjk names its family "Noto Sans CJK JP": not in the list of
    known names, found by its character map; a known family comes first; the Last Resort
    font (a placeholder for every character) and fonts without 中 are no Chinese font."""
    from matplotlib import font_manager

    from eldercare_coverage import charts

    def entry(name: str, path: str) -> font_manager.FontEntry:
        return font_manager.FontEntry(fname=path, name=name)

    fonts = Path(font_manager.__file__).parent / "mpl-data" / "fonts" / "ttf"
    plain = [entry("DejaVu Sans", str(fonts / "DejaVuSans.ttf"))]
    last_resort = fonts / "LastResortHE-Regular.ttf"
    if last_resort.exists():
        assert charts._has_han(str(last_resort))  # why it is left out by name
        plain.append(entry("Last Resort High-Efficiency", str(last_resort)))
    han = _han_font_file()
    try:
        monkeypatch.setattr(font_manager.fontManager, "ttflist", plain)
        charts.cjk_font.cache_clear()
        assert charts.cjk_font() is None
        assert charts.chart_lang("zh") == "en"
        if han is None:
            pytest.skip("no font with Chinese characters on this machine")
        monkeypatch.setattr(font_manager.fontManager, "ttflist",
                            [*plain, entry("Noto Sans CJK JP", han)])
        charts.cjk_font.cache_clear()
        assert charts.cjk_font() == "Noto Sans CJK JP"
        assert charts.cjk_font() == "Noto Sans CJK JP"  # kept
        assert charts.cjk_font.cache_info().hits >= 1
        monkeypatch.setattr(font_manager.fontManager, "ttflist",
                            [*plain, entry("Noto Sans CJK JP", han),
                             entry("WenQuanYi Micro Hei", han)])
        charts.cjk_font.cache_clear()
        assert charts.cjk_font() == "WenQuanYi Micro Hei"
    finally:
        monkeypatch.undo()
        charts.cjk_font.cache_clear()


def test_a_dollar_in_a_name_is_drawn_as_written(walking, monkeypatch):
    """Names from the data (towns, the policy's facility types) are not mathtext: 'a$5与$b'
    is drawn as it is written (mathtext would set '5与' in italics and drop the dollars)."""
    import dataclasses

    from matplotlib.text import Text

    from eldercare_coverage import charts

    result, _, _ = walking
    name = "a$5与$b"
    units = result.units.copy()
    units.loc[units.index[units["level"] == "town"][0], "name"] = name
    policy = dataclasses.replace(result.policy, facility_types=tuple(
        dataclasses.replace(f, label_zh=f"{f.label_zh} $x$", label_en=f"{f.label_en} $x$")
        for f in result.policy.facility_types))
    changed = dataclasses.replace(result, units=units, policy=policy)
    figures: list[list[Text]] = []
    save = charts._png

    def keep(fig):
        png = save(fig)  # drawn first: tick labels exist
        figures.append([t for t in fig.findobj(Text) if "$" in t.get_text()])
        return png

    monkeypatch.setattr(charts, "_png", keep)
    for lang in ("zh", "en"):
        charts.coverage_map_png(changed, "walk_1500m", lang=lang)
        charts.town_coverage_png(changed, "walk_1500m", lang=lang)
    assert len(figures) == 4
    for k, texts in enumerate(figures):
        assert name in {t.get_text() for t in texts}  # the town
        if k % 2 == 0:  # the map's legend: the facility types
            assert any(" $x$ (" in t.get_text() for t in texts)
        # what the renderer does with each text: drawn as plain text, not mathtext
        assert [t.get_text() for t in texts
                if t.get_visible() and t._preprocess_math(t.get_text())[1]] == []
    assert Text(text=name)._preprocess_math(name)[1]  # by default it would be mathtext


# --- the report's words from the run's circles ------------------------------------------------


def _meal_words(tmp_path: Path, circles_csv: str, lang: str, **summary):
    """The meal paragraph of a report of a run with the policy ``circles_csv``: its
    summary built by hand, as the pipeline writes it."""
    import types

    from eldercare_coverage.policy import POLICY_FILES, read_policy
    from eldercare_coverage.report import _meals_section, _Words

    folder = tmp_path / "policy"
    folder.mkdir(exist_ok=True)
    (folder / POLICY_FILES["circles"]).write_text(circles_csv, encoding="utf-8")
    policy = read_policy(folder)
    circles = [{"name": c.name, "mode": c.mode, "limit": float(c.limit), "unit": c.unit,
                "label_zh": c.label_zh, "label_en": c.label_en,
                "unit_classes": list(c.unit_classes),
                "facility_types": policy.type_codes(c.facility_kinds)} for c in policy.circles]
    s = {"circles": circles, "community_meal_coverage_rate": 0.5,
         "community_meal_service_rate": 0.25, "community_meal_reached_share": 0.5,
         "communities_reached": 2, "communities_with_elderly": 4,
         "communities_with_meal_facility": 1, "communities": 4, **summary}
    result = types.SimpleNamespace(summary=s, policy=policy)
    html = _meals_section(s, _Words(result, lang))
    return html.split("</table>")[1]


DELIVERY_60 = """name,mode,limit,unit,facility_kinds,unit_classes,target_rate,label_zh,label_en,source
meal_urban_15min,delivery,15,min,central_kitchen;canteen,urban,,城市,urban,test
meal_rural_60min,delivery,60,min,central_kitchen;canteen,rural,,农村60分钟,rural 60 min,test
"""
DINE_IN = "meal_walk_10min,walk,10,min,canteen;meal_point,all,,步行就餐,dine-in,test\n"


def test_the_meal_paragraph_says_the_runs_delivery_limits(tmp_path):
    cap = {"meal_capacity": {"kitchens": 3, "meals_per_day": 450,
                             "meals_per_100_elderly": 12.5}}
    zh = _meal_words(tmp_path, DELIVERY_60, "zh", **cap)
    assert "配送时限内（城市15分钟，农村60分钟）" in zh
    assert "30分钟" not in zh and "就餐圈" not in zh  # no dine-in circle ran
    assert "送餐设施（中心厨房、老年食堂）3 个" in zh and "中央厨房" not in zh
    assert "日供餐 450 份" in zh and "12.5 份" in zh
    en = _meal_words(tmp_path, DELIVERY_60, "en", **cap)
    assert "delivery limit (urban 15 min, rural 60 min)" in en
    assert "30 min" not in en and "dine-in" not in en
    assert "3 delivering facilities (central kitchen, canteen for the elderly)" in en
    # with a dine-in circle it is named; without a delivery circle no kitchens are counted
    both = _meal_words(tmp_path, DELIVERY_60 + DINE_IN, "zh", **cap)
    assert "农村60分钟）或在10分钟步行就餐圈（" in both
    dine = _meal_words(tmp_path, DELIVERY_60.splitlines()[0] + "\n" + DINE_IN, "en")
    assert "delivery limit" not in dine and "within the dine-in circle: 10-minute" in dine
    assert "delivering" not in dine
    one = _meal_words(tmp_path, DELIVERY_60.replace("urban,,城市", "all,,全部")
                      .replace("meal_rural_60min", "meal_rural_x"), "zh", **cap)
    assert "配送时限内（15分钟）" in one  # the first circle counts every class


def _fifteen(covered_rule: float, covered_walk: float, speed: float | None) -> str:
    import types

    from eldercare_coverage.policy import default_policy
    from eldercare_coverage.report import _fifteen_minutes, _Words

    common = {"mode": "walk", "facility_types": ["care"], "coverage_rate": 0.5}
    circles = [{**common, "name": "walk_1500m", "limit": 1500.0, "unit": "m",
                "label_zh": "15分钟步行养老服务圈（实际到达距离1500米）",
                "label_en": "15-minute circle (1500 m)", "elderly_covered": covered_rule},
               {**common, "name": "walk_15min", "limit": 15.0, "unit": "min",
                "label_zh": "15分钟", "label_en": "15 minutes", "elderly_covered": covered_walk}]
    s = {"circles": circles, "settings": {} if speed is None else {"walk_speed_m_s": speed}}
    w = _Words(types.SimpleNamespace(summary=s, policy=default_policy()), "en")
    return _fifteen_minutes(s, w)


def test_the_two_15_minute_circles_differ_by_the_people_shown(monkeypatch):
    """10.4 and 5.6 people are shown as 10 and 6: the difference says 4, not 5 (4.8)."""
    text = _fifteen(1000.4, 995.6, 0.9)
    assert "the difference, 4 elderly people" in text
    # no speed in the summary: the settings' walking speed, not a fixed 0.9
    from eldercare_coverage import settings

    monkeypatch.setattr(settings, "walk_speed_m_s", 1.25)
    text = _fifteen(1000.4, 995.6, None)
    assert "walking speed of 1.25 m/s" in text and "about <b>20 minutes</b>" in text
    assert "reach only about <b>1,125 m</b>" in text
