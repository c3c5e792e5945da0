"""The HTML report of a coverage run: the tables a planner puts into a plan review.

:func:`write_report` writes one self-contained HTML page (no scripts, no external
files; the pictures are inline PNGs; prints on A4) in Chinese (``lang="zh"``, the default)
or English (``lang="en"``); column names and circle identifiers stay as in the data:

0. the warnings of the run, when there were any;
1. the service circles in the plan's words (each with its limit in metres and minutes at
   the elderly walking speed; the plans' two "15-minute" circles explained): elderly
   covered and coverage rate (area-weighted, with the cell-centroid cross-check), gap
   areas and the elderly in them, distance rings, and how far the elderly live from their
   nearest facility (a chart);
2. a static picture of the coverage map of the first circle;
3. capacity: beds per 100 / per 1000 elderly against the plans' targets; meal service;
4. coverage per town (乡镇街道, with a chart against the target) and the least-served
   villages and communities (村社);
5. the largest gap areas of every circle, where a new facility would serve most people;
6. accounting: every input facility (used; excluded for a problem of its row, listed; or of
   a kind no circle of the run asked for, counted by reason) and every elderly person;
7. inputs, settings and definitions, so the numbers can be reproduced.

People are shown as whole people; rates to 0.1 %. All user text (names, reasons, titles)
is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ._html import esc as _e
from ._html import num as _num
from ._people import units_in_whole_people
from .labels import band_label, check_lang, circle_label, fifteen_minute_pairs, plan_name, tr
from .result import CoverageResult
from .settings import settings

_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #2166ac;padding-bottom:.2em;
margin-top:1.8em}table{border-collapse:collapse;margin:.6em 0 1em;font-size:.93em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.meta{color:#666}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.big{font-size:1.25em;font-weight:bold}.id{color:#888;font-size:.85em;font-family:monospace}
.note{background:#f6f8fa;border-left:4px solid #2166ac;padding:.5em 1em;margin:1em 0}
.warn{background:#fff8e1;border-left:4px solid #f9a825;padding:.5em 1em;margin:1em 0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{color:#555;font-size:.9em}
table.units td:first-child,table.units td:nth-child(2){white-space:nowrap}
table.units th{font-weight:normal;font-size:.88em}
@media print{body{margin:0;max-width:none}figure{break-inside:avoid}}
"""


def _pct(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(v) else f"{100 * v:.1f} %"


class _Words:
    """The report's words in one language, and the plan's names of its circles."""

    def __init__(self, result: CoverageResult, lang: str):
        self.lang = check_lang(lang)
        s = result.summary
        self.speed = (s.get("settings") or {}).get("walk_speed_m_s")
        kinds = {t.code: t.kind for t in result.policy.facility_types}
        self.types = {t.code: (t.label_zh, t.label_en) for t in result.policy.facility_types}
        self.circles = {c["name"]: c for c in s.get("circles", [])}
        self.meal = {name: bool(c.get("facility_types")) and all(
            kinds.get(t) == "meal" for t in c["facility_types"])
            for name, c in self.circles.items()}
        self.labels = {
            name: circle_label(c, lang=lang, walk_speed_m_s=self.speed, meal=self.meal[name])
            for name, c in self.circles.items()}

    def t(self, zh: str, en: str) -> str:
        return tr(self.lang, zh, en)

    def circle(self, name: str, *, with_id: bool = False) -> str:
        """The circle's label (escaped), its identifier small beside it when asked."""
        text = _e(self.labels.get(name, name))
        return text + (f" <span class='id'>{_e(name)}</span>" if with_id else "")

    def type(self, code: str) -> str:
        zh, en = self.types.get(code, ("", ""))
        return (zh if self.lang == "zh" else en) or zh or en or code

    def verdict(self, meets: Any) -> str:
        if meets is None or meets is pd.NA or (isinstance(meets, float) and math.isnan(meets)):
            return f"<span class='meta'>{self.t('无目标', 'no target')}</span>"
        return (f"<span class='ok'>{self.t('达标', 'met')}</span>" if meets
                else f"<span class='bad'>{self.t('未达标', 'not met')}</span>")


def _people(value: Any) -> str:
    """Whole people; ``<1`` for a fraction of one person (not a misleading 0).

    >>> _people(1234.4), _people(0.3), _people(0.0)
    ('1,234', '&lt;1', '0')
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _num(value)
    return "&lt;1" if 0 < v < 0.5 else _num(v)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int],
           cls: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Under each picture of a Chinese report drawn in English for want of a Chinese font.
NO_CJK_FONT_NOTE = ("图中文字为英文：本机未找到中文字体（可安装 fonts-noto-cjk）。"
                    "Pictures in English: no Chinese font found.")


def _figure(png: bytes | None, caption: str, alt: str, lang: str) -> str:
    """An inline PNG with its caption ('' without a picture); in a Chinese report whose
    pictures fell back to English (no Chinese font), a note saying so under it."""
    if not png:
        return ""
    from .charts import chart_lang, data_uri

    note = (f"<br><span class='bad'>{NO_CJK_FONT_NOTE}</span>"
            if lang == "zh" and chart_lang(lang) != "zh" else "")
    return (f"<figure><img src='{data_uri(png)}' alt='{_e(alt)}'>"
            f"<figcaption>{caption}{note}</figcaption></figure>")


def _limit(c: dict[str, Any], w: _Words) -> str:
    """A circle's limit in its unit, and the other unit for walking circles."""
    text = f"{c['limit']:g} {_e(c['unit'])}"
    speed = w.speed or settings.walk_speed_m_s
    if c.get("mode", "walk") == "walk":
        if c["unit"] == "min" and c.get("limit_m"):
            text += f"<br><span class='meta'>≈ {float(c['limit_m']):,.0f} m</span>"
        elif c["unit"] == "m":
            text += f"<br><span class='meta'>≈ {c['limit'] / (60 * speed):.0f} min</span>"
    return text


def _fifteen_minutes(s: dict[str, Any], w: _Words) -> str:
    """Why the plans' "15-minute" circle appears twice: the rule in metres and the minutes."""
    out = []
    speed = w.speed or settings.walk_speed_m_s
    for rule, walk in fifteen_minute_pairs(s.get("circles", [])):
        metres, minutes = float(rule["limit"]), float(walk["limit"])
        reach_m = float(walk.get("limit_m") or minutes * 60 * speed)
        # the difference of the whole people the table shows, as a reader would subtract
        gap = round(float(rule["elderly_covered"])) - round(float(walk["elderly_covered"]))
        out.append("<div class='note'>" + w.t(
            f"<b>两个“{minutes:g}分钟”服务圈。</b>规划中的“{_e(plan_name(rule, 'zh'))}”以"
            f"<b>{metres:g}米实际步行距离</b>为准。按老年人步速{speed:g}米/秒，{metres:g}米"
            f"需要约<b>{metres / (60 * speed):.0f}分钟</b>，而{minutes:g}分钟只能走约"
            f"<b>{reach_m:,.0f}米</b>。本报告两者都给出：{w.circle(rule['name'])}覆盖 "
            f"{_pct(rule['coverage_rate'])}，{w.circle(walk['name'])}覆盖 "
            f"{_pct(walk['coverage_rate'])}；两者相差 {_num(gap)} 名老年人——他们在"
            f"{metres:g}米以内，但按老年人步速需要{minutes:g}分钟以上。",
            f"<b>Two “{minutes:g}-minute” circles.</b> The plan's “{_e(plan_name(rule, 'en'))}” "
            f"is measured as <b>{metres:g} m of real walking distance</b>. At an elderly "
            f"walking speed of {speed:g} m/s, {metres:g} m take about "
            f"<b>{metres / (60 * speed):.0f} minutes</b>, and {minutes:g} minutes reach only "
            f"about <b>{reach_m:,.0f} m</b>. The report gives both: "
            f"{w.circle(rule['name'])} covers {_pct(rule['coverage_rate'])}, "
            f"{w.circle(walk['name'])} covers {_pct(walk['coverage_rate'])}; the difference, "
            f"{_num(gap)} elderly people, live within {metres:g} m but more than "
            f"{minutes:g} minutes away at an elderly pace.") + "</div>")
    return "".join(out)


def _circles_section(result: CoverageResult, w: _Words, charts: bool) -> str:
    s = result.summary
    targets = any(c.get("target_rate") is not None for c in s.get("circles", []))
    rows = [[f"<b>{w.circle(c['name'])}</b><br><span class='meta'>"
             f"{w.t('规划用语：', 'plan: ')}{_e(plan_name(c, w.lang))}</span> "
             f"<span class='id'>{_e(c['name'])}</span>",
             _limit(c, w), _num(c.get("facilities_used")),
             _num(c["elderly_covered"]), f"<span class='big'>{_pct(c['coverage_rate'])}</span>",
             _pct(c.get("coverage_rate_centroid")), _num(c.get("gap_areas")),
             _num(c.get("elderly_in_gaps")),
             *([_pct(c.get("target_rate")), w.verdict(c.get("meets_target"))] if targets else []),
             _e(c.get("source"))]
            for c in s.get("circles", [])]
    out = [f"<h2>{w.t('服务圈覆盖', 'Service-circle coverage')}</h2>",
           f"<p>{w.t('老年人口（60岁及以上）', 'Elderly people (60+)')}: "
           f"<span class='big'>{_num(s['elderly_total'])}</span></p>",
           _table([w.t("服务圈", "circle"), w.t("限值", "limit"), w.t("设施", "facilities"),
                   w.t("覆盖老年人", "elderly covered"), w.t("覆盖率", "coverage"),
                   w.t("质心核对", "centroid check"), w.t("缺口区", "gap areas"),
                   w.t("缺口内老年人", "elderly in gaps"),
                   *([w.t("目标", "target"), ""] if targets else []),
                   w.t("依据", "source")], rows, {2, 3, 4, 5, 6, 7, *([8] if targets else [])}),
           f"<p class='meta'>{w.t('标识（灰色小字）为 units.csv 与 coverage.gpkg 中的列名前缀。', 'The identifier (small, grey) is the prefix of the columns in units.csv and coverage.gpkg.')}</p>",
           _fifteen_minutes(s, w)]
    ring_names = {r.name: (r.label_zh, r.label_en) for r in result.policy.rings}
    for r in s.get("rings", []):
        zh, en = ring_names.get(r["name"], (r["name"], r["name"]))
        out.append(f"<h3>{w.t('距离圈层', 'Distance rings')}: {_e(w.t(zh, en) or r['name'])}</h3>")
        out.append(_table([w.t("圈层（到最近设施）", "band (to the nearest facility)"),
                           w.t("老年人", "elderly"), w.t("占比", "share")],
                          [[_e(band_label(b["band"], w.lang)), _num(b["elderly"]),
                            _pct(b["share"])] for b in r["bands"]], {1, 2}))
    if charts:
        from .charts import distance_png

        out.append(_figure(distance_png(result, lang=w.lang), w.t(
            "老年人到最近养老设施的步行距离（沿街道，按人数加权）：柱为每100米的老年人数，"
            "曲线为累计占比，虚线为各步行服务圈的限值。",
            "How far the elderly live from their nearest care facility along the streets "
            "(people-weighted): bars are elderly per 100 m, the curve the cumulative share, "
            "dashed lines the walking circles' limits."), w.t("距离分布图", "distance chart"),
            w.lang))
    return "\n".join(out)


def _map_section(result: CoverageResult, w: _Words, main: str | None) -> str:
    if main is None:
        return ""
    from .charts import coverage_map_png

    return (f"<h2>{w.t('覆盖图', 'Coverage map')}: {w.circle(main)}</h2>"
            + _figure(coverage_map_png(result, main, lang=w.lang), w.t(
                "蓝色为服务圈覆盖范围，红色为服务缺口（数字为按未覆盖老年人排序的名次），灰色深浅"
                "为老年人口密度，圆点为提供该服务的设施。可交互地图见 map.html。",
                "Blue: the service area; red: gap areas (numbered by elderly unserved); grey: "
                "elderly per km²; dots: the facilities of the circle. The interactive map is "
                "map.html."), w.t("覆盖图", "coverage map"), w.lang))


def _capacity_section(s: dict[str, Any], w: _Words) -> str:
    cap = s.get("capacity") or []
    if not cap:
        return ""
    rows = [[_e(c.get(f"label_{w.lang}") or c["label_zh"]), _num(c["total"]),
             _num(c["value"], 2), _num(c["target"], 1), w.verdict(c["meets_target"]),
             _num(c["excluded_total"]), _e(c["source"])]
            for c in cap]
    return (f"<h2>{w.t('养老服务能力', 'Capacity')}</h2>"
            + _table([w.t("指标", "indicator"), w.t("总量", "total"), w.t("数值", "value"),
                      w.t("目标", "target"), "", w.t("未纳入设施中的数量", "in excluded facilities"),
                      w.t("依据", "source")], rows, {1, 2, 3, 5}))


# the share of villages and communities with meal service the plans report (DESIGN.md)
_MEAL_SERVICE_PLANS = ((("台州市", "Taizhou"), 0.648), (("温岭市", "Wenling"), 0.778),
                       (("目标", "aim"), 1.0))


def _meals_section(s: dict[str, Any], w: _Words) -> str:
    """The community meal question beside the plans' shares (only with meal circles)."""
    if "community_meal_coverage_rate" not in s:
        return ""
    rows = [[w.t("送餐或就餐可达", "reached by delivery or dine-in"),
             f"<span class='big'>{_pct(s['community_meal_coverage_rate'])}</span>",
             f"{_num(s.get('communities_reached'))} / {_num(s.get('communities_with_elderly'))}"],
            [w.t("有助餐设施", "with a kitchen, canteen or meal point"),
             f"<span class='big'>{_pct(s['community_meal_service_rate'])}</span>",
             f"{_num(s.get('communities_with_meal_facility'))} / {_num(s.get('communities'))}"]]
    rows += [[f"{w.t('规划', 'plans')}: {w.t(*name)}", _pct(rate), ""]
             for name, rate in _MEAL_SERVICE_PLANS]
    text = (f"<p>{_meal_reach_text(s, w)}{_meal_capacity_text(s, w)}</p>"
            if s.get("community_meal_reached_share") else "")
    return (f"<h2>{w.t('村社助餐服务', 'Meal service in villages and communities')}</h2>"
            + _table(["", w.t("占比", "share"), w.t("村社", "villages/communities")], rows,
                     {1, 2}) + text)


def _delivery_limits(s: dict[str, Any]) -> tuple[str, str]:
    """The run's delivery limits per unit class, in Chinese and English words: each
    class's first delivery circle (as the meal stage counts them), one limit when the
    classes share it; ('', '') without a delivery circle."""
    units = {"min": ("分钟", " min"), "m": ("米", " m")}
    limits: dict[str, tuple[str, str]] = {}
    for c in s.get("circles", []):
        if c.get("mode") != "delivery":
            continue
        other = f" {_e(c.get('unit'))}"
        zh, en = units.get(str(c.get("unit")), (other, other))
        for k in c.get("unit_classes") or ("urban", "rural"):
            limits.setdefault(k, (f"{float(c['limit']):g}{zh}", f"{float(c['limit']):g}{en}"))
    if not limits:
        return "", ""
    if len(set(limits.values())) == 1:
        zh, en = next(iter(limits.values()))
        return zh, en
    names = {"urban": ("城市", "urban"), "rural": ("农村", "rural")}
    order = sorted(limits, key=lambda k: (k != "urban", k))
    return ("，".join(f"{names.get(k, (k, k))[0]}{limits[k][0]}" for k in order),
            ", ".join(f"{names.get(k, (k, k))[1]} {limits[k][1].strip()}" for k in order))


def _meal_reach_text(s: dict[str, Any], w: _Words) -> str:
    """When a village or community counts as reached, from the circles that ran: the
    delivery limits per class and the dine-in circle only when one ran."""
    share = _pct(s.get("community_meal_reached_share"))
    zh, en = _delivery_limits(s)
    dine = [n for n, c in w.circles.items() if c.get("mode", "walk") == "walk" and w.meal[n]]
    dine_zh = "、".join(w.circle(n) for n in dine)
    dine_en = " or ".join(w.circle(n) for n in dine)
    where_zh = "或".join([*([f"在其城乡类别的配送时限内（{zh}）"] if zh else []),
                           *([f"在{dine_zh}内"] if dine else [])])
    where_en = " or ".join([*([f"within its class's delivery limit ({en})"] if en else []),
                            *([f"within the dine-in circle: {dine_en}"] if dine else [])])
    if not where_en:
        return ""
    return w.t(f"村社中至少 {share} 的老年人{where_zh}，即为可达。",
               f"A village or community is reached when at least {share} of its elderly "
               f"live {where_en}.")


def _meal_capacity_text(s: dict[str, Any], w: _Words) -> str:
    """The facilities that deliver meals (the delivery circles' types: central kitchens and
    canteens by default) and their meals ('' without a delivery circle)."""
    cap = s.get("meal_capacity")
    if not cap:
        return ""
    codes = list(dict.fromkeys(t for c in s.get("circles", []) if c.get("mode") == "delivery"
                               for t in c.get("facility_types") or []))
    kinds = "、".join(_e(w.types.get(t, (t, t))[0] or t) for t in codes)
    kinds_en = ", ".join(_e(w.types.get(t, (t, t))[1] or t) for t in codes)
    n, meals = _num(cap.get("kitchens")), _num(cap.get("meals_per_day"))
    per_100 = _num(cap.get("meals_per_100_elderly"), 1)
    return w.t(
        f"送餐设施{f'（{kinds}）' if kinds else ''}{n} 个，日供餐 {meals} 份，配送范围内每百名"
        f"老年人 {per_100} 份。",
        f" {n} delivering facilities{f' ({kinds_en})' if kinds_en else ''}, {meals} meals a "
        f"day, {per_100} per 100 elderly of their delivery catchments.")


def _units_section(result: CoverageResult, w: _Words, names: list[str], n_villages: int,
                   charts: bool) -> str:
    units = units_in_whole_people(  # the whole people of units.csv, adding up per level
        pd.DataFrame(result.units.drop(columns=result.units.geometry.name)),
        [c["name"] for c in result.summary.get("circles", [])])
    title = f"<h2>{w.t('分单元覆盖', 'Coverage by unit')}</h2>"
    if units.empty:
        return title + "<p class='meta'>" + w.t(
            "未提供行政边界：用 --boundaries 可得到各乡镇和村社的覆盖率。",
            "No boundaries were given: pass --boundaries to get rates per town and village.") \
            + "</p>"
    rate_cols = [f"{n}_rate" for n in names if f"{n}_rate" in units.columns]
    header = [w.t("名称", "name"), w.t("城乡", "urban/rural"), w.t("老年人", "elderly"),
              *[w.circle(c.removesuffix("_rate")) for c in rate_cols]]

    classes = {"urban": w.t("城镇", "urban"), "rural": w.t("乡村", "rural")}

    def rows(part: pd.DataFrame) -> list[list[str]]:
        return [[_e(r["name"]),
                 f"{_e(classes.get(r['urban_rural'], r['urban_rural']))} "
                 f"{_e(r['urban_rural_code'])}",
                 _num(r["elderly"]), *[_pct(r[c]) for c in rate_cols]]
                for _, r in part.iterrows()]

    numeric = set(range(2, len(header)))
    towns = units[units["level"] == "town"]
    out = [title, f"<h3>{w.t('乡镇街道', 'Towns and subdistricts')}</h3>",
           _table(header, rows(towns), numeric, "units")]
    if charts and rate_cols and len(towns):
        from .charts import town_coverage_png

        out.append(_figure(town_coverage_png(result, names[0], lang=w.lang), w.t(
            "各乡镇街道的覆盖率（红色：低于规划目标）；虚线为全域覆盖率。",
            "Coverage rate per town (red: below the plan's target); the dashed line is the "
            "whole area's rate."), w.t("各乡镇覆盖率", "coverage by town"), w.lang))
    villages = units[(units["level"] == "village") & (units["elderly"] > 0)]
    if not villages.empty and rate_cols:
        worst = villages.sort_values([rate_cols[0], "elderly"], ascending=[True, False])
        n = min(n_villages, len(worst))
        out.append("<h3>" + w.t(f"覆盖率最低的{n}个村社（按{w.circle(names[0])}）",
                                f"The {n} least-served villages and communities (by "
                                f"{w.circle(names[0])})") + "</h3>")
        out.append(_table(header, rows(worst.head(n_villages)), numeric, "units"))
    return "\n".join(out)


def _gaps_section(result: CoverageResult, w: _Words, names: list[str], n_gaps: int) -> str:
    gaps = result.gaps
    out = [f"<h2>{w.t('服务缺口', 'Gap areas')}</h2>", "<p class='meta'>" + w.t(
        "缺口区为相连的未覆盖格网（覆盖不足一半），按未覆盖老年人数排序；“最近设施距离”为缺口内"
        "处于中位的未覆盖老年人到最近设施的距离（按人数加权的中位数）。全部缺口见 coverage.gpkg 的 "
        "gaps 图层。",
        "Gap areas are connected groups of unserved cells (less than half covered), ranked by "
        "elderly unserved; “nearest facility” is the distance of the gap's median unserved "
        "person to the nearest facility (the people-weighted median). Every gap is in "
        "coverage.gpkg, layer gaps.") + "</p>"]
    for name in names:
        part = gaps[gaps["circle"] == name].sort_values("rank") if len(gaps) else gaps
        c = w.circles.get(name, {})
        out.append(f"<h3>{w.circle(name, with_id=True)}</h3>")
        if part.empty:
            out.append(f"<p class='ok'>{w.t('无服务缺口。', 'No gap areas.')}</p>")
            continue
        median = "nearest_dist_median" if "nearest_dist_median" in part else "nearest_dist"
        unit = _e(c.get("unit", ""))
        digits = 0 if c.get("unit") == "m" else 1
        rows = [[_num(r["rank"]), _e(r["town"]), _e(r["village"]), _people(r["elderly_unserved"]),
                 _num(r["cells"]), _num(r["area_km2"], 2),
                 w.t("不可达", "unreachable") if pd.isna(r[median]) else
                 f"{_num(r[median], digits)} {unit}"]
                for _, r in part.head(n_gaps).iterrows()]
        out.append(_table([w.t("名次", "rank"), w.t("乡镇", "town"), w.t("村社", "village"),
                           w.t("未覆盖老年人", "elderly unserved"), w.t("格网", "cells"),
                           w.t("面积 km²", "area km²"),
                           w.t("最近设施距离（中位）", "nearest facility (median person)")],
                          rows, {0, 3, 4, 5, 6}))
        if len(part) > n_gaps:
            rest = part.iloc[n_gaps:]
            out.append("<p class='meta'>" + w.t(
                f"……另有 {len(rest)} 个较小的缺口区，共 {_people(rest['elderly_unserved'].sum())} "
                "名未覆盖老年人。",
                f"… and {len(rest)} smaller gap areas with "
                f"{_people(rest['elderly_unserved'].sum())} elderly unserved.") + "</p>")
    return "\n".join(out)


def _warnings_section(s: dict[str, Any], w: _Words) -> str:
    found = s.get("warnings") or []
    if not found:
        return ""
    items = "".join(f"<li><b>{_e(x.get('category'))}</b>: {_e(x.get('message'))}</li>"
                    for x in found)
    return (f"<div class='warn'><b>{w.t('运行警告', 'Warnings of the run')}</b> "
            f"({len(found)})<ul>{items}</ul></div>")


def _accounting_section(result: CoverageResult, w: _Words, max_ids: int = 40) -> str:
    s = result.summary
    fac = pd.DataFrame(result.facilities.drop(columns=result.facilities.geometry.name))
    f = s["facilities"]
    excluded = f["excluded"]
    data = [e for e in excluded if e.get("category", "data") == "data"]
    idle = [e for e in excluded if e.get("category") == "not_requested"]
    out = [f"<h2>{w.t('数据核对：每一个设施、每一位老年人', 'Accounting: every facility and every elderly person')}</h2>",
           "<p>" + w.t(
               f"输入设施 {f['total']} 个：使用 {f['used']} 个；因数据问题未使用 {len(data)} 个"
               + (f"；因本次未计算其服务圈而未使用 {len(idle)} 个" if idle else "") + "。",
               f"Facilities: {f['total']} in the input, {f['used']} used, {len(data)} excluded "
               "for a problem of their row"
               + (f", {len(idle)} of a kind no circle of this run uses" if idle else "") + ".")
           + "</p>"]
    if not fac.empty:
        by_type = fac.groupby(["type", "status"]).size().unstack(fill_value=0)
        out.append(_table(
            [w.t("类型", "type"), w.t("使用", "used"), w.t("未使用", "excluded")],
            [[f"{_e(w.type(str(t)))} <span class='id'>{_e(t)}</span>",
              _num(r.get("used", 0)), _num(r.get("excluded", 0))] for t, r in by_type.iterrows()],
            {1, 2}))
    if data:
        out.append(f"<h3>{w.t('数据问题：请核对这些行', 'Problems in the data: rows to check')}</h3>")
        out.append(_table([w.t("输入行", "input row"), "id", w.t("名称", "name"),
                           w.t("类型", "type"), w.t("原因", "reason")],
                          [[_num(e["source_row"]), _e(e["facility_id"]), _e(e["name"]),
                            f"{_e(w.type(str(e['type'])))} <span class='id'>{_e(e['type'])}</span>",
                            _e(e["reason"])] for e in data], {0}))
    if idle:
        groups: dict[str, list[dict[str, Any]]] = {}
        for e in idle:
            groups.setdefault(str(e["reason"]), []).append(e)
        rows = []
        for reason, members in groups.items():
            ids = ", ".join(_e(e["facility_id"]) for e in members[:max_ids])
            more = (w.t(f" 等（另 {len(members) - max_ids} 个）", f" and {len(members) - max_ids} more")
                    if len(members) > max_ids else "")
            rows.append([_e(reason), _num(len(members)), f"<span class='id'>{ids}{more}</span>"])
        out.append(f"<h3>{w.t('本次未计算的服务类型', 'Kinds no circle of this run uses')}</h3>")
        out.append("<p class='meta'>" + w.t(
            "这些设施的数据没有问题；计算相应的服务圈时它们会被使用。",
            "Nothing is wrong with these rows; a run of the circles they serve uses them.")
            + "</p>")
        out.append(_table([w.t("原因", "reason"), w.t("数量", "count"), "id"], rows, {1}))
    p = s.get("population", {})
    if p:
        cells = p.get("cells_by_status", {})
        status_words = {"ok": w.t("在路网上", "on the network"),
                        "off network": w.t("远离路网", "off the network"),
                        "unreachable": w.t("不可达", "unreachable")}
        out.append(f"<h3>{w.t('老年人口核对', 'Elderly people by status')}</h3>")
        out.append(_table(
            [w.t("状态", "status"), w.t("格网", "cells"), w.t("老年人", "elderly")],
            [[f"{_e(status_words.get(k, k))} <span class='id'>{_e(k)}</span>",
              _num(cells.get(k, 0)), _num(v)]
             for k, v in p.get("elderly_by_status", {}).items()]
            + [[f"<b>{w.t('合计', 'total')}</b>", _num(p.get("cells")),
                f"<b>{_num(s['elderly_total'])}</b>"]],
            {1, 2}))
        out.append("<p class='meta'>" + w.t(
            "“在路网上”的格网在接入距离内连到街道；“远离路网”的格网离所有街道都更远；“不可达”的"
            "格网所在街道没有任何设施能沿路网到达。它们都计入总数，并计为未覆盖。",
            "'on the network' cells are snapped to a street within the access limit; 'off the "
            "network' cells are farther from every street; 'unreachable' cells sit on streets "
            "no facility's network reaches. All of them count in the totals and as "
            "unserved.") + "</p>")
    return "\n".join(out)


def _inputs_section(s: dict[str, Any], w: _Words) -> str:
    net = s.get("network", {})
    items = [(k, v) for k, v in s.get("inputs", {}).items() if v]
    items += [("network", f"{_num(net.get('nodes'))} nodes, {_num(net.get('edges'))} edges, "
                          f"{_num(net.get('length_km'), 1)} km, "
                          f"{_num(net.get('components'))} components")] if net else []
    items += [(k, v) for k, v in s.get("settings", {}).items()]
    items += [("work CRS", s.get("work_crs")), ("output CRS", s.get("crs")),
              ("time", ", ".join(f"{k} {v:.1f} s" for k, v in s.get("timing_s", {}).items()))]
    pixel = _num(s.get("settings", {}).get("pixel_m", 10))
    return (f"<h2>{w.t('输入与方法', 'Inputs, settings, definitions')}</h2>"
            + _table(["", ""], [[_e(k), _e(v)] for k, v in items], set())
            + "<p>" + w.t(
                "设施到某地的路网距离 = 设施到最近街道的直线接入段 + 沿街道的距离（部分路段从投影点"
                "起算）+ 街道到该地的接入段，每个地点经由其自身最近的街道。从一个服务圈的全部设施"
                "出发的一次搜索给出每个地点的距离和最近设施（距离场）。覆盖老年人 = 每个格网的人数"
                f" × 其 {pixel} 米像元中在限值以内的比例（总数守恒），并以格网质心的距离核对；设施"
                "的服务范围 = 以该设施为最近设施且在限值内的人。地图上的范围由同一距离场绘制。缺口"
                "区为覆盖不足一半的相连格网。",
                "Network distance from a facility to a place = straight access leg from the "
                "facility to its nearest street + distance along the streets (partial edges "
                "counted from the projection points) + access leg from the street to the place, "
                "each place measured through its own nearest street. One search from all "
                "facilities of a circle gives every place its distance and nearest facility (the "
                "distance field). Covered elderly = each cell's people times the share of its "
                f"{pixel} m pixels within the limit "
                "(totals conserved), cross-checked by the distance of each cell's centroid; a "
                "facility's catchment = the people for whom it is the nearest facility within "
                "the limit. Areas on the map are drawn from the same field. Gap areas are "
                "connected groups of cells less than half covered.") + "</p>"
            + _walk_rule_text(s.get("walk_rule"), w))


def _walk_rule_text(rule: dict[str, Any] | None, w: _Words) -> str:
    """The walking rule of the run in one paragraph (DESIGN.md "Walkable ways")."""
    if not rule:
        return ""

    def tags(d: dict[str, list[str]]) -> str:
        return ", ".join(f"{k}={'|'.join(v)}" for k, v in d.items())

    ex = _e("|".join(rule.get("exclude_highway", [])))
    never = _e(tags(rule.get("exclude_tags", {})))
    restricted = _e(tags(rule.get("restricted_tags", {})))
    foot_only = _e("|".join(rule.get("foot_only_highway", [])))
    allowed = _e("|".join(rule.get("foot_allowed", [])))
    return "<p>" + w.t(
        f"步行路网（Walkable ways，按每条OSM道路在简化前判断）：带 <code>highway</code> 标签的道路，"
        f"但不含 highway={ex}；排除 {never}；除非 foot={allowed}，否则排除 {restricted} 以及 "
        f"highway={foot_only}。单行道双向可走。",
        "Walkable ways (per OSM way, before simplification): a way with a "
        f"<code>highway</code> tag, except highway={ex}; never {never}; not {restricted} and "
        f"not highway={foot_only} unless foot={allowed}. One-way streets are walked both "
        "ways.") + "</p>"


def render_report(result: CoverageResult, *, lang: str = "zh", n_villages: int = 15,
                  n_gaps: int = 10, charts: bool = True) -> str:
    """The report of ``result`` as an HTML string (see the module docstring).

    Parameters
    ----------
    result
        The run.
    lang
        ``"zh"`` (default) or ``"en"``: the language of the labels and text.
    n_villages, n_gaps
        Rows of the least-served villages and of each circle's gap table.
    charts
        Draw the coverage map and the charts (matplotlib) as inline PNGs.
    """
    w = _Words(result, lang)
    s = result.summary
    names = [c["name"] for c in s.get("circles", [])]
    title = _e(s.get("title") or "eldercare-coverage")
    html_lang = "zh-CN" if w.lang == "zh" else "en"
    subtitle = w.t("养老服务圈覆盖报告", "Elderly-care service-circle coverage report")
    parts = [
        f"<!DOCTYPE html><html lang='{html_lang}'><head><meta charset='utf-8'>",
        f"<title>{title} – {subtitle}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1><p class='meta'>{subtitle} · {_e(s.get('tool'))} · "
        f"{_e(s.get('generated'))} · {w.t('交互地图', 'interactive map')}: "
        f"<a href='map.html'>map.html</a> · {w.t('数据表', 'tables')}: coverage.gpkg, units.csv</p>",
        _warnings_section(s, w),
        _circles_section(result, w, charts),
        _map_section(result, w, names[0] if names and charts else None),
        _capacity_section(s, w),
        _meals_section(s, w),
        _units_section(result, w, names, n_villages, charts),
        _gaps_section(result, w, names, n_gaps),
        _accounting_section(result, w),
        _inputs_section(s, w),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_report(result: CoverageResult, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`render_report` of ``result`` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(render_report(result, **kwargs), encoding="utf-8")
    return path
