"""The HTML report of a coverage run: the tables a planner puts into a plan review.

:func:`write_report` writes one self-contained HTML page (no scripts, no external
files; prints on A4) in Chinese and English:

1. the service circles: elderly covered and coverage rate (area-weighted, with the
   cell-centroid cross-check), gap areas and the elderly in them, distance rings;
2. capacity: beds per 100 / per 1000 elderly against the plans' targets;
3. coverage per town (乡镇街道) and the least-served villages and communities (村社);
4. the largest gap areas, where a new facility would serve most people;
5. accounting: every input facility (used, excluded with the reason) and every elderly
   person (on the network, unreachable, off the network);
6. inputs, settings and definitions, so the numbers can be reproduced.

All user text (names, reasons, titles) is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ._html import esc as _e
from ._html import num as _num
from .result import CoverageResult

_CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #2166ac;padding-bottom:.2em;
margin-top:1.8em}table{border-collapse:collapse;margin:.6em 0 1em;font-size:.93em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#666}.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}
.big{font-size:1.25em;font-weight:bold}@media print{body{margin:0;max-width:none}}
"""


def _pct(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(v) else f"{100 * v:.1f} %"


def _verdict(meets: Any) -> str:
    if meets is None or meets is pd.NA or (isinstance(meets, float) and math.isnan(meets)):
        return "<span class='meta'>no target 无目标</span>"
    return "<span class='ok'>met 达标</span>" if meets else "<span class='bad'>not met 未达标</span>"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class='n'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _circles_section(s: dict[str, Any]) -> str:
    rows = [[f"<b>{_e(c['name'])}</b><br>{_e(c.get('label_zh'))}<br>"
             f"<span class='meta'>{_e(c.get('label_en'))}</span>",
             f"{c['limit']:g} {_e(c['unit'])}", _num(c.get("facilities_used")),
             _num(c["elderly_covered"]), f"<span class='big'>{_pct(c['coverage_rate'])}</span>",
             _pct(c.get("coverage_rate_centroid")), _num(c.get("gap_areas")),
             _num(c.get("elderly_in_gaps")), _pct(c.get("target_rate")),
             _verdict(c.get("meets_target")), _e(c.get("source"))]
            for c in s.get("circles", [])]
    out = ["<h2>服务圈覆盖 Service-circle coverage</h2>",
           f"<p>老年人口 Elderly people (60+): <span class='big'>{_num(s['elderly_total'])}"
           "</span></p>",
           _table(["circle 服务圈", "limit 限值", "facilities 设施", "elderly covered 覆盖老年人",
                   "coverage 覆盖率", "centroid check 质心核对", "gap areas 缺口区",
                   "elderly in gaps 缺口内老年人", "target 目标", "", "source 依据"], rows,
                  {2, 3, 4, 5, 6, 7, 8})]
    for r in s.get("rings", []):
        out.append(f"<h3>距离圈层 Distance rings: {_e(r['name'])}</h3>")
        out.append(_table(["band 圈层", "elderly 老年人", "share 占比"],
                          [[_e(b["band"]), _num(b["elderly"]), _pct(b["share"])]
                           for b in r["bands"]], {1, 2}))
    return "\n".join(out)


def _capacity_section(s: dict[str, Any]) -> str:
    cap = s.get("capacity") or []
    if not cap:
        return ""
    rows = [[f"{_e(c['label_zh'])}<br><span class='meta'>{_e(c['label_en'])}</span>",
             _num(c["total"]), _num(c["value"], 2), _num(c["target"], 1),
             _verdict(c["meets_target"]), _num(c["excluded_total"]), _e(c["source"])]
            for c in cap]
    return ("<h2>养老服务能力 Capacity</h2>"
            + _table(["indicator 指标", "total 总量", "value 数值", "target 目标", "",
                      "in excluded facilities 未纳入设施", "source 依据"], rows, {1, 2, 3, 5}))


# the share of villages and communities with meal service the plans report (DESIGN.md)
_MEAL_SERVICE_PLANS = (("台州市 Taizhou", 0.648), ("温岭市 Wenling", 0.778), ("目标 aim", 1.0))


def _meals_section(s: dict[str, Any]) -> str:
    """The community meal question beside the plans' shares (only with meal circles)."""
    if "community_meal_coverage_rate" not in s:
        return ""
    rows = [["reached by delivery or dine-in 送餐或就餐可达",
             f"<span class='big'>{_pct(s['community_meal_coverage_rate'])}</span>",
             f"{_num(s.get('communities_reached'))} / {_num(s.get('communities_with_elderly'))}"],
            ["with a kitchen, canteen or meal point 有助餐设施",
             f"<span class='big'>{_pct(s['community_meal_service_rate'])}</span>",
             f"{_num(s.get('communities_with_meal_facility'))} / {_num(s.get('communities'))}"]]
    rows += [[f"plans 规划: {name}", _pct(rate), ""] for name, rate in _MEAL_SERVICE_PLANS]
    cap = s.get("meal_capacity") or {}
    text = (f"<p>A village or community is reached when at least "
            f"{_pct(s.get('community_meal_reached_share'))} of its elderly live within its "
            "class's delivery limit (urban 15 min, rural 30 min) or the dine-in circle. "
            f"Kitchens: {_num(cap.get('kitchens'))}, {_num(cap.get('meals_per_day'))} meals a "
            f"day, {_num(cap.get('meals_per_100_elderly'), 1)} per 100 elderly of their "
            "delivery catchments.</p>") if s.get("community_meal_reached_share") else ""
    return ("<h2>助餐服务 Meal service in villages and communities</h2>"
            + _table(["", "share 占比", "villages/communities 村社"], rows, {1, 2}) + text)


def _units_section(result: CoverageResult, names: list[str], n_villages: int) -> str:
    units = pd.DataFrame(result.units.drop(columns=result.units.geometry.name))
    if units.empty:
        return ("<h2>分单元覆盖 Coverage by unit</h2><p class='meta'>No boundaries were given: "
                "pass --boundaries to get rates per town and village.</p>")
    rate_cols = [f"{n}_rate" for n in names if f"{n}_rate" in units.columns]
    header = ["name 名称", "urban/rural 城乡", "elderly 老年人",
              *[c.removesuffix("_rate") for c in rate_cols]]

    def rows(part: pd.DataFrame) -> list[list[str]]:
        return [[_e(r["name"]), f"{_e(r['urban_rural'])} {_e(r['urban_rural_code'])}",
                 _num(r["elderly"]), *[_pct(r[c]) for c in rate_cols]]
                for _, r in part.iterrows()]

    numeric = set(range(2, len(header)))
    towns = units[units["level"] == "town"]
    out = ["<h2>分单元覆盖 Coverage by unit</h2>", "<h3>乡镇街道 Towns and subdistricts</h3>",
           _table(header, rows(towns), numeric)]
    villages = units[(units["level"] == "village") & (units["elderly"] > 0)]
    if not villages.empty and rate_cols:
        worst = villages.sort_values([rate_cols[0], "elderly"], ascending=[True, False])
        out.append(f"<h3>覆盖最低的村社 The {min(n_villages, len(worst))} least-served villages "
                   f"and communities (by {_e(names[0])})</h3>")
        out.append(_table(header, rows(worst.head(n_villages)), numeric))
    return "\n".join(out)


def _gaps_section(result: CoverageResult, names: list[str], n_gaps: int) -> str:
    gaps = result.gaps
    out = ["<h2>服务缺口 Gap areas (connected unserved cells, most elderly first)</h2>"]
    units = {c["name"]: c["unit"] for c in result.summary.get("circles", [])}
    for name in names[:2]:
        part = gaps[gaps["circle"] == name].sort_values("rank") if len(gaps) else gaps
        out.append(f"<h3>{_e(name)}</h3>")
        if part.empty:
            out.append("<p class='ok'>No gap areas 无服务缺口.</p>")
            continue
        rows = [[_num(r["rank"]), _e(r["town"]), _e(r["village"]), _num(r["elderly_unserved"]),
                 _num(r["cells"]), _num(r["area_km2"], 2),
                 "unreachable" if pd.isna(r["nearest_dist"]) else
                 f"{_num(r['nearest_dist'])} {_e(units.get(name, ''))}"]
                for _, r in part.head(n_gaps).iterrows()]
        out.append(_table(["rank", "town 乡镇", "village 村社", "elderly unserved 未覆盖老年人",
                           "cells 格网", "area km²", "nearest facility 最近设施"], rows,
                          {0, 3, 4, 5, 6}))
        if len(part) > n_gaps:
            out.append(f"<p class='meta'>… and {len(part) - n_gaps} smaller gap areas "
                       "(all in coverage.gpkg, layer gaps).</p>")
    return "\n".join(out)


def _accounting_section(result: CoverageResult) -> str:
    s = result.summary
    fac = pd.DataFrame(result.facilities.drop(columns=result.facilities.geometry.name))
    f = s["facilities"]
    out = ["<h2>数据核对 Accounting: every facility and every elderly person</h2>",
           f"<p>Facilities 设施: {f['total']} in the input, {f['used']} used, "
           f"{len(f['excluded'])} excluded.</p>"]
    if not fac.empty:
        by_type = fac.groupby(["type", "status"]).size().unstack(fill_value=0)
        labels = fac.drop_duplicates("type").set_index("type")["type_label"] \
            if "type_label" in fac else pd.Series(dtype=str)
        out.append(_table(
            ["type 类型", "used 使用", "excluded 未使用"],
            [[f"{_e(labels.get(t, ''))} <span class='meta'>{_e(t)}</span>",
              _num(r.get("used", 0)), _num(r.get("excluded", 0))] for t, r in by_type.iterrows()],
            {1, 2}))
    if f["excluded"]:
        out.append("<h3>未使用的设施 Excluded facilities</h3>")
        out.append(_table(["input row 行", "id", "name 名称", "type 类型", "reason 原因"],
                          [[_num(e["source_row"]), _e(e["facility_id"]), _e(e["name"]),
                            _e(e["type"]), _e(e["reason"])] for e in f["excluded"]], {0}))
    p = s.get("population", {})
    if p:
        cells = p.get("cells_by_status", {})
        out.append("<h3>老年人口核对 Elderly people by status</h3>")
        out.append(_table(
            ["status 状态", "cells 格网", "elderly 老年人"],
            [[_e(k), _num(cells.get(k, 0)), _num(v, 1)]
             for k, v in p.get("elderly_by_status", {}).items()]
            + [["<b>total 合计</b>", _num(p.get("cells")), f"<b>{_num(s['elderly_total'], 1)}</b>"]],
            {1, 2}))
        out.append("<p class='meta'>'ok' cells are snapped to a street within the access limit; "
                   "'off network' cells are farther from every street; 'unreachable' cells sit "
                   "on streets no facility's network reaches. All of them count in the totals "
                   "and as unserved.</p>")
    return "\n".join(out)


def _inputs_section(s: dict[str, Any]) -> str:
    net = s.get("network", {})
    items = [(k, v) for k, v in s.get("inputs", {}).items() if v]
    items += [("network", f"{_num(net.get('nodes'))} nodes, {_num(net.get('edges'))} edges, "
                          f"{_num(net.get('length_km'), 1)} km, "
                          f"{_num(net.get('components'))} components")] if net else []
    items += [(k, v) for k, v in s.get("settings", {}).items()]
    items += [("work CRS", s.get("work_crs")), ("output CRS", s.get("crs")),
              ("time", ", ".join(f"{k} {v:.1f} s" for k, v in s.get("timing_s", {}).items()))]
    return ("<h2>输入与方法 Inputs, settings, definitions</h2>"
            + _table(["", ""], [[_e(k), _e(v)] for k, v in items], set())
            + "<p>Network distance from a facility to a place = straight access leg from the "
              "facility to its nearest street + distance along the streets (partial edges "
              "counted from the projection points) + access leg from the street to the place, "
              "each place measured through its own nearest street. One search from all "
              "facilities of a circle gives every place its distance and nearest facility (the "
              "distance field). Covered elderly = each cell's people times the share of its "
              f"{_num(s.get('settings', {}).get('pixel_m', 10))} m pixels within the limit "
              "(totals conserved), cross-checked by the distance of each cell's centroid; a "
              "facility's catchment = the people for whom it is the nearest facility within "
              "the limit. Areas on the map are drawn from the same field. Gap areas are "
              "connected groups of cells less than half covered.</p>"
            + _walk_rule_text(s.get("walk_rule")))


def _walk_rule_text(rule: dict[str, Any] | None) -> str:
    """The walking rule of the run in one paragraph (DESIGN.md "Walkable ways")."""
    if not rule:
        return ""

    def tags(d: dict[str, list[str]]) -> str:
        return ", ".join(f"{k}={'|'.join(v)}" for k, v in d.items())

    return ("<p>步行路网 Walkable ways (per OSM way, before simplification): a way with a "
            "<code>highway</code> tag, except highway="
            f"{_e('|'.join(rule.get('exclude_highway', [])))}; never "
            f"{_e(tags(rule.get('exclude_tags', {})))}; "
            f"not {_e(tags(rule.get('restricted_tags', {})))} and not highway="
            f"{_e('|'.join(rule.get('foot_only_highway', [])))} unless foot="
            f"{_e('|'.join(rule.get('foot_allowed', [])))}. One-way streets are walked both "
            "ways.</p>")


def render_report(result: CoverageResult, *, n_villages: int = 15, n_gaps: int = 10) -> str:
    """The report of ``result`` as an HTML string (see the module docstring)."""
    s = result.summary
    names = [c["name"] for c in s.get("circles", [])]
    title = _e(s.get("title") or "eldercare-coverage")
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{title} – 养老服务圈覆盖报告 service-circle coverage</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1><p class='meta'>养老服务圈覆盖报告 Elderly-care service-circle "
        f"coverage report · {_e(s.get('tool'))} · {_e(s.get('generated'))} · "
        "map 地图: <a href='map.html'>map.html</a> · tables: coverage.gpkg, units.csv</p>",
        _circles_section(s),
        _capacity_section(s),
        _meals_section(s),
        _units_section(result, names, n_villages),
        _gaps_section(result, names, n_gaps),
        _accounting_section(result),
        _inputs_section(s),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_report(result: CoverageResult, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`render_report` of ``result`` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(render_report(result, **kwargs), encoding="utf-8")
    return path
