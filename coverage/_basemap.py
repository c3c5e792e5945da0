"""Base layers of the map, chosen when it is written: offline outlines and streets, or tiles.

``basemap`` is one of :data:`BASEMAPS`:

- ``"none"`` (the default): no tiles at all. The base layer is drawn from the run's own data,
  so it needs no internet: the outline of the study area and its towns (from the units) and
  the main streets of the network (``result.meta["network"]``: motorway to tertiary and their
  links; the longest streets where a network has no road classes), light grey.
- ``"osm"``: OpenStreetMap's standard tiles.
- ``"tianditu"``: 天地图 Tianditu's vector map with its annotation layer; it needs a key
  (``tianditu_key``, free from the Tianditu console). Tianditu's ``_w`` tiles are Web
  Mercator on CGCS2000, which matches WGS-84 at map scale: nothing is converted.
- ``"amap"``: 高德 AMap's road map. AMap draws in GCJ-02, some 300-600 m off WGS-84 in China,
  so every overlay is converted to GCJ-02 (:func:`display_function`) and facilities sit on
  AMap's streets. The conversion is per vertex (the offset is not rigid: over a county it
  varies by 15-60 m), and so is the population image: its cells are converted before they
  are burnt into pixels.

With a tile base layer the offline one stays in the layer control as the other choice, for
when the tiles do not load.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from jinja2 import Template

from ._errors import CoverageError
from ._geometry import dissolve
from ._html import DECODE_RINGS_JS, encode_rings
from ._leaflet import PANES, Display, displayed, json_for_script
from .chinese_crs import wgs84_to_gcj02

BASEMAPS = ("none", "osm", "tianditu", "amap")

#: Road classes drawn in the offline base layer, with their line widths in pixels.
MAIN_HIGHWAYS = {"motorway": 3.0, "trunk": 3.0, "primary": 2.5, "secondary": 2.0,
                 "tertiary": 1.5}
STREET_COLOR = "#b9b9b9"
OUTLINE_COLOR = "#8c8c8c"
STREET_SIMPLIFY_M = 10.0  # metres: streets of the base layer may deviate by this much
LONGEST_SHARE = 0.1  # without road classes: this share of the edges, the longest ones
MAX_FALLBACK_EDGES = 5000  # ... and at most this many
BASE_PRECISION = 5  # decimal degrees of the base layer's lines: about 1 m
BASE_PANE = "ecBase"  # a Leaflet pane above the tiles and the grid, under the data layers

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = ("&copy; <a href='https://www.openstreetmap.org/copyright'>OpenStreetMap"
                   "</a> contributors")
TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}")
TIANDITU_ATTRIBUTION = "&copy; 天地图 Tianditu (国家地理信息公共服务平台)"
AMAP_URL = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}")
AMAP_ATTRIBUTION = "&copy; 高德地图 AutoNavi (GCJ-02)"


class BasemapError(CoverageError, ValueError):
    """A base layer that does not exist, or one that lacks what it needs (a key)."""


def check_basemap(basemap: str, tianditu_key: str | None = None) -> None:
    """Raise :class:`BasemapError` unless ``basemap`` can be drawn with what is given."""
    if basemap not in BASEMAPS:
        raise BasemapError(f"`basemap` was {basemap!r} but is expected to be one of "
                           f"{', '.join(BASEMAPS)}")
    if basemap == "tianditu" and not (tianditu_key or "").strip():
        raise BasemapError("the Tianditu base layer (basemap 'tianditu') needs a key: pass "
                           "tianditu_key (--tianditu-key KEY), a browser key from "
                           "console.tianditu.gov.cn; or choose basemap 'none', 'osm' or "
                           "'amap'")


def _to_gcj02(lonlat: np.ndarray) -> np.ndarray:
    """WGS-84 ``[lon, lat]`` rows as GCJ-02 (AMap's coordinates)."""
    lon, lat = wgs84_to_gcj02(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([lon, lat])


def display_function(basemap: str) -> Display | None:
    """How WGS-84 coordinates are drawn on ``basemap``: GCJ-02 on AMap, as they are else.

    Examples
    --------
    >>> display_function("osm") is None
    True
    >>> display_function("amap")(np.array([[121.37, 28.37]])).round(6).tolist()
    [[121.374391, 28.366928]]
    """
    return _to_gcj02 if basemap == "amap" else None


class TileGroup(folium.map.Layer):
    """One base layer of one or more tile layers (Tianditu's map and its annotation)."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.layerGroup({{ this.tiles_json }}.map(function (tiles) {
  return L.tileLayer(tiles[0], tiles[1]);
}));
{% endmacro %}
""")

    def __init__(self, name: str, tiles: list[tuple[str, dict[str, Any]]], *, show: bool):
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "TileGroup"
        self.tiles_json = json_for_script([[url, options] for url, options in tiles])


def tile_layer(basemap: str, tianditu_key: str | None = None) -> TileGroup | None:
    """The online base layer of ``basemap`` (None for ``"none"``), shown on opening."""
    check_basemap(basemap, tianditu_key)
    options = {"maxZoom": 19, "maxNativeZoom": 18}
    if basemap == "osm":
        return TileGroup("底图 OpenStreetMap", [
            (OSM_URL, {**options, "maxNativeZoom": 19, "attribution": OSM_ATTRIBUTION})],
            show=True)
    if basemap == "tianditu":
        key = quote((tianditu_key or "").strip(), safe="")
        tiles = [(TIANDITU_URL.replace("{layer}", layer).replace("{key}", key),
                  {**options, "subdomains": "01234567", "attribution": TIANDITU_ATTRIBUTION})
                 for layer in ("vec", "cva")]
        tiles[1][1].pop("attribution")  # the annotation layer: one attribution is enough
        return TileGroup("底图 天地图 Tianditu", tiles, show=True)
    if basemap == "amap":
        return TileGroup("底图 高德 AMap (GCJ-02)", [
            (AMAP_URL, {**options, "subdomains": "1234", "attribution": AMAP_ATTRIBUTION})],
            show=True)
    return None


# --- the offline base layer --------------------------------------------------------------


def main_streets(network: Any, *, simplify_m: float = STREET_SIMPLIFY_M
                 ) -> gpd.GeoDataFrame:
    """The main streets of a network for drawing: merged, simplified, in EPSG:4326.

    Parameters
    ----------
    network
        A :class:`eldercare_coverage.network.StreetNetwork` (projected, metres) with
        ``edge_geometry``, ``edge_highway`` and ``edge_length_m``.
    simplify_m
        Tolerance in metres by which the lines are simplified.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per road class drawn (``highway``: motorway ... tertiary, ``_link`` roads
        with their class; ``longest`` when the network has no road classes) with
        ``weight_px``, its lines merged into one (Multi)LineString.
    """
    highway = pd.Series(np.asarray(network.edge_highway, dtype=object)).astype(str)
    road_class = highway.str.removesuffix("_link")
    keep = road_class.isin(list(MAIN_HIGHWAYS)).to_numpy()
    if not keep.any():
        # no road classes (e.g. a network without tags): the longest edges stand in
        lengths = np.asarray(network.edge_length_m, dtype=float)
        n_longest = min(MAX_FALLBACK_EDGES, max(1, int(len(lengths) * LONGEST_SHARE)))
        keep = np.zeros(len(lengths), dtype=bool)
        keep[np.argsort(-lengths, kind="stable")[:n_longest]] = True
        road_class = pd.Series("longest", index=highway.index)
    geoms = np.asarray(network.edge_geometry, dtype=object)
    rows = []
    for name, weight in [*MAIN_HIGHWAYS.items(), ("longest", 1.5)]:
        chosen = keep & (road_class == name).to_numpy()
        if not chosen.any():
            continue
        # edges end at every junction: merged, a street is one line of fewer vertices
        merged = shapely.line_merge(shapely.multilinestrings(geoms[chosen]))
        rows.append({"highway": name, "weight_px": weight,
                     "geometry": shapely.simplify(merged, simplify_m)})
    frame = gpd.GeoDataFrame(rows, columns=["highway", "weight_px", "geometry"],
                             geometry="geometry", crs=network.crs)
    return frame.to_crs("EPSG:4326")


def unit_outlines(units: gpd.GeoDataFrame | None, *, metric_crs: Any, simplify_m: float
                  ) -> tuple[shapely.Geometry | None, np.ndarray]:
    """The study area's outline and the towns' boundaries as lines in EPSG:4326.

    The towns are the units of level ``town`` (all units when there is none); the outline
    is their dissolved boundary.
    """
    if units is None or len(units) == 0:
        return None, np.array([], dtype=object)
    geoms = units.geometry.to_numpy()
    polygonal = (~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
                 & np.isin(shapely.get_type_id(geoms), [3, 6]))  # Polygon, MultiPolygon
    towns = units[polygonal & (units["level"] == "town").to_numpy()] if "level" in units \
        else units.iloc[:0]
    if towns.empty:
        towns = units[polygonal]
    if towns.empty:
        return None, np.array([], dtype=object)
    projected = towns.geometry.to_crs(metric_crs).to_numpy()
    outline = shapely.simplify(shapely.boundary(dissolve(projected)), simplify_m)
    borders = shapely.simplify(shapely.boundary(projected), simplify_m)
    lines = gpd.GeoSeries([outline, *borders], crs=metric_crs).to_crs("EPSG:4326").to_numpy()
    return lines[0], lines[1:]


def _encoded_lines(geoms: np.ndarray, display: Display | None) -> list[str]:
    """Lines (any mix of (Multi)LineStrings) as encoded polylines of ``[lat, lon]``."""
    parts = shapely.get_parts(displayed(np.asarray(geoms, dtype=object), display))
    parts = parts[~shapely.is_empty(parts)]
    coords = [shapely.get_coordinates(part)[:, ::-1] for part in parts]  # Leaflet: lat, lon
    return encode_rings([c for c in coords if len(c) >= 2], scale=10**BASE_PRECISION)


class OfflineBaseLayer(folium.map.Layer):
    """The base layer drawn from the data: outline, town boundaries, main streets.

    Drawn in its own pane (:data:`BASE_PANE`, see :data:`eldercare_coverage._leaflet.PANES`)
    over the population images and under every other data layer, not clickable, so a click
    goes through to the grid under it.
    """

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = (function () {
  var map = {{ this._parent.get_name() }};
  {{ this.decoder }}
  var packed = {{ this.packed_json }};
  if (!map.getPane(packed.pane)) {  // made by _leaflet.Panes; a map without it gets it here
    map.createPane(packed.pane).style.zIndex = packed.z;
  }
  return L.layerGroup(packed.lines.map(function (line) {
    var latlngs = line.codes.map(function (code) { return decodeRings(code, packed.scale); });
    return L.polyline(latlngs, Object.assign({pane: packed.pane, interactive: false},
                                             line.style));
  }));
})();
{% endmacro %}
""")

    def __init__(self, name: str, lines: list[dict[str, Any]], *, show: bool):
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "OfflineBaseLayer"
        self.decoder = DECODE_RINGS_JS
        self.packed_json = json_for_script({"scale": 10**BASE_PRECISION, "pane": BASE_PANE,
                                            "z": PANES[BASE_PANE], "lines": lines})

    @classmethod
    def from_result(cls, result: Any, *, metric_crs: Any, simplify_m: float, show: bool,
                    display: Display | None = None) -> OfflineBaseLayer:
        """The layer of a :class:`eldercare_coverage.result.CoverageResult`: its units'
        outlines and, when ``result.meta`` has the run's ``network``, its main streets."""
        lines: list[dict[str, Any]] = []
        network = getattr(result, "meta", {}).get("network")
        if network is not None and len(network.edge_geometry) > 0:
            streets = main_streets(network)
            for _, row in streets.iterrows():
                lines.append({"kind": f"street:{row['highway']}",
                              "style": {"color": STREET_COLOR, "weight": row["weight_px"],
                                        "opacity": 0.9},
                              "codes": _encoded_lines(np.array([row.geometry]), display)})
        outline, borders = unit_outlines(getattr(result, "units", None), metric_crs=metric_crs,
                                         simplify_m=simplify_m)
        if len(borders):
            lines.append({"kind": "towns", "style": {"color": OUTLINE_COLOR, "weight": 1,
                                                     "opacity": 0.8, "dashArray": "5 4"},
                          "codes": _encoded_lines(borders, display)})
        if outline is not None:
            lines.append({"kind": "outline", "style": {"color": OUTLINE_COLOR, "weight": 2.5,
                                                       "opacity": 0.9},
                          "codes": _encoded_lines(np.array([outline]), display)})
        return cls("底图 街道与边界 Streets and outlines (offline)", lines, show=show)
