"""The before/after map of a site selection: what the chosen sites add to a circle.

:func:`make_site_map` draws the run *with* the chosen sites (``after``, measured by
:func:`~eldercare_coverage.pipeline.run`, not promised) as the coverage map of
:func:`~eldercare_coverage.maps.make_map` draws it, and lays over it:

- the circle's service area *before* the sites, as a dashed outline, so the ground the
  sites add is the filled area outside it;
- the new sites as large markers numbered by rank (1 adds the most), each with what it
  adds and its coordinates in WGS-84 and GCJ-02 (for pasting into AMap);
- a legend section for both, with the rate before, promised and measured.

Like every map of the tool it needs no internet and travels as one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import folium
import numpy as np
from branca.element import Element

from ._basemap import display_function
from ._html import esc, num
from ._leaflet import PointLayer, PolygonLayer, polygon_features
from .labels import tr
from .result import CoverageResult
from .siting import SiteSelection

SITE_COLOR = "#1a1a1a"  # near-black squares: apart from the facility types' round markers
SITE_RING_COLOR = "#ffd600"  # yellow edge: stands out on the red gaps and orange grid
BEFORE_COLOR = "#212121"  # near black: reads over the blue service area and the red gaps
SITE_MARKER_PX = 24  # side of a site's numbered square, pixels


def _text(value: Any) -> str:
    """Escaped text of a table value; empty for a missing one."""
    return esc(value).strip()


def _site_popup(row: Any, lang: str, circle_label: str) -> str:
    name = _text(row.get("name"))
    parts = [f"<b>{esc(tr(lang, '新址', 'New site'))} {int(row['rank'])}</b>"
             + (f" {name}" if name else ""),
             f"{esc(tr(lang, '候选编号', 'candidate'))} {_text(row['candidate_id'])}",
             f"{esc(circle_label)}: +{num(row['elderly_newly_covered'])} "
             + esc(tr(lang, "名老年人新纳入服务圈", "elderly newly covered")),
             f"{esc(tr(lang, '累计覆盖率', 'coverage rate after'))} "
             f"{100 * float(row['coverage_rate_cumulative']):.1f} %"]
    where = " ".join(t for t in (_text(row.get("town")), _text(row.get("village"))) if t)
    if where:
        parts.append(where)
    parts.append(f"WGS-84 {float(row['lon']):.6f}, {float(row['lat']):.6f}")
    parts.append(f"GCJ-02 {float(row['lon_gcj02']):.6f}, {float(row['lat_gcj02']):.6f}")
    return "<br>".join(parts)


def _measured_rate(after: CoverageResult, circle: str) -> float | None:
    entry = next((c for c in after.summary.get("circles", []) if c["name"] == circle), None)
    return None if entry is None else float(entry["coverage_rate"])


def _legend_section(selection: SiteSelection, measured: float | None, label: str,
                    lang: str) -> str:
    """The legend's rows for the sites and the outline before them (escaped HTML)."""
    n = len(selection.sites)
    rate = f"{100 * selection.rate_before:.1f} % → {100 * selection.rate_after:.1f} %"
    title = tr(lang, f"新址 {n} 处：覆盖率 {rate}", f"{n} new sites: {rate} covered")
    rows = [
        f"<div><span style='background:{SITE_COLOR};border:2px solid {SITE_RING_COLOR}'>"
        "</span>" + tr(lang, "新址（数字为排序，1 新增覆盖最多）",
                       "new site (numbered by rank: 1 adds the most)") + "</div>",
        f"<div><span style='background:transparent;border:2px dashed {BEFORE_COLOR}'></span>"
        + tr(lang, f"新址之前的服务圈（{100 * selection.rate_before:.1f} %）",
             f"service area before the new sites ({100 * selection.rate_before:.1f} %)")
        + "</div>",
        f"<div class='ec-sub'>{esc(label)}</div>"]
    if measured is not None:
        rows.append("<div class='ec-sub'>" + tr(
            lang, f"新增后重新计算：{100 * measured:.1f} %（承诺 {100 * selection.rate_after:.1f} %）",
            f"measured with them: {100 * measured:.1f} % (promised "
            f"{100 * selection.rate_after:.1f} %)") + "</div>")
    return f"<details open><summary>{title}</summary>{''.join(rows)}</details>"


def _add_legend_section(m: folium.Map, section: str) -> None:
    """Put ``section`` into the map's legend (``#ec-legend``, an element of the page made
    by :func:`eldercare_coverage._legend.legend_html`) before its closing hint; without
    one, as a legend of its own, fixed bottom right."""
    html = getattr(m.get_root(), "html")  # noqa: B009
    for key, child in list(html._children.items()):
        text = getattr(child, "_template_str", None) or ""
        if text.startswith("<div id='ec-legend'") and text.endswith("</details></div>"):
            hint = text.rfind("<div style='color:#666")
            at = hint if hint > 0 else len(text) - len("</details></div>")
            html._children[key] = Element(text[:at] + section + text[at:])
            html._children[key]._parent = html
            return
    html.add_child(Element(
        "<div style='position:fixed;bottom:30px;right:10px;z-index:1000;background:#fff;"
        f"padding:6px 10px;border-radius:6px;font:12px/1.45 sans-serif'>{section}</div>"))


def _controls_last(m: folium.Map) -> None:
    """Move the layer control after every layer: its script names the layers, which must
    be defined before it runs (folium writes the scripts in the order the elements were
    added, and :func:`~eldercare_coverage.maps.make_map` adds the control last)."""
    for key, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            m._children.move_to_end(key)


def make_site_map(before: CoverageResult, after: CoverageResult, selection: SiteSelection,
                  *, m: folium.Map | None = None, basemap: str = "none",
                  tianditu_key: str | None = None, lang: str = "zh") -> folium.Map:
    """The coverage map of ``after`` with the service area of ``before`` and the new sites.

    Parameters
    ----------
    before, after
        The run without the sites (where ``selection`` was chosen) and the run with them.
    selection
        The chosen sites (:func:`~eldercare_coverage.siting.select_sites`).
    m
        An existing map to draw on; a new one when None (see
        :func:`~eldercare_coverage.maps.make_map`).
    basemap, tianditu_key, lang
        As for :func:`~eldercare_coverage.maps.make_map` (on ``amap`` the outline and the
        sites are drawn in GCJ-02 like every other layer).

    Returns
    -------
    folium.Map
    """
    from .maps import _labelled, _metric_crs, make_map

    circle = selection.circle
    m = make_map(after, m=m, circles=[circle], basemap=basemap, tianditu_key=tianditu_key,
                 lang=lang)
    display = display_function(basemap)
    label = next((c["label"] for c in _labelled(after, lang) if c["name"] == circle), circle)
    areas = before.service_areas
    areas = areas[areas["circle"] == circle] if areas is not None else areas
    if areas is not None and len(areas):
        group = folium.FeatureGroup(name=tr(lang, "新址之前的服务圈（虚线）：",
                                            "Before the new sites (dashed): ") + esc(label),
                                    show=True)
        tip = esc(tr(lang, f"新址之前的服务圈：覆盖率 {100 * selection.rate_before:.1f} %",
                     f"before the new sites: {100 * selection.rate_before:.1f} % covered"))
        PolygonLayer(polygon_features(areas, [{"tip": tip}] * len(areas), simplify_m=2.0,
                                      metric_crs=_metric_crs(before), display=display),
                     style={"fill": False, "color": BEFORE_COLOR, "weight": 2.5,
                            "opacity": 0.9, "dashArray": "7 5"}).add_to(group)
        group.add_to(m)
    sites = selection.sites
    group = folium.FeatureGroup(name=tr(lang, f"新址 {len(sites)} 处（按新增覆盖排序）",
                                        f"New sites: {len(sites)} (ranked by what they add)"),
                                show=True)
    rows = [row for _, row in sites.iterrows()]
    new = esc(tr(lang, "新增覆盖", "newly covered"))
    # squares with the rank written in them, above every polygon and grid image
    PointLayer(np.column_stack([sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)]),
               [f"<b>{esc(tr(lang, '新址', 'New site'))} {int(r['rank'])}</b> {new} "
                f"{num(r['elderly_newly_covered'])}" for r in rows],
               [_site_popup(r, lang, label) for r in rows],
               style={"size": SITE_MARKER_PX, "color": SITE_COLOR, "ring": SITE_RING_COLOR},
               labels=[str(int(r["rank"])) for r in rows], display=display).add_to(group)
    group.add_to(m)
    _controls_last(m)
    _add_legend_section(m, _legend_section(selection, _measured_rate(after, circle), label,
                                           lang))
    return m


def write_site_map(before: CoverageResult, after: CoverageResult, selection: SiteSelection,
                   path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`make_site_map` as one HTML file that needs nothing else; the path."""
    path = Path(path)
    make_site_map(before, after, selection, **kwargs).save(str(path))
    return path
