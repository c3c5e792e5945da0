"""The main job as a short sequence of named stages: inputs -> CoverageResult.

:func:`run` takes file paths or already loaded objects and returns a
:class:`~eldercare_coverage.result.CoverageResult` (tables in EPSG:4326); writing files
is :func:`eldercare_coverage.outputs.write_outputs`. The stages, each returning
something a user can inspect:

1. :func:`place_facilities` -- the facility table snapped to the streets, every row
   ``used`` or ``excluded`` with its reason, and each circle's limit (converted once,
   here) with the rows that serve it (:class:`PlacedFacilities`);
2. :func:`place_population` -- the cells in the work CRS, their centroids and their
   10 m pixels snapped to the streets (:class:`PlacedPopulation`);
3. :func:`measure_fields` -- one multi-source search per distinct set of facilities,
   evaluated at every pixel and centroid (:class:`~eldercare_coverage.field.DistanceField`);
4. :func:`measure_circles` -- per circle the cells' distance, nearest facility, share and
   covered people, the facilities' catchments; the rings' people per band;
5. :func:`draw_polygons` -- service areas, catchments and distance bands drawn from the
   field (:mod:`eldercare_coverage.drawing`); each facility's own area only when asked;
6. unit statistics and gap areas (:mod:`eldercare_coverage.analysis`); with meal circles
   the meal question per cell, village and kitchen (:mod:`eldercare_coverage.meal_stage`);
   the summary.

The stages' typed results are defined in :mod:`eldercare_coverage.stages`.

Accounting: every input facility is in ``result.facilities`` as ``used`` or
``excluded`` with a reason; every elderly person of the population input is in
``result.population`` (cells the network cannot reach keep their people, with a
``status`` and ``reason``), and each level of ``result.units`` sums to the total
(an ``(outside units)`` row holds people outside every unit).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import __version__
from ._errors import NetworkError
from ._geometry import valid
from ._threads import run_threaded
from .access import capacity_indicators
from .analysis import OUTSIDE_UNITS, gap_areas, unit_statistics
from .checks import CoordinateSystemWarning, check_coordinate_system, check_population_overlap
from .drawing import DrawGrid, FineField, draw_grid, drawn_areas, drawn_bands
from .field import (
    CircleLimit,
    DistanceField,
    FacilityReach,
    band_people,
    circle_coverage,
    population_pixels,
)
from .meal_stage import cell_meals, community_meal_columns, delivery_summary, kitchen_columns
from .modes import ModeNetwork, UnitClasses, classify_cells, delivery_mode
from .network import StreetNetwork, load_network
from .osm_reader import PBF_SUFFIXES, XML_SUFFIXES, network_format
from .osm_rules import WalkRule
from .policy import Policy, default_policy
from .prepared import PreparedNetwork, prepare_network
from .result import CoverageResult
from .settings import settings as _settings
from .stages import (
    CircleMeasures,
    DrawnPolygons,
    FieldKey,
    Fields,
    PlacedFacilities,
    PlacedPopulation,
    RunOptions,
    RunState,
    field_key,
)

log = logging.getLogger(__name__)

__all__ = ["OUTSIDE_UNITS", "CoordinateSystemWarning", "PlacedFacilities", "PlacedPopulation",
           "draw_polygons", "measure_circles", "measure_fields", "place_facilities",
           "place_population", "run"]


def _load_inputs(
    network: str | Path | StreetNetwork | PreparedNetwork,
    facilities: str | Path | gpd.GeoDataFrame,
    population: str | Path | gpd.GeoDataFrame,
    boundaries: str | Path | gpd.GeoDataFrame | None,
    facilities_crs: str,
    policy: Policy,
) -> tuple[StreetNetwork | PreparedNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame,
           gpd.GeoDataFrame | None]:
    net = network if isinstance(network, StreetNetwork | PreparedNetwork) \
        else load_network(network)
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


def _delivery_network(
    policy: Policy, network: str | Path | StreetNetwork | PreparedNetwork,
    loaded: StreetNetwork | PreparedNetwork,
    delivery: str | Path | StreetNetwork | PreparedNetwork | None, asked: bool,
) -> tuple[Policy, PreparedNetwork | None, list[dict[str, str]]]:
    """The delivery network the policy's delivery circles need, and the policy without
    them (and why) when there is none: given, or read from the walking network's OSM file."""
    names = [c.name for c in policy.circles if c.mode == "delivery"]
    if not names:
        return policy, None, []
    if isinstance(delivery, StreetNetwork | PreparedNetwork):
        return policy, prepare_network(delivery), []
    if delivery is None:
        net = loaded.network if isinstance(loaded, PreparedNetwork) else loaded
        source = network if isinstance(network, str | Path) else net.source
        path = Path(source) if source else None
        if path is not None and path.is_file() \
                and network_format(path) in (*XML_SUFFIXES, *PBF_SUFFIXES):
            delivery = path
    if delivery is not None:
        return policy, prepare_network(load_network(delivery, mode="delivery")), []
    reason = ("no delivery network: the delivery circles need the OSM file itself (the command "
              "line: --network FILE.osm.pbf or .osm, not --place or GraphML; Python: "
              "delivery_network=FILE or load_network(FILE, mode='delivery'))")
    if asked:
        raise NetworkError(f"circles {names}: {reason}")
    log.warning("circles %s left out: %s", names, reason)
    kept = replace(policy, circles=tuple(c for c in policy.circles if c.mode != "delivery"))
    return kept, None, [{"name": n, "reason": reason} for n in names]


# --- stage 1: facilities ---------------------------------------------------------------
def _set_excluded(table: pd.DataFrame, rows: np.ndarray, reasons: Sequence[str],
                  category: str = "data") -> None:
    """Exclude ``rows`` with their reasons; ``category`` is ``data`` (a problem of the row)
    or ``not_requested`` (a kind no circle of the run uses)."""
    table.loc[table.index[rows], "status"] = "excluded"
    table.loc[table.index[rows], "reason"] = list(reasons)
    table.loc[table.index[rows], "exclusion"] = category


def place_facilities(
    network: PreparedNetwork, facilities: gpd.GeoDataFrame, policy: Policy, opts: RunOptions,
    *, delivery: PreparedNetwork | None = None,
) -> PlacedFacilities:
    """Snap facilities to the streets; decide used or excluded (with the reason).

    A facility farther than ``max_snap_m`` from every street, or of a type no circle
    or rings set of the run uses, is excluded with its reason; the rest are ``used``.
    With a ``delivery`` network they are snapped to it too (a facility farther than
    ``max_snap_m`` from every delivery street serves no delivery circle).
    """
    table = facilities.copy()
    # rows the reader excluded have a problem of their own: missing coordinates, duplicate id...
    table["exclusion"] = (table["status"] == "excluded").map({True: "data", False: None})
    xy = np.full((len(table), 2), np.nan)
    has_geom = table.geometry.notna().to_numpy() & ~table.geometry.is_empty.to_numpy()
    if has_geom.any():
        xy[has_geom] = shapely.get_coordinates(table[has_geom].to_crs(network.crs).geometry
                                               .to_numpy())
    located = network.snap(xy, max_snap_m=opts.max_snap_m)
    table["snap_m"] = located.snap_m
    check_coordinate_system(table, network)
    ok = (table["status"] == "ok").to_numpy()
    far = np.flatnonzero(ok & ~located.on_network)
    _set_excluded(table, far, [f"farther than {opts.max_snap_m:g} m from any walkable street "
                               f"(nearest {located.snap_m[i]:.0f} m)" for i in far])
    ok = (table["status"] == "ok").to_numpy()
    types = table["type"]

    def serving(kinds: Sequence[str]) -> np.ndarray:
        return np.flatnonzero(types.isin(policy.type_codes(kinds)).to_numpy() & ok)

    circles = tuple(CircleLimit(c.name, c.limit_cost(walk_speed_m_s=opts.walk_speed_m_s),
                                serving(c.facility_kinds), c.mode) for c in policy.circles)
    rings = tuple((r, serving(r.facility_kinds)) for r in policy.rings)
    used = np.zeros(len(table), dtype=bool)
    for rows in (*(c.sources for c in circles), *(rows for _, rows in rings)):
        used[rows] = True
    labels = policy.type_labels()
    names = ", ".join(c.name for c in policy.circles)
    idle = np.flatnonzero(ok & ~used)
    _set_excluded(table, idle, [f"type {types.iat[i]!r} ({labels.get(types.iat[i], '?')}) "
                                f"serves none of the circles of this run ({names})" for i in idle],
                  category="not_requested")
    table.loc[table["status"] == "ok", "status"] = "used"
    by_mode = {} if delivery is None else {
        "delivery": delivery.snap(xy, max_snap_m=opts.max_snap_m)}
    return PlacedFacilities(table, xy, located, circles, rings, by_mode)


# --- stage 2: population ---------------------------------------------------------------
def place_population(
    network: PreparedNetwork, population: gpd.GeoDataFrame, opts: RunOptions,
    *, delivery: PreparedNetwork | None = None,
) -> PlacedPopulation:
    """Project the cells, snap their centroids and their pixels to the streets (and to
    the ``delivery`` network's streets when given)."""
    cells = population.to_crs(network.crs).reset_index(drop=True)
    geoms = cells.geometry.to_numpy()
    centroids = network.snap(shapely.get_coordinates(shapely.centroid(geoms)),
                             max_snap_m=opts.max_snap_m)
    cells["snap_m"] = centroids.snap_m
    elderly = cells["elderly"].to_numpy(dtype=float)
    check_population_overlap(elderly, centroids.on_network, population, network.network,
                             opts.max_snap_m)
    pixels = population_pixels(network, geoms, elderly, pixel_m=opts.pixel_m,
                               max_snap_m=opts.max_snap_m)
    by_mode = {}
    if delivery is not None:
        by_mode["delivery"] = (
            delivery.snap(shapely.get_coordinates(shapely.centroid(geoms)),
                          max_snap_m=opts.max_snap_m),
            replace(pixels, locations=delivery.snap(pixels.xy, max_snap_m=opts.max_snap_m,
                                                    exact_beyond=False)))
    return PlacedPopulation(cells, centroids, pixels, by_mode)


# --- stage 3: distance fields ----------------------------------------------------------
def measure_fields(
    network: PreparedNetwork, facilities: PlacedFacilities, population: PlacedPopulation,
    *, modes: dict[str, ModeNetwork] | None = None,
) -> Fields:
    """The distance field of every distinct (mode, set of facilities) the circles and rings
    use; ``modes`` holds the networks of modes other than walking (``network``)."""
    travel = {"walk": ModeNetwork("walk", network), **(modes or {})}
    reach: dict[FieldKey, FacilityReach] = {}
    field: dict[FieldKey, DistanceField] = {}
    for rows, mode in (*((c.sources, c.mode) for c in facilities.circles),
                       *((rows, "walk") for _, rows in facilities.rings)):
        key = field_key(rows, mode)
        if key not in reach:
            on = travel[mode]
            reach[key] = FacilityReach(on.prepared.network, facilities.located(mode), rows,
                                       costs=on.costs)
            field[key] = reach[key].field(population.located(mode)[1],
                                          population.located(mode)[0])
    return Fields(reach, field)


# --- stage 4: coverage per circle ------------------------------------------------------
def measure_circles(
    policy: Policy, facilities: PlacedFacilities, population: PlacedPopulation, fields: Fields,
    opts: RunOptions, *, classes: UnitClasses | None = None,
) -> CircleMeasures:
    """Per circle: each cell's distance, nearest facility, share and covered people.

    Every cell gets every circle's distance and nearest facility; a class-bound circle
    (``unit_classes`` urban or rural) counts covered people, its rate and catchments
    over its class's cells only (``classes``; every cell without boundaries).
    """
    cells = population.cells.copy()
    elderly = population.elderly
    elderly_in = float(elderly.sum())
    if classes is not None:
        cells["urban_rural"] = classes.cell_class
    ids = facilities.table["facility_id"].to_numpy()
    n_fac = len(facilities.table)
    rows: list[dict[str, Any]] = []
    catchments: dict[str, np.ndarray] = {}
    counted_of: dict[str, np.ndarray | None] = {}
    for c, lim in zip(policy.circles, facilities.circles, strict=True):
        _, fld = fields.of(lim.sources, lim.mode)
        reached = np.isfinite(fld.centroid_cost)
        cells[f"{c.name}_dist"] = np.where(
            reached, c.cost_to_unit(fld.centroid_cost, walk_speed_m_s=opts.walk_speed_m_s),
            np.nan)
        cells[f"{c.name}_facility"] = np.where(fld.centroid_source >= 0,
                                               ids[np.clip(fld.centroid_source, 0, None)], None)
        counted = None if classes is None else classes.counted(c)
        counted_of[c.name] = counted
        cov = circle_coverage(fld, population.located(lim.mode)[1], elderly, lim.limit_cost,
                              n_facilities=n_fac, counted=counted)
        cells[f"{c.name}_share"] = cov.share
        cells[f"{c.name}_covered"] = cov.covered
        catchments[c.name] = cov.catchment
        covered = float(cov.covered.sum())
        base = elderly if counted is None else np.where(counted, elderly, 0.0)
        elderly_counted = float(base.sum())
        centroid_cov = float(base[fld.centroid_cost <= lim.limit_cost].sum())
        rate = covered / elderly_counted if elderly_counted > 0 else 0.0
        rows.append({
            "name": c.name, "label_zh": c.label_zh, "label_en": c.label_en, "mode": c.mode,
            "limit": float(c.limit), "unit": c.unit,
            ("limit_s" if c.mode == "delivery" else "limit_m"): lim.limit_cost,
            "unit_classes": list(c.unit_classes), "elderly_counted": elderly_counted,
            "facility_types": policy.type_codes(c.facility_kinds),
            "facilities_used": len(lim.sources), "elderly_covered": covered,
            "coverage_rate": rate, "elderly_covered_centroid": centroid_cov,
            "coverage_rate_centroid": (centroid_cov / elderly_counted if elderly_counted > 0
                                       else 0.0),
            "target_rate": c.target_rate,
            "meets_target": None if c.target_rate is None else bool(rate >= c.target_rate),
            "source": c.source,
        })
    ring_rows = []
    for r, sources in facilities.rings:
        _, fld = fields.of(sources)
        breaks = np.asarray(r.breaks, dtype=float)
        labels = np.asarray(r.band_labels(), dtype=object)
        band = np.searchsorted(breaks, fld.centroid_cost, side="left")
        cells[f"{r.name}_band"] = np.where(np.isfinite(fld.centroid_cost), labels[band],
                                           "unreachable")
        people = band_people(fld, population.pixels, breaks)
        ring_rows.append({"name": r.name, "unit": r.unit, "breaks": list(r.breaks), "bands": [
            {"band": str(lab), "elderly": float(n), "share": float(n / elderly_in)
             if elderly_in else 0.0} for lab, n in zip(labels, people, strict=True)]})
    _mark_unreached(cells, population, fields, opts)
    return CircleMeasures(cells, rows, catchments, ring_rows, counted_of)


def _mark_unreached(cells: gpd.GeoDataFrame, population: PlacedPopulation, fields: Fields,
                    opts: RunOptions) -> None:
    """``status`` / ``reason`` of cells whose centre no street or no facility reaches."""
    on = population.centroids.on_network
    reachable = np.zeros(len(cells), dtype=bool)
    for fld in fields.field.values():  # any mode's facility reaches it
        reachable |= np.isfinite(fld.centroid_cost)
    cells["status"] = np.where(~on, "off network", np.where(reachable, "ok", "unreachable"))
    snap = np.nan_to_num(population.centroids.snap_m)
    cells["reason"] = np.where(
        ~on, [f"centre {s:.0f} m from the nearest walkable street (limit {opts.max_snap_m:g} m)"
              for s in snap],
        np.where(reachable, "", "no facility on the street component it snaps to"))


# --- stage 5: polygons drawn from the field --------------------------------------------
def draw_polygons(
    network: PreparedNetwork, policy: Policy, facilities: PlacedFacilities, fields: Fields,
    measures: CircleMeasures, population: PlacedPopulation, opts: RunOptions,
    *, modes: dict[str, ModeNetwork] | None = None,
) -> DrawnPolygons:
    """Draw the field's areas on a ``draw_pixel_m`` grid over the ground near streets (one
    grid per mode, over its own streets)."""
    crs = network.crs
    table = facilities.table
    travel = {"walk": ModeNetwork("walk", network), **(modes or {})}
    grids: dict[str, DrawGrid] = {}

    def grid_of(mode: str) -> DrawGrid:
        if mode not in grids:
            on = travel[mode]
            lims = [on.reach_m(c.limit_cost) for c in facilities.circles if c.mode == mode]
            srcs = [c.sources for c in facilities.circles if c.mode == mode]
            if mode == "walk":
                lims += [float(b) for r, _ in facilities.rings for b in r.breaks]
                srcs += [rows for _, rows in facilities.rings]
            serving = np.unique(np.concatenate([np.empty(0, np.int64), *srcs]))
            # delivery circles span kilometres: drawn on coarser pixels
            pixel_m = opts.draw_pixel_m if mode == "walk" else opts.delivery_draw_pixel_m
            grid = draw_grid(on.prepared, facilities.xy[serving], reach_m=max(lims, default=0.0),
                             pixel_m=pixel_m, max_snap_m=opts.max_snap_m)
            # where people live the field is known at the population pixels: walking circles
            # are drawn finer there (delivery circles, kilometres wide, stay on their pixels)
            grids[mode] = grid.with_fine_pixels(population.pixels.xy, population.pixels.pixel_m) \
                if mode == "walk" else grid
        return grids[mode]

    at_grid: dict[FieldKey, tuple[np.ndarray, np.ndarray]] = {}

    def field_on_grid(sources: np.ndarray, mode: str = "walk") -> tuple[np.ndarray, np.ndarray]:
        key = field_key(sources, mode)
        if key not in at_grid:
            at_grid[key] = fields.reach[key].at(grid_of(mode).locations)
        return at_grid[key]

    fine_fields: dict[FieldKey, FineField] = {}

    def fine_of(sources: np.ndarray, mode: str) -> FineField | None:
        """The field on the fine pixels: the population pixels', refined along boundaries
        (None on a grid without fine pixels: the delivery circles' coarse one)."""
        key = field_key(sources, mode)
        if grid_of(mode).fine == 1:
            return None
        if key not in fine_fields:
            reach, fld = fields.reach[key], fields.field[key]
            prepared = travel[mode].prepared
            fine_fields[key] = FineField(grid_of(mode), fld.pixel_cost, lambda xy: reach.at(
                prepared.snap(xy, max_snap_m=opts.max_snap_m, exact_beyond=False))[0])
        return fine_fields[key]

    sa_rows, ca_rows, ring_rows = [], [], []
    for c, lim, summ in zip(policy.circles, facilities.circles, measures.circles, strict=True):
        cost, source = field_on_grid(lim.sources, lim.mode)
        area, catch = drawn_areas(grid_of(lim.mode), cost, source, lim.limit_cost,
                                  fine=fine_of(lim.sources, lim.mode))
        sa_rows.append({"circle": c.name, "label_zh": c.label_zh, "label_en": c.label_en,
                        "limit": float(c.limit), "unit": c.unit,
                        "elderly_covered": summ["elderly_covered"], "geometry": area})
        people = measures.catchment_people[c.name]
        drawn = dict(zip(catch["facility"], catch["geometry"], strict=True))
        # every facility that serves the circle has a row (an empty area when it reaches
        # no drawn pixel), so that catchments add up to the circle
        for i in lim.sources:
            ca_rows.append({"facility_id": table["facility_id"].iat[i],
                            "type": table["type"].iat[i], "circle": c.name,
                            "limit": float(c.limit), "unit": c.unit,
                            "elderly_covered": float(people[i]),
                            "geometry": drawn.get(int(i), shapely.Polygon())})
    for (r, sources), summ in zip(facilities.rings, measures.rings, strict=True):
        cost, _ = field_on_grid(sources)
        bands = drawn_bands(grid_of("walk"), cost, np.asarray(r.breaks, dtype=float))
        lower = [0.0, *r.breaks[:-1]]
        for k, geom in enumerate(bands):
            ring_rows.append({"rings": r.name, "band": summ["bands"][k]["band"],
                              "lower": float(lower[k]), "upper": float(r.breaks[k]),
                              "unit": r.unit, "elderly": summ["bands"][k]["elderly"],
                              "geometry": geom})
    fac_areas = _facility_areas(network, policy, facilities, population, opts) \
        if opts.facility_areas else None
    return DrawnPolygons(_frame(sa_rows, crs, ["circle", "label_zh", "label_en", "limit", "unit",
                                               "elderly_covered"]),
                         _frame(ca_rows, crs, ["facility_id", "type", "circle", "limit", "unit",
                                               "elderly_covered"]),
                         _frame(ring_rows, crs, ["rings", "band", "lower", "upper", "unit",
                                                 "elderly"]),
                         fac_areas)


def _frame(rows: list[dict[str, Any]], crs: Any, columns: list[str]) -> gpd.GeoDataFrame:
    """A GeoDataFrame of ``rows`` (the columns even when empty) with ``area_km2``."""
    if rows:
        gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    else:
        gdf = gpd.GeoDataFrame({k: [] for k in columns}, geometry=[], crs=crs)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    return gdf


def _facility_areas(
    network: PreparedNetwork, policy: Policy, facilities: PlacedFacilities,
    population: PlacedPopulation, opts: RunOptions,
) -> gpd.GeoDataFrame:
    """Each facility's own (overlapping) service area per circle: polygons built from
    its streets (:class:`~eldercare_coverage.isochrones.ServiceAreaBuilder`), with the
    elderly inside each alone. Costly: only with ``facility_areas=True``; walking circles
    only (the polygon builder measures metres on undirected streets)."""
    from .isochrones import ServiceAreaBuilder
    from .raster_overlay import OverlayGrid

    table = facilities.table
    limits_of: dict[int, set[float]] = {}
    for lim in facilities.circles:
        if lim.mode != "walk":
            continue
        for i in lim.sources:
            limits_of.setdefault(int(i), set()).add(lim.limit_cost)
    builder = ServiceAreaBuilder(network.network, max_snap_m=opts.max_snap_m,
                                 arc_segments=_settings.arc_segments)
    order = sorted(limits_of)
    jobs = [(facilities.locations.take(np.array([i])), sorted(limits_of[i])) for i in order]
    built = run_threaded(builder.polygons, jobs, n_jobs=_settings.n_jobs,
                         progress=opts.progress, desc="facility areas")
    polys = {(i, lim): g for i, (_, lims), geoms in zip(order, jobs, built, strict=True)
             for lim, g in zip(lims, geoms, strict=True)}
    grid = OverlayGrid(population.cells.geometry.to_numpy(), population.elderly,
                       pixel_m=opts.pixel_m)
    rows = []
    for c, lim in zip(policy.circles, facilities.circles, strict=True):
        if lim.mode != "walk":
            continue
        geoms = [polys[(int(i), lim.limit_cost)] for i in lim.sources]
        reached = grid.elderly_in(geoms) if geoms else np.empty(0)
        for k, i in enumerate(lim.sources):
            rows.append({"facility_id": table["facility_id"].iat[i], "type": table["type"].iat[i],
                         "circle": c.name, "limit": float(c.limit), "unit": c.unit,
                         "elderly_reached": float(reached[k]), "geometry": geoms[k]})
    return _frame(rows, network.crs, ["facility_id", "type", "circle", "limit", "unit",
                                      "elderly_reached"])


# --- the whole run ---------------------------------------------------------------------
_P = ParamSpec("_P")


def _recording_warnings(func: Callable[_P, CoverageResult]) -> Callable[_P, CoverageResult]:
    """Record the warnings of a run into ``summary["warnings"]`` (``category``,
    ``message``) and emit each once to the caller, as if the run had emitted it.

    A :class:`~eldercare_coverage.facilities.FacilityRowWarning` (rows of a facility file
    the run read excluded) is neither: every such row is in the result's accounting
    (``facilities.excluded`` with category ``data``), so it is logged at INFO level only.
    """
    from .facilities import FacilityRowWarning

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> CoverageResult:
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                # recorded whatever the filters; the caller's filters decide below what is
                # shown (or raised) when they are emitted again
                warnings.simplefilter("always", UserWarning)
                result: CoverageResult = func(*args, **kwargs)
        except BaseException:
            with contextlib.suppress(Warning):  # the run's own error goes first
                _emit(caught)
            raise
        result.summary["warnings"] = [
            {"category": w.category.__name__, "message": str(w.message)} for w in caught
            if issubclass(w.category, UserWarning)
            and not issubclass(w.category, FacilityRowWarning)]
        _emit(caught)
        return result

    def _emit(caught: list[warnings.WarningMessage]) -> None:
        for w in caught:
            if issubclass(w.category, FacilityRowWarning):
                log.info("%s", w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                       source=w.source)

    return wrapper


@_recording_warnings
def run(
    network: str | Path | StreetNetwork | PreparedNetwork,
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
    facility_areas: bool = False,
    delivery_network: str | Path | StreetNetwork | PreparedNetwork | None = None,
    on_stage: Callable[[str, float], None] | None = None,
) -> CoverageResult:
    """Compute service circles (walking and meal delivery), coverage, unit statistics and gaps.

    Parameters
    ----------
    network
        Street network file (OSM XML, PBF, GraphML), a loaded :class:`StreetNetwork` or a
        :class:`~eldercare_coverage.prepared.PreparedNetwork`.
    facilities
        Facility table file or the GeoDataFrame of
        :func:`eldercare_coverage.facilities.read_facilities`.
    population
        Elderly population GeoTIFF / vector grid, or cells of
        :mod:`eldercare_coverage.population`.
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
    facility_areas
        Also build each facility's own, overlapping service area per walking circle
        (``result.facility_areas``); costly at county scale.
    delivery_network
        The network of the delivery circles (a file, or
        ``load_network(path, mode="delivery")``); by default read from ``network`` when it
        is an OSM XML or PBF file. Without one, delivery circles of the default policy are
        left out (logged, and listed in ``summary["circles_left_out"]``); circles asked for
        by name raise :class:`~eldercare_coverage._errors.NetworkError`.
    on_stage
        Called as ``on_stage(stage, seconds)`` as each stage of ``summary["timing_s"]`` ends.

    Returns
    -------
    CoverageResult
    """
    t0 = time.perf_counter()
    timing: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        timing[stage] = (now := time.perf_counter()) - since
        log.info("%s: %.2f s", stage, timing[stage])
        if on_stage is not None:
            on_stage(stage, timing[stage])
        return now

    policy = (policy or default_policy()).select(circles)
    opts = RunOptions.resolve(max_snap_m=max_snap_m, walk_speed_m_s=walk_speed_m_s,
                              progress=progress, facility_areas=facility_areas)
    loaded, fac, pop, units = _load_inputs(network, facilities, population, boundaries,
                                           facilities_crs, policy)
    policy, delivery, left_out = _delivery_network(policy, network, loaded, delivery_network,
                                                   asked=circles is not None)
    t = lap("load", t0)
    prepared = prepare_network(loaded)
    net = prepared.network
    t = lap("prepare", t)
    placed = place_facilities(prepared, fac, policy, opts, delivery=delivery)
    t = lap("facilities", t)
    people = place_population(prepared, pop, opts, delivery=delivery)
    classes = classify_cells(people.cells, units, net.crs, density_rule=any(
        c.class_bound or c.mode == "delivery" for c in policy.circles))
    modes = {} if delivery is None else {"delivery": delivery_mode(delivery, classes, policy)}
    t = lap("population", t)
    fields = measure_fields(prepared, placed, people, modes=modes)
    t = lap("distances", t)
    measures = measure_circles(policy, placed, people, fields, opts, classes=classes)
    t = lap("coverage", t)
    drawn = draw_polygons(prepared, policy, placed, fields, measures, people, opts, modes=modes)
    t = lap("polygons", t)
    unit_table, cells = unit_statistics(measures.cells, classes.units, policy, net.crs,
                                        counted=measures.counted)
    per_cell = cell_meals(policy, placed, people, fields, classes)
    meal_summary: dict[str, Any] = {}
    if per_cell is not None:
        unit_table, meal_summary = community_meal_columns(
            policy, placed, measures, cells, unit_table, per_cell, people=people, fields=fields)
    t = lap("units", t)
    gaps = gap_areas(cells, policy, net.crs, counted=measures.counted)
    for row in measures.circles:
        g = gaps[gaps["circle"] == row["name"]]
        row["gap_areas"] = len(g)
        row["elderly_in_gaps"] = float(g["elderly_unserved"].sum())
    t = lap("gaps", t)

    summary = _summary(policy, placed, measures, cells, len(people.pixels.cell_of), net, opts,
                       title, out_crs)
    if left_out:
        summary["circles_left_out"] = left_out
    summary.update(meal_summary)
    summary.update(delivery_summary(modes))
    timing["total"] = time.perf_counter() - t0
    summary["timing_s"] = {k: round(v, 3) for k, v in timing.items()}

    def out(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return valid(g.to_crs(out_crs) if g.crs is not None else g.set_crs(out_crs))

    fac_out = placed.table.copy()
    kitchen_columns(fac_out, policy, placed, measures, measures.cells)
    fac_out["type_label"] = fac_out["type"].map(policy.type_labels()).fillna("")
    fac_out = fac_out.drop(columns=[c for c in ("lon", "lat") if c in fac_out.columns])
    inputs = {k: str(v) for k, v in {
        "network": net.source if isinstance(network, StreetNetwork | PreparedNetwork)
        else network,
        "facilities": (facilities.attrs.get("source", "")
                       if isinstance(facilities, gpd.GeoDataFrame) else facilities),
        "population": population if not isinstance(population, gpd.GeoDataFrame) else "",
        "boundaries": boundaries if not isinstance(boundaries, gpd.GeoDataFrame) else "",
    }.items()}
    summary["inputs"] = inputs
    return CoverageResult(
        facilities=out(fac_out if fac_out.crs else fac_out.set_crs(fac.crs)),
        service_areas=out(drawn.service_areas),
        population=out(cells),
        gaps=out(gaps),
        units=out(unit_table),
        summary=summary,
        policy=policy,
        catchments=out(drawn.catchments),
        rings=out(drawn.rings),
        facility_areas=None if drawn.facility_areas is None else out(drawn.facility_areas),
        meta={"title": title or "", "inputs": inputs, "network": net, "state": RunState(
            prepared, placed, people, fields, classes, modes, opts, policy)},
    )


def _summary(policy: Policy, placed: PlacedFacilities, measures: CircleMeasures,
             cells: gpd.GeoDataFrame, n_pixels: int, net: StreetNetwork, opts: RunOptions,
             title: str | None, out_crs: Any) -> dict[str, Any]:
    """The dict written to ``summary.json`` (DESIGN.md "Outputs")."""
    table = placed.table
    elderly_in = float(cells["elderly"].sum())
    excluded = table[table["status"] == "excluded"]
    return {
        "title": title or "",
        "tool": f"eldercare-coverage {__version__}",
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "crs": str(out_crs),
        "work_crs": net.crs.to_string(),
        "settings": {"walk_speed_m_s": opts.walk_speed_m_s, "max_snap_m": opts.max_snap_m,
                     "gap_max_share": _settings.gap_max_share, "pixel_m": opts.pixel_m,
                     "draw_pixel_m": opts.draw_pixel_m},
        "walk_rule": WalkRule.from_settings().as_dict(),
        "policy": dict(policy.sources) or "shipped",
        "elderly_total": elderly_in,
        "circles": measures.circles,
        "rings": measures.rings,
        "facilities": {
            "total": len(table),
            "used": int((table["status"] == "used").sum()),
            "excluded": [{"facility_id": str(r.facility_id), "name": str(r.name),
                          "type": str(r.type), "source_row": int(r.source_row),
                          "reason": str(r.reason),
                          "category": r.exclusion if isinstance(r.exclusion, str) else "data"}
                         for r in excluded.itertuples()],
            "by_type": {str(k): int(v) for k, v in
                        table[table["status"] == "used"]["type"].value_counts().items()},
        },
        "capacity": capacity_indicators(table, elderly_in, policy),
        "population": {
            "cells": len(cells),
            "pixels": n_pixels,
            "elderly_by_status": {str(k): float(v) for k, v in
                                  cells.groupby("status")["elderly"].sum().items()},
            "cells_by_status": {str(k): int(v) for k, v in cells["status"].value_counts().items()},
        },
        "network": {"nodes": net.n_nodes, "edges": net.n_edges,
                    "length_km": float(net.edge_length_m.sum() / 1000),
                    "components": int(net.meta.get("components", 0)), "source": net.source},
        "warnings": [],  # filled by run() with the warnings of the run
    }

