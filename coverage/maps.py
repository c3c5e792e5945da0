"""The folium map of a coverage run: what a planner opens first.

:func:`make_map` draws a :class:`eldercare_coverage.result.CoverageResult` on a Leaflet map
(all layers switchable in the layer control, labels in Chinese and English):

- **老年人口 Elderly (60+) per cell**: the population grid as a choropleth, each
  cell's tooltip giving its elderly count, its network distance to the nearest
  facility per circle and the share covered;
- **服务圈 Service areas** per circle: each used facility's network service area;
- **服务缺口 Gap areas** per circle: connected unserved cells, ranked by elderly unserved;
- **设施 Facilities** by type, and the excluded ones (grey) with the reason;
- **乡镇/村社 Towns and villages** with their coverage rates.

A legend names the facility types, circles and the colour scale. The base layer
is OpenStreetMap tiles (the data layers do not need them: the map stays readable
offline, on a blank background). All user text is HTML-escaped.

Examples
--------
>>> m = make_map(result)  # doctest: +SKIP
>>> m.save("map.html")    # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import branca.colormap as cm
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

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

_PRECISION = 6  # decimal degrees kept in the map: about 0.1 m


def _html(m: folium.Map) -> Any:
    """The HTML body element of a map's figure (branca types it loosely)."""
    return getattr(m.get_root(), "html")  # noqa: B009


def _esc(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value))


def _fmt(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if math.isnan(v):
        return "–"
    return f"{v:,.{digits}f}"


def _geojson(gdf: gpd.GeoDataFrame, columns: list[str], *, simplify: float = 0.0) -> dict:
    """A compact GeoJSON FeatureCollection (WGS-84, rounded coordinates)."""
    geoms = gdf.geometry.to_crs("EPSG:4326").to_numpy()
    if simplify > 0:
        geoms = shapely.simplify(geoms, simplify, preserve_topology=True)
    geoms = shapely.transform(geoms, lambda c: np.round(c, _PRECISION))  # drawing only
    features = []
    records = gdf[columns].to_dict("records") if columns else [{}] * len(gdf)
    for geom, props in zip(geoms, records, strict=True):
        if geom is None or geom.is_empty:
            continue
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else
                     v.item() if isinstance(v, np.generic) else v) for k, v in props.items()}
        features.append({"type": "Feature", "properties": clean,
                         "geometry": json.loads(shapely.to_geojson(geom))})
    return {"type": "FeatureCollection", "features": features}


def _circles(result: CoverageResult) -> list[dict[str, Any]]:
    return list(result.summary.get("circles", []))


def _population_layer(result: CoverageResult, circles: list[dict[str, Any]],
                      colormap: cm.StepColormap) -> folium.FeatureGroup:
    pop = result.population
    pop = pop[pop["elderly"] > 0]
    # Short property keys keep a county's grid small; the tooltip's aliases label them.
    props: dict[str, Any] = {"e": pop["elderly"].round(1)}
    fields, aliases = ["e"], ["老年人 elderly 60+"]
    if "village" in pop.columns:
        props["v"] = pop["village"].fillna("").astype(str).map(html.escape)
        fields.append("v")
        aliases.append("村社 village")
    for i, c in enumerate(circles):
        n = c["name"]
        if f"{n}_dist" not in pop.columns:
            continue
        share = pop.get(f"{n}_share", pd.Series(np.nan, index=pop.index))
        props[f"c{i}"] = [
            ("unreachable" if pd.isna(d) else f"{d:,.0f} {c['unit']}")
            + ("" if pd.isna(s) else f" · {100 * s:.0f} %")
            for d, s in zip(pop[f"{n}_dist"], share, strict=True)]
        fields.append(f"c{i}")
        aliases.append(f"{html.escape(n)} distance · covered")
    table = gpd.GeoDataFrame(props, geometry=pop.geometry, crs=pop.crs)
    fg = folium.FeatureGroup(name="老年人口 Elderly (60+) per cell", show=True)
    folium.GeoJson(
        _geojson(table, fields),
        style_function=lambda f: {"fillColor": colormap(f["properties"]["e"]),
                                  "fillOpacity": 0.55, "weight": 0, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases),
        smooth_factor=0,
    ).add_to(fg)
    return fg


def _service_area_layers(result: CoverageResult, circles: list[dict[str, Any]]
                         ) -> list[folium.FeatureGroup]:
    sa = result.service_areas
    names = result.facilities.set_index("facility_id")["name"] if len(result.facilities) else {}
    groups = []
    for i, c in enumerate(circles):
        part = sa[sa["circle"] == c["name"]]
        if part.empty:
            continue
        color = CIRCLE_COLORS[i % len(CIRCLE_COLORS)]
        tip = ("<b>" + part["facility_id"].map(lambda f: _esc(f"{f} {names.get(f, '')}")) + "</b>"
               + f"<br>{_esc(c.get('label_zh', ''))}<br>{_esc(c['name'])}: "
               + f"{c['limit']:g} {c['unit']}<br>elderly reached "
               + part["elderly_reached"].map(lambda v: _fmt(v)))
        table = gpd.GeoDataFrame({"tip": tip}, geometry=part.geometry, crs=part.crs)
        fg = folium.FeatureGroup(name=f"服务圈 Service areas: {c['name']} ({c['limit']:g} "
                                 f"{c['unit']})", show=(i == 0))
        folium.GeoJson(
            _geojson(table, ["tip"], simplify=2e-6),
            style_function=lambda f, color=color: {"fillColor": color, "color": color,
                                                   "weight": 1, "fillOpacity": 0.12},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(fg)
        groups.append(fg)
    return groups


def _gap_layers(result: CoverageResult, circles: list[dict[str, Any]]
                ) -> list[folium.FeatureGroup]:
    gaps = result.gaps
    groups = []
    for i, c in enumerate(circles):
        part = gaps[gaps["circle"] == c["name"]] if len(gaps) else gaps
        if part.empty:
            continue
        where = (part["town"].fillna("").astype(str) + " "
                 + part["village"].fillna("").astype(str)).str.strip()
        tip = ("<b>gap #" + part["rank"].astype(str) + "</b> (" + _esc(c["name"]) + ")<br>"
               + part["elderly_unserved"].map(lambda v: _fmt(v)) + " elderly unserved in "
               + part["cells"].astype(str) + " cells, " + part["area_km2"].map(lambda v: _fmt(v, 2))
               + " km²<br>" + where.map(html.escape) + "<br>nearest facility "
               + part["nearest_dist"].map(lambda v: "unreachable" if pd.isna(v) else _fmt(v))
               + f" {c['unit']}")
        table = gpd.GeoDataFrame({"tip": tip}, geometry=part.geometry, crs=part.crs)
        fg = folium.FeatureGroup(name=f"服务缺口 Gap areas: {c['name']}", show=(i == 0))
        folium.GeoJson(
            _geojson(table, ["tip"]),
            style_function=lambda f: {"fillColor": GAP_COLOR, "color": GAP_COLOR, "weight": 2,
                                      "fillOpacity": 0.25, "dashArray": "4 3"},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(fg)
        groups.append(fg)
    return groups


def _unit_layers(result: CoverageResult, circles: list[dict[str, Any]]
                 ) -> list[folium.FeatureGroup]:
    units = result.units
    if units.empty:
        return []
    units = units[units.geometry.notna() & ~units.geometry.is_empty]
    groups = []
    for level, label, weight, show in (("town", "乡镇街道 Towns", 2.5, True),
                                       ("village", "村社 Villages and communities", 0.8, False)):
        part = units[units["level"] == level]
        if part.empty:
            continue
        tip = ("<b>" + part["name"].map(_esc) + "</b> "
               + part["urban_rural"].fillna("").astype(str).map(html.escape)
               + " (" + part["urban_rural_code"].fillna("").astype(str).map(html.escape) + ")<br>"
               + part["elderly"].map(lambda v: _fmt(v)) + " elderly")
        for c in circles:
            col = f"{c['name']}_rate"
            if col in part.columns:
                tip = tip + f"<br>{_esc(c['name'])}: " + (100 * part[col]).map(
                    lambda v: "–" if pd.isna(v) else f"{v:.1f} %")
        table = gpd.GeoDataFrame({"tip": tip}, geometry=part.geometry, crs=part.crs)
        fg = folium.FeatureGroup(name=label, show=show)
        folium.GeoJson(
            _geojson(table, ["tip"], simplify=2e-6),
            style_function=lambda f, w=weight: {"fill": False, "color": "#333333", "weight": w},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(fg)
        groups.append(fg)
    return groups


def _facility_popup(row: pd.Series) -> str:
    parts = [f"<b>{_esc(row['name'])}</b>", f"{_esc(row.get('type_label', row['type']))}",
             f"id {_esc(row['facility_id'])}, input row {_esc(row.get('source_row'))}"]
    for col, label in (("beds", "beds 床位"), ("meals_per_day", "meals/day 日供餐")):
        if col in row and pd.notna(row[col]):
            parts.append(f"{label}: {_fmt(row[col])}")
    if row["status"] == "used":
        parts.append(f"street access {_fmt(row.get('snap_m'))} m")
    else:
        parts.append(f"<span style='color:{EXCLUDED_COLOR}'>excluded: {_esc(row['reason'])}"
                     "</span>")
    return "<br>".join(parts)


def _facility_layers(result: CoverageResult) -> list[folium.FeatureGroup]:
    fac = result.facilities
    fac = fac[fac.geometry.notna() & ~fac.geometry.is_empty].to_crs("EPSG:4326")
    groups = []
    used = fac[fac["status"] == "used"]
    for code, part in used.groupby("type", sort=False):
        label = str(part["type_label"].iloc[0]) if "type_label" in part else str(code)
        fg = folium.FeatureGroup(name=f"设施 {html.escape(label)} ({len(part)})", show=True)
        color = TYPE_COLORS.get(str(code), "#000000")
        for _, row in part.iterrows():
            folium.CircleMarker(
                [row.geometry.y, row.geometry.x], radius=6 if code != "community_center" else 4.5,
                color="#ffffff", weight=1.2, fill=True, fill_color=color, fill_opacity=0.95,
                tooltip=_esc(row["name"]), popup=folium.Popup(_facility_popup(row), max_width=320),
            ).add_to(fg)
        groups.append(fg)
    excluded = fac[fac["status"] != "used"]
    if len(excluded):
        fg = folium.FeatureGroup(name=f"未使用设施 Excluded facilities ({len(excluded)})",
                                 show=False)
        for _, row in excluded.iterrows():
            folium.CircleMarker(
                [row.geometry.y, row.geometry.x], radius=4, color=EXCLUDED_COLOR, weight=1.5,
                fill=True, fill_color="#ffffff", fill_opacity=0.9,
                tooltip=_esc(f"{row['name']} (excluded)"),
                popup=folium.Popup(_facility_popup(row), max_width=320),
            ).add_to(fg)
        groups.append(fg)
    return groups


def _legend(result: CoverageResult, circles: list[dict[str, Any]]) -> str:
    fac = result.facilities
    used_types = list(dict.fromkeys(fac.loc[fac["status"] == "used", "type"]))
    labels = (fac.drop_duplicates("type").set_index("type")["type_label"].to_dict()
              if "type_label" in fac else {})
    rows = [f"<div><span style='background:{TYPE_COLORS.get(t, '#000')};border-radius:50%'>"
            f"</span>{_esc(labels.get(t, t))}</div>" for t in used_types]
    rows += [f"<div><span style='background:{CIRCLE_COLORS[i % len(CIRCLE_COLORS)]};"
             f"opacity:.5'></span>{_esc(c['name'])} {c['limit']:g} {_esc(c['unit'])}: "
             f"{100 * (c.get('coverage_rate') or 0):.1f} % covered</div>"
             for i, c in enumerate(circles)]
    rows.append(f"<div><span style='background:{GAP_COLOR};opacity:.6'></span>"
                "服务缺口 gap area (unserved elderly)</div>")
    title = _esc(result.summary.get("title") or "eldercare-coverage")
    total = _fmt(result.summary.get("elderly_total"))
    return (
        "<div id='ec-legend' style='position:fixed;bottom:24px;left:12px;z-index:9999;"
        "background:rgba(255,255,255,.92);padding:8px 10px;border-radius:6px;"
        "font:12px/1.5 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:330px'>"
        "<style>#ec-legend span{display:inline-block;width:11px;height:11px;"
        "margin-right:6px;vertical-align:middle;border:1px solid #555}</style>"
        f"<div style='font-weight:bold;margin-bottom:3px'>{title}</div>"
        f"<div>老年人 elderly (60+): {total}</div>" + "".join(rows) + "</div>"
    )


def make_map(result: CoverageResult, *, m: folium.Map | None = None,
             circles: list[str] | None = None, tiles: str | None = "OpenStreetMap") -> folium.Map:
    """Draw a coverage result on a folium map.

    Parameters
    ----------
    result
        The result of :func:`eldercare_coverage.run`.
    m
        An existing map to draw on (e.g. in a notebook); a new one when None.
    circles
        Names of the circles to draw (default: all of the run). Service areas and gap
        areas of the first circle are shown, the others are switchable.
    tiles
        Base layer of a new map (folium's names); None for a blank background, which
        needs no internet to look right.

    Returns
    -------
    folium.Map
        With a layer control and a legend.
    """
    all_circles = _circles(result)
    chosen = [c for c in all_circles if circles is None or c["name"] in circles]
    if circles is not None and len(chosen) != len(set(circles)):
        known = ", ".join(c["name"] for c in all_circles)
        raise ValueError(f"unknown circle in {circles}; this run has: {known}")
    pop = result.population
    bounds = pop.total_bounds if len(pop) else result.facilities.total_bounds
    if m is None:
        m = folium.Map(tiles=tiles, control_scale=True, prefer_canvas=True)
        _html(m).add_child(Element(
            "<meta name='description' content='eldercare-coverage service-circle map'>"))
    if np.all(np.isfinite(bounds)):
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])

    values = pop.loc[pop["elderly"] > 0, "elderly"].to_numpy() if len(pop) else np.array([1.0])
    qs = np.unique(np.round(np.quantile(values, [0, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0]), 1)) \
        if values.size else np.array([0.0, 1.0])
    if qs.size < 2:
        qs = np.array([0.0, max(float(qs[0]), 1.0)])
    colormap = cm.StepColormap(
        ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"][: qs.size - 1],
        index=list(qs), vmin=float(qs[0]), vmax=float(qs[-1]),
        caption="老年人口 / 格网 elderly (60+) per cell")

    layers: list[folium.FeatureGroup] = [_population_layer(result, chosen, colormap)]
    layers += _service_area_layers(result, chosen)
    layers += _gap_layers(result, chosen)
    layers += _unit_layers(result, chosen)
    layers += _facility_layers(result)
    for layer in layers:
        layer.add_to(m)
    colormap.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    _html(m).add_child(Element(_legend(result, chosen)))
    return m


def write_map(result: CoverageResult, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`make_map` of ``result`` as a standalone HTML file; returns the path."""
    path = Path(path)
    make_map(result, **kwargs).save(str(path))
    return path
