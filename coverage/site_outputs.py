"""Files of a site selection, and the chosen sites as rows of a facility table.

:func:`write_sites` writes ``sites.csv`` (UTF-8 with a BOM, so Excel opens the Chinese
names), ``sites.geojson`` (EPSG:4326) and ``sites_summary.json`` (model, circle, k or
target, the rates before and promised after, objective, bound, gap, solve time, the
candidates and how they were made). :func:`sites_to_facilities` turns the chosen sites
into rows of the facility table, at the coordinates written in ``sites.csv``, so that a
new :func:`~eldercare_coverage.pipeline.run` with them measures the promised coverage.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .outputs import _jsonable
from .siting import SITE_COLUMNS, SiteSelection

FACILITY_COLUMNS = ["id", "name", "type", "lon", "lat", "beds"]


def write_sites(selection: SiteSelection, out_dir: str | Path) -> dict[str, Path]:
    """Write ``sites.csv``, ``sites.geojson`` and ``sites_summary.json`` into ``out_dir``.

    Parameters
    ----------
    selection
        The result of :func:`~eldercare_coverage.siting.select_sites`.
    out_dir
        Folder, created when missing.

    Returns
    -------
    dict
        ``csv``, ``geojson`` and ``summary`` paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "sites.csv", "geojson": out / "sites.geojson",
             "summary": out / "sites_summary.json"}
    table = pd.DataFrame(selection.sites[SITE_COLUMNS])
    table.to_csv(paths["csv"], index=False, encoding="utf-8-sig")
    geo = selection.sites[[*SITE_COLUMNS, "geometry"]]
    if paths["geojson"].exists():
        paths["geojson"].unlink()
    geo.to_file(paths["geojson"], driver="GeoJSON")
    paths["summary"].write_text(json.dumps(_jsonable(selection.summary()), ensure_ascii=False,
                                           indent=2), encoding="utf-8")
    return paths


def sites_to_facilities(selection: SiteSelection, facility_type: str | None = None
                        ) -> gpd.GeoDataFrame:
    """The chosen sites as facility rows: ``facility_id``, ``name``, ``type``, ``beds``,
    ``meals_per_day``, ``lon``, ``lat``, ``source_row``, ``status`` (``ok``), ``reason``,
    geometry (EPSG:4326): the schema of
    :func:`~eldercare_coverage.facilities.read_facilities`, so that
    ``pd.concat([facilities, rows])`` can be passed to
    :func:`~eldercare_coverage.pipeline.run`. To append them to a facility CSV instead,
    rename ``facility_id`` to ``id`` and keep the columns ``id``, ``name``, ``type``,
    ``lon``, ``lat``, ``beds`` (:data:`FACILITY_COLUMNS`).

    Parameters
    ----------
    selection
        The chosen sites.
    facility_type
        Type code of the new facilities (default: the selection's ``facility_type``).
    """
    sites = selection.sites
    kind = facility_type or selection.facility_type
    names = [n if n else f"new site {r} ({selection.circle})"
             for n, r in zip(sites["name"].astype(str), sites["rank"], strict=True)]
    return gpd.GeoDataFrame({
        "facility_id": [f"new-{c}" for c in sites["candidate_id"]],
        "name": names, "type": kind,
        "beds": sites["beds"].to_numpy(dtype=float), "meals_per_day": np.nan,
        "lon": sites["lon"].to_numpy(dtype=float), "lat": sites["lat"].to_numpy(dtype=float),
        "source_row": -1, "status": "ok", "reason": ""},
        geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326")
