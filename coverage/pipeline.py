"""The main job end to end: network, facilities, population, boundaries -> CoverageResult.

:func:`run` takes file paths or already loaded objects and returns a
:class:`eldercare_coverage.result.CoverageResult` (tables in EPSG:4326); writing files is
:func:`eldercare_coverage.outputs.write_outputs`.

Accounting: every input facility is in ``result.facilities`` as ``used`` or
``excluded`` with a reason; every elderly person of the population input is in
``result.population`` (cells the network cannot reach keep their people, with a
``status`` and ``reason``), and each level of ``result.units`` sums to the total
(an ``(outside units)`` row holds people outside every unit).
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from . import __version__
from ._errors import InputFileError
from ._geometry import polygonal, robust_difference, valid
from ._threads import run_threaded, thread_count
from .access import capacity_indicators
from .analysis import connected_groups, mode_by_label, union_by_label
from .isochrones import ServiceAreaBuilder, distances_to_locations, nearest_source_reach
from .network import StreetNetwork, load_network
from .policy import Circle, Policy, default_policy
from .raster_overlay import OverlayGrid
from .result import CoverageResult
from .settings import settings as _settings
from .snapping import snap_points

log = logging.getLogger(__name__)

OUTSIDE_UNITS = "(outside units)"


class CoordinateSystemWarning(UserWarning):
    """Facilities look offset from the streets by a Chinese datum shift."""


def _load_inputs(
    network: str | Path | StreetNetwork,
    facilities: str | Path | gpd.GeoDataFrame,
    population: str | Path | gpd.GeoDataFrame,
    boundaries: str | Path | gpd.GeoDataFrame | None,
    facilities_crs: str,
    policy: Policy,
) -> tuple[StreetNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame | None]:
    net = network if isinstance(network, StreetNetwork) else load_network(network)
    if isinstance(facilities, gpd.GeoDataFrame):
        fac = facilities
    else:
        from .facilities import read_facilities

        fac = read_facilities(facilities, crs=facilities_crs, types=policy.facility_types)
    if isinstance(population, gpd.GeoDataFrame):
        pop = population
    elif str(population).lower().endswith((".tif", ".tiff")):
        from .population import read_population_raster

        pop = read_population_raster(population)
    else:
        from .population import read_population_vector

        pop = read_population_vector(population, column="elderly")
    units = None
    if isinstance(boundaries, gpd.GeoDataFrame):
        units = boundaries
    elif boundaries is not None:
        from .boundaries import read_boundaries

        units = read_boundaries(boundaries)
    return net, fac, pop, units


def _differences(a: list[shapely.Geometry], b: list[shapely.Geometry], *, progress: bool,
                 desc: str) -> list[shapely.Geometry]:
    """``a[k] - b[k]`` for every k (ring bands of nested service areas), on all cores;
    a pair GEOS cannot subtract as given is repaired first (:func:`robust_difference`)."""
    n = len(a)
    if n == 0:
        return []
    chunks = np.array_split(np.arange(n), min(n, 4 * thread_count(_settings.n_jobs)))
    A, B = np.array(a, dtype=object), np.array(b, dtype=object)

    def job(ix: np.ndarray) -> np.ndarray:
        return robust_difference(A[ix], B[ix])

    done = run_threaded(job, [(ix,) for ix in chunks], n_jobs=_settings.n_jobs,
                        progress=progress, desc=desc, unit="chunk")
    return [polygonal(g) for g in np.concatenate(done)]


def _circle_facilities(policy: Policy, circle: Circle, fac: gpd.GeoDataFrame) -> np.ndarray:
    codes = policy.type_codes(circle.facility_kinds)
    return np.flatnonzero(fac["type"].isin(codes).to_numpy() & (fac["status"] == "ok").to_numpy())


def run(
    network: str | Path | StreetNetwork,
    facilities: str | Path | gpd.GeoDataFrame,
    population: str | Path | gpd.GeoDataFrame,
    boundaries: str | Path | gpd.GeoDataFrame | None = None,
    *,
    policy: Policy | None = None,
    circles: Sequence[str] | None = None,
    facilities_crs: str = "wgs84",
    out_crs: Any = "EPSG:4326",
    max_snap_m: float | None = None,
    walk_speed_m_s: float | None = None,
    progress: bool | None = None,
    title: str | None = None,
) -> CoverageResult:
    """Compute walking service circles, coverage, unit statistics and gaps.

    Parameters
    ----------
    network
        Street network file (OSM XML, GraphML) or a loaded :class:`StreetNetwork`.
    facilities
        Facility table file or the GeoDataFrame of :func:`eldercare_coverage.facilities.read_facilities`.
    population
        Elderly population GeoTIFF / vector grid, or cells of :mod:`eldercare_coverage.population`.
    boundaries
        Units (towns, villages/communities) file or GeoDataFrame; optional.
    policy
        Circles, rings and facility types (default: the shipped policy).
    circles
        Names of the circles to compute (default: all of the policy's).
    facilities_crs
        Coordinate system of the facility table: ``wgs84``, ``gcj02`` or ``bd09``.
    out_crs
        CRS of the returned tables (EPSG:4326 by default).
    max_snap_m, walk_speed_m_s, progress
        Override the settings of the same names.
    title
        Name of the study area for maps and reports.

    Returns
    -------
    CoverageResult
    """
    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    policy = (policy or default_policy()).select(circles)
    max_snap_m = _settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    speed = _settings.walk_speed_m_s if walk_speed_m_s is None else float(walk_speed_m_s)
    progress = _settings.progress if progress is None else progress

    net, fac, pop, units = _load_inputs(network, facilities, population, boundaries,
                                        facilities_crs, policy)
    timing["load"] = time.perf_counter() - t0
    crs = net.crs

    # --- facilities: snap, decide used/excluded --------------------------------------
    t = time.perf_counter()
    fac = fac.copy()
    fac_xy = np.full((len(fac), 2), np.nan)
    has_geom = fac.geometry.notna().to_numpy() & ~fac.geometry.is_empty.to_numpy()
    if has_geom.any():
        proj = fac[has_geom].to_crs(crs)
        fac_xy[has_geom] = shapely.get_coordinates(proj.geometry.to_numpy())
    fac_loc = snap_points(net, fac_xy, max_snap_m=max_snap_m)
    fac["snap_m"] = fac_loc.snap_m
    _check_coordinate_system(fac, net)
    far = (fac["status"] == "ok").to_numpy() & ~fac_loc.on_network
    for i in np.flatnonzero(far):
        fac.iloc[i, fac.columns.get_loc("status")] = "excluded"
        fac.iloc[i, fac.columns.get_loc("reason")] = (
            f"farther than {max_snap_m:g} m from any walkable street "
            f"(nearest {fac_loc.snap_m[i]:.0f} m)")
    serving = {c.name: _circle_facilities(policy, c, fac) for c in policy.circles}
    ring_serving = {r.name: np.flatnonzero(fac["type"].isin(policy.type_codes(r.facility_kinds))
                                           & (fac["status"] == "ok")) for r in policy.rings}
    used = np.zeros(len(fac), dtype=bool)
    for idx in (*serving.values(), *ring_serving.values()):
        used[idx] = True
    labels = policy.type_labels()
    for i in np.flatnonzero((fac["status"] == "ok").to_numpy() & ~used):
        ty = fac["type"].iat[i]
        fac.iloc[i, fac.columns.get_loc("status")] = "excluded"
        fac.iloc[i, fac.columns.get_loc("reason")] = (
            f"type {ty!r} ({labels.get(ty, '?')}) serves none of the circles of this run "
            f"({', '.join(c.name for c in policy.circles)})")
    fac.loc[fac["status"] == "ok", "status"] = "used"
    timing["facilities"] = time.perf_counter() - t

    # --- population cells: project, snap centroids ----------------------------------
    t = time.perf_counter()
    elderly_in = float(pop["elderly"].sum())
    cells = pop.to_crs(crs).reset_index(drop=True)
    cell_geom = cells.geometry.to_numpy()
    cent = shapely.get_coordinates(shapely.centroid(cell_geom))
    cell_loc = snap_points(net, cent, max_snap_m=max_snap_m)
    cells["snap_m"] = cell_loc.snap_m
    elderly = cells["elderly"].to_numpy(dtype=float)
    _check_population_overlap(elderly, cell_loc.on_network, pop, net, max_snap_m)
    timing["population"] = time.perf_counter() - t

    # --- distances per circle (one multi-source Dijkstra per facility set) -----------
    t = time.perf_counter()
    field_cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
    for c in policy.circles:
        idx = serving[c.name]
        key = tuple(idx.tolist())
        if key not in field_cache:
            src = fac_loc.take(idx)
            reach = nearest_source_reach(net, src)
            d, o = distances_to_locations(net, reach, src, cell_loc)
            field_cache[key] = (d, np.where(o >= 0, idx[np.clip(o, 0, None)], -1))
        d, o = field_cache[key]
        cells[f"{c.name}_dist"] = np.where(np.isfinite(d), c.cost_to_unit(d, walk_speed_m_s=speed),
                                           np.nan)
        cells[f"{c.name}_facility"] = np.where(o >= 0, fac["facility_id"].to_numpy()[o], None)
    for r in policy.rings:
        idx = ring_serving[r.name]
        key = tuple(idx.tolist())
        if key not in field_cache:
            src = fac_loc.take(idx)
            reach = nearest_source_reach(net, src)
            d, o = distances_to_locations(net, reach, src, cell_loc)
            field_cache[key] = (d, np.where(o >= 0, idx[np.clip(o, 0, None)], -1))
        d, _ = field_cache[key]
        band = np.searchsorted(np.asarray(r.breaks), d, side="left")
        cells[f"{r.name}_band"] = np.asarray(r.band_labels(), dtype=object)[band]
        cells.loc[~np.isfinite(d), f"{r.name}_band"] = "unreachable"
    any_d = np.vstack([v[0] for v in field_cache.values()]) if field_cache else np.empty((0, 0))
    reachable = np.isfinite(any_d).any(axis=0) if len(any_d) else np.zeros(len(cells), bool)
    cells["status"] = np.where(~cell_loc.on_network, "off network",
                               np.where(reachable, "ok", "unreachable"))
    cells["reason"] = np.where(
        ~cell_loc.on_network,
        [f"centre {s:.0f} m from the nearest walkable street (limit {max_snap_m:g} m)"
         for s in np.nan_to_num(cell_loc.snap_m)],
        np.where(reachable, "", "no facility on the street component it snaps to"))
    timing["distances"] = time.perf_counter() - t

    # --- service areas --------------------------------------------------------------
    t = time.perf_counter()
    limits_of: dict[int, set[float]] = {}
    for c in policy.circles:
        for i in serving[c.name]:
            limits_of.setdefault(int(i), set()).add(c.limit_cost(walk_speed_m_s=speed))
    for r in policy.rings:
        for i in ring_serving[r.name]:
            limits_of.setdefault(int(i), set()).update(float(b) for b in r.breaks)
    builder = ServiceAreaBuilder(net, max_snap_m=max_snap_m, arc_segments=_settings.arc_segments)
    order = sorted(limits_of)
    jobs = [(fac_loc.take(np.array([i])), sorted(limits_of[i])) for i in order]
    built = run_threaded(builder.polygons, jobs, n_jobs=_settings.n_jobs, progress=progress,
                         desc="service areas")
    polys: dict[tuple[int, float], shapely.Geometry] = {}
    for fi, (_, lims), geoms in zip(order, jobs, built, strict=True):
        for lim, g in zip(lims, geoms, strict=True):
            polys[(fi, lim)] = g
    timing["service_areas"] = time.perf_counter() - t

    # --- coverage per circle (area-weighted overlay) ---------------------------------
    t = time.perf_counter()
    # one overlay per distinct (facility set, limit): circles and rings share them
    overlay_jobs: dict[tuple[tuple[int, ...], float], tuple[tuple[int, ...], float]] = {}
    for c in policy.circles:
        key = (tuple(int(i) for i in serving[c.name]), c.limit_cost(walk_speed_m_s=speed))
        overlay_jobs[key] = key
    for r in policy.rings:
        for b in r.breaks:
            key = (tuple(int(i) for i in ring_serving[r.name]), float(b))
            overlay_jobs[key] = key
    wanted_reach = {(tuple(int(i) for i in serving[c.name]), c.limit_cost(walk_speed_m_s=speed))
                    for c in policy.circles}

    grid = OverlayGrid(cell_geom, elderly, pixel_m=_settings.overlay_pixel_m)

    def overlay(key: tuple[tuple[int, ...], float]) -> tuple[np.ndarray, np.ndarray | None]:
        idx, lim = key
        geoms = [polys[(i, lim)] for i in idx]
        return grid.measure(geoms, people=key in wanted_reach)

    keys = list(overlay_jobs)
    done = run_threaded(overlay, [(k,) for k in keys], n_jobs=_settings.n_jobs, progress=progress,
                        desc="overlay", unit="limit")
    overlays = dict(zip(keys, done, strict=True))
    sa_rows: list[dict[str, Any]] = []
    circle_rows: list[dict[str, Any]] = []
    for c in policy.circles:
        lim = c.limit_cost(walk_speed_m_s=speed)
        idx = serving[c.name]
        geoms = [polys[(int(i), lim)] for i in idx]
        share, reached_or_none = overlays[(tuple(int(i) for i in idx), lim)]
        reached = reached_or_none if reached_or_none is not None else np.full(len(idx), np.nan)
        cells[f"{c.name}_share"] = share
        cells[f"{c.name}_covered"] = elderly * share
        for k, i in enumerate(idx):
            sa_rows.append({"facility_id": fac["facility_id"].iat[i], "type": fac["type"].iat[i],
                            "circle": c.name, "limit": float(c.limit), "unit": c.unit,
                            "elderly_reached": float(reached[k]), "geometry": geoms[k]})
        covered = float((elderly * share).sum())
        centroid_cov = float(elderly[cells[f"{c.name}_dist"].to_numpy() <= c.limit].sum())
        rate = covered / elderly_in if elderly_in > 0 else 0.0
        circle_rows.append({
            "name": c.name, "label_zh": c.label_zh, "label_en": c.label_en, "mode": c.mode,
            "limit": float(c.limit), "unit": c.unit, "limit_m": lim,
            "facility_types": policy.type_codes(c.facility_kinds),
            "facilities_used": len(idx), "elderly_covered": covered, "coverage_rate": rate,
            "elderly_covered_centroid": centroid_cov,
            "coverage_rate_centroid": centroid_cov / elderly_in if elderly_in > 0 else 0.0,
            "target_rate": c.target_rate,
            "meets_target": None if c.target_rate is None else bool(rate >= c.target_rate),
            "source": c.source,
        })
    ring_summary = []
    for r in policy.rings:
        idx = ring_serving[r.name]
        prev_cov = np.zeros(len(cells))
        prev_geoms: list[shapely.Geometry] = [shapely.Polygon()] * len(idx)
        bands = []
        for b, label in zip(r.breaks, r.band_labels(), strict=False):
            geoms = [polys[(int(i), float(b))] for i in idx]
            cov = elderly * overlays[(tuple(int(i) for i in idx), float(b))][0]
            bands.append({"band": label, "elderly": float((cov - prev_cov).sum()),
                          "share": float((cov - prev_cov).sum() / elderly_in) if elderly_in else 0})
            rings = _differences(geoms, prev_geoms, progress=progress, desc=f"rings {label}")
            for k, i in enumerate(idx):
                sa_rows.append({"facility_id": fac["facility_id"].iat[i],
                                "type": fac["type"].iat[i], "circle": f"{r.name}:{label}",
                                "limit": float(b), "unit": r.unit, "elderly_reached": np.nan,
                                "geometry": rings[k]})
            prev_cov, prev_geoms = cov, geoms
        beyond = elderly_in - float(prev_cov.sum())
        bands.append({"band": r.band_labels()[-1], "elderly": beyond,
                      "share": beyond / elderly_in if elderly_in else 0.0})
        ring_summary.append({"name": r.name, "unit": r.unit, "breaks": list(r.breaks),
                             "bands": bands})
    timing["overlay"] = time.perf_counter() - t

    # --- units ------------------------------------------------------------------------
    t = time.perf_counter()
    unit_table, cells = _unit_statistics(cells, units, policy, crs)
    timing["units"] = time.perf_counter() - t

    # --- gaps ---------------------------------------------------------------------------
    t = time.perf_counter()
    gaps = _gap_areas(cells, policy, crs)
    for row in circle_rows:
        g = gaps[gaps["circle"] == row["name"]]
        row["gap_areas"] = len(g)
        row["elderly_in_gaps"] = float(g["elderly_unserved"].sum())
    timing["gaps"] = time.perf_counter() - t

    service = gpd.GeoDataFrame(sa_rows, geometry="geometry", crs=crs) if sa_rows else \
        gpd.GeoDataFrame({"facility_id": [], "type": [], "circle": [], "limit": [], "unit": [],
                          "elderly_reached": []}, geometry=[], crs=crs)
    service["area_km2"] = service.geometry.area / 1e6

    fac_out = fac.copy()
    fac_out["type_label"] = fac_out["type"].map(labels).fillna("")
    excluded = fac_out[fac_out["status"] == "excluded"]
    summary: dict[str, Any] = {
        "title": title or "",
        "tool": f"eldercare-coverage {__version__}",
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "crs": str(out_crs),
        "work_crs": crs.to_string(),
        "settings": {"walk_speed_m_s": speed, "max_snap_m": max_snap_m,
                     "gap_max_share": _settings.gap_max_share},
        "elderly_total": elderly_in,
        "circles": circle_rows,
        "rings": ring_summary,
        "facilities": {
            "total": len(fac_out),
            "used": int((fac_out["status"] == "used").sum()),
            "excluded": [{"facility_id": str(r.facility_id), "name": str(r.name),
                          "type": str(r.type), "source_row": int(r.source_row),
                          "reason": str(r.reason)} for r in excluded.itertuples()],
            "by_type": {str(k): int(v) for k, v in
                        fac_out[fac_out["status"] == "used"]["type"].value_counts().items()},
        },
        "capacity": capacity_indicators(fac_out, elderly_in, policy),
        "population": {
            "cells": len(cells),
            "elderly_by_status": {str(k): float(v) for k, v in
                                  cells.groupby("status")["elderly"].sum().items()},
            "cells_by_status": {str(k): int(v) for k, v in cells["status"].value_counts().items()},
        },
        "network": {"nodes": net.n_nodes, "edges": net.n_edges,
                    "length_km": float(net.edge_length_m.sum() / 1000),
                    "components": int(net.meta.get("components", 0)), "source": net.source},
    }
    timing["total"] = time.perf_counter() - t0
    summary["timing_s"] = {k: round(v, 3) for k, v in timing.items()}

    def out(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return valid(g.to_crs(out_crs) if g.crs is not None else g.set_crs(out_crs))

    fac_out = fac_out.drop(columns=[c for c in ("lon", "lat") if c in fac_out.columns])
    result = CoverageResult(
        facilities=out(fac_out.set_crs(fac.crs, allow_override=True) if fac.crs else fac_out),
        service_areas=out(service),
        population=out(cells),
        gaps=out(gaps),
        units=out(unit_table),
        summary=summary,
        policy=policy,
        meta={"title": title or "", "inputs": {k: str(v) for k, v in {
            "network": network if not isinstance(network, StreetNetwork) else net.source,
            "facilities": (facilities.attrs.get("source", "")
                           if isinstance(facilities, gpd.GeoDataFrame) else facilities),
            "population": population if not isinstance(population, gpd.GeoDataFrame) else "",
            "boundaries": boundaries if not isinstance(boundaries, gpd.GeoDataFrame) else ""
        }.items()}, "network": net},
    )
    summary["inputs"] = result.meta["inputs"]
    return result


class PopulationOverlapWarning(UserWarning):
    """Many elderly people live farther from every street than the access limit."""


def _check_population_overlap(elderly: np.ndarray, on_network: np.ndarray, pop: gpd.GeoDataFrame,
                              net: StreetNetwork, max_snap_m: float) -> None:
    """Stop when no person is near a street; warn when a large share is not."""
    total = float(elderly.sum())
    off = float(elderly[~on_network].sum())
    if total <= 0:
        return
    where = pop.attrs.get("source") or "the population grid"
    bounds = ", ".join(f"{v:.4f}" for v in gpd.GeoSeries(pop.geometry).total_bounds)
    net_bounds = ", ".join(f"{v:.4f}" for v in gpd.GeoSeries(
        [shapely.box(*net.bounds())], crs=net.crs).to_crs(pop.crs).total_bounds)
    if off >= total:
        raise InputFileError(
            f"{where}: no populated cell lies within {max_snap_m:g} m of a walkable street: "
            f"the grid (bounds {bounds}) does not cover the street network (bounds "
            f"{net_bounds}). Check that both files are for the same place")
    if off > 0.2 * total:
        msg = (f"{where}: {100 * off / total:.0f} % of the elderly live farther than "
               f"{max_snap_m:g} m from any walkable street (they count as unserved); is the "
               "network complete for the grid's area?")
        log.warning(msg)
        warnings.warn(msg, PopulationOverlapWarning, stacklevel=3)


def _check_coordinate_system(fac: gpd.GeoDataFrame, net: StreetNetwork) -> None:
    """Warn when the facilities fit the streets far better read in another datum."""
    from .facilities import format_crs_suggestion, suggest_coordinate_system

    if "crs" not in fac.attrs:
        return  # not from read_facilities: nothing is known of the file's datum
    to_net = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)

    def nearest_street_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        x, y = to_net.transform(lon, lat)
        return snap_points(net, np.column_stack([x, y]), max_snap_m=np.inf).snap_m

    suggestion, medians = suggest_coordinate_system(fac, nearest_street_m)
    if suggestion:
        msg = format_crs_suggestion(suggestion, medians, given=fac.attrs["crs"])
        log.warning(msg)
        warnings.warn(msg, CoordinateSystemWarning, stacklevel=3)


def _unit_statistics(
    cells: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, policy: Policy, crs: Any
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Per-unit elderly, covered and rates; cells get their town / village by centroid."""
    from .analysis import area_weights

    elderly = cells["elderly"].to_numpy(dtype=float)
    if units is None or len(units) == 0:
        hull = shapely.convex_hull(shapely.union_all(cells.geometry.to_numpy()))
        units = gpd.GeoDataFrame({"unit_id": ["all"], "name": ["study area"], "level": ["all"],
                                  "parent_id": [None], "urban_rural_code": [pd.NA],
                                  "urban_rural": [None]}, geometry=[hull], crs=crs)
    units = units.to_crs(crs).reset_index(drop=True)
    covered_cols = [f"{c.name}_covered" for c in policy.circles]
    rows = []
    cent = shapely.centroid(cells.geometry.to_numpy())
    for level in units["level"].drop_duplicates():
        lv = units[units["level"] == level]
        w = area_weights(cells.geometry.to_numpy(), lv.geometry.to_numpy())
        cell_i, poly_i, wt = w["cell"].to_numpy(), w["polygon"].to_numpy(), w["weight"].to_numpy()
        # weights of a cell over non-overlapping units sum to <= 1; the rest is outside
        sums = {"elderly": np.bincount(poly_i, elderly[cell_i] * wt, minlength=len(lv))}
        for col in covered_cols:
            sums[col] = np.bincount(poly_i, cells[col].to_numpy()[cell_i] * wt, minlength=len(lv))
        table = lv.copy()
        for k, v in sums.items():
            table[k] = v
        inside = np.bincount(cell_i, wt, minlength=len(cells))
        outside_share = np.clip(1.0 - inside, 0.0, 1.0)
        outside_share[outside_share < 1e-9] = 0.0
        if (elderly * outside_share).sum() > 0:
            extra = {"unit_id": f"outside-{level}", "name": OUTSIDE_UNITS, "level": level,
                     "elderly": float((elderly * outside_share).sum()), "geometry": None}
            for col in covered_cols:
                extra[col] = float((cells[col].to_numpy() * outside_share).sum())
            table = pd.concat([table, gpd.GeoDataFrame([extra], geometry="geometry", crs=crs)],
                              ignore_index=True)
        rows.append(table)
        # name of the unit holding each cell centroid, for the population layer
        tree = shapely.STRtree(lv.geometry.to_numpy())
        ci, pi = tree.query(cent, predicate="within")
        names = np.full(len(cells), None, dtype=object)
        names[ci] = lv["name"].to_numpy()[pi]
        cells[str(level)] = names
    table = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=crs)
    for c in policy.circles:
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = table[f"{c.name}_covered"] / table["elderly"]
        table[f"{c.name}_rate"] = rate.where(table["elderly"] > 0)
        table[f"{c.name}_meets_target"] = (None if c.target_rate is None
                                           else table[f"{c.name}_rate"] >= c.target_rate)
    return table, cells


def _gap_areas(cells: gpd.GeoDataFrame, policy: Policy, crs: Any) -> gpd.GeoDataFrame:
    """Connected groups of cells served below ``settings.gap_max_share``, ranked."""
    rows = []
    row = cells["row"].to_numpy() if "row" in cells else np.full(len(cells), -1)
    col = cells["col"].to_numpy() if "col" in cells else np.full(len(cells), -1)
    elderly = cells["elderly"].to_numpy(dtype=float)
    for c in policy.circles:
        share = cells[f"{c.name}_share"].to_numpy()
        mask = (share < _settings.gap_max_share) & (elderly > 0)
        lab = connected_groups(mask, row, col, cells.geometry.to_numpy())
        if lab.max() == 0:
            continue
        pos = np.flatnonzero(lab > 0)
        labs = lab[pos]
        df = pd.DataFrame({"lab": labs, "unserved": (elderly * (1 - share))[pos],
                           "dist": cells[f"{c.name}_dist"].to_numpy()[pos]})
        agg = df.groupby("lab").agg(elderly_unserved=("unserved", "sum"),
                                    cells=("unserved", "size"),
                                    nearest_dist=("dist", "min"))
        ulab, geoms = union_by_label(cells.geometry.to_numpy()[pos], labs)
        agg["geometry"] = pd.Series(geoms, index=ulab).reindex(agg.index).to_numpy()
        for extra in ("town", "village"):
            if extra in cells:
                mode = mode_by_label(labs, cells[extra].to_numpy()[pos]).reindex(agg.index)
                agg[extra] = mode.astype(object).where(mode.notna(), None).to_numpy()
        agg = agg.sort_values("elderly_unserved", ascending=False).reset_index(drop=True)
        agg["rank"] = np.arange(1, len(agg) + 1)
        agg["circle"] = c.name
        agg["gap_id"] = [f"{c.name}-{k}" for k in agg["rank"]]
        rows.append(agg)
    cols = ["gap_id", "circle", "rank", "elderly_unserved", "cells", "area_km2", "town",
            "village", "nearest_dist"]
    if not rows:
        return gpd.GeoDataFrame({k: [] for k in cols}, geometry=[], crs=crs)
    g = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), geometry="geometry", crs=crs)
    g["area_km2"] = g.geometry.area / 1e6
    for k in ("town", "village"):
        if k not in g:
            g[k] = None
    return g[[*cols, "geometry"]]
