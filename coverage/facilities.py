"""Facility tables: read, map columns, convert GCJ-02/BD-09, validate row by row.

:func:`read_facilities` reads the facility lists that planners actually have --
CSV exported from Excel (UTF-8 or GBK), XLSX with a title row above the header,
GeoJSON or GeoPackage points, POI exports from AMap or Baidu -- and returns the
"facilities" table of ``docs/architecture.md``: one row per input row, in input
order, nothing dropped, each row ``ok`` or ``excluded`` with a reason a planner can
act on ("row 7: lon/lat look swapped ...").

Columns are found by name, in Chinese or English (:data:`COLUMN_ALIASES`); the
mapping used is logged and kept in ``gdf.attrs["column_mapping"]``. Facility types
are matched to the codes of the policy's facility-type table by code, label, alias
or a name containing an alias. Coordinates are converted from the declared
coordinate system (``wgs84``, ``gcj02``, ``bd09``) to WGS-84;
:func:`suggest_coordinate_system` checks that declaration against a street network.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ._errors import InputFileError, InputRowError, NoCrsError
from ._vector import read_layer
from .chinese_crs import (
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_wgs84,
    in_china,
    normalize_crs,
    to_wgs84,
)
from .policy import FacilityType

log = logging.getLogger(__name__)

__all__ = [
    "COLUMN_ALIASES",
    "FORMATS",
    "FacilityRowWarning",
    "format_crs_suggestion",
    "match_facility_type",
    "read_facilities",
    "suggest_coordinate_system",
]


class FacilityRowWarning(UserWarning):
    """Some rows of a facility table were excluded (one warning per file, listing them)."""


#: Accepted source column names of each canonical column, in order of preference
#: (when a table has several, the earliest name wins). Matching ignores case,
#: whitespace, full-width/half-width forms and a bracketed suffix such as
#: ``床位数（张）`` or ``经度(GCJ-02)``.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "机构编号", "编号", "code", "序号"),
    "name": ("name", "名称", "机构名称", "设施名称"),
    "type": ("type", "类型", "设施类型", "机构类型", "category"),
    "lon": ("lon", "lng", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "beds": ("beds", "床位数", "核定床位", "床位"),
    "meals_per_day": ("meals_per_day", "日供餐", "日均供餐", "供餐能力", "meals"),
}

#: File suffixes read by :func:`read_facilities` and their format.
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".geojson": "vector",
    ".json": "vector",
    ".gpkg": "vector",
}

OUTPUT_COLUMNS = (
    "facility_id", "name", "type", "beds", "meals_per_day", "lon", "lat",
    "source_row", "status", "reason", "geometry",
)

_HEADER_SEARCH_ROWS = 10  # title rows tolerated above the header of a spreadsheet
_WARN_MAX_ROWS = 20  # rows listed in the warning; the table has all of them
_CRS_LABELS = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}


# --------------------------------------------------------------------------- text helpers
def _norm(text: Any) -> str:
    """Key for matching names: NFKC, no whitespace or BOM, case-folded."""
    s = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    return re.sub(r"\s+", "", s).casefold()


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as text: blank for None/NaN, integral floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value).strip()


def _fmt(value: float) -> str:
    """A number as short as it round-trips: 28.37, 121.5272106, -5."""
    s = repr(float(value))
    return s[:-2] if s.endswith(".0") else s


def _parse_number(text: str) -> float | None:
    """A finite number from a cell's text, NaN when blank, None when not a number."""
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        return math.nan
    try:
        value = float(s)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- facility types
class _TypeMatcher:
    def __init__(self, types: Sequence[FacilityType]) -> None:
        self.codes = [t.code for t in types]
        self.exact: dict[str, str] = {}
        self.aliases: list[tuple[str, str]] = []
        for t in types:
            for label in (t.code, t.label_zh, t.label_en, *t.aliases):
                if _norm(label):
                    self.exact.setdefault(_norm(label), t.code)
            for label in (t.label_zh, *t.aliases):
                if _norm(label):
                    self.aliases.append((_norm(label), t.code))
        # longest alias first; table order among equally long ones
        self.aliases.sort(key=lambda a: -len(a[0]))

    def __call__(self, value: str) -> str | None:
        key = _norm(value)
        if not key:
            return None
        if key in self.exact:
            return self.exact[key]
        for alias, code in self.aliases:
            if alias in key:
                return code
        return None


def match_facility_type(value: str, types: Sequence[FacilityType] | None = None) -> str | None:
    """The type code a facility-type value means, or None.

    A value matches a type by its code, Chinese or English label, or one of its
    aliases (ignoring case, whitespace and full-width forms); failing that, by the
    longest alias it contains, so a facility *name* such as
    ``温岭市城东街道居家养老服务中心`` is recognised too.

    Parameters
    ----------
    value
        The text of a ``type`` cell.
    types
        Facility types (default: those of :func:`eldercare_coverage.policy.default_policy`).

    Examples
    --------
    >>> match_facility_type("温岭市城东街道居家养老服务中心")
    'town_center'
    >>> match_facility_type("Nursing_Home"), match_facility_type("长者食堂")
    ('nursing_home', 'canteen')
    >>> match_facility_type("超市") is None
    True
    """
    return _TypeMatcher(_default_types() if types is None else types)(value)


def _default_types() -> tuple[FacilityType, ...]:
    from .policy import default_policy

    return default_policy().facility_types


# --------------------------------------------------------------------------- reading
def _decode(path: Path, data: bytes, encoding: str | None) -> str:
    tried = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in tried:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise InputFileError(f"{path}: unknown encoding {enc!r}") from exc
    raise InputFileError(
        f"{path}: cannot decode the file as {' or '.join(tried)}; "
        "save it as UTF-8 or pass encoding=... (the --encoding option)"
    )


def _read_csv_rows(path: Path, encoding: str | None) -> list[list[str]]:
    text = _decode(path, path.read_bytes(), encoding)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    sep = max([",", "\t", ";"], key=first.count)
    try:
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), delimiter=sep)]
    except csv.Error as exc:
        raise InputFileError(f"{path}: not a readable CSV file ({exc})") from exc


def _read_xlsx_rows(path: Path, sheet: str | int | None) -> list[list[str]]:
    try:
        df = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None,
                           dtype=object, engine="openpyxl")
    except ValueError as exc:  # unknown sheet name or index
        try:
            with pd.ExcelFile(path, engine="openpyxl") as book:
                sheets = list(book.sheet_names)
        except Exception:  # the original error is the one to report
            sheets = []
        raise InputFileError(f"{path}: {exc}; sheets in the file: {sheets}") from exc
    except Exception as exc:  # zip/XML errors of a broken workbook
        raise InputFileError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    return [[_cell_text(v) for v in row] for row in df.itertuples(index=False, name=None)]


@dataclass(frozen=True)
class _Geo:
    """Point coordinates (NaN where absent) and geometry type names ('' when absent)."""

    xy: np.ndarray
    kinds: list[str]

    def take(self, keep: list[int]) -> _Geo:
        return _Geo(self.xy[keep], [self.kinds[i] for i in keep])


def _read_vector(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    return read_layer(path, layer)


def _rows_from_vector(
    path: Path, gdf: gpd.GeoDataFrame, crs: str
) -> tuple[list[str], list[list[str]], _Geo]:
    """Attribute rows as text, and the point coordinates in EPSG:4326 with geometry types."""
    if gdf.crs is None:
        raise NoCrsError(
            f"{path}: the layer has no CRS; facility coordinates must be longitude/latitude: "
            "set EPSG:4326 (also for GCJ-02 or BD-09 coordinates, then pass crs='gcj02' "
            "or crs='bd09')"
        )
    geoms = gdf.geometry
    if not gdf.crs.is_geographic and crs != "wgs84":
        raise InputFileError(
            f"{path}: the layer is in a projected CRS ({gdf.crs.name}) but crs={crs!r}; "
            "GCJ-02 and BD-09 coordinates are longitude/latitude"
        )
    if not gdf.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs(4326)
    arr = geoms.to_numpy()
    present = ~np.asarray(shapely.is_missing(arr) | shapely.is_empty(arr))
    kinds = ["" if not p else str(g.geom_type) for g, p in zip(arr, present, strict=True)]
    xy = np.full((len(gdf), 2), np.nan)
    is_point = present & (np.asarray(shapely.get_type_id(arr)) == 0)
    xy[is_point] = shapely.get_coordinates(arr[is_point])[:, :2]
    attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    header = [str(c) for c in attrs.columns]
    rows = [[_cell_text(v) for v in row] for row in attrs.itertuples(index=False, name=None)]
    return header, rows, _Geo(xy, kinds)


# --------------------------------------------------------------------------- columns
def _column_for(key: str) -> str | None:
    """The canonical column a normalised header means, or None."""
    for candidate in (key, re.sub(r"\(.*\)$", "", key)):
        for canonical, aliases in COLUMN_ALIASES.items():
            if candidate in (_norm(a) for a in aliases):
                return canonical
    return None


def _map_columns(header: Sequence[str], overrides: Mapping[str, str] | None) -> dict[str, int]:
    """Canonical column -> index into ``header`` (best alias wins)."""
    found: dict[str, tuple[int, int]] = {}  # canonical -> (alias rank, index)
    for i, name in enumerate(header):
        key = _norm(name)
        canonical = _column_for(key)
        if canonical is None:
            continue
        aliases = [_norm(a) for a in COLUMN_ALIASES[canonical]]
        rank = aliases.index(key) if key in aliases else len(aliases)
        if canonical not in found or rank < found[canonical][0]:
            found[canonical] = (rank, i)
    mapping = {c: i for c, (_, i) in found.items()}
    for canonical, source in (overrides or {}).items():
        mapping[canonical] = header.index(source) if source in header else -1
    return mapping


def _header_score(row: Sequence[str], extra: set[str]) -> int:
    known = {_column_for(_norm(c)) for c in row if c} - {None}
    return len(known) + sum(c in extra for c in row)


def _find_header(rows: list[list[str]], extra: set[str]) -> int:
    """Index of the header row: the first of the top rows naming the most known columns."""
    top = rows[:_HEADER_SEARCH_ROWS]
    scores = [_header_score(r, extra) for r in top]
    return int(np.argmax(scores)) if scores and max(scores) > 0 else 0


def _accepted_names(canonical: str) -> str:
    return f"{canonical} ({', '.join(COLUMN_ALIASES[canonical])})"


# --------------------------------------------------------------------------- main reader
def read_facilities(
    path: str | Path,
    *,
    crs: str = "wgs84",
    columns: Mapping[str, str] | None = None,
    types: Sequence[FacilityType] | None = None,
    study_area: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    strict: bool = False,
    encoding: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a facility table, convert its coordinates to WGS-84 and validate every row.

    Parameters
    ----------
    path
        A ``.csv``, ``.xlsx``, ``.geojson``/``.json`` or ``.gpkg`` file (see
        :data:`FORMATS`). Spreadsheets may have up to 9 title rows above the header
        (the header is the top row naming the most known columns); completely blank
        rows are skipped but keep their numbers. In GeoJSON/GPKG, point geometries
        supply the coordinates (lon/lat columns are used where a feature has no
        geometry).
    crs
        Coordinate system of the coordinates in the file: ``"wgs84"`` (GPS,
        OpenStreetMap, Tianditu), ``"gcj02"`` (AMap/Gaode, Tencent) or ``"bd09"``
        (Baidu), or an alias of :func:`eldercare_coverage.chinese_crs.normalize_crs`.
    columns
        Canonical column -> source column, overriding the automatic mapping by the
        names of :data:`COLUMN_ALIASES`, e.g. ``{"name": "单位全称"}``.
    types
        Facility types to match the ``type`` column against (default: those of
        :func:`eldercare_coverage.policy.default_policy`).
    study_area
        A polygon in WGS-84 (or a GeoSeries/GeoDataFrame with a CRS); facilities
        outside it are excluded, with the distance to it.
    strict
        Raise :class:`eldercare_coverage._errors.InputRowError` listing every invalid row
        instead of excluding them with a :class:`FacilityRowWarning`.
    encoding
        Encoding of a CSV file; by default UTF-8 (with or without BOM), then
        GB18030 (a superset of GBK and GB2312).
    sheet
        Worksheet name or 0-based index of an XLSX file (default: the first).
    layer
        Layer of a GPKG file (default: the first).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per input row, in input order, with the columns ``facility_id``,
        ``name``, ``type``, ``beds``, ``meals_per_day``, ``lon``, ``lat`` (WGS-84),
        ``source_row`` (the row number a spreadsheet shows, header = 1; for
        GeoJSON/GPKG the feature's position + 1), ``status`` (``"ok"`` or
        ``"excluded"``), ``reason`` and ``geometry`` (EPSG:4326, None where the
        coordinates are invalid). ``attrs`` holds ``column_mapping`` (source ->
        canonical), ``crs`` (the declared input coordinate system), ``source`` and
        ``header_row``.

    Raises
    ------
    InputFileError
        The file is missing, empty, of an unknown format, unreadable, or lacks a
        required column (``name``, ``type``, and ``lon``/``lat`` unless it has
        point geometries).
    InputRowError
        In strict mode, when any row is invalid.
    UnknownCrsError
        ``crs`` is not a known coordinate-system name.
    """
    path = Path(path)
    crs = normalize_crs(crs)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        hint = " (save .xls workbooks as .xlsx)" if path.suffix.lower() == ".xls" else ""
        raise InputFileError(
            f"{path}: unknown facility file format {path.suffix or '(no suffix)'!r}{hint}; "
            f"allowed: {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise InputFileError(f"{path}: facility file not found")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the facility file is empty")

    geo: _Geo | None = None
    header_row = 0
    if fmt == "vector":
        header, data, geo = _rows_from_vector(path, _read_vector(path, layer), crs)
        first_row = 2
    else:
        rows = _read_csv_rows(path, encoding) if fmt == "csv" else _read_xlsx_rows(path, sheet)
        header_row = _find_header(rows, set((columns or {}).values())) if rows else 0
        header = rows[header_row] if rows else []
        data = rows[header_row + 1:]
        first_row = header_row + 2
    width = max([len(header), *(len(r) for r in data)]) if header or data else 0
    header = [h or f"column{i + 1}" for i, h in enumerate([*header, *[""] * (width - len(header))])]
    source_rows = np.arange(first_row, first_row + len(data))
    keep = [i for i, r in enumerate(data) if any(c for c in r) or fmt == "vector"]
    data = [[*data[i], *[""] * (width - len(data[i]))] for i in keep]
    source_rows = source_rows[keep]
    if geo is not None:
        geo = geo.take(keep)
    if not data:
        raise InputFileError(f"{path}: no facility rows (columns found: {header})")

    # ---- columns ------------------------------------------------------------------
    unknown = set(columns or {}) - set(COLUMN_ALIASES)
    if unknown:
        raise InputFileError(
            f"{path}: columns= names unknown canonical columns {sorted(unknown)}; "
            f"allowed: {list(COLUMN_ALIASES)}"
        )
    mapping = _map_columns(header, columns)
    bad_overrides = {c: s for c, s in (columns or {}).items() if mapping[c] < 0}
    if bad_overrides:
        raise InputFileError(
            f"{path}: columns={bad_overrides} names columns that are not in the file; "
            f"columns found: {header}"
        )
    has_geometry = geo is not None
    required = ["name", "type"] + ([] if has_geometry else ["lon", "lat"])
    missing = [c for c in required if c not in mapping]
    if missing:
        raise InputFileError(
            f"{path}: no column for {', '.join(missing)}; columns found: {header}; "
            f"accepted names: {'; '.join(_accepted_names(c) for c in missing)}; "
            f"or pass columns={{{missing[0]!r}: '<column in your file>'}}"
        )
    column_mapping = {header[i]: c for c, i in sorted(mapping.items(), key=lambda kv: kv[1])}
    log.info("%s: columns mapped %s; coordinates read as %s", path, column_mapping, crs)

    def col(canonical: str) -> list[str]:
        i = mapping.get(canonical)
        return [r[i] for r in data] if i is not None else [""] * len(data)

    table = _validate(
        path=path, ids=col("id"), names=col("name"), type_values=col("type"),
        lon_text=col("lon"), lat_text=col("lat"), beds_text=col("beds"),
        meals_text=col("meals_per_day"), source_rows=source_rows, geo=geo,
        crs=crs, types=_default_types() if types is None else tuple(types),
        study_area=study_area,
    )
    table.attrs["column_mapping"] = column_mapping
    table.attrs["crs"] = crs
    table.attrs["source"] = str(path)
    table.attrs["header_row"] = header_row + 1
    _report(path, table, strict=strict)
    return table


def _validate(
    *,
    path: Path,
    ids: list[str],
    names: list[str],
    type_values: list[str],
    lon_text: list[str],
    lat_text: list[str],
    beds_text: list[str],
    meals_text: list[str],
    source_rows: np.ndarray,
    geo: _Geo | None,
    crs: str,
    types: Sequence[FacilityType],
    study_area: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    n = len(ids)
    reasons: list[list[str]] = [[] for _ in range(n)]
    rows = source_rows.tolist()

    # ids: blank -> row<N>; repeated ids are excluded, naming the first row
    fids = [i if i else f"row{r}" for i, r in zip(ids, rows, strict=True)]
    first_at: dict[str, int] = {}
    for k, fid in enumerate(fids):
        if fid in first_at:
            reasons[k].append(f"duplicate facility_id {fid!r} (first at row {first_at[fid]})")
        else:
            first_at[fid] = rows[k]

    # types
    matcher = _TypeMatcher(types)
    allowed = ", ".join(matcher.codes)
    codes: list[str] = []
    for k, value in enumerate(type_values):
        code = matcher(value)
        codes.append(code if code is not None else value)
        if code is None:
            reasons[k].append(
                f"unknown type {value!r}; allowed: {allowed} (or their Chinese labels/aliases)"
                if value else f"missing type; allowed: {allowed}"
            )

    # coordinates as given
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    for k in range(n):
        if geo is not None and geo.kinds[k]:
            if geo.kinds[k] != "Point":
                reasons[k].append(f"geometry is a {geo.kinds[k]}, not a point")
                continue
            x, y = float(geo.xy[k, 0]), float(geo.xy[k, 1])
        else:
            lon_raw, lat_raw = lon_text[k], lat_text[k]
            if not lon_raw and not lat_raw:
                reasons[k].append("missing coordinates")
                continue
            if not lon_raw or not lat_raw:
                reasons[k].append("missing longitude" if not lon_raw else "missing latitude")
                continue
            px, py = _parse_number(lon_raw), _parse_number(lat_raw)
            if px is None or py is None:
                reasons[k].append(f"non-numeric coordinates (lon={lon_raw!r}, lat={lat_raw!r})")
                continue
            x, y = px, py
        reason = _coordinate_problem(x, y)
        if reason:
            reasons[k].append(reason)
            continue
        lon[k], lat[k] = x, y

    # to WGS-84, then the study area
    lon, lat = to_wgs84(lon, lat, crs)
    if study_area is not None:
        for k, km in _outside(study_area, lon, lat):
            reasons[k].append(f"outside the study area ({km:.1f} km away)")

    beds = _capacity("beds", beds_text, reasons)
    meals = _capacity("meals_per_day", meals_text, reasons)

    status = np.where([bool(r) for r in reasons], "excluded", "ok")
    valid = np.isfinite(lon) & np.isfinite(lat)
    geometry = np.full(n, None, dtype=object)
    geometry[valid] = shapely.points(lon[valid], lat[valid])
    df = pd.DataFrame({
        "facility_id": pd.Series(fids, dtype=object),
        "name": pd.Series(names, dtype=object),
        "type": pd.Series(codes, dtype=object),
        "beds": beds,
        "meals_per_day": meals,
        "lon": lon,
        "lat": lat,
        "source_row": source_rows.astype("int64"),
        "status": pd.Series(status, dtype=object),
        "reason": pd.Series(["; ".join(r) for r in reasons], dtype=object),
    })
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"),
                            crs="EPSG:4326")


def _coordinate_problem(lon: float, lat: float) -> str:
    """Why a numeric lon/lat pair cannot be a facility position ('' when it can)."""
    if lon == 0 and lat == 0:
        return "coordinates are (0, 0), a placeholder for missing coordinates"
    if not bool(in_china(lon, lat)) and bool(in_china(lat, lon)):
        return (f"lon/lat look swapped ({_fmt(lon)}, {_fmt(lat)}); "
                f"did you mean lon={_fmt(lat)}, lat={_fmt(lon)}?")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return (f"lon/lat out of range ({_fmt(lon)}, {_fmt(lat)}); "
                "lon must be within -180..180 and lat within -90..90")
    return ""


def _capacity(column: str, texts: list[str], reasons: list[list[str]]) -> np.ndarray:
    out = np.full(len(texts), np.nan)
    for k, text in enumerate(texts):
        value = _parse_number(text)
        if value is None:
            reasons[k].append(f"non-numeric {column} {text!r}")
        elif value < 0:
            reasons[k].append(f"negative {column} ({_fmt(value)})")
        else:
            out[k] = value
    return out


def _outside(
    study_area: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
) -> list[tuple[int, float]]:
    """(index, km) of the valid points outside the study area, distances in a local UTM."""
    if isinstance(study_area, gpd.GeoDataFrame | gpd.GeoSeries):
        if study_area.crs is None:
            raise NoCrsError("study_area has no CRS; set one (e.g. EPSG:4326)")
        area = gpd.GeoSeries([study_area.to_crs(4326).union_all()], crs=4326)
    else:
        area = gpd.GeoSeries([study_area], crs=4326)
    utm = area.estimate_utm_crs()
    area_m = area.to_crs(utm).iloc[0]
    idx = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    pts = gpd.GeoSeries(shapely.points(lon[idx], lat[idx]), crs=4326).to_crs(utm).to_numpy()
    dist_m = shapely.distance(area_m, pts)
    return [(int(i), float(d) / 1000.0) for i, d in zip(idx, dist_m, strict=True) if d > 0]


def _report(path: Path, table: gpd.GeoDataFrame, *, strict: bool) -> None:
    bad = table[table["status"] == "excluded"]
    if bad.empty:
        log.info("%s: %d facilities, all valid", path, len(table))
        return
    lines = [f"  row {r}: {why}" for r, why in zip(bad["source_row"], bad["reason"], strict=True)]
    head = f"{path}: {len(bad)} of {len(table)} facility rows"
    if strict:
        raise InputRowError(f"{head} are invalid:\n" + "\n".join(lines))
    shown = lines[:_WARN_MAX_ROWS]
    if len(lines) > _WARN_MAX_ROWS:
        shown.append(f"  ... and {len(lines) - _WARN_MAX_ROWS} more (see the 'reason' column)")
    message = f"{head} excluded:\n" + "\n".join(shown)
    warnings.warn(message, FacilityRowWarning, stacklevel=3)


# --------------------------------------------------------------------------- CRS check
def suggest_coordinate_system(
    facilities: gpd.GeoDataFrame,
    nearest_street_m: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    min_ratio: float = 0.5,
    min_gain_m: float = 25.0,
    min_facilities: int = 3,
) -> tuple[str | None, dict[str, float]]:
    """Check the declared coordinate system of facilities against a street network.

    Facilities sit on or next to streets. Coordinates declared WGS-84 that really
    are GCJ-02 (AMap, Tencent) or BD-09 (Baidu) land 100-700 m off, typically in
    blocks or fields. This re-reads the coordinates *as they were in the file*
    three ways -- as WGS-84, as GCJ-02 and as BD-09 -- and compares the median
    distance of the ``ok`` facilities to the nearest street.

    Parameters
    ----------
    facilities
        The table of :func:`read_facilities` (``attrs["crs"]`` says how the file
        was read; WGS-84 when absent).
    nearest_street_m
        Function of WGS-84 longitude and latitude arrays returning, for each point,
        the distance in metres to the nearest street (e.g. the snap distance of
        :func:`eldercare_coverage.snapping.snap_points` after projecting the points).
    min_ratio, min_gain_m
        Another reading is suggested only when its median is below ``min_ratio``
        times the median of the reading used *and* smaller by more than
        ``min_gain_m`` metres.
    min_facilities
        Fewer ``ok`` facilities than this give no suggestion.

    Returns
    -------
    suggestion : str or None
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` when that reading fits the streets
        clearly better than the one used; None otherwise.
    medians : dict
        Median distance to the nearest street, metres, per reading (NaN without
        facilities). Turn both into a message with :func:`format_crs_suggestion`.
    """
    given = normalize_crs(str(facilities.attrs.get("crs", "wgs84")))
    ok = (facilities["status"] == "ok").to_numpy()
    lon = facilities["lon"].to_numpy(dtype=float)[ok]
    lat = facilities["lat"].to_numpy(dtype=float)[ok]
    finite = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = lon[finite], lat[finite]
    if lon.size == 0:
        return None, {name: math.nan for name in _CRS_LABELS}
    fx, fy = from_wgs84(lon, lat, given)  # coordinates as written in the file
    readings = {"wgs84": (fx, fy), "gcj02": gcj02_to_wgs84(fx, fy), "bd09": bd09_to_wgs84(fx, fy)}
    all_lon = np.concatenate([r[0] for r in readings.values()])
    all_lat = np.concatenate([r[1] for r in readings.values()])
    dist = np.asarray(nearest_street_m(all_lon, all_lat), dtype=float).reshape(len(readings), -1)
    medians = {name: float(np.median(d)) for name, d in zip(readings, dist, strict=True)}
    log.info("median distance of facilities to streets by reading (m): %s", medians)
    best = min(medians, key=lambda name: medians[name])
    used = medians[given]
    if (lon.size >= min_facilities and best != given
            and medians[best] < min_ratio * used and used - medians[best] > min_gain_m):
        return best, medians
    return None, medians


def format_crs_suggestion(
    suggestion: str,
    medians: Mapping[str, float],
    *,
    given: str = "wgs84",
    option: str = "--facilities-crs",
) -> str:
    """The user-facing message for a suggestion of :func:`suggest_coordinate_system`.

    Examples
    --------
    >>> format_crs_suggestion("gcj02", {"wgs84": 312.4, "gcj02": 18.0, "bd09": 640.0})
    'facilities look like GCJ-02 (median distance to streets 312 m as given, 18 m if read as GCJ-02); pass --facilities-crs gcj02'
    """
    given = normalize_crs(given)
    as_given = "as given" if given == "wgs84" else f"as read ({_CRS_LABELS[given]})"
    label = _CRS_LABELS[suggestion]
    return (
        f"facilities look like {label} (median distance to streets "
        f"{medians[given]:.0f} m {as_given}, {medians[suggestion]:.0f} m if read as {label}); "
        f"pass {option} {suggestion}"
    )
