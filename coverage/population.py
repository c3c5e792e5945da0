"""Elderly population cells: GeoTIFF grids, vector grids and counts spread onto a grid.

Every reader returns the "population cells" table of ``docs/architecture.md``:
``cell_id`` (int), ``row``, ``col`` (grid indices; -1 for vector grids),
``elderly`` (float, an extensive count) and ``geometry`` (the cell polygon).
Cells without data or without people are dropped; ``attrs["elderly_total"]``
equals ``cells["elderly"].sum()``, ``attrs["source"]`` says what was read and
``attrs["dropped"]`` how many nodata cells were left out.

- :func:`read_population_raster` -- one GeoTIFF, several band files on the same
  grid (WorldPop age-sex rasters, see :func:`worldpop_age_files`) summed, or a
  total-population raster times an elderly ``share``;
- :func:`read_population_vector` -- polygons with a count column;
- :func:`spread_counts` -- counts per unit (county, towns) spread onto a square
  grid, by area or dasymetrically by building area / road length, with the total
  of every unit conserved exactly.

Raster cells are built in the raster's own CRS from its transform, so a later
reprojection moves the polygons and keeps every count.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputFileError, NoCrsError
from ._geometry import repaired
from ._vector import read_layer

log = logging.getLogger(__name__)

WORLDPOP_NODATA = -99999.0  # WorldPop's nodata value, treated as nodata even when undeclared
WORLDPOP_AGES = (0, 1, *range(5, 81, 5))  # years: first age of each WorldPop age band
_TILE_CELLS = 32  # cells: units are diced into tiles of 32 x 32 cells before the overlay
_WORLDPOP_NAME = re.compile(
    r"^(?P<iso>[a-z]{3})_(?P<sex>[a-z])_(?P<age>\d{1,2})_(?P<year>\d{4})(?P<variant>_.*)?\.tif$",
    re.IGNORECASE,
)

PathLike = str | Path


# --------------------------------------------------------------------------- rasters
def read_population_raster(
    paths: PathLike | Sequence[PathLike], *, share: float | None = None, band: int = 1
) -> gpd.GeoDataFrame:
    """Read elderly people per cell from one or several GeoTIFF grids.

    Parameters
    ----------
    paths
        One GeoTIFF, or several on the same grid (same CRS, shape and transform)
        whose values are summed, e.g. WorldPop age-sex rasters from
        :func:`worldpop_age_files`. Any CRS.
    share
        Elderly share of the people in the raster(s), 0..1, when they hold the
        total population (e.g. 0.1955 for Wenling's 60+ share in 2020). None means
        the rasters already count elderly people.
    band
        Band number (1-based) read from every file.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (``row * width + col``), ``row``, ``col``, ``elderly``,
        ``geometry`` (cell polygons in the raster's CRS). Cells with nodata (the
        declared nodata value, NaN, or WorldPop's -99999) or zero people are left out.

    Raises
    ------
    InputFileError
        A file cannot be read, the grids differ, the band does not exist, or a
        cell holds a negative count.
    NoCrsError
        A raster has no CRS.
    """
    import rasterio

    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise InputFileError("read_population_raster: no raster file given")
    if share is not None and not (np.isfinite(share) and 0.0 <= share <= 1.0):
        raise ValueError(f"`share` was {share!r} but is expected to be a number from 0 to 1")

    total: np.ndarray | None = None
    valid_any: np.ndarray | None = None
    partial = 0
    first: tuple[Path, Any, tuple[int, int], Any] | None = None
    for path in files:
        if not path.exists():
            raise InputFileError(f"{path}: population raster not found")
        try:
            src = rasterio.open(path)
        except rasterio.errors.RasterioIOError as exc:
            raise InputFileError(f"{path}: not a readable raster ({exc})") from exc
        with src:
            if src.crs is None:
                raise NoCrsError(
                    f"{path}: the raster has no CRS; set one (WorldPop grids are EPSG:4326), "
                    "e.g. with `gdal_edit.py -a_srs EPSG:4326`"
                )
            if not 1 <= band <= src.count:
                raise InputFileError(
                    f"{path}: band {band} requested but the raster has {src.count} band(s)"
                )
            grid = (path, src.crs, (src.height, src.width), src.transform)
            if first is None:
                first = grid
            else:
                _check_same_grid(first, grid)
            values = src.read(band).astype(np.float64)
            nodata = src.nodata
        valid = np.isfinite(values) & (values != WORLDPOP_NODATA)
        if nodata is not None and np.isfinite(nodata):
            valid &= values != nodata
        negative = valid & (values < 0)
        if negative.any():
            raise InputFileError(
                f"{path}: {int(negative.sum())} cell(s) hold negative people counts "
                f"(lowest {values[negative].min():g}); counts cannot be negative. If they mark "
                "missing data, declare that value as the raster's nodata "
                "(`gdal_edit.py -a_nodata VALUE`)"
            )
        values = np.where(valid, values, 0.0)
        if total is None or valid_any is None:
            total, valid_any = values, valid
        else:
            partial += int((valid ^ valid_any).sum())
            total = total + values
            valid_any = valid_any | valid
    if total is None or valid_any is None or first is None:  # pragma: no cover - files non-empty
        raise InputFileError("read_population_raster: no raster file given")
    if partial:
        log.warning("%d cells have data in some of the %d rasters only; missing values count "
                    "as 0", partial, len(files))
    if share is not None:
        total = total * float(share)

    _, crs, (height, width), transform = first
    dropped = int((~valid_any).sum())
    rows, cols = np.nonzero(valid_any & (total > 0))
    zero = int(valid_any.sum()) - len(rows)
    elderly = total[rows, cols]
    cells = gpd.GeoDataFrame(
        {
            "cell_id": (rows.astype(np.int64) * width + cols).astype(np.int64),
            "row": rows.astype(np.int64),
            "col": cols.astype(np.int64),
            "elderly": elderly,
        },
        geometry=_cell_polygons(transform, rows, cols),
        crs=crs,
    )
    names = " + ".join(p.name for p in files)
    source = f"{names} (band {band})" if len(files) == 1 else f"sum of {len(files)} rasters: {names}"
    if share is not None:
        source += f" x elderly share {share:g}"
    _finish(cells, source=source, dropped=dropped)
    cells.attrs["zero_cells"] = zero
    log.info("%s: %d cells with %.1f elderly people (%d nodata cells, %d empty cells dropped)",
             source, len(cells), cells.attrs["elderly_total"], dropped, zero)
    return cells


def _check_same_grid(a: tuple[Path, Any, tuple[int, int], Any],
                     b: tuple[Path, Any, tuple[int, int], Any]) -> None:
    (pa, ca, sa, ta), (pb, cb, sb, tb) = a, b
    if sa != sb or not ta.almost_equals(tb) or ca != cb:
        raise InputFileError(
            "rasters to be summed must share one grid, but "
            f"{pa} has shape {sa}, transform {tuple(ta)[:6]}, CRS {ca} and "
            f"{pb} has shape {sb}, transform {tuple(tb)[:6]}, CRS {cb}; "
            "resample them onto one grid first"
        )


def _cell_polygons(transform: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Polygons of raster cells from the affine transform (rotation allowed), vectorised."""
    a, b, c, d, e, f = (transform.a, transform.b, transform.c,
                        transform.d, transform.e, transform.f)
    # corners in (col, row) pixel space, counter-clockwise for a north-up grid
    dc = np.array([0.0, 0.0, 1.0, 1.0, 0.0])
    dr = np.array([0.0, 1.0, 1.0, 0.0, 0.0])
    cc = cols[:, None] + dc[None, :]
    rr = rows[:, None] + dr[None, :]
    xy = np.stack([a * cc + b * rr + c, d * cc + e * rr + f], axis=-1)
    return shapely.polygons(xy)


def _finish(cells: gpd.GeoDataFrame, *, source: str, dropped: int) -> None:
    cells.attrs["elderly_total"] = float(cells["elderly"].sum())
    cells.attrs["source"] = source
    cells.attrs["dropped"] = int(dropped)


def worldpop_age_files(
    directory: PathLike,
    *,
    min_age: int = 60,
    sexes: Sequence[str] = ("f", "m"),
    year: int | None = None,
) -> list[Path]:
    """WorldPop age-sex rasters of everybody aged ``min_age`` or more, sorted.

    WorldPop names them ``{iso}_{sex}_{age}_{year}.tif`` (optionally with a suffix
    such as ``_constrained``), where ``age`` is the first year of a band:
    0, 1, 5, 10, ..., 80 (80 means 80 and over).

    Parameters
    ----------
    directory
        Folder holding the rasters.
    min_age
        First age counted; must start a band (60 and 65 are the usual ones).
    sexes
        Sex codes to include.
    year
        Year to pick when the folder holds several.

    Returns
    -------
    list of pathlib.Path
        One file per sex and band from ``min_age`` to 80, for
        :func:`read_population_raster`.

    Raises
    ------
    InputFileError
        No matching files, a band missing, or an ambiguous folder (several
        countries, years or variants).
    """
    folder = Path(directory)
    if min_age not in WORLDPOP_AGES:
        raise ValueError(
            f"`min_age` was {min_age!r} but is expected to start a WorldPop age band: "
            f"{', '.join(map(str, WORLDPOP_AGES))}"
        )
    if not folder.is_dir():
        raise InputFileError(f"{folder}: not a folder of WorldPop rasters")
    wanted_sexes = {s.lower() for s in sexes}
    found: list[tuple[str, str, int, int, str, Path]] = []
    for p in folder.iterdir():
        m = _WORLDPOP_NAME.match(p.name)
        if m is None:
            continue
        sex, age, yr = m["sex"].lower(), int(m["age"]), int(m["year"])
        if sex in wanted_sexes and age >= min_age and (year is None or yr == year):
            found.append((m["iso"].lower(), sex, age, yr, (m["variant"] or "").lower(), p))
    what = f"sexes {sorted(wanted_sexes)}, ages {min_age}+" + (f", year {year}" if year else "")
    if not found:
        raise InputFileError(
            f"{folder}: no WorldPop age-sex rasters named {{iso}}_{{sex}}_{{age}}_{{year}}.tif "
            f"for {what}"
        )
    for key, label in ((0, "countries"), (3, "years"), (4, "variants")):
        values = sorted({str(f[key]) for f in found})
        if len(values) > 1:
            hint = " (pass year=...)" if label == "years" else " (keep one set per folder)"
            raise InputFileError(f"{folder}: rasters of several {label} {values} for {what}{hint}")
    have = {(f[1], f[2]) for f in found}
    bands = [a for a in WORLDPOP_AGES if a >= min_age]
    missing = [f"{s}_{a}" for s in sorted(wanted_sexes) for a in bands if (s, a) not in have]
    if missing:
        raise InputFileError(
            f"{folder}: WorldPop age bands missing for {what}: {', '.join(missing)}; "
            "the elderly total would be too low"
        )
    files = sorted(f[5] for f in found)
    log.info("WorldPop %s: %d rasters in %s", what, len(files), folder)
    return files


# --------------------------------------------------------------------------- vector grids
def _read_layer(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    return read_layer(path, layer)


def read_population_vector(
    path: PathLike, *, column: str, layer: str | None = None
) -> gpd.GeoDataFrame:
    """Read elderly people per cell from polygons with a count column.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON or Shapefile of grid cells (polygons).
    column
        Column holding the number of elderly people per polygon.
    layer
        Layer to read (default: the first).

    Returns
    -------
    geopandas.GeoDataFrame
        Population cells in the file's CRS; ``row`` and ``col`` are -1 and
        ``cell_id`` is the feature's position in the file. Missing or zero counts
        are left out.

    Raises
    ------
    InputFileError
        Unreadable file, missing or non-numeric column, negative counts, or
        geometries that are not polygons.
    NoCrsError
        The layer has no CRS.
    """
    path = Path(path)
    gdf = _read_layer(path, layer)
    if gdf.crs is None:
        raise NoCrsError(f"{path}: the layer has no CRS; set one (e.g. EPSG:4326)")
    if column not in gdf.columns:
        found = [str(c) for c in gdf.columns if c != gdf.geometry.name]
        raise InputFileError(f"{path}: no column {column!r} of elderly counts; columns found: "
                             f"{found}")
    values = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=np.float64)
    raw = gdf[column]
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFileError(f"{path}: column {column!r} holds {int(bad.sum())} non-numeric "
                             f"value(s), e.g. {raw.iloc[i]!r} in row {i + 1}")
    negative = values < 0
    if negative.any():
        raise InputFileError(f"{path}: {int(negative.sum())} polygon(s) hold negative counts in "
                             f"{column!r} (lowest {values[negative].min():g}); counts cannot be "
                             "negative")
    geoms = gdf.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    if (present & ~polygonal).any():
        kinds = sorted({g.geom_type for g in geoms[present & ~polygonal]})
        raise InputFileError(f"{path}: population cells must be polygons, found {kinds}")
    keep = present & np.isfinite(values) & (values > 0)
    dropped = int((~np.isfinite(values) | ~present).sum())
    idx = np.flatnonzero(keep)
    cells = gpd.GeoDataFrame(
        {"cell_id": idx.astype(np.int64), "row": np.full(len(idx), -1, dtype=np.int64),
         "col": np.full(len(idx), -1, dtype=np.int64), "elderly": values[idx]},
        geometry=geoms[idx], crs=gdf.crs,
    )
    _finish(cells, source=f"{path.name} column {column!r}", dropped=dropped)
    log.info("%s: %d cells with %.1f elderly people (%d without data dropped)",
             path, len(cells), cells.attrs["elderly_total"], dropped)
    return cells


# --------------------------------------------------------------------------- spreading
def spread_counts(
    units: gpd.GeoDataFrame,
    *,
    column: str,
    cell_size_m: float = 100.0,
    weights: gpd.GeoDataFrame | None = None,
    integer: bool = True,
) -> gpd.GeoDataFrame:
    """Spread counts per unit (county, towns) onto a square grid, conserving each total.

    Each unit's count is shared among the pieces "cell inside the unit" in
    proportion to a weight: the piece's area (area-weighted), or with
    ``weights`` the area of residential buildings / the length of roads inside
    the piece (dasymetric). A unit holding no weight falls back to area; cells
    straddling units get the sum of their parts.

    Parameters
    ----------
    units
        Polygons with a count column, in any CRS (geographic units are projected
        to their UTM zone, ``units.estimate_utm_crs()``).
    column
        Column of ``units`` holding the counts (e.g. people aged 60+).
    cell_size_m
        Side of the square cells, metres. The grid is aligned to multiples of it in
        the projected CRS, so grids of neighbouring areas line up.
    weights
        Building polygons (weighted by area) or road lines (weighted by length);
        None for area weighting.
    integer
        Whole people per cell, by largest-remainder rounding within each unit so
        that every unit's cells sum exactly to its count; False gives float shares.

    Returns
    -------
    geopandas.GeoDataFrame
        Population cells in the projected CRS: ``row`` counts from the northern
        edge of the grid, ``cell_id = row * n_cols + col``; ``geometry`` is the cell
        square clipped to the units (coastline, county border). ``attrs`` hold
        ``elderly_total``, ``source``, ``dropped`` (0), ``cell_size_m``, ``method``
        and ``area_fallback`` (names of units spread by area for lack of weights).

    Raises
    ------
    InputFileError
        Missing column, negative / missing / non-integer counts (with
        ``integer=True``), non-polygon units, or weights that are neither polygons
        nor lines.
    NoCrsError
        ``units`` or ``weights`` have no CRS.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> unit = gpd.GeoDataFrame({"pop": [10]}, geometry=[shapely.box(0, 0, 200, 100)],
    ...                         crs="EPSG:32651")
    >>> cells = spread_counts(unit, column="pop", cell_size_m=100)
    >>> cells["elderly"].tolist()
    [5.0, 5.0]
    """
    if not cell_size_m > 0:
        raise ValueError(f"`cell_size_m` was {cell_size_m!r} but must be a positive number")
    units_m, counts = _check_units(units, column, integer)
    crs = units_m.crs
    size = float(cell_size_m)
    geoms = units_m.geometry.to_numpy()
    n_units = len(units_m)
    names = _unit_names(units)

    # grid over all units, rows from the north, aligned to multiples of the cell size
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    bounds = shapely.total_bounds(geoms[ok]) if ok.any() else np.zeros(4)
    c_min = np.floor(bounds[0] / size)
    c_max, r_max = np.ceil(bounds[2] / size), np.ceil(bounds[3] / size)
    n_cols = int(max(c_max - c_min, 1))

    piece_unit, piece_c, piece_r, piece_geom, piece_area = _unit_cell_pieces(
        geoms, counts, size)
    # absolute (c, r) -> grid row / col / id
    col = (piece_c - c_min).astype(np.int64)
    row = (r_max - 1 - piece_r).astype(np.int64)
    cell_id = row * n_cols + col

    method = "area"
    weight = piece_area.copy()
    fallback: list[str] = []
    if weights is not None:
        weight, method = _dasymetric_weights(weights, crs, piece_geom)
        has = np.bincount(piece_unit, weight, minlength=n_units) > 0
        lacking = np.flatnonzero(~has & (counts > 0))
        if len(lacking):
            fallback = [names[i] for i in lacking]
            log.warning("%d unit(s) hold no %s; spread by area instead: %s", len(lacking),
                        "building area" if method == "buildings" else "road length",
                        ", ".join(fallback))
            use_area = np.isin(piece_unit, lacking)
            weight[use_area] = piece_area[use_area]

    elderly = _share_out(piece_unit, weight, counts, integer)

    # every unit's people must land in its cells
    got = np.bincount(piece_unit, elderly, minlength=n_units)
    lost = np.flatnonzero(np.abs(got - counts) > 1e-9 * np.maximum(counts, 1.0))
    if len(lost):
        raise InputFileError(
            f"units with people but no area could not be spread: "
            f"{[names[i] for i in lost[:10]]} (counts {counts[lost[:10]].tolist()})")

    # cells straddling units: sum their parts, geometry is the union of the parts
    ids, first, inv = np.unique(cell_id, return_index=True, return_inverse=True)
    cell_elderly = np.bincount(inv, elderly, minlength=len(ids))
    cell_area = np.bincount(inv, piece_area, minlength=len(ids))
    parts = np.bincount(inv, minlength=len(ids))
    geometry = piece_geom[first].copy()
    multi = np.flatnonzero(parts > 1)
    if len(multi):
        overlap = float(np.clip(cell_area - size * size, 0, None).sum())
        if overlap > 1e-6 * float(piece_area.sum()):
            log.warning("units overlap by %.0f m2: their counts are added where they overlap",
                        overlap)
        full = np.abs(cell_area[multi] - size * size) <= 1e-6 * size * size
        c_abs, r_abs = piece_c[first[multi]], piece_r[first[multi]]
        boxes = shapely.box(c_abs * size, r_abs * size, (c_abs + 1) * size, (r_abs + 1) * size)
        geometry[multi[full]] = boxes[full]
        rest = multi[~full]
        if len(rest):
            sel = np.flatnonzero(np.isin(inv, rest))
            sel = sel[np.argsort(inv[sel], kind="stable")]
            groups = np.split(sel, np.flatnonzero(np.diff(inv[sel])) + 1)
            geometry[rest] = [shapely.union_all(piece_geom[g]) for g in groups]
    keep = cell_elderly > 0
    cells = gpd.GeoDataFrame(
        {"cell_id": ids.astype(np.int64)[keep],
         "row": row[first][keep],
         "col": col[first][keep],
         "elderly": cell_elderly[keep]},
        geometry=geometry[keep], crs=crs,
    )
    how = {"area": "by area", "buildings": "by building area", "roads": "by road length"}[method]
    source = (f"{n_units} unit(s), column {column!r}, spread {how} onto {size:g} m cells"
              + (" (whole people)" if integer else ""))
    _finish(cells, source=source, dropped=0)
    cells.attrs["cell_size_m"] = size
    cells.attrs["method"] = method
    cells.attrs["area_fallback"] = fallback
    log.info("%s: %d cells, %.1f people", source, len(cells), cells.attrs["elderly_total"])
    return cells


def _unit_names(units: gpd.GeoDataFrame) -> list[str]:
    for col in ("name", "名称", "unit_id", "adcode"):
        if col in units.columns:
            return [str(v) for v in units[col]]
    return [f"unit {i}" for i in units.index]


def _check_units(
    units: gpd.GeoDataFrame, column: str, integer: bool
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Validate ``units`` and return them in a metric CRS with their counts."""
    if units.crs is None:
        raise NoCrsError("units have no CRS; set one (e.g. EPSG:4326) before spreading counts")
    if column not in units.columns:
        found = [str(c) for c in units.columns if c != units.geometry.name]
        raise InputFileError(f"units have no column {column!r} of counts; columns found: {found}")
    counts = pd.to_numeric(units[column], errors="coerce").to_numpy(dtype=np.float64)
    names = _unit_names(units)
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFileError(
            f"units: column {column!r} must hold counts >= 0, but {int(bad.sum())} unit(s) do "
            f"not, e.g. {names[i]!r}: {units[column].iloc[i]!r}")
    if integer and (counts != np.round(counts)).any():
        i = int(np.flatnonzero(counts != np.round(counts))[0])
        raise InputFileError(
            f"units: column {column!r} holds a fractional count ({names[i]!r}: {counts[i]!r}); "
            "pass integer=False to spread fractional counts")
    geoms = units.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    if (present & ~polygonal).any():
        kinds = sorted({g.geom_type for g in geoms[present & ~polygonal]})
        raise InputFileError(f"units must be polygons, found {kinds}")
    lost = ~present & (counts > 0)
    if lost.any():
        raise InputFileError(f"units without geometry hold people: "
                             f"{[names[i] for i in np.flatnonzero(lost)][:10]}")
    crs = units.estimate_utm_crs() if units.crs.is_geographic else units.crs
    out = units.to_crs(crs) if units.crs != crs else units
    out_geoms, n_invalid = repaired(out.geometry.to_numpy(), present)
    if n_invalid:
        log.warning("repairing %d invalid unit polygon(s) with make_valid", n_invalid)
        out = out.set_geometry(out_geoms, crs=crs)
    return out.reset_index(drop=True), counts


def _unit_cell_pieces(
    geoms: np.ndarray, counts: np.ndarray, size: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intersections of units with grid cells, vectorised.

    Units are first diced into tiles of ``_TILE_CELLS`` cells so that each cell is
    tested against a small piece of its unit; cells wholly inside a piece skip the
    intersection. Returns unit index, absolute column and row (``floor(x / size)``,
    ``floor(y / size)``), piece geometry and piece area of every non-empty piece.
    """
    tile = size * _TILE_CELLS
    use = np.flatnonzero((counts > 0) & ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    # 1. unit x tile pieces
    t_unit, t_geom = [], []
    for u in use:  # one vectorised dice per unit (units are few, cells are many)
        x0, y0, x1, y1 = shapely.bounds(geoms[u])
        tx = np.arange(np.floor(x0 / tile), np.ceil(x1 / tile))
        ty = np.arange(np.floor(y0 / tile), np.ceil(y1 / tile))
        gx, gy = (a.ravel() * tile for a in np.meshgrid(tx, ty))
        tiles = shapely.box(gx, gy, gx + tile, gy + tile)
        parts = shapely.intersection(geoms[u], tiles)
        parts = parts[~shapely.is_empty(parts) & (shapely.area(parts) > 0)]
        t_unit.append(np.full(len(parts), u))
        t_geom.append(parts)
    if not t_unit:
        empty = np.empty(0)
        return (empty.astype(np.int64), empty, empty, empty.astype(object), empty)
    tu = np.concatenate(t_unit)
    tg = np.concatenate(t_geom)
    # 2. candidate cells of each tile piece: the cells of its bounding box
    b = shapely.bounds(tg)
    c_lo, r_lo = np.floor(b[:, 0] / size), np.floor(b[:, 1] / size)
    c_hi = np.maximum(np.ceil(b[:, 2] / size), c_lo + 1)
    r_hi = np.maximum(np.ceil(b[:, 3] / size), r_lo + 1)
    nc = (c_hi - c_lo).astype(np.int64)
    n = nc * (r_hi - r_lo).astype(np.int64)
    owner = np.repeat(np.arange(len(tg)), n)
    local = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    c = c_lo[owner] + local % nc[owner]
    r = r_lo[owner] + local // nc[owner]
    boxes = shapely.box(c * size, r * size, (c + 1) * size, (r + 1) * size)
    # 3. inside cells need no intersection; boundary cells are clipped
    shapely.prepare(tg)
    inside = shapely.contains_properly(tg[owner], boxes)
    edge = np.flatnonzero(~inside)
    edge = edge[shapely.intersects(tg[owner[edge]], boxes[edge])]
    clipped = shapely.intersection(boxes[edge], tg[owner[edge]])
    clipped_area = shapely.area(clipped)
    keep_edge = clipped_area > 0
    idx_in = np.flatnonzero(inside)
    idx = np.concatenate([idx_in, edge[keep_edge]])
    geom = np.concatenate([boxes[idx_in], clipped[keep_edge]])
    area = np.concatenate([np.full(len(idx_in), size * size), clipped_area[keep_edge]])
    order = np.argsort(idx, kind="stable")
    idx, geom, area = idx[order], geom[order], area[order]
    return tu[owner[idx]].astype(np.int64), c[idx], r[idx], geom, area


def _dasymetric_weights(
    weights: gpd.GeoDataFrame, crs: Any, pieces: np.ndarray
) -> tuple[np.ndarray, str]:
    """Building area or road length inside each piece."""
    if weights.crs is None:
        raise NoCrsError("weights have no CRS; set one (e.g. EPSG:4326)")
    w = weights.to_crs(crs).geometry.to_numpy()
    w = w[~(shapely.is_missing(w) | shapely.is_empty(w))]
    kinds = set(np.unique(shapely.get_type_id(w)).tolist())
    if kinds <= {3, 6}:
        method, measure = "buildings", shapely.area
        w, _ = repaired(w)
    elif kinds <= {1, 2, 5}:
        method, measure = "roads", shapely.length
    else:
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
                 5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
        raise InputFileError(
            "weights must be building polygons or road lines (not mixed), found "
            f"{sorted(names.get(k, str(k)) for k in kinds)}")
    out = np.zeros(len(pieces))
    if len(w) == 0 or len(pieces) == 0:
        return out, method
    tree = shapely.STRtree(pieces)
    wi, pi = tree.query(w, predicate="intersects")
    amount = measure(shapely.intersection(w[wi], pieces[pi]))
    np.add.at(out, pi, amount)
    return out, method


def _share_out(
    unit: np.ndarray, weight: np.ndarray, counts: np.ndarray, integer: bool
) -> np.ndarray:
    """Split each unit's count over its pieces by weight (largest remainder when integer)."""
    n_units = len(counts)
    total = np.bincount(unit, weight, minlength=n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total[unit] > 0, weight / total[unit], 0.0)
    exact = counts[unit] * share
    if not integer:
        # put the rounding residue of each unit on its largest piece: sums match to ~1 ulp
        residue = counts - np.bincount(unit, exact, minlength=n_units)
        if len(exact):
            order = np.lexsort((-exact, unit))
            first = order[np.r_[True, unit[order][1:] != unit[order][:-1]]]
            exact[first] += residue[unit[first]]
        return exact
    floor = np.floor(exact)
    left = (counts - np.bincount(unit, floor, minlength=n_units)).round().astype(np.int64)
    # rank pieces within their unit by remainder (largest first, ties by position)
    order = np.lexsort((np.arange(len(unit)), -(exact - floor), unit))
    sorted_unit = unit[order]
    starts = np.searchsorted(sorted_unit, sorted_unit, side="left")
    rank = np.arange(len(order)) - starts
    bump = np.zeros(len(unit))
    bump[order] = rank < left[sorted_unit]
    return floor + bump
