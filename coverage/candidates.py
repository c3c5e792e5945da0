"""Candidate sites for new facilities: from a file, or generated on the streets of the gaps.

Two sources, usable together (:func:`candidate_sites`):

* **a file** (:func:`read_candidates`): idle public buildings, planned plots. The same
  readers and coordinate-system handling as the facility table
  (:mod:`eldercare_coverage.facilities`: CSV in UTF-8 or GBK, XLSX with title rows,
  GeoJSON or GPKG points; ``crs`` ``wgs84``, ``gcj02`` or ``bd09`` converted to WGS-84).
  Columns are found by the facility table's names (``id``/``编号``, ``name``/``名称``,
  ``lon``/``经度``, ``lat``/``纬度``, ``beds``/``床位数``) plus ``capacity`` (``容量``,
  ``服务能力``: elderly people a site can serve); only coordinates are required.
* **generated on the streets** (:func:`street_candidates`): points every ``spacing_m``
  (default :data:`DEFAULT_SPACING_M`, 200 m) along each walkable edge onto which an
  unserved population pixel snaps (an edge of the gap areas), at most one per
  ``spacing_m`` x ``spacing_m`` square, so that a dense gap and a sparse one get
  candidates at about the same density.

Every candidate is kept at the WGS-84 coordinates it will be written with (rounded to
:data:`LONLAT_DECIMALS` decimals, about 1 cm) and projected back from them, so that a
chosen site read back from ``sites.csv`` by a new run snaps to exactly the same street
point that the selection measured.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import InputFileError
from .chinese_crs import normalize_crs, to_wgs84
from .prepared import PreparedNetwork
from .snapping import NetworkLocations

log = logging.getLogger(__name__)

DEFAULT_SPACING_M = 200.0  # metres between generated candidates along a street
LONLAT_DECIMALS = 7  # decimals of the written coordinates (1e-7 degree: about 1 cm)
CAPACITY_ALIASES = ("capacity", "容量", "服务能力", "服务人数")


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate sites in the work CRS, on their streets.

    Attributes
    ----------
    table
        One row per candidate: ``candidate_id``, ``name``, ``origin`` (``file`` or
        ``streets``), ``lon``, ``lat`` (WGS-84, rounded), ``beds``, ``capacity`` (NaN
        when not given).
    xy
        Coordinates in the work CRS, shape (C, 2).
    locations
        Each candidate on its nearest street (``edge == -1``: too far from any).
    how
        How the candidates were made (for ``sites_summary.json``).
    """

    table: pd.DataFrame
    xy: np.ndarray
    locations: NetworkLocations
    how: dict[str, Any]

    def __len__(self) -> int:
        return len(self.table)


def _rounded(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.round(lon, LONLAT_DECIMALS), np.round(lat, LONLAT_DECIMALS)


def lonlat_to_work(lon: np.ndarray, lat: np.ndarray, crs: Any) -> np.ndarray:
    """WGS-84 coordinates in ``crs``, through the same GeoSeries ``to_crs`` a run uses on
    the facility table (so the same point lands on the same street)."""
    pts = gpd.GeoSeries(shapely.points(lon, lat), crs="EPSG:4326").to_crs(crs)
    return shapely.get_coordinates(pts.to_numpy()).reshape(-1, 2)


def work_to_lonlat(xy: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Work-CRS coordinates in WGS-84, rounded to :data:`LONLAT_DECIMALS` decimals."""
    pts = gpd.GeoSeries(shapely.points(xy), crs=crs).to_crs("EPSG:4326")
    ll = shapely.get_coordinates(pts.to_numpy())
    return _rounded(ll[:, 0], ll[:, 1])


def read_candidates(path: str | Path, *, crs: str = "wgs84", encoding: str | None = None,
                    sheet: str | int | None = None, layer: str | None = None,
                    columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a candidate-site file into ``candidate_id``, ``name``, ``lon``, ``lat``
    (WGS-84), ``beds`` and ``capacity``.

    Parameters
    ----------
    path
        CSV, XLSX, GeoJSON or GPKG (the formats of
        :func:`~eldercare_coverage.facilities.read_facilities`).
    crs
        Coordinate system of the file: ``wgs84``, ``gcj02`` (AMap, Tencent) or ``bd09``.
    encoding, sheet, layer
        As for :func:`~eldercare_coverage.facilities.read_facilities`.
    columns
        Canonical column -> column of the file (``id``, ``name``, ``lon``, ``lat``,
        ``beds``, ``capacity``).

    Returns
    -------
    pandas.DataFrame
        Rows without valid coordinates are left out (logged with their row numbers).

    Raises
    ------
    InputFileError
        Unknown format, missing file, no coordinates, or no row with valid ones.
    """
    from . import facilities as fac

    path = Path(path)
    crs = normalize_crs(crs)
    fmt = fac.FORMATS.get(path.suffix.lower())
    if fmt is None or not path.is_file():
        raise InputFileError(f"{path}: candidate file not found or of an unknown format "
                             f"(allowed: {', '.join(fac.FORMATS)})")
    xy = None
    if fmt == "vector":
        header, data, geo = fac._rows_from_vector(path, fac._read_vector(path, layer), crs)
        xy = geo.xy
    else:
        rows = fac._read_csv_rows(path, encoding) if fmt == "csv" \
            else fac._read_xlsx_rows(path, sheet)
        top = fac._find_header(rows, set((columns or {}).values())) if rows else 0
        header, data = (rows[top], rows[top + 1:]) if rows else ([], [])
    if fmt != "vector":  # a vector row is its geometry: keep it with empty attributes
        data = [r for r in data if any(c for c in r)]
    mapping = fac._map_columns(header, {k: v for k, v in (columns or {}).items()
                                        if k != "capacity"})
    norm = [fac._norm(h) for h in header]
    cap_name = (columns or {}).get("capacity")
    cap_col = header.index(cap_name) if cap_name in header else next(
        (i for i, h in enumerate(norm) if h in {fac._norm(a) for a in CAPACITY_ALIASES}), -1)

    def col(i: int) -> list[str]:
        return [r[i] if 0 <= i < len(r) else "" for r in data]

    def numbers(i: int) -> np.ndarray:
        return np.array([fac._parse_number(t) if fac._parse_number(t) is not None else np.nan
                         for t in col(i)], dtype=float)

    if xy is None or not np.isfinite(xy).any():
        if "lon" not in mapping or "lat" not in mapping:
            raise InputFileError(f"{path}: no coordinate columns (lon/经度, lat/纬度) and no "
                                 f"point geometries; columns found: {header}")
        lon0, lat0 = numbers(mapping["lon"]), numbers(mapping["lat"])
    else:
        lon0, lat0 = xy[:, 0], xy[:, 1]
    lon, lat = to_wgs84(lon0, lat0, crs)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ids = [t or f"C{k + 1}" for k, t in enumerate(col(mapping.get("id", -1)))]
    table = pd.DataFrame({"candidate_id": ids, "name": col(mapping.get("name", -1)),
                          "lon": lon, "lat": lat, "beds": numbers(mapping.get("beds", -1)),
                          "capacity": numbers(cap_col)})
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        log.warning("%s: %d candidate rows without valid coordinates left out: %s", path,
                    int(bad.sum()), table.loc[bad, "candidate_id"].tolist()[:20])
    if table["candidate_id"].duplicated().any():
        raise InputFileError(f"{path}: repeated candidate ids "
                             f"{table['candidate_id'][table['candidate_id'].duplicated()].tolist()}")
    table = table[~bad].reset_index(drop=True)
    if len(table) == 0:
        raise InputFileError(f"{path}: no candidate sites: {len(bad)} data rows, "
                             f"{int(bad.sum())} of them without valid coordinates "
                             f"(lon/经度, lat/纬度 in {crs}, or point geometries)")
    table.attrs.update(source=str(path), crs=crs)
    return table


def street_candidates(network: PreparedNetwork, edges: np.ndarray, *,
                      spacing_m: float = DEFAULT_SPACING_M) -> np.ndarray:
    """Points every ``spacing_m`` along ``edges``, at most one per ``spacing_m`` square.

    An edge of length ``L`` gets ``ceil(L / spacing_m)`` points at the middles of equal
    pieces (a short edge one, at its middle); the squares keep the first point of the
    lowest edge index. Returns coordinates in the network's CRS, shape (n, 2).
    """
    net = network.network
    edges = np.unique(np.asarray(edges, dtype=np.int64))
    if spacing_m <= 0:
        raise InputFileError(f"spacing_m was {spacing_m!r} but must be a positive number")
    length = net.edge_length_m[edges]
    count = np.maximum(np.ceil(length / spacing_m), 1).astype(np.int64)
    edge = np.repeat(edges, count)
    k = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    offset = (k + 0.5) * np.repeat(length / count, count)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry[edge],
                                                                offset)).reshape(-1, 2)
    square = np.floor(xy / spacing_m).astype(np.int64)
    _, first = np.unique(square, axis=0, return_index=True)
    return xy[np.sort(first)]


def candidate_sites(network: PreparedNetwork, *, table: pd.DataFrame | None = None,
                    street_xy: np.ndarray | None = None, max_snap_m: float,
                    how: dict[str, Any] | None = None) -> Candidates:
    """The candidates of a file's table and of street points, on the streets.

    File candidates keep their ids; street candidates are ``S1``, ``S2``, ... Every
    candidate is taken at its rounded WGS-84 coordinates (see the module docstring).
    """
    parts = []
    if table is not None and len(table):
        lon, lat = _rounded(table["lon"].to_numpy(dtype=float),
                            table["lat"].to_numpy(dtype=float))
        parts.append(pd.DataFrame({
            "candidate_id": table["candidate_id"].astype(str).to_numpy(),
            "name": table.get("name", pd.Series([""] * len(table))).astype(str).to_numpy(),
            "origin": "file", "lon": lon, "lat": lat,
            "beds": table.get("beds", pd.Series(np.nan, index=table.index)).to_numpy(float),
            "capacity": table.get("capacity", pd.Series(np.nan, index=table.index))
            .to_numpy(float)}))
    if street_xy is not None and len(street_xy):
        lon, lat = work_to_lonlat(street_xy, network.crs)
        n = len(lon)
        parts.append(pd.DataFrame({
            "candidate_id": [f"S{i + 1}" for i in range(n)], "name": "", "origin": "streets",
            "lon": lon, "lat": lat, "beds": np.nan, "capacity": np.nan}))
    if not parts:
        raise InputFileError("no candidate sites: give a candidate file, or generate them on "
                             "the streets of the gap areas (candidates=None)")
    cand = pd.concat(parts, ignore_index=True)
    if cand["candidate_id"].duplicated().any():
        raise InputFileError("candidate ids repeat: "
                             f"{cand['candidate_id'][cand['candidate_id'].duplicated()].tolist()}")
    xy = lonlat_to_work(cand["lon"].to_numpy(), cand["lat"].to_numpy(), network.crs)
    located = network.snap(xy, max_snap_m=max_snap_m)
    off = ~located.on_network
    if off.any():
        log.warning("%d candidate sites farther than %g m from any street reach nobody: %s",
                    int(off.sum()), max_snap_m, cand.loc[off, "candidate_id"].tolist()[:20])
    return Candidates(cand, xy, located, dict(how or {}))
