"""Units: towns (乡镇/街道) and villages / communities (村/社区) with their urban-rural class.

:func:`read_boundaries` reads GeoJSON, GeoPackage or Shapefile polygons and returns
the "units" table of ``docs/architecture.md``: ``unit_id`` (str), ``name``,
``level`` (``"town"`` / ``"village"``, other levels kept as given), ``parent_id``,
``urban_rural_code`` (Int64), ``urban_rural`` (``"urban"`` / ``"rural"`` / <NA>),
``urban_rural_source`` (``"code"`` / ``"density rule"`` / <NA>) and ``geometry``.
Columns are found by their English or Chinese names; the mapping used is logged
and kept in ``attrs["column_mapping"]``.

The official urban-rural code (城乡分类代码, National Bureau of Statistics) has three
digits: 1xx urban (111 main urban area, 112 urban-rural fringe, 121 town centre,
122 town-rural fringe, 123 special area), 2xx rural (210 township centre,
220 village). When a file has no code, :func:`classify_urban_rural` applies a
documented density rule instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputFileError, NoCrsError
from ._vector import first_layer

log = logging.getLogger(__name__)

DEFAULT_MIN_ELDERLY_PER_KM2 = 300.0  # people aged 60+ per km2: "urban" at or above this

#: accepted column names per output column, in order of preference (compared after
#: stripping and lower-casing)
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "unit_id": ("unit_id", "code", "adcode", "区划代码", "代码", "统计用区划代码",
                "行政区划代码", "id"),
    "name": ("name", "名称", "单位名称", "区划名称", "name_zh"),
    "level": ("level", "级别", "层级"),
    "parent_id": ("parent_id", "parent", "上级代码", "上级区划代码", "parent_code"),
    "urban_rural_code": ("urban_rural_code", "城乡分类代码", "城乡代码", "城乡属性代码",
                         "ur_code"),
}

#: level values (stripped, lower-cased) meaning town or village
TOWN_LEVELS = frozenset({"town", "township", "subdistrict", "street", "乡镇", "街道", "镇",
                         "乡", "乡镇街道", "街道办事处", "民族乡", "苏木"})
VILLAGE_LEVELS = frozenset({"village", "community", "村", "社区", "居委会", "村委会",
                            "居民委员会", "村民委员会", "嘎查"})

OUTPUT_COLUMNS = ("unit_id", "name", "level", "parent_id", "urban_rural_code", "urban_rural",
                  "urban_rural_source")


def _norm(text: Any) -> str:
    return str(text).strip().lower()


def _text_id(value: Any) -> str | None:
    """A code as text: 331081.0 -> '331081'; missing -> None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _read(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputFileError(f"{path}: boundary file not found")
    try:
        layer = first_layer(path, layer)
        try:
            return gpd.read_file(path, layer=layer, engine="pyogrio")
        except UnicodeDecodeError as exc:
            if path.suffix.lower() != ".shp":
                raise
            if path.with_suffix(".cpg").exists() or path.with_suffix(".CPG").exists():
                raise InputFileError(
                    f"{path}: names or values are not valid text in the encoding its .cpg file "
                    "declares. Shapefile field names hold at most 10 bytes, so longer Chinese "
                    "names (e.g. 城乡分类代码 in UTF-8) are cut mid-character: rename the "
                    "columns (e.g. code, name, level, parent_id, urban_rural_code) or save as "
                    f"GeoPackage ({exc})") from exc
            # Chinese Shapefiles without a .cpg file are usually GBK
            log.warning("%s: not UTF-8; reading it as GBK (add a .cpg file to say so)", path)
            return gpd.read_file(path, layer=layer, engine="pyogrio", encoding="gbk")
    except InputFileError:
        raise
    except Exception as exc:  # pyogrio raises several error types
        raise InputFileError(f"{path}: cannot read layer {layer!r} ({exc})") from exc


def _map_columns(
    columns: list[str], overrides: Mapping[str, str | None], where: str
) -> dict[str, str | None]:
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(_norm(c), c)
    mapping: dict[str, str | None] = {}
    for key, names in COLUMN_NAMES.items():
        given = overrides.get(key)
        if given is not None:
            if given not in columns:
                raise InputFileError(
                    f"{where}: column {given!r} (given for {key}) not found; columns found: "
                    f"{columns}")
            mapping[key] = given
            continue
        found = next((by_norm[n] for n in names if n in by_norm), None)
        if found is None:  # dBase (Shapefile) cuts field names at 10 bytes
            found = next((c for c in columns if _truncated(c) and any(
                n.startswith(_norm(c)) for n in names)), None)
        mapping[key] = found
    used = [c for c in mapping.values() if c is not None]
    dupes = {c for c in used if used.count(c) > 1}
    if dupes:
        raise InputFileError(f"{where}: column(s) {sorted(dupes)} mapped to several fields "
                             f"{mapping}; pass the *_col arguments")
    return mapping


def _truncated(column: str) -> bool:
    """Whether a column name looks cut at the 10-byte limit of Shapefile field names."""
    sizes = {len(column.encode("utf-8"))}
    try:
        sizes.add(len(column.encode("gbk")))
    except UnicodeEncodeError:
        pass
    return bool(sizes & {9, 10})


def _level(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    key = _norm(value)
    if key in TOWN_LEVELS:
        return "town"
    if key in VILLAGE_LEVELS:
        return "village"
    return str(value).strip()


def _level_from_code(code: str | None) -> str | None:
    """Level from a 9- or 12-digit statistical division code (乡镇 / 村)."""
    if code is None or not code.isdigit():
        return None
    if len(code) == 9 or (len(code) == 12 and code.endswith("000")):
        return "town"
    if len(code) == 12:
        return "village"
    return None


def _urban_rural_codes(values: pd.Series, ids: list[str], where: str) -> pd.Series:
    """Parse official urban-rural codes; any invalid one is an error naming its row."""
    out: list[Any] = []
    bad: list[str] = []
    for i, (v, uid) in enumerate(zip(values.tolist(), ids, strict=True)):
        text = _text_id(v)
        if text is None:
            out.append(pd.NA)
            continue
        if len(text) == 3 and text.isdigit() and text[0] in "12":
            out.append(int(text))
        else:
            out.append(pd.NA)
            bad.append(f"row {i + 1} (unit_id {uid!r}): {v!r}")
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise InputFileError(
            f"{where}: invalid urban-rural code(s) in column {values.name!r}: "
            f"{'; '.join(bad[:10])}{more}. Expected the official 3-digit code: 1xx urban "
            "(111, 112, 121, 122, 123) or 2xx rural (210, 220)")
    return pd.Series(pd.array(out, dtype="Int64"), index=values.index)


def _polygons(geoms: np.ndarray, ids: list[str], where: str) -> tuple[np.ndarray, list[str]]:
    """Check units are polygons; repair invalid ones with make_valid (reported)."""
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        rows = [f"row {i + 1} ({ids[i]!r})" for i in np.flatnonzero(missing)[:10]]
        raise InputFileError(f"{where}: {int(missing.sum())} unit(s) without geometry: "
                             f"{', '.join(rows)}")
    kinds = shapely.get_type_id(geoms)
    if not np.isin(kinds, (3, 6)).all():
        found = sorted({g.geom_type for g in geoms[~np.isin(kinds, (3, 6))]})
        raise InputFileError(f"{where}: units must be polygons, found {found}")
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    repaired: list[str] = []
    if len(invalid):
        geoms = geoms.copy()
        for i in invalid:  # few: a loop keeps the per-unit report readable
            reason = shapely.is_valid_reason(geoms[i])
            fixed = shapely.make_valid(geoms[i])
            if fixed.geom_type not in ("Polygon", "MultiPolygon"):
                parts = [p for p in shapely.get_parts(fixed) if p.geom_type in
                         ("Polygon", "MultiPolygon")]
                fixed = shapely.union_all(parts) if parts else fixed
            if fixed.is_empty or fixed.geom_type not in ("Polygon", "MultiPolygon"):
                raise InputFileError(f"{where}: row {i + 1} ({ids[i]!r}) has an invalid polygon "
                                     f"({reason}) that has no area once repaired")
            geoms[i] = fixed
            repaired.append(ids[i])
            log.warning("%s: repaired the invalid polygon of unit %r (%s)", where, ids[i], reason)
    return geoms, repaired


def read_boundaries(
    path: str | Path | gpd.GeoDataFrame,
    *,
    layer: str | None = None,
    id_col: str | None = None,
    name_col: str | None = None,
    level_col: str | None = None,
    parent_col: str | None = None,
    code_col: str | None = None,
) -> gpd.GeoDataFrame:
    """Read units (towns, villages/communities) as the "units" table.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage or Shapefile of polygons (or a GeoDataFrame to normalise).
    layer
        Layer to read (default: the first).
    id_col, name_col, level_col, parent_col, code_col
        Column of the unit id, name, level, parent id and official urban-rural code,
        when automatic detection (English or Chinese names, see :data:`COLUMN_NAMES`)
        does not find them.

    Returns
    -------
    geopandas.GeoDataFrame
        ``unit_id``, ``name``, ``level``, ``parent_id``, ``urban_rural_code``,
        ``urban_rural``, ``urban_rural_source``, then the file's other columns, and
        ``geometry`` in the file's CRS. Without an id column, ids are the row numbers
        (``"1"``, ``"2"``, ...); without a name, the id; without a level, the level is
        read from 9/12-digit statistical codes when possible, else ``"unit"``.
        ``attrs``: ``column_mapping``, ``source``, ``repaired`` (ids of units whose
        invalid polygons were repaired with ``shapely.make_valid``).

    Raises
    ------
    InputFileError
        Unreadable file, a named column missing, units that are not polygons or
        have no geometry, or an invalid urban-rural code (naming row and value).
    NoCrsError
        The layer has no CRS.
    """
    if isinstance(path, gpd.GeoDataFrame):
        gdf, where = path.copy(), "units"
    else:
        where = str(path)
        gdf = _read(Path(path), layer)
    if gdf.crs is None:
        raise NoCrsError(f"{where}: the boundaries have no CRS; set one (e.g. EPSG:4326)")
    geom_name = gdf.geometry.name
    columns = [str(c) for c in gdf.columns if c != geom_name]
    overrides = {"unit_id": id_col, "name": name_col, "level": level_col,
                 "parent_id": parent_col, "urban_rural_code": code_col}
    mapping = _map_columns(columns, overrides, where)
    log.info("%s: columns %s", where,
             ", ".join(f"{k} <- {v!r}" for k, v in mapping.items() if v is not None) or "none")

    n = len(gdf)
    if mapping["unit_id"] is not None:
        ids = [_text_id(v) for v in gdf[mapping["unit_id"]]]
        blank = [i for i, v in enumerate(ids) if v is None]
        for i in blank:
            ids[i] = f"row{i + 1}"
        if blank:
            log.warning("%s: %d unit(s) without id, named row<N>", where, len(blank))
    else:
        ids = [str(i + 1) for i in range(n)]
        log.info("%s: no id column; unit ids are row numbers", where)
    id_list: list[str] = [str(v) for v in ids]
    dupes = pd.Series(id_list).duplicated(keep=False)
    if dupes.any():
        log.warning("%s: duplicate unit ids %s", where, sorted(set(pd.Series(id_list)[dupes]))[:10])

    if mapping["name"] is not None:
        names = [(_text_id(v) or uid) for v, uid in zip(gdf[mapping["name"]], id_list,
                                                         strict=True)]
    else:
        names = list(id_list)
    if mapping["level"] is not None:
        levels = [_level(v) or "unit" for v in gdf[mapping["level"]]]
    else:
        inferred = [_level_from_code(uid) for uid in id_list]
        if all(v is not None for v in inferred) and n:
            levels = [str(v) for v in inferred]
            log.info("%s: no level column; levels read from the statistical codes", where)
        else:
            levels = ["unit"] * n
            log.info("%s: no level column; every unit has level 'unit'", where)
    parents = ([_text_id(v) for v in gdf[mapping["parent_id"]]]
               if mapping["parent_id"] is not None else [None] * n)

    if mapping["urban_rural_code"] is not None:
        codes = _urban_rural_codes(gdf[mapping["urban_rural_code"]].reset_index(drop=True),
                                   id_list, where)
    else:
        codes = pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    has_code = codes.notna().to_numpy()
    urban = np.where(codes.fillna(0).to_numpy(dtype=np.int64) // 100 == 1, "urban", "rural")
    urban_rural = pd.array([u if h else pd.NA for u, h in zip(urban, has_code, strict=True)],
                           dtype="string")
    source = pd.array(["code" if h else pd.NA for h in has_code], dtype="string")

    geoms, repaired = _polygons(gdf.geometry.to_numpy(), id_list, where)

    table = pd.DataFrame({
        "unit_id": pd.array(id_list, dtype="string"),
        "name": pd.array(names, dtype="string"),
        "level": pd.array(levels, dtype="string"),
        "parent_id": pd.Series(parents, dtype=object),
        "urban_rural_code": codes.to_numpy(),
        "urban_rural": urban_rural,
        "urban_rural_source": source,
    })
    table["urban_rural_code"] = table["urban_rural_code"].astype("Int64")
    used = {v for v in mapping.values() if v is not None}
    for c in columns:
        if c not in used and c not in table.columns and c != "geometry":
            table[c] = gdf[c].to_numpy()
    units = gpd.GeoDataFrame(table, geometry=geoms, crs=gdf.crs)
    units.attrs["column_mapping"] = dict(mapping)
    units.attrs["source"] = where
    units.attrs["repaired"] = repaired
    if not has_code.all():
        log.info("%s: %d of %d unit(s) have no urban-rural code; classify_urban_rural() "
                 "applies the density rule", where, int((~has_code).sum()), n)
    return units


def classify_urban_rural(
    units: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    *,
    min_elderly_per_km2: float = DEFAULT_MIN_ELDERLY_PER_KM2,
) -> gpd.GeoDataFrame:
    """Class units without an official code as urban or rural by elderly density.

    The rule: a unit is ``"urban"`` when its elderly density -- people aged 60+
    per km2, area-weighted from the population cells, both reprojected to the
    units' local UTM zone -- is at least ``min_elderly_per_km2``, else ``"rural"``.
    The default, 300 elderly per km2, is about 1,500 residents per km2 at a 20 %
    elderly share: the density threshold of an urban centre in the EU-OECD degree
    of urbanisation (DEGURBA). Units that already have a class from their code
    keep it.

    Parameters
    ----------
    units
        The table of :func:`read_boundaries`.
    cells
        Population cells (``elderly`` column) of :mod:`eldercare_coverage.population`.
    min_elderly_per_km2
        Density threshold, people aged 60+ per km2.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``units`` with ``urban_rural`` and ``urban_rural_source``
        (``"density rule"``) filled where they were missing, and the column
        ``elderly_per_km2`` (the density of every unit). The decision for each
        unit is logged.

    Raises
    ------
    NoCrsError
        ``units`` or ``cells`` have no CRS.
    InputFileError
        ``cells`` have no ``elderly`` column.
    """
    from .analysis import area_weights

    if not (np.isfinite(min_elderly_per_km2) and min_elderly_per_km2 >= 0):
        raise ValueError(f"`min_elderly_per_km2` was {min_elderly_per_km2!r} but is expected "
                         "to be a number >= 0")
    if units.crs is None:
        raise NoCrsError("units have no CRS; set one (e.g. EPSG:4326)")
    if cells.crs is None:
        raise NoCrsError("population cells have no CRS; set one (e.g. EPSG:4326)")
    if "elderly" not in cells.columns:
        raise InputFileError(f"population cells have no 'elderly' column; columns found: "
                             f"{[str(c) for c in cells.columns]}")
    out = units.copy()
    for col in ("urban_rural", "urban_rural_source"):
        if col not in out.columns:
            out[col] = pd.array([pd.NA] * len(out), dtype="string")
        else:
            out[col] = out[col].astype("string")
    if len(out) == 0:
        out["elderly_per_km2"] = np.zeros(0)
        return out
    crs = units.estimate_utm_crs()
    unit_geoms = units.to_crs(crs).geometry.to_numpy()
    cell_geoms = cells.to_crs(crs).geometry.to_numpy()
    elderly = cells["elderly"].to_numpy(dtype=np.float64)
    # share of each cell inside each unit; towns and their villages may overlap
    w = area_weights(cell_geoms, unit_geoms)
    people = np.bincount(w["polygon"].to_numpy(),
                         elderly[w["cell"].to_numpy()] * w["weight"].to_numpy(),
                         minlength=len(out))
    area_km2 = shapely.area(unit_geoms) / 1e6
    with np.errstate(invalid="ignore", divide="ignore"):
        density = np.where(area_km2 > 0, people / area_km2, 0.0)
    out["elderly_per_km2"] = density
    todo = out["urban_rural"].isna().to_numpy()
    decided = np.where(density >= min_elderly_per_km2, "urban", "rural")
    ur = out["urban_rural"].to_numpy(dtype=object)
    src = out["urban_rural_source"].to_numpy(dtype=object)
    ids = out["unit_id"].astype(str).tolist() if "unit_id" in out else [str(i) for i in out.index]
    names = out["name"].astype(str).tolist() if "name" in out else ids
    for i in np.flatnonzero(todo):
        ur[i], src[i] = str(decided[i]), "density rule"
        log.info("unit %s (%s): %.1f elderly per km2 (%.1f people on %.2f km2) %s %g -> %s",
                 ids[i], names[i], density[i], people[i], area_km2[i],
                 ">=" if decided[i] == "urban" else "<", min_elderly_per_km2, decided[i])
    out["urban_rural"] = pd.array(ur, dtype="string")
    out["urban_rural_source"] = pd.array(src, dtype="string")
    out.attrs["density_rule"] = {"min_elderly_per_km2": float(min_elderly_per_km2),
                                 "units": int(todo.sum())}
    return out
