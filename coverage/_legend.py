"""The map's colours and the legend that says what they mean.

The legend is HTML in the page, in Chinese or English: the title and the elderly counted,
the facility types (with the facilities used and excluded), each circle's coverage rate with
its label (its limit in metres and minutes at the walking speed, e.g. ``15分钟步行圈（老年人步速
0.9米/秒，约810米）``) and the plan's name, the gap areas, and the two
colour scales of the population images, one class per row. Its sections fold; the
population images' sections open and fold with their layers. The same ``<style>`` also
styles the grid's popup (a table of the circles, :class:`eldercare_coverage.maps.GridClick`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._html import esc, num
from .labels import tr
from .result import CoverageResult

#: Colours of facility types (by code) and of the circles' service areas.
TYPE_COLORS = {
    "county_center": "#7b3294",
    "town_center": "#c2185b",
    "community_center": "#e66101",
    "nursing_home": "#1a9850",
    "central_kitchen": "#0571b0",
    "canteen": "#4393c3",
    "meal_point": "#92c5de",
}
CIRCLE_COLORS = ("#2166ac", "#1b7837", "#762a83", "#b35806", "#01665e", "#8c510a")
GAP_COLOR = "#d7191c"
EXCLUDED_COLOR = "#777777"
#: Elderly per cell, low to high (classes from quantiles of the populated cells).
ELDERLY_COLORS = ("#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603")
#: Distance to the nearest facility as multiples of the circle's limit, and their colours;
#: the last colour is for cells beyond the last multiple, then unreachable cells.
DIST_LIMIT_MULTIPLES = (0.5, 1.0, 1.5, 2.0)
DIST_COLORS = ("#1a9850", "#a6d96a", "#fee08b", "#fdae61", "#d73027")
UNREACHABLE_COLOR = "#6e6e6e"
#: Distance rings from the nearest band outwards.
RING_COLORS = ("#253494", "#2c7fb8", "#41b6c4", "#7fcdbb", "#c7e9b4", "#ffffcc")


def _swatch(color: str, text: str, *, round_: bool = False, opacity: float = 1.0) -> str:
    """One row of the legend: a colour and what it means.

    Examples
    --------
    >>> _swatch("#d7191c", "服务缺口", opacity=0.6)
    "<div><span style='background:#d7191c;opacity:0.6'></span>服务缺口</div>"
    """
    radius = "border-radius:50%;" if round_ else ""
    return (f"<div><span style='background:{color};{radius}opacity:{opacity:g}'></span>"
            f"{text}</div>")


def _section(title: str, rows: list[str], *, section_id: str | None = None,
             open_: bool = True) -> str:
    """A part of the legend a planner can fold (``<details>``)."""
    attributes = (f" id='{section_id}'" if section_id else "") + (" open" if open_ else "")
    return f"<details{attributes}><summary>{title}</summary>{''.join(rows)}</details>"


#: Element ids of the legend's sections that follow their layer (see MapControls).
LEGEND_ELDERLY_ID, LEGEND_DISTANCE_ID = "ec-legend-elderly", "ec-legend-distance"


def legend_html(result: CoverageResult, circles: list[dict[str, Any]],
                edges: np.ndarray | None, dist_circle: dict[str, Any] | None, *,
                lang: str = "zh", type_labels: dict[str, str] | None = None) -> str:
    """The legend of a map of ``result``: every row a colour and what it means.

    Parameters
    ----------
    result
        The run drawn.
    circles
        The circles drawn (summary entries), in the map's order.
    edges
        Class edges of elderly per cell of the population image, None without one.
    dist_circle
        The circle whose distances colour the distance image, None without one.
    lang
        ``"zh"`` or ``"en"``.
    type_labels
        Each facility type's label in ``lang`` (default: the table's ``type_label``).

    Returns
    -------
    str
        A ``<div id='ec-legend'>`` of foldable sections (``<details>``), fixed bottom left
        until the map's script docks it (:class:`eldercare_coverage._leaflet.MapControls`).
    """
    summary = result.summary
    fac = result.facilities
    used_types = list(dict.fromkeys(fac.loc[fac["status"] == "used", "type"])) if len(fac) else []
    labels = type_labels if type_labels is not None else (
        fac.drop_duplicates("type").set_index("type")["type_label"].to_dict()
        if "type_label" in fac else {})
    accounting = summary.get("facilities") or {}
    n_used = accounting.get("used", len(fac[fac["status"] == "used"]) if len(fac) else 0)
    n_excluded = len(accounting["excluded"]) if "excluded" in accounting else \
        (len(fac) - n_used if len(fac) else 0)
    sections = [_section(
        tr(lang, f"设施：使用 {num(n_used)} 个，未使用 {num(n_excluded)} 个",
           f"Facilities: {num(n_used)} used, {num(n_excluded)} excluded"),
        [_swatch(TYPE_COLORS.get(t, "#000"), esc(labels.get(t, t)), round_=True)
         for t in used_types])]
    # each circle: its coverage, its label (limit in metres and minutes), the plan's name
    sections.append(_section(
        tr(lang, "服务圈：老年人覆盖率", "Service circles: elderly covered"),
        [_swatch(CIRCLE_COLORS[i % len(CIRCLE_COLORS)],
                 f"<b>{100 * (c.get('coverage_rate') or 0):.1f} %</b> "
                 f"{esc(c.get('label') or c['name'])}<br><span class='ec-sub'>"
                 f"{tr(lang, '规划：', 'plan: ')}"
                 f"{esc(c.get(f'label_{lang}') or c.get('label_zh') or c['name'])}</span>",
                 opacity=0.5)
         for i, c in enumerate(circles)]
        + [_swatch(GAP_COLOR, tr(lang, "服务缺口（未覆盖的老年人）",
                                 "gap area (unserved elderly)"), opacity=0.6)]))
    if edges is not None:
        sections.append(_section(
            tr(lang, "老年人口（每格网）", "Elderly (60+) per cell"),
            [_swatch(color, f"{edges[k]:g} – {edges[k + 1]:g}")
             for k, color in enumerate(ELDERLY_COLORS[: edges.size - 1])],
            section_id=LEGEND_ELDERLY_ID))
    if dist_circle is not None:
        limit, unit = float(dist_circle["limit"]), esc(dist_circle["unit"])
        rows, lower = [], 0.0
        for multiple, color in zip(DIST_LIMIT_MULTIPLES, DIST_COLORS[:-1], strict=True):
            rows.append(_swatch(color, f"{lower * limit:g} – {multiple * limit:g} {unit}"))
            lower = multiple
        rows.append(_swatch(DIST_COLORS[-1], f"&gt; {lower * limit:g} {unit}"))
        rows.append(_swatch(UNREACHABLE_COLOR, tr(lang, "不可达", "unreachable")))
        # folded: its layer is off on opening
        sections.append(_section(
            tr(lang, "到最近设施的距离：", "Distance to the nearest facility: ")
            + esc(dist_circle.get("label") or dist_circle["name"]), rows,
            section_id=LEGEND_DISTANCE_ID, open_=False))
    title = esc(summary.get("title") or "eldercare-coverage")
    total = num(summary.get("elderly_total"))
    # fixed bottom left until the map's script docks it as a Leaflet control (MapControls)
    return (
        "<div id='ec-legend' style='position:fixed;bottom:30px;left:10px;z-index:1000'>"
        "<style>#ec-legend{background:rgba(255,255,255,.94);padding:6px 10px;border-radius:6px;"
        "font:12px/1.45 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:300px;"
        "max-height:calc(100vh - 120px);overflow:auto;white-space:normal}"
        "#ec-legend.ec-docked{position:static !important}#ec-legend div{margin:1px 0}"
        "#ec-legend summary{font-weight:bold;cursor:pointer;margin-top:4px}"
        "#ec-legend summary.ec-title{font-size:13px;margin-top:0}"
        "#ec-legend .ec-sub{color:#555;padding-left:19px;display:inline-block}"
        "#ec-legend span:not(.ec-sub){display:inline-block;width:11px;height:11px;"
        "margin-right:6px;vertical-align:-1px;border:1px solid #555}"
        # the grid's popup (GridClick): a table of the circles
        ".ec-cell{border-collapse:collapse;margin-top:4px;font-size:12px}"
        ".ec-cell th,.ec-cell td{padding:1px 5px;border-bottom:1px solid #e4e4e4;"
        "text-align:left;vertical-align:top}.ec-cell th{white-space:nowrap}"
        ".ec-cell td+td{text-align:right;white-space:nowrap}.ec-near{color:#666;font-size:11px}"
        "</style>"
        f"<details open><summary class='ec-title'>{title}</summary>"
        f"<div>{tr(lang, '老年人（60岁及以上）', 'Elderly (60+)')}: <b>{total}</b></div>"
        + "".join(sections)
        + "<div style='color:#666;margin-top:4px'>"
        + tr(lang, "点击格网查看该格的数值", "Click the grid for a cell's values")
        + "</div></details></div>"
    )
