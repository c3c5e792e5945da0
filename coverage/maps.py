"""The folium map of a coverage run: what a planner opens first.

:func:`make_map` draws a :class:`eldercare_coverage.result.CoverageResult` on a Leaflet map
(all layers switchable in the layer control; labels in Chinese, or English with
``lang="en"``, each circle named by its limit in metres and minutes at the elderly walking
speed, :func:`eldercare_coverage.labels.circle_label`, never by its identifier):

- **老年人口 Elderly (60+) per cell**: the population grid as an image (a palette PNG in
  Web Mercator, so it lies pixel-exactly on the map), coloured by elderly per cell;
- **距离 Distance** to the nearest facility of the first circle, per cell, as a second image;
  a click on either image opens the cell's elderly, and per circle its distance, nearest
  facility and the share covered (a small lookup of cell per pixel and a table of cell values
  ride along in the page);
- **服务圈 Service areas**: one dissolved area per circle; **距离圈层 Distance rings** by band;
  each facility's own area only when the run made them (``--facility-areas``); catchments stay
  in the GeoPackage;
- **服务缺口 Gap areas** per circle: connected unserved cells, ranked by elderly unserved;
- **设施 Facilities** by type, and the excluded ones (grey) with the reason;
- **乡镇/村社 Towns and villages** with their coverage rates.

The page needs no internet and is one file: Leaflet is inline (:mod:`._offline`), and the
base layer is chosen when the map is written (:mod:`._basemap`): by default the outline,
the towns and the main streets drawn from the run's own data; or OpenStreetMap, 天地图
Tianditu or 高德 AMap tiles (with AMap every overlay is drawn in GCJ-02). A county (some
40,000 cells, hundreds of facilities, several circles) stays within a few MB: the grid is two
small images plus a run-length lookup and a columnar table of cell values, polygons are
simplified by a few metres in a projected CRS and written as encoded polylines, facilities
as one table per type (:mod:`._leaflet`). A legend (:mod:`._legend`) names the facility
types, the circles with their coverage and both colour scales. All user text is HTML-escaped.

Examples
--------
>>> m = make_map(result)  # doctest: +SKIP
>>> m.save("map.html")    # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from branca.element import Element, MacroElement
from folium.raster_layers import ImageOverlay
from jinja2 import Template
from rasterio.features import rasterize
from rasterio.transform import Affine

from ._basemap import OfflineBaseLayer, check_basemap, display_function, tile_layer
from ._html import esc, hex_rgba, num, png_data_uri
from ._leaflet import (
    Display,
    MapControls,
    Panes,
    PointLayer,
    PolygonLayer,
    displayed,
    json_for_script,
    polygon_features,
)
from ._legend import (
    CIRCLE_COLORS,
    DIST_COLORS,
    DIST_LIMIT_MULTIPLES,
    ELDERLY_COLORS,
    EXCLUDED_COLOR,
    GAP_COLOR,
    LEGEND_DISTANCE_ID,
    LEGEND_ELDERLY_ID,
    RING_COLORS,
    TYPE_COLORS,
    UNREACHABLE_COLOR,
    legend_html,
)
from ._offline import inline_leaflet, offline_map
from .labels import band_label, check_lang, circle_label, tr
from .result import CoverageResult

SIMPLIFY_M = 5.0  # metres: outlines drawn in the map may deviate by this much (GIS has all)
GRID_OVERSAMPLE = 2  # image pixels along a cell's edge, so skewed cells still show whole
MAX_IMAGE_PX = 4096  # pixels on the long side of a grid image, whatever the extent
GRID_OPACITY = 0.7
GRID_PANE = "ecGrid"  # the images' own pane, under the offline base layer's streets
_WEB_MERCATOR = "EPSG:3857"  # Leaflet's default CRS: images drawn in it align pixel-exactly


def _html(m: folium.Map) -> Any:
    """The HTML body element of a map's figure (branca types it loosely)."""
    return getattr(m.get_root(), "html")  # noqa: B009


# --- the population grid as images -----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GridRaster:
    """The cells of a population table burnt into a Web-Mercator (EPSG:3857) pixel grid.

    Attributes
    ----------
    cell_index
        ``(height, width)`` int32; at each pixel, 1 + the position (0-based row number) of
        the cell whose polygon holds the pixel centre, 0 where there is no cell.
    x_min_m, y_max_m
        Web-Mercator coordinates of the top-left corner of the image (the cells' bounds).
    pixel_w_m, pixel_h_m
        Pixel width and height in Web-Mercator metres (the image spans exactly the cells'
        bounds, so the two differ slightly).
    """

    cell_index: np.ndarray
    x_min_m: float
    y_max_m: float
    pixel_w_m: float
    pixel_h_m: float

    @property
    def height(self) -> int:
        """Rows of the image."""
        return int(self.cell_index.shape[0])

    @property
    def width(self) -> int:
        """Columns of the image."""
        return int(self.cell_index.shape[1])

    def bounds_latlon(self) -> list[list[float]]:
        """``[[south, west], [north, east]]`` of the image in EPSG:4326, as Leaflet wants."""
        to_lonlat = pyproj.Transformer.from_crs(_WEB_MERCATOR, "EPSG:4326", always_xy=True)
        west, north = to_lonlat.transform(self.x_min_m, self.y_max_m)
        east, south = to_lonlat.transform(self.x_min_m + self.width * self.pixel_w_m,
                                          self.y_max_m - self.height * self.pixel_h_m)
        return [[float(south), float(west)], [float(north), float(east)]]


def grid_raster(cells: gpd.GeoSeries, *, oversample: int = GRID_OVERSAMPLE,
                max_px: int = MAX_IMAGE_PX) -> GridRaster:
    """Rasterize cell polygons to Web Mercator at about their own size.

    Cells are burnt by geometry (a pixel belongs to the cell holding its centre), so vector
    grids of any shape work as well as regular ones; a cell smaller than a pixel still gets
    the pixel under its representative point when no other cell holds it.

    Parameters
    ----------
    cells
        Cell polygons with a CRS; position ``k`` is burnt as ``k + 1``. Missing or empty
        geometries are left out.
    oversample
        Pixels along the typical (median) cell edge.
    max_px
        Upper bound on the image's long side; the pixels grow to keep to it.

    Returns
    -------
    GridRaster
        Spanning exactly the cells' bounds.
    """
    if cells.crs is None:
        raise ValueError("the population cells have no CRS; expected EPSG:4326")
    projected = cells.to_crs(_WEB_MERCATOR).to_numpy()
    present = _present(projected)
    if not present.any():
        raise ValueError("the population table has no cell geometry to draw")
    positions = np.flatnonzero(present)
    geoms = projected[positions]
    x_min, y_min, x_max, y_max = shapely.total_bounds(geoms)
    span_x, span_y = x_max - x_min, y_max - y_min
    areas = shapely.area(geoms)
    edge_m = float(np.median(np.sqrt(areas[areas > 0]))) if (areas > 0).any() else 0.0
    pixel_m = edge_m / max(oversample, 1) if edge_m > 0 else max(span_x, span_y, 1.0) / max_px
    pixel_m = max(pixel_m, max(span_x, span_y) / max_px)  # keep the long side within max_px
    width = max(1, math.ceil(span_x / pixel_m))
    height = max(1, math.ceil(span_y / pixel_m))
    # the image spans exactly the cells' bounds: pixels are very nearly square
    pixel_w, pixel_h = (span_x / width or pixel_m), (span_y / height or pixel_m)
    transform = Affine(pixel_w, 0.0, x_min, 0.0, -pixel_h, y_max)
    cell_index = rasterize(zip(geoms, (positions + 1).tolist(), strict=True),
                           out_shape=(height, width), transform=transform, fill=0,
                           dtype="int32")
    # cells no pixel centre fell in (smaller than a pixel): their representative point's pixel
    burnt = np.zeros(len(cells) + 1, dtype=bool)
    burnt[np.unique(cell_index)] = True
    missing = positions[~burnt[positions + 1]]
    if missing.size:
        points = shapely.get_coordinates(shapely.point_on_surface(projected[missing]))
        cols = np.clip(((points[:, 0] - x_min) / pixel_w).astype(int), 0, width - 1)
        rows = np.clip(((y_max - points[:, 1]) / pixel_h).astype(int), 0, height - 1)
        free = cell_index[rows, cols] == 0
        cell_index[rows[free], cols[free]] = missing[free] + 1
    return GridRaster(cell_index, float(x_min), float(y_max), float(pixel_w), float(pixel_h))


def run_lengths(cell_index: np.ndarray) -> list[int]:
    """Run-length code of a cell-index image, for the page's click lookup.

    Each pixel is taken as its difference from the pixel above it (the top row as it is),
    so a grid's rows of pixels inside one row of cells come out as zeros; those differences,
    row-major, are coded as pairs ``[step, length, step, length, ...]``: each run's value is
    the previous run's value plus ``step`` (the first run's previous value is 0). Runs may
    continue from one row into the next. The page undoes both steps (:class:`GridClick`).

    Examples
    --------
    >>> run_lengths(np.array([[0, 0, 5], [0, 0, 5], [6, 6, 0]]))
    [0, 2, 5, 1, -5, 3, 6, 2, -11, 1]
    """
    image = np.asarray(cell_index).astype(np.int64)
    image[1:] -= image[:-1].copy()  # difference from the pixel above
    flat = image.ravel()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    steps = np.diff(flat[starts], prepend=0)
    return np.column_stack([steps, lengths]).ravel().tolist()


def _rounded(values: Any, digits: int) -> list[float | int | None]:
    """Numbers for JSON: rounded, whole ones as integers, NaN as null."""
    rounded = np.round(np.asarray(values, dtype=float), digits).tolist()
    return [None if math.isnan(v) else int(v) if v.is_integer() else v for v in rounded]


def _codes(values: pd.Series) -> tuple[list[int], list[str]]:
    """Dictionary code of text values: (code per row, -1 for missing; the escaped texts)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.tolist(), [esc(v) for v in uniques]


def cell_table(result: CoverageResult, circles: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-cell values a click shows, as compact columns for JSON.

    Returns
    -------
    dict
        ``id`` (cell ids), or ``id0`` when they are consecutive integers (the id of the
        first cell); ``e`` (elderly, 1 decimal); ``p``/``places`` (coded "town · village");
        ``fac`` (escaped "id name" of the facilities named) and ``nearest`` (columns of codes
        into ``fac``, -1 none, one per distinct nearest-facility column); per circle in
        ``circles``: ``name``, ``label``, ``unit``, ``limit``, ``d`` (its column in ``dist``),
        ``f`` (its column in ``nearest``), ``s`` (share covered in whole percent); ``dist``:
        columns of distances (whole metres, minutes to 0.1; null unreachable), each distinct
        column once (circles of one mode and facility kinds share their distances).
    """
    pop = result.population
    places = pop["town"].fillna("").astype(str) if "town" in pop else pd.Series("", pop.index)
    if "village" in pop:
        places = (places + " · " + pop["village"].fillna("").astype(str)).str.strip(" ·")
    place_codes, place_texts = _codes(places.where(places != ""))
    table: dict[str, Any] = {"e": _rounded(pop["elderly"], 1), "p": place_codes,
                             "places": place_texts, "circles": []}
    ids = pop["cell_id"].to_numpy() if "cell_id" in pop else np.arange(len(pop))
    if (len(ids) and np.issubdtype(ids.dtype, np.integer)
            and (np.diff(ids) == 1).all()):  # numbered in order: the first number says all
        table["id0"] = int(ids[0])
    else:
        table["id"] = [v if isinstance(v, int) else esc(v) for v in ids.tolist()]
    # nearest facilities of all circles share one dictionary; equal columns are stored once
    nearest_cols = [f"{c['name']}_facility" for c in circles if f"{c['name']}_facility" in pop]
    stacked = (pd.concat([pop[col] for col in nearest_cols], ignore_index=True)
               if nearest_cols else pd.Series([], dtype=object))
    fac_codes, fac_uniques = pd.factorize(stacked, use_na_sentinel=True)
    fac = result.facilities
    names = (dict(zip(fac["facility_id"], fac["name"], strict=True))
             if len(fac) and "name" in fac else {})
    table["fac"] = [esc(f"{fid} {names.get(fid, '')}".strip()) for fid in fac_uniques]
    columns: list[list[int]] = []
    distances: list[list[float | int | None]] = []
    for c in circles:
        name = c["name"]
        if f"{name}_dist" not in pop:
            continue
        entry: dict[str, Any] = {
            "name": esc(name), "label": esc(c.get("label") or c.get("label_zh") or name),
            "unit": esc(c["unit"]),
            "limit": c["limit"],
        }
        dist = _rounded(pop[f"{name}_dist"], 0 if c["unit"] == "m" else 1)
        if dist not in distances:
            distances.append(dist)
        entry["d"] = distances.index(dist)
        if f"{name}_facility" in pop:
            at = nearest_cols.index(f"{name}_facility") * len(pop)
            codes = fac_codes[at: at + len(pop)].tolist()
            if codes not in columns:
                columns.append(codes)
            entry["f"] = columns.index(codes)
        if f"{name}_share" in pop:
            entry["s"] = _rounded(100 * pop[f"{name}_share"].astype(float), 0)
        table["circles"].append(entry)
    table["nearest"] = columns
    table["dist"] = distances
    return table


#: The words of the grid's popup: (Chinese, English).
_CLICK_WORDS = {
    "cell": ("格网", "cell"), "elderly": ("老年人（60岁及以上）", "elderly 60+"),
    "circle": ("服务圈", "circle"), "distance": ("距离", "distance"),
    "covered": ("覆盖", "covered"), "nearest": ("最近设施", "nearest"),
    "unreachable": ("不可达", "unreachable"),
}


class GridClick(MacroElement):
    """A map click inside the grid opens the cell's values (while a grid layer is shown)."""

    _template = Template("""
{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }};
  var grid = {{ this.grid_json }};
  var index = new Int32Array(grid.w * grid.h);
  for (var k = 0, at = 0, value = 0; k < grid.rle.length; k += 2) {
    value += grid.rle[k];
    index.fill(value, at, at + grid.rle[k + 1]);
    at += grid.rle[k + 1];
  }
  for (var i = grid.w; i < index.length; i++) { index[i] += index[i - grid.w]; }
  function fmt(v, digits) {
    return v.toLocaleString('en-US', {minimumFractionDigits: digits,
                                      maximumFractionDigits: digits});
  }
  map.on('click', function (event) {
    var layers = [{{ this.layer_names|join(', ') }}];
    if (!layers.some(function (layer) { return map.hasLayer(layer); })) { return; }
    var point = L.CRS.EPSG3857.project(event.latlng);
    var col = Math.floor((point.x - grid.x0) / grid.dx);
    var row = Math.floor((grid.y0 - point.y) / grid.dy);
    if (col < 0 || row < 0 || col >= grid.w || row >= grid.h) { return; }
    var cell = index[row * grid.w + col] - 1;
    if (cell < 0) { return; }
    var t = grid.table;
    var words = grid.words;
    var html = '<b>' + words.cell + ' ' + (t.id ? t.id[cell] : t.id0 + cell) + '</b>';
    if (t.p[cell] >= 0) { html += '<br>' + t.places[t.p[cell]]; }
    html += '<br>' + words.elderly + ': <b>' + (t.e[cell] === null ? '–' : fmt(t.e[cell], 1))
      + '</b>';
    // one row per circle: its limit, the cell's distance and covered share, the facility
    html += '<table class="ec-cell"><tr><th>' + words.circle + '</th><th>' + words.distance
      + '</th><th>' + words.covered + '</th></tr>';
    t.circles.forEach(function (c) {
      var d = t.dist[c.d][cell], s = c.s ? c.s[cell] : null;
      var f = c.f === undefined ? -1 : t.nearest[c.f][cell];
      html += '<tr><td title="' + c.name + '"><b>' + c.label + '</b>'
        + (f >= 0 ? '<br><span class="ec-near">' + words.nearest + ' ' + t.fac[f] + '</span>'
                  : '')
        + '</td><td>' + (d === null ? words.unreachable
                                    : fmt(d, c.unit === 'm' ? 0 : 1) + ' ' + c.unit)
        + '</td><td>' + (s === null || s === undefined ? '–' : s + ' %') + '</td></tr>';
    });
    html += '</table>';
    L.popup({maxWidth: 440}).setLatLng(event.latlng).setContent(html).openOn(map);
  });
})();
{% endmacro %}
""")

    def __init__(self, raster: GridRaster, table: dict[str, Any], layers: list[ImageOverlay],
                 *, lang: str = "zh"):
        super().__init__()
        self._name = "GridClick"
        words = {key: tr(lang, zh, en) for key, (zh, en) in _CLICK_WORDS.items()}
        self.grid_json = json_for_script({
            "x0": raster.x_min_m, "y0": raster.y_max_m, "dx": raster.pixel_w_m,
            "dy": raster.pixel_h_m, "w": raster.width, "h": raster.height,
            "rle": run_lengths(raster.cell_index), "table": table, "words": words})
        self.layer_names = [layer.get_name() for layer in layers]


def _elderly_edges(elderly: np.ndarray) -> np.ndarray:
    """Class edges of elderly per cell: quantiles of the populated cells, at most 6 classes."""
    values = elderly[np.isfinite(elderly) & (elderly > 0)]
    if values.size == 0:
        return np.array([0.0, 1.0])
    edges = np.unique(np.round(np.quantile(values, [0, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0]), 1))
    return edges if edges.size >= 2 else np.array([0.0, max(float(edges[0]), 1.0)])


def _grid_layers(result: CoverageResult, circles: list[dict[str, Any]], raster: GridRaster,
                 edges: np.ndarray, lang: str = "zh") -> list[ImageOverlay]:
    """The elderly image and, for the first circle with distances, the distance image."""
    pop = result.population
    bounds = raster.bounds_latlon()
    elderly = pop["elderly"].to_numpy(dtype=float)
    # palette index per cell (0: transparent); position k of the table is pixel value k + 1
    elderly_class = np.where(np.isfinite(elderly) & (elderly > 0),
                             np.searchsorted(edges[1:-1], elderly, side="right") + 1, 0)
    palette = [(0, 0, 0, 0)] + [hex_rgba(c) for c in ELDERLY_COLORS[: edges.size - 1]]
    layers = [ImageOverlay(
        png_data_uri(np.concatenate([[0], elderly_class])[raster.cell_index], palette),
        bounds=bounds, name=tr(lang, "老年人口（每格网）", "Elderly (60+) per cell"),
        opacity=GRID_OPACITY,
        show=True, pane=GRID_PANE)]
    first = next((c for c in circles if f"{c['name']}_dist" in pop), None)
    if first is not None:
        ratio = pop[f"{first['name']}_dist"].to_numpy(dtype=float) / float(first["limit"])
        dist_class = np.where(np.isfinite(ratio),
                              np.searchsorted(DIST_LIMIT_MULTIPLES, ratio, side="left") + 1,
                              len(DIST_COLORS) + 1)
        palette = ([(0, 0, 0, 0)] + [hex_rgba(c) for c in DIST_COLORS]
                   + [hex_rgba(UNREACHABLE_COLOR)])
        layers.append(ImageOverlay(
            png_data_uri(np.concatenate([[0], dist_class])[raster.cell_index], palette),
            bounds=bounds, name=tr(lang, "到最近设施的距离：", "Distance to the nearest facility: ")
            + esc(first.get("label") or first["name"]),
            opacity=GRID_OPACITY, show=False, pane=GRID_PANE))
    return layers


# --- polygons and points ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Drawing:
    """How a map draws polygons: simplified by ``simplify_m`` metres in ``metric_crs``, shown
    through ``display`` (WGS-84 to the base layer's coordinates; None: as they are)."""

    simplify_m: float
    metric_crs: Any
    display: Display | None = None
    lang: str = "zh"


def _polygon_group(name: str, part: gpd.GeoDataFrame, tips: pd.Series | list[list[str]],
                   draw: _Drawing, *, show: bool, style: dict[str, Any],
                   styles: list[dict[str, Any]] | None = None, sticky: bool = False,
                   tip_template: str | None = None) -> folium.FeatureGroup:
    """A switchable layer of ``part``'s polygons with their tooltips: ``tips`` one per
    polygon, or with ``tip_template`` the values the page fills into it (see PolygonLayer)."""
    properties = ([{"tip": tip} for tip in tips] if tip_template is None
                  else [{"v": values} for values in tips])
    if styles is not None:
        for props, feature_style in zip(properties, styles, strict=True):
            props["style"] = feature_style
    group = folium.FeatureGroup(name=name, show=show)
    PolygonLayer(polygon_features(part, properties, simplify_m=draw.simplify_m,
                                  metric_crs=draw.metric_crs, display=draw.display),
                 style=style, sticky=sticky, template=tip_template).add_to(group)
    return group


def _circles(result: CoverageResult) -> list[dict[str, Any]]:
    return list(result.summary.get("circles", []))


def _labelled(result: CoverageResult, lang: str) -> list[dict[str, Any]]:
    """The run's circles (copies of the summary's entries), each with its ``label``: the
    plan's words with the limit in metres and minutes (:mod:`eldercare_coverage.labels`)."""
    speed = (result.summary.get("settings") or {}).get("walk_speed_m_s")
    kinds = {t.code: t.kind for t in result.policy.facility_types}
    out = []
    for c in _circles(result):
        types = c.get("facility_types") or []
        meal = bool(types) and all(kinds.get(t) == "meal" for t in types)
        out.append({**c, "label": circle_label(c, lang=lang, walk_speed_m_s=speed, meal=meal)})
    return out


def _table(result: CoverageResult, name: str) -> gpd.GeoDataFrame | None:
    """A result table that may be absent (None) or empty; None in both cases."""
    table = getattr(result, name, None)
    if table is None or len(table) == 0:
        return None
    return table[_present(table.geometry.to_numpy())]


def _present(geoms: np.ndarray) -> np.ndarray:
    """Which geometries are there to draw (neither missing nor empty)."""
    return ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))


def _service_area_layers(result: CoverageResult, circles: list[dict[str, Any]], draw: _Drawing
                         ) -> list[folium.FeatureGroup]:
    """One dissolved area per circle (``service_areas`` has one row per circle)."""
    areas = _table(result, "service_areas")
    if areas is None:
        return []
    groups = []
    for i, c in enumerate(circles):
        part = areas[areas["circle"] == c["name"]]
        if part.empty:
            continue
        color = CIRCLE_COLORS[i % len(CIRCLE_COLORS)]
        covered = part["elderly_covered"] if "elderly_covered" in part else c.get("elderly_covered")
        area_km2 = part["area_km2"] if "area_km2" in part else np.nan
        lang = draw.lang
        tips = (f"<b>{esc(c.get('label') or c['name'])}</b><br>"
                f"{esc(c.get(f'label_{lang}') or c.get('label_zh'))}<br>"
                + tr(lang, "覆盖老年人 ", "elderly covered ")
                + pd.Series(covered, index=part.index).map(num)
                + f" ({100 * (c.get('coverage_rate') or 0):.1f} %)<br>"
                + tr(lang, "面积 ", "area ")
                + pd.Series(area_km2, index=part.index).map(lambda v: num(v, 1)) + " km²")
        groups.append(_polygon_group(
            tr(lang, "服务圈：", "Service area: ") + esc(c.get("label") or c["name"]), part,
            tips, draw, show=(i == 0), sticky=True,
            style={"fillColor": color, "color": color, "weight": 1.5, "fillOpacity": 0.15}))
    return groups


def _ring_layers(result: CoverageResult, draw: _Drawing) -> list[folium.FeatureGroup]:
    """One layer per rings set, its bands coloured from near to far."""
    rings = _table(result, "rings")
    if rings is None:
        return []
    groups = []
    lang = draw.lang
    for set_name, part in rings.groupby("rings", sort=False):
        part = part.sort_values("lower") if "lower" in part else part
        colors = [RING_COLORS[min(k, len(RING_COLORS) - 1)] for k in range(len(part))]
        elderly = part["elderly"] if "elderly" in part else pd.Series(np.nan, index=part.index)
        rings_label = next((tr(lang, r.label_zh, r.label_en) for r in result.policy.rings
                            if r.name == set_name), "") or str(set_name)
        tips = ("<b>" + part["band"].map(lambda b: esc(band_label(str(b), lang))) + "</b> ("
                + esc(rings_label) + ")<br>" + elderly.map(num)
                + tr(lang, " 名老年人", " elderly"))
        groups.append(_polygon_group(
            tr(lang, "距离圈层：", "Distance rings: ") + esc(rings_label), part, tips, draw,
            show=False,
            sticky=True, style={"color": "#555555", "weight": 0.5, "fillOpacity": 0.35},
            styles=[{"fillColor": color} for color in colors]))
    return groups


def _facility_area_layers(result: CoverageResult, circles: list[dict[str, Any]],
                          draw: _Drawing) -> list[folium.FeatureGroup]:
    """Each facility's own (overlapping) area per circle, only when the run made them."""
    areas = _table(result, "facility_areas")
    if areas is None:
        return []
    names = (result.facilities.set_index("facility_id")["name"].to_dict()
             if len(result.facilities) else {})
    groups = []
    for i, c in enumerate(circles):
        part = areas[areas["circle"] == c["name"]]
        if part.empty:
            continue
        color = CIRCLE_COLORS[i % len(CIRCLE_COLORS)]
        count = next((col for col in ("elderly_covered", "elderly_reached") if col in part), None)
        reached = part[count] if count else pd.Series(np.nan, index=part.index)
        tips = ("<b>" + part["facility_id"].map(lambda f: esc(f"{f} {names.get(f, '')}"))
                + f"</b><br>{esc(c.get('label') or c['name'])}<br>"
                + tr(draw.lang, "范围内老年人 ", "elderly reached ") + reached.map(num))
        groups.append(_polygon_group(
            tr(draw.lang, "各设施服务区：", "Facility areas: ") + esc(c.get("label") or c["name"]),
            part, tips, draw, show=False,
            style={"fillColor": color, "color": color, "weight": 1, "fillOpacity": 0.08}))
    return groups


def _gap_layers(result: CoverageResult, circles: list[dict[str, Any]], draw: _Drawing
                ) -> list[folium.FeatureGroup]:
    gaps = _table(result, "gaps")
    if gaps is None:
        return []
    groups = []
    for i, c in enumerate(circles):
        part = gaps[gaps["circle"] == c["name"]]
        if part.empty:
            continue
        where = (part["town"].fillna("").astype(str) + " "
                 + part["village"].fillna("").astype(str)).str.strip()
        # the median elderly person's distance where the run gives it, else the closest cell's
        median = "nearest_dist_median" in part
        nearest = part["nearest_dist_median" if median else "nearest_dist"]
        lang = draw.lang
        label = esc(c.get("label") or c["name"])
        template = (tr(lang, f"<b>缺口 #{{0}}</b>（{label}）<br>{{1}} 名老年人未覆盖，{{2}} 个格网，"
                             "{3} km²<br>{4}<br>",
                       f"<b>gap #{{0}}</b> ({label})<br>{{1}} elderly unserved in {{2}} "
                       "cells, {3} km²<br>{4}<br>")
                    + (tr(lang, "最近设施（中位老年人）", "nearest facility (median elderly)")
                       if median else tr(lang, "最近设施（最近格网）",
                                         "nearest facility from its closest cell"))
                    + f" {{5}} {esc(c['unit'])}")
        digits = 0 if c["unit"] == "m" else 1
        values = [[str(rank), num(elderly), str(cells), num(area, 2), esc(place),
                   tr(lang, "不可达", "unreachable") if pd.isna(dist) else num(dist, digits)]
                  for rank, elderly, cells, area, place, dist in zip(
                      part["rank"], part["elderly_unserved"], part["cells"], part["area_km2"],
                      where, nearest, strict=True)]
        groups.append(_polygon_group(
            tr(lang, "服务缺口：", "Gap areas: ") + label, part, values, draw, show=(i == 0),
            tip_template=template,
            style={"fillColor": GAP_COLOR, "color": GAP_COLOR, "weight": 2,
                   "fillOpacity": 0.25, "dashArray": "4 3"}))
    return groups


def _unit_layers(result: CoverageResult, circles: list[dict[str, Any]], draw: _Drawing
                 ) -> list[folium.FeatureGroup]:
    units = _table(result, "units")
    if units is None:
        return []
    groups = []
    lang = draw.lang
    for level, label, weight, show in (
            ("town", tr(lang, "乡镇街道", "Towns and subdistricts"), 2.5, True),
            ("village", tr(lang, "村社", "Villages and communities"), 0.8, False)):
        part = units[units["level"] == level]
        if part.empty:
            continue
        tips = ("<b>" + part["name"].map(esc) + "</b> "
                + part["urban_rural"].map(esc) + " (" + part["urban_rural_code"].map(esc)
                + ")<br>" + part["elderly"].map(num) + tr(lang, " 名老年人", " elderly"))
        for c in circles:
            col = f"{c['name']}_rate"
            if col in part.columns:
                tips = tips + f"<br>{esc(c.get('label') or c['name'])}: " + (100 * part[col]).map(
                    lambda v: "–" if pd.isna(v) else f"{v:.1f} %")
        groups.append(_polygon_group(
            label, part, tips, draw, show=show, sticky=True,
            style={"fill": False, "color": "#333333", "weight": weight}))
    return groups


def _facility_origin(row: pd.Series, lang: str) -> str:
    """The facility's id and the row of the input it came from (none for rows made by the
    tool, e.g. new sites: ``source_row`` below 1)."""
    ident = esc(row["facility_id"])
    source_row = pd.to_numeric(pd.Series([row.get("source_row")]), errors="coerce").iat[0]
    if pd.isna(source_row) or source_row < 1:
        return tr(lang, f"编号 {ident}", f"id {ident}")
    return tr(lang, f"编号 {ident}，输入第 {int(source_row)} 行",
              f"id {ident}, input row {int(source_row)}")


def _facility_popup(row: pd.Series, type_label: str, lang: str) -> str:
    parts = [f"<b>{esc(row['name'])}</b>", esc(type_label),
             _facility_origin(row, lang)]
    for col, label in (("beds", tr(lang, "床位", "beds")),
                       ("meals_per_day", tr(lang, "日供餐", "meals/day"))):
        if col in row and pd.notna(row[col]):
            parts.append(f"{label}: {num(row[col])}")
    if row["status"] == "used":
        parts.append(tr(lang, "到街道的接入距离 ", "street access ") + f"{num(row.get('snap_m'))} m")
    else:
        parts.append(f"<span style='color:{EXCLUDED_COLOR}'>"
                     + tr(lang, "未使用：", "excluded: ") + f"{esc(row['reason'])}</span>")
    return "<br>".join(parts)


def _type_labels(result: CoverageResult, lang: str) -> dict[str, str]:
    """Each facility type's label in ``lang`` (the policy's; the table's own as a fallback)."""
    labels = {t.code: tr(lang, t.label_zh, t.label_en) or t.label_zh or t.code
              for t in result.policy.facility_types}
    fac = result.facilities
    if len(fac) and "type_label" in fac:
        for code, label in zip(fac["type"], fac["type_label"], strict=True):
            if code not in labels and isinstance(label, str) and label:
                labels[code] = label
    return labels


def _facility_group(name: str, part: gpd.GeoDataFrame, *, show: bool, style: dict[str, Any],
                    display: Display | None, labels: dict[str, str], lang: str,
                    excluded: bool = False) -> folium.FeatureGroup:
    """A switchable layer of facilities as circle markers with a tooltip and popup each."""
    names = part["name"].map(esc)
    tips = (names + tr(lang, "（未使用）", " (excluded)") if excluded else names).tolist()
    popups = [_facility_popup(row, labels.get(row["type"], str(row["type"])), lang)
              for _, row in part.iterrows()]
    group = folium.FeatureGroup(name=name, show=show)
    PointLayer(shapely.get_coordinates(part.geometry.to_numpy()), tips, popups, style=style,
               display=display).add_to(group)
    return group


def _facility_layers(result: CoverageResult, display: Display | None, lang: str = "zh"
                     ) -> list[folium.FeatureGroup]:
    fac = _table(result, "facilities")
    if fac is None:
        return []
    fac = fac.to_crs("EPSG:4326")
    labels = _type_labels(result, lang)
    groups = []
    used = fac[fac["status"] == "used"]
    for code, part in used.groupby("type", sort=False):
        label = labels.get(str(code), str(code))
        groups.append(_facility_group(
            tr(lang, "设施：", "Facilities: ") + f"{esc(label)} ({len(part)})", part, show=True,
            display=display, labels=labels, lang=lang,
            style={"radius": 6 if code != "community_center" else 4.5, "color": "#ffffff",
                   "weight": 1.2, "fillColor": TYPE_COLORS.get(str(code), "#000000"),
                   "fillOpacity": 0.95}))
    excluded = fac[fac["status"] != "used"]
    if len(excluded):
        groups.append(_facility_group(
            tr(lang, "未使用的设施", "Excluded facilities") + f" ({len(excluded)})", excluded,
            show=False, display=display, labels=labels, lang=lang, excluded=True,
            style={"radius": 4, "color": EXCLUDED_COLOR, "weight": 1.5, "fillColor": "#ffffff",
                   "fillOpacity": 0.9}))
    return groups


# --- the map ----------------------------------------------------------------------------------


def _metric_crs(result: CoverageResult) -> Any:
    """A projected CRS for simplifying in metres: the UTM zone of the cells or facilities."""
    for table in (result.population, result.facilities):
        if table is not None and len(table) and table.crs is not None:
            try:
                return table.estimate_utm_crs()
            except RuntimeError:
                continue
    return _WEB_MERCATOR


def _fit(m: folium.Map, result: CoverageResult, display: Display | None
         ) -> list[list[float]] | None:
    """Open the map on the cells and the units (the facilities when there are no cells);
    the bounds, ``[[south, west], [north, east]]``."""
    tables = [table for table in (result.population if len(result.population)
                                  else result.facilities, _table(result, "units"))
              if table is not None and len(table)]
    boxes = [gpd.GeoSeries([shapely.box(*table.total_bounds)], crs=table.crs).to_crs("EPSG:4326")
             for table in tables if np.all(np.isfinite(table.total_bounds))]
    if not boxes:
        return None
    west, south, east, north = pd.concat(boxes).total_bounds
    corners = np.array([[west, south], [east, north]])
    corners = display(corners) if display is not None else corners
    latlon = [[float(corners[0, 1]), float(corners[0, 0])],
              [float(corners[1, 1]), float(corners[1, 0])]]
    m.fit_bounds(latlon)
    return latlon


def make_map(result: CoverageResult, *, m: folium.Map | None = None,
             circles: list[str] | None = None, basemap: str = "none",
             tianditu_key: str | None = None, simplify_m: float = SIMPLIFY_M,
             lang: str = "zh") -> folium.Map:
    """Draw a coverage result on a folium map that works without internet.

    Parameters
    ----------
    result
        The result of :func:`eldercare_coverage.run`.
    m
        An existing map to draw on (e.g. in a notebook); a new one when None. Leaflet is
        inlined into its page either way; other assets the given map links stay linked.
    circles
        Names of the circles to draw (default: all of the run). The first one's service
        area and gap areas are shown and its distances colour the distance image; the
        others are switchable.
    basemap
        The base layer: ``"none"`` (default: outline, towns and main streets drawn from the
        run's data, no tiles, no internet), ``"osm"``, ``"tianditu"`` (needs
        ``tianditu_key``) or ``"amap"`` (every overlay drawn in GCJ-02 to match AMap's
        tiles); see :mod:`eldercare_coverage._basemap`.
    tianditu_key
        Tianditu's browser key, for ``basemap="tianditu"``.
    simplify_m
        Tolerance in metres (in a projected CRS) by which polygons are simplified for
        display; 0 keeps every vertex.
    lang
        ``"zh"`` (default) or ``"en"``: the language of the layer names, the legend and
        the popups; each circle is named by its limit in metres and minutes
        (:func:`eldercare_coverage.labels.circle_label`).

    Returns
    -------
    folium.Map
        With a collapsed layer control, a metric scale bar and a legend.

    Raises
    ------
    eldercare_coverage._basemap.BasemapError
        For an unknown ``basemap``, or Tianditu without a key (a ``ValueError``).
    """
    check_basemap(basemap, tianditu_key)
    check_lang(lang)
    all_circles = _labelled(result, lang)
    chosen = [c for c in all_circles if circles is None or c["name"] in circles]
    if circles is not None and len(chosen) != len(set(circles)):
        known = ", ".join(c["name"] for c in all_circles)
        raise ValueError(f"unknown circle in {circles}; this run has: {known}")
    display = display_function(basemap)
    if m is None:
        m = offline_map(prefer_canvas=True, zoom_snap=0.25)  # fits the county closely
        _html(m).add_child(Element(
            "<meta name='description' content='eldercare-coverage service-circle map'>"))
    else:
        inline_leaflet(m)
    bounds = _fit(m, result, display)
    draw = _Drawing(simplify_m, _metric_crs(result), display, lang)

    Panes().add_to(m)  # before the layers drawn in them
    tiles = tile_layer(basemap, tianditu_key)
    layers: list[folium.map.Layer] = [] if tiles is None else [tiles]
    # shown unless tiles are: ours, or a base layer the caller's map already shows
    shown_base = tiles is not None or any(
        isinstance(child, folium.map.Layer) and not child.overlay and child.show
        for child in m._children.values())
    base = OfflineBaseLayer.from_result(result, metric_crs=draw.metric_crs,
                                        simplify_m=simplify_m, show=not shown_base,
                                        display=display)
    base.layer_name = tr(lang, "底图：街道与边界（离线）", "Base: streets and outlines (offline)")
    layers.append(base)
    pop = result.population
    edges, dist_circle, click = None, None, None
    sections: dict[str, str] = {}  # legend sections that open with their grid layer
    if len(pop) and _present(pop.geometry.to_numpy()).any():
        # cells drawn where the base layer has them: per vertex, so in GCJ-02 on AMap
        cells = gpd.GeoSeries(displayed(pop.geometry.to_crs("EPSG:4326").to_numpy(), display),
                              crs="EPSG:4326")
        raster = grid_raster(cells)
        edges = _elderly_edges(pop["elderly"].to_numpy(dtype=float))
        grid = _grid_layers(result, chosen, raster, edges, lang)
        layers += grid
        dist_circle = next((c for c in chosen if f"{c['name']}_dist" in pop), None)
        click = GridClick(raster, cell_table(result, chosen), grid, lang=lang)
        sections = dict(zip([layer.get_name() for layer in grid],
                            [LEGEND_ELDERLY_ID, LEGEND_DISTANCE_ID], strict=False))
    layers += _ring_layers(result, draw)
    layers += _service_area_layers(result, chosen, draw)
    layers += _facility_area_layers(result, chosen, draw)
    layers += _gap_layers(result, chosen, draw)
    layers += _unit_layers(result, chosen, draw)
    layers += _facility_layers(result, display, lang)
    for layer in layers:
        layer.add_to(m)
    if click is not None:
        click.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    _html(m).add_child(Element(legend_html(result, chosen, edges, dist_circle, lang=lang,
                                           type_labels=_type_labels(result, lang))))
    MapControls(sections, bounds=bounds).add_to(m)
    return m


def write_map(result: CoverageResult, path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`make_map` of ``result`` (``kwargs`` as its options) as one HTML file
    that needs nothing else; returns the path."""
    path = Path(path)
    make_map(result, **kwargs).save(str(path))
    return path
