"""The before/after map of a site selection: what the chosen sites add to a circle.

:func:`make_site_map` draws the run *with* the chosen sites (``after``, measured by
:func:`~eldercare_coverage.pipeline.run`, not promised) as the coverage map of
:func:`~eldercare_coverage.maps.make_map` draws it, and lays over it:

- the circle's service area *before* the sites, as a dashed outline, so the ground the
  sites add is the filled area outside it;
- the new sites as large numbered markers (their rank: 1 adds the most), each with what
  it adds and its coordinates in WGS-84 and GCJ-02 (for pasting into AMap).

Like every map of the tool it needs no internet and travels as one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import folium
import numpy as np

from ._basemap import display_function
from ._html import esc, num
from ._leaflet import PointLayer, PolygonLayer, polygon_features
from .labels import tr
from .result import CoverageResult
from .siting import SiteSelection

SITE_COLOR = "#6a1b9a"  # purple: apart from the facility types' colours and the gaps' red
BEFORE_COLOR = "#424242"


def _site_popup(row: Any, lang: str, circle_label: str) -> str:
    parts = [f"<b>{esc(tr(lang, '新址', 'New site'))} {int(row['rank'])}</b>"
             + (f" {esc(row['name'])}" if str(row.get("name") or "") else ""),
             f"{esc(tr(lang, '候选编号', 'candidate'))} {esc(row['candidate_id'])}",
             f"{esc(circle_label)}: +{num(row['elderly_newly_covered'])} "
             + esc(tr(lang, "名老年人新纳入服务圈", "elderly newly covered")),
             f"{esc(tr(lang, '累计覆盖率', 'coverage rate after'))} "
             f"{100 * float(row['coverage_rate_cumulative']):.1f} %"]
    where = " ".join(str(v) for v in (row.get("town"), row.get("village")) if v)
    if where:
        parts.append(esc(where))
    parts.append(f"WGS-84 {float(row['lon']):.6f}, {float(row['lat']):.6f}")
    parts.append(f"GCJ-02 {float(row['lon_gcj02']):.6f}, {float(row['lat_gcj02']):.6f}")
    return "<br>".join(parts)


def make_site_map(before: CoverageResult, after: CoverageResult, selection: SiteSelection,
                  *, basemap: str = "none", tianditu_key: str | None = None,
                  lang: str = "zh") -> folium.Map:
    """The coverage map of ``after`` with the service area of ``before`` and the new sites.

    Parameters
    ----------
    before, after
        The run without the sites (where ``selection`` was chosen) and the run with them.
    selection
        The chosen sites (:func:`~eldercare_coverage.siting.select_sites`).
    basemap, tianditu_key, lang
        As for :func:`~eldercare_coverage.maps.make_map`.

    Returns
    -------
    folium.Map
    """
    from .maps import _labelled, _metric_crs, make_map

    circle = selection.circle
    m = make_map(after, circles=[circle], basemap=basemap, tianditu_key=tianditu_key,
                 lang=lang)
    display = display_function(basemap)
    label = next((c["label"] for c in _labelled(after, lang) if c["name"] == circle), circle)
    areas = before.service_areas
    areas = areas[areas["circle"] == circle] if areas is not None else areas
    if areas is not None and len(areas):
        group = folium.FeatureGroup(name=tr(lang, "新址之前的服务圈：", "Before the new sites: ")
                                    + esc(label), show=True)
        tip = esc(tr(lang, f"新址之前：覆盖率 {100 * selection.rate_before:.1f} %",
                     f"before the new sites: {100 * selection.rate_before:.1f} % covered"))
        PolygonLayer(polygon_features(areas, [{"tip": tip}] * len(areas), simplify_m=2.0,
                                      metric_crs=_metric_crs(before), display=display),
                     style={"fill": False, "color": BEFORE_COLOR, "weight": 2,
                            "dashArray": "6 4"}).add_to(group)
        group.add_to(m)
    sites = selection.sites
    group = folium.FeatureGroup(name=tr(lang, "新址（按新增覆盖排序）",
                                        "New sites (ranked by what they add)"), show=True)
    rows = [row for _, row in sites.iterrows()]
    PointLayer(np.column_stack([sites["lon"].to_numpy(float), sites["lat"].to_numpy(float)]),
               [f"{esc(tr(lang, '新址', 'New site'))} {int(r['rank'])}: "
                f"+{num(r['elderly_newly_covered'])}" for r in rows],
               [_site_popup(r, lang, label) for r in rows],
               style={"radius": 11, "color": "#ffffff", "weight": 3, "fillColor": SITE_COLOR,
                      "fillOpacity": 1.0}, display=display).add_to(group)
    group.add_to(m)
    return m


def write_site_map(before: CoverageResult, after: CoverageResult, selection: SiteSelection,
                   path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`make_site_map` as one HTML file that needs nothing else; the path."""
    path = Path(path)
    make_site_map(before, after, selection, **kwargs).save(str(path))
    return path
