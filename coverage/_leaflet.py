"""The map's own Leaflet elements: geometry packed small, drawn by a few lines of script.

folium writes every marker and polygon as its own block of script (a facility with a popup
and a tooltip is some 1.5 KB, and its popups need jQuery). The elements here write one JSON
object per layer instead and draw it with plain Leaflet:

- :class:`PolygonLayer`: polygons as encoded polylines (:func:`polygon_features`), about a
  fifth of GeoJSON text, drawn as one ``L.geoJSON`` layer with tooltips;
- :class:`PointLayer`: circle markers (or numbered squares) with a tooltip and a popup each;
- :class:`MapControls`: a metric scale bar, and the legend docked as a Leaflet control (so it
  stacks with the scale bar instead of covering it).

Coordinates are converted for display by an optional ``display`` function of an ``(N, 2)``
array of ``[lon, lat]`` (WGS-84 to GCJ-02 for the AMap base layer, see
:mod:`eldercare_coverage._basemap`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement
from jinja2 import Template

from ._html import DECODE_RINGS_JS, encode_rings, esc

#: A function of an ``(N, 2)`` array of WGS-84 ``[lon, lat]`` giving the displayed ones.
Display = Callable[[np.ndarray], np.ndarray]

PRECISION = 6  # decimal degrees kept for polygons and points: about 0.1 m


def json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element and through folium's templates.

    No ``</script>`` can close the element, and no ``{{``, ``{%`` or ``{#`` reaches the
    Jinja template folium makes of every rendered script (JSON itself never has two
    braces in a row, so a second brace is always inside a string, where an escape is
    the same character).

    Examples
    --------
    >>> print(json_for_script({"name": "</script>{{ 7*7 }}"}))
    {"name":"\\u003c/script\\u003e{\\u007b 7*7 }}"}
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("{{", "{\\u007b").replace("{%", "{\\u0025").replace("{#", "{\\u0023")


def displayed(geoms: np.ndarray, display: Display | None) -> np.ndarray:
    """WGS-84 geometries with every vertex passed through ``display`` (as they are if None)."""
    if display is None:
        return geoms
    return shapely.transform(geoms, display)


def display_geometries(gdf: gpd.GeoDataFrame, *, simplify_m: float, metric_crs: Any,
                       display: Display | None = None) -> np.ndarray:
    """Geometries for drawing: simplified by ``simplify_m`` in a projected CRS, then in
    WGS-84 (or what ``display`` makes of it)."""
    if simplify_m > 0:
        projected = shapely.simplify(gdf.geometry.to_crs(metric_crs).to_numpy(), simplify_m,
                                     preserve_topology=True)
        geoms = gpd.GeoSeries(projected, crs=metric_crs).to_crs("EPSG:4326").to_numpy()
    else:
        geoms = gdf.geometry.to_crs("EPSG:4326").to_numpy()
    return displayed(geoms, display)


def polygon_features(gdf: gpd.GeoDataFrame, properties: list[dict[str, Any]], *,
                     simplify_m: float, metric_crs: Any, display: Display | None = None
                     ) -> list[dict[str, Any]]:
    """Polygons packed for the page: per feature ``{"p": properties, "g": polygons}``.

    Each polygon is a list of rings (the exterior first), each ring an encoded polyline of
    its ``[lon, lat]`` at 1e-6 degrees (:func:`eldercare_coverage._html.encode_rings`), about
    a fifth of the size of GeoJSON text. Non-polygon parts and empty geometries are left out.
    """
    geoms = display_geometries(gdf, simplify_m=simplify_m, metric_crs=metric_crs,
                               display=display)
    rings: list[np.ndarray] = []
    layout: list[list[int]] = []  # per feature, the number of rings of each polygon
    for geom in geoms:
        parts = [] if geom is None or geom.is_empty else shapely.get_parts(geom).tolist()
        counts = []
        for polygon in parts:
            if not isinstance(polygon, shapely.Polygon) or polygon.is_empty:
                continue
            polygon_rings = [polygon.exterior, *polygon.interiors]
            rings += [shapely.get_coordinates(ring) for ring in polygon_rings]
            counts.append(len(polygon_rings))
        layout.append(counts)
    codes = iter(encode_rings(rings, scale=10**PRECISION))
    return [{"p": props, "g": [[next(codes) for _ in range(n)] for n in counts]}
            for counts, props in zip(layout, properties, strict=True) if counts]


class PolygonLayer(MacroElement):
    """Packed polygons (:func:`polygon_features`) drawn as one ``L.geoJSON`` layer.

    Each feature's ``tip`` property becomes its tooltip; with a ``template`` (HTML with
    ``{0}``, ``{1}`` ... for values), the page makes the tooltip of each feature from its
    ``v`` property, the list of those values (thousands of gap areas then carry a few
    numbers each, not a whole tooltip). A feature's ``style`` property, if any, is laid over
    the layer's style.
    """

    _template = Template(r"""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  {{ this.decoder }}
  var packed = {{ this.packed_json }};
  var features = packed.features.map(function (feature) {
    if (packed.template) {
      feature.p.tip = packed.template.replace(/\{(\d+)\}/g, function (match, k) {
        return feature.p.v[k];
      });
    }
    return {type: 'Feature', properties: feature.p, geometry: {type: 'MultiPolygon',
      coordinates: feature.g.map(function (polygon) {
        return polygon.map(function (ring) { return decodeRings(ring, packed.scale); });
      })}};
  });
  return L.geoJSON({type: 'FeatureCollection', features: features}, {
    style: function (feature) {
      return Object.assign({}, packed.style, feature.properties.style || {});
    },
    onEachFeature: function (feature, layer) {
      if (feature.properties.tip) { layer.bindTooltip(feature.properties.tip, packed.tooltip); }
    }
  });
})().addTo({{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, features: list[dict[str, Any]], *, style: dict[str, Any],
                 sticky: bool = False, template: str | None = None):
        super().__init__()
        self._name = "PolygonLayer"
        self.decoder = DECODE_RINGS_JS
        self.packed_json = json_for_script({"scale": 10**PRECISION, "style": style,
                                            "tooltip": {"sticky": sticky},
                                            "template": template, "features": features})


class PointLayer(MacroElement):
    """Markers, each with its tooltip and popup (HTML, escaped by the caller).

    Circle markers by default; with ``labels``, square ``divIcon`` markers with a short
    text written in them (e.g. the rank of a new site), drawn in the marker pane above
    every polygon and grid image, the first label on top. A click on a marker opens its
    own popup and does not reach the map (where it would open the grid cell's under it).

    Parameters
    ----------
    lonlat
        ``(N, 2)`` WGS-84 ``[lon, lat]`` of the points.
    tips, popups
        Tooltip and popup HTML per point.
    style
        Leaflet path options of every circle marker (``radius``, ``color``,
        ``fillColor`` ...); for labelled markers ``size`` (pixels), ``color`` (fill) and
        ``ring`` (edge colour).
    display
        Conversion of the coordinates for display (e.g. to GCJ-02), None to keep them.
    labels
        Text per point (plain text, escaped here), for labelled square markers.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var packed = {{ this.packed_json }};
  var group = L.featureGroup();
  packed.points.forEach(function (point, k) {
    var marker = packed.labels ? L.marker(point, {
        icon: L.divIcon({className: 'ec-label-marker', iconSize: [packed.size, packed.size],
                         html: '<div style="' + packed.css + '">' + packed.labels[k] + '</div>'}),
        zIndexOffset: 1000 - k, bubblingMouseEvents: false})
      : L.circleMarker(point, packed.style);
    marker.bindTooltip(packed.tips[k])
      .bindPopup(packed.popups[k], {maxWidth: packed.labels ? 340 : 320})
      .addTo(group);
  });
  return group;
})().addTo({{ this._parent.get_name() }});
{% endmacro %}
""")

    def __init__(self, lonlat: np.ndarray, tips: list[str], popups: list[str], *,
                 style: dict[str, Any], display: Display | None = None,
                 labels: list[str] | None = None):
        super().__init__()
        self._name = "PointLayer"
        xy = np.asarray(lonlat, dtype=float).reshape(-1, 2)
        if display is not None and len(xy):
            xy = display(xy)
        # Leaflet wants [lat, lon]
        points = np.round(xy[:, ::-1], PRECISION).tolist()
        packed: dict[str, Any] = {"points": points}
        if labels is not None:
            packed["labels"] = [esc(text) for text in labels]
        packed.update(tips=tips, popups=popups,
                      style={"bubblingMouseEvents": False, **style})
        if labels is not None:
            size = int(style.get("size", 24))
            packed.update(size=size, css=(
                f"width:{size}px;height:{size}px;line-height:{size - 4}px;"
                f"border-radius:4px;background:{style.get('color', '#1a1a1a')};color:#fff;"
                f"border:2px solid {style.get('ring', '#ffd600')};box-sizing:border-box;"
                "text-align:center;font:bold 13px sans-serif;"
                "box-shadow:0 1px 4px rgba(0,0,0,.6)"))
        self.packed_json = json_for_script(packed)


#: Panes of our own (name: z-index) between Leaflet's tiles (200) and data layers (400): the
#: population images, then the offline base layer's streets and outlines over them (so the
#: streets show through the grid, as a planner reads it), both unclickable.
PANES = {"ecGrid": 240, "ecBase": 250}


class Panes(MacroElement):
    """Creates :data:`PANES` on the map; added before any layer that draws in them."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var panes = {{ this.panes_json }};
  Object.keys(panes).forEach(function (name) {
    if (map.getPane(name)) { return; }
    var pane = map.createPane(name);
    pane.style.zIndex = panes[name];
    pane.style.pointerEvents = 'none';
  });
})();
{% endmacro %}
""")

    def __init__(self) -> None:
        super().__init__()
        self._name = "Panes"
        self.panes_json = json_for_script(PANES)


class MapControls(MacroElement):
    """A metric scale bar, and the page's legend (``#ec-legend``) docked bottom left.

    The legend is plain HTML in the page (it shows even where scripts do not run); the
    script moves it into a Leaflet control above the scale bar, where clicks and wheel turns
    on it stay off the map, and fits ``bounds`` (``[[south, west], [north, east]]``) into the
    map beside it where the window is wide enough. Its sections are ``<details>`` a planner can fold; the section of
    a layer (``sections``: the layer's script name and the section's element id) opens when
    the layer is switched on and folds when it is switched off.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  L.control.scale({metric: true, imperial: false, maxWidth: 160}).addTo(map);
  var legend = document.getElementById('ec-legend');
  if (!legend) { return; }
  var control = L.control({position: 'bottomleft'});
  control.onAdd = function () {
    legend.className += ' ec-docked';
    L.DomEvent.disableClickPropagation(legend);
    L.DomEvent.disableScrollPropagation(legend);
    return legend;
  };
  control.addTo(map);
  var bounds = {{ this.bounds_json }};
  if (bounds && map.getSize().x > 2.5 * legend.offsetWidth) {
    // open on the whole area beside the legend, not under it
    map.fitBounds(bounds, {paddingTopLeft: [legend.offsetWidth + 20, 10],
                           paddingBottomRight: [10, 10], animate: false});
  }
  var sections = {{ this.sections_json }};
  function follow(open) {
    return function (event) {
      Object.keys(sections).forEach(function (layer) {
        var section = document.getElementById(sections[layer]);
        if (section && window[layer] === event.layer) { section.open = open; }
      });
    };
  }
  map.on('overlayadd', follow(true));
  map.on('overlayremove', follow(false));
})();
{% endmacro %}
""")

    def __init__(self, sections: dict[str, str] | None = None, *,
                 bounds: list[list[float]] | None = None) -> None:
        super().__init__()
        self._name = "MapControls"
        self.sections_json = json_for_script(sections or {})
        self.bounds_json = json_for_script(bounds)
