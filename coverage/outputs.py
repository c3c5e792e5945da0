"""Write a :class:`eldercare_coverage.result.CoverageResult` as the output contract of DESIGN.md.

``DIR/summary.json``, ``DIR/coverage.gpkg`` (layers ``facilities``, ``service_areas``,
``catchments``, ``rings``, ``population``, ``gaps``, ``units``, and ``facility_areas``
when the run drew them), ``DIR/units.csv``,
``DIR/map.html`` and ``DIR/report.html``. Each file is written to a temporary name
in ``DIR`` and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._people import units_in_whole_people
from .result import CoverageResult

log = logging.getLogger(__name__)

LAYERS = ("facilities", "service_areas", "catchments", "rings", "population", "gaps", "units",
          "facility_areas")  # a layer that is None in the result (not asked for) is not written


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is pd.NA:
        return None
    return obj


def _atomic(path: Path, write: Callable[[Path], object]) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def _for_gpkg(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            out[col] = s.map(lambda v: None if v is None or v is pd.NA or
                             (isinstance(v, float) and math.isnan(v)) else
                             (json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict)
                              else str(v)))
        elif s.dtype == bool or str(s.dtype) == "boolean":
            out[col] = s.astype("Int8")
    return out


def write_summary(result: CoverageResult, path: str | Path) -> Path:
    """Write ``summary.json`` (UTF-8, indented, NaN as null)."""
    text = json.dumps(_jsonable(result.summary), ensure_ascii=False, indent=2)
    return _atomic(Path(path), lambda p: p.write_text(text + "\n", encoding="utf-8"))


def write_geopackage(result: CoverageResult, path: str | Path) -> Path:
    """Write the layers of the output contract into one GeoPackage (EPSG:4326 unless
    the run asked for another CRS)."""
    path = Path(path)

    def write(p: Path) -> None:
        for layer in LAYERS:
            if getattr(result, layer) is None:
                continue
            gdf = _for_gpkg(getattr(result, layer))
            gdf.to_file(p, layer=layer, driver="GPKG", engine="pyogrio")

    return _atomic(path, write)


def write_units_csv(result: CoverageResult, path: str | Path) -> Path:
    """Write the per-unit table (no geometry) as UTF-8 CSV with a BOM (opens in Excel).

    People are whole people: within each level (towns, villages) they add up to the
    level's rounded total (largest remainders, :func:`units_in_whole_people`), so a
    planner's sums agree with the headline; rates are as computed; the GeoPackage keeps
    the unrounded counts.
    """
    units = pd.DataFrame(result.units.drop(columns=result.units.geometry.name))
    circles = [c["name"] for c in result.summary.get("circles", [])]
    units = units_in_whole_people(units, circles)
    return _atomic(Path(path), lambda p: units.to_csv(p, index=False, encoding="utf-8-sig"))


def write_outputs(
    result: CoverageResult, out_dir: str | Path, *, map_html: bool = True, report: bool = True,
    basemap: str = "none", tianditu_key: str | None = None, lang: str = "zh",
) -> dict[str, Path]:
    """Write every output file of the contract into ``out_dir`` (created if needed).

    ``basemap`` and ``tianditu_key`` choose the map's base layer
    (:func:`eldercare_coverage.maps.make_map`); ``lang`` (``"zh"``, the default, or
    ``"en"``) the language of the map's and the report's labels (column names stay).

    Returns
    -------
    dict
        Paths by output name.
    """
    from .labels import check_lang

    check_lang(lang)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": write_summary(result, out / "summary.json"),
        "geopackage": write_geopackage(result, out / "coverage.gpkg"),
        "units": write_units_csv(result, out / "units.csv"),
    }
    if map_html:
        from .maps import write_map

        paths["map"] = _atomic(out / "map.html", lambda p: write_map(
            result, p, basemap=basemap, tianditu_key=tianditu_key, lang=lang))
    if report:
        from .report import write_report

        paths["report"] = _atomic(out / "report.html", lambda p: write_report(result, p, lang=lang))
    log.info("outputs written to %s", out)
    return paths
