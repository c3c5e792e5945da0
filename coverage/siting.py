"""Site selection: where new care centres or kitchens close the most of a circle's gap.

:func:`select_sites` answers on a :class:`~eldercare_coverage.result.CoverageResult`,
with the run's own distance field (``result.meta["state"]``), so a notebook can try
scenarios without reading the inputs again, and what it promises is what
:func:`~eldercare_coverage.pipeline.run` measures once the sites are in the facility
table:

1. candidates: a file (idle buildings, planned plots; :func:`~eldercare_coverage.candidates.read_candidates`),
   points every ``spacing_m`` on the streets of the gap areas
   (:func:`~eldercare_coverage.candidates.street_candidates`), or both; existing
   facilities stay;
2. the coverage matrix and demand groups of the circle
   (:mod:`eldercare_coverage.site_problem`): each candidate's reach measured as the field
   measures (:mod:`eldercare_coverage.site_reach`), demand = the field's unserved pixels;
3. a model (:mod:`eldercare_coverage.site_models`): ``mclp`` (``k`` sites, most elderly
   newly covered), ``lscp`` (fewest sites to reach ``target``, or every coverable
   person), ``capacity`` (``k`` sites, each serving at most its capacity), solved exactly
   by HiGHS from the greedy solution, with the solver's bound and gap;
4. the chosen sites ranked by what they add in greedy order (the first adds the most;
   each next the most given those before it), with their town and village.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .candidates import (
    DEFAULT_SPACING_M,
    Candidates,
    candidate_sites,
    read_candidates,
    street_candidates,
)
from .result import CoverageResult
from .site_models import (
    DEFAULT_TIME_LIMIT_S,
    MODELS,
    SiteSelectionError,
    Solution,
    greedy_cover,
    solve_capacity,
    solve_lscp,
    solve_mclp,
)
from .site_problem import SiteProblem, build_problem

log = logging.getLogger(__name__)

__all__ = ["SiteSelection", "SiteSelectionError", "select_sites", "siting_problem"]

SITE_COLUMNS = ["rank", "candidate_id", "name", "origin", "lon", "lat", "lon_gcj02",
                "lat_gcj02", "town", "village", "elderly_newly_covered",
                "coverage_rate_cumulative", "elderly_served", "capacity", "beds"]


@dataclass(eq=False)
class SiteSelection:
    """The chosen sites of one model on one circle, and the problem they solve.

    Attributes
    ----------
    sites
        One row per chosen site (EPSG:4326): ``rank`` (1 adds the most), ``candidate_id``,
        ``name``, ``origin`` (``file``/``streets``), ``lon``, ``lat``, ``lon_gcj02``,
        ``lat_gcj02``, ``town``, ``village`` (the units holding it; empty without
        boundaries), ``elderly_newly_covered`` (the elderly it newly reaches after those
        ranked before it), ``coverage_rate_cumulative`` (the circle's rate with it and
        those before it), ``elderly_served`` (``capacity`` only: the people it serves
        within its capacity; NaN for the other models), ``capacity``, ``beds``.
    model, circle
        The model and the circle.
    k, target
        The number of sites asked for, and the coverage rate asked for (``lscp``).
    objective, bound, gap
        The model's objective (elderly newly covered; sites for ``lscp``; people served
        for ``capacity``), the solver's dual bound and the relative gap between them.
    solve_s
        Seconds of solving; ``build_s`` of building the coverage matrix.
    rate_before, rate_after
        The circle's coverage rate now, and the rate promised with the chosen sites: for
        every model a coverage rate (everyone the sites reach within the limit, as a new
        run measures), also for ``capacity``, whose objective is the people served.
    elderly_before, elderly_after
        The covered elderly now and promised.
    problem
        The :class:`~eldercare_coverage.site_problem.SiteProblem` (coverage matrix, demand
        groups, :meth:`~eldercare_coverage.site_problem.SiteProblem.evaluate`).
    solution
        The solver's :class:`~eldercare_coverage.site_models.Solution`.
    """

    sites: gpd.GeoDataFrame
    model: str
    circle: str
    k: int | None
    target: float | None
    objective: float
    bound: float
    gap: float
    solve_s: float
    build_s: float
    rate_before: float
    rate_after: float
    elderly_before: float
    elderly_after: float
    problem: SiteProblem
    solution: Solution
    facility_type: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The facts of ``sites_summary.json``."""
        cand = self.problem.candidates.table
        return {
            "model": self.model, "circle": self.circle, "k": self.k, "target": self.target,
            "sites": len(self.sites), "facility_type": self.facility_type,
            "coverage_rate_before": self.rate_before, "coverage_rate_after": self.rate_after,
            "elderly_covered_before": self.elderly_before,
            "elderly_covered_after": self.elderly_after,
            "elderly_counted": self.problem.elderly_counted,
            "objective": self.objective, "bound": _num(self.bound), "gap": _num(self.gap),
            **({"elderly_served": self.objective} if self.model == "capacity" else {}),
            "greedy_objective": self.solution.greedy_objective,
            "solver": self.solution.solver, "status": self.solution.status,
            "solve_s": self.solve_s, "build_s": self.build_s,
            "candidates": {"total": len(cand),
                           "by_origin": {str(k): int(v) for k, v in
                                         cand["origin"].value_counts().items()},
                           "reaching_demand": int((self.problem.groups.cover.getnnz(axis=0)
                                                   > 0).sum()),
                           **self.problem.candidates.how},
            "demand_groups": len(self.problem.groups.weight),
            "unserved_pixels": int((~self.problem.served).sum()),
            **self.info,
        }


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _state(result: CoverageResult) -> Any:
    state = result.meta.get("state")
    if state is None:
        raise SiteSelectionError("the result holds no run state (result.meta['state']): "
                                 "select sites on the result of eldercare_coverage.run()")
    return state


def siting_problem(
    result: CoverageResult, circle: str = "walk_1500m", *,
    candidates: str | Path | pd.DataFrame | None = None, candidates_crs: str = "wgs84",
    generate: bool | None = None, spacing_m: float = DEFAULT_SPACING_M,
) -> SiteProblem:
    """The coverage matrix and demand groups of ``circle`` on a run's field.

    Parameters
    ----------
    result
        The result of :func:`~eldercare_coverage.pipeline.run`.
    circle
        A circle of the run.
    candidates
        A candidate file (or the table of
        :func:`~eldercare_coverage.candidates.read_candidates`); None: generated.
    candidates_crs
        Coordinate system of the candidate file (``wgs84``, ``gcj02``, ``bd09``).
    generate
        Also generate candidates on the streets of the gap areas (default: only
        without a candidate file).
    spacing_m
        Spacing of generated candidates, metres.
    """
    state = _state(result)
    names = [c.name for c in state.policy.circles]
    if circle not in names:
        raise SiteSelectionError(f"circle was {circle!r} but the run measured {names}")
    i = names.index(circle)
    lim = state.facilities.circles[i]
    if lim.mode == "walk":
        prepared, costs, radius = state.prepared, None, float(lim.limit_cost)
    elif lim.mode in state.modes:
        mode = state.modes[lim.mode]
        prepared, costs, radius = mode.prepared, mode.costs, mode.reach_m(lim.limit_cost)
    else:
        raise SiteSelectionError(f"circle {circle!r}: its {lim.mode!r} network is not in the run")
    _, fld = state.fields.of(lim.sources, lim.mode)
    pixels = state.population.located(lim.mode)[1]
    counted_cells = state.classes.counted(state.policy.circles[i])
    counted = np.ones(len(pixels.cell_of), dtype=bool) if counted_cells is None \
        else np.asarray(counted_cells, dtype=bool)[pixels.cell_of]
    table = read_candidates(candidates, crs=candidates_crs) \
        if isinstance(candidates, str | Path) else candidates
    how: dict[str, Any] = {"file": "" if table is None else str(
        table.attrs.get("source", "(table)")), "file_crs": candidates_crs if table is not None
        else ""}
    street_xy = None
    if generate or (generate is None and table is None):
        unserved = (fld.pixel_cost > lim.limit_cost) & counted & (pixels.people > 0) \
            & pixels.locations.on_network
        if table is None and not unserved.any():
            raise SiteSelectionError(
                f"circle {circle!r} already covers every counted elderly person reachable "
                "from the streets: there is no gap for new sites to close")
        street_xy = street_candidates(prepared, pixels.locations.edge[unserved],
                                      spacing_m=spacing_m)
        how.update(generated="points every spacing_m along the streets that unserved "
                   "pixels snap to, at most one per spacing_m square", spacing_m=spacing_m)
    cands = candidate_sites(prepared, table=table, street_xy=street_xy,
                            max_snap_m=state.opts.max_snap_m, how=how)
    fac = state.facilities
    rows = lim.sources
    elderly = state.population.elderly
    counted_elderly = float(elderly.sum() if counted_cells is None
                            else elderly[np.asarray(counted_cells, bool)].sum())
    return build_problem(
        circle=circle, limit_cost=lim.limit_cost, radius_m=radius, prepared=prepared,
        costs=costs, candidates=cands, facility_rows=rows,
        facility_ids=fac.table["facility_id"].to_numpy()[rows], facility_xy=fac.xy[rows],
        facility_locations=fac.located(lim.mode).take(rows), pixel_locations=pixels.locations,
        pixel_people=pixels.people, pixel_counted=counted, pixel_cost=fld.pixel_cost,
        elderly_counted=counted_elderly)


def _capacities(cands: Candidates, capacity: float | None, result: CoverageResult
                ) -> np.ndarray:
    """Each candidate's capacity in elderly people: its ``capacity``, else its ``beds`` at
    the policy's beds target (``beds_per_100`` 6: 100/6 people per bed), else ``capacity``."""
    table = cands.table
    cap = table["capacity"].to_numpy(dtype=float).copy()
    beds_target = next((t for t in result.policy.capacity
                        if t.measure == "beds" and t.target), None)
    beds = table["beds"].to_numpy(dtype=float)
    if beds_target is not None and beds_target.target:
        per_bed = beds_target.per_elderly / float(beds_target.target)
        cap = np.where(np.isnan(cap) & np.isfinite(beds), beds * per_bed, cap)
    if capacity is not None:
        cap = np.where(np.isnan(cap), float(capacity), cap)
    if np.isnan(cap).any():
        missing = table.loc[np.isnan(cap), "candidate_id"].tolist()
        raise SiteSelectionError(
            f"model 'capacity': candidates {missing[:10]} have no capacity: give a capacity "
            "or beds column in the candidate file, or capacity= (elderly people per site)")
    return cap


def _solve(problem: SiteProblem, model: str, k: int | None, target: float | None,
           capacity: np.ndarray | None, time_limit_s: float, solver: str) -> Solution:
    groups = problem.groups
    if model == "mclp":
        return solve_mclp(groups.cover, groups.weight, int(k or 0), time_limit_s=time_limit_s,
                          solver=solver)
    if model == "capacity" and capacity is not None:
        return solve_capacity(groups.cover, groups.weight, capacity, int(k or 0),
                              time_limit_s=time_limit_s, solver=solver)
    need = None if target is None else \
        float(target) * problem.elderly_counted - problem.elderly_served
    if need is not None and need > groups.weight.sum():
        best = (problem.elderly_served + groups.weight.sum()) / problem.elderly_counted
        raise SiteSelectionError(f"target {target:.3f} cannot be reached: every candidate "
                                 f"together brings {problem.circle} to {best:.4f}")
    return solve_lscp(groups.cover, groups.weight, need=need, time_limit_s=time_limit_s,
                      solver=solver)


def _ranked(problem: SiteProblem, solution: Solution, model: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The chosen candidates in rank order, the elderly each newly covers, and (model
    ``capacity``) the people each serves.

    ``mclp``, ``lscp``: greedy order of what each adds. ``capacity``: the most served
    first; what each newly covers is the coverage of the ranked prefixes measured by
    :meth:`~eldercare_coverage.site_problem.SiteProblem.evaluate` (everyone the sites
    reach, whom a new run counts), not the people served within capacity.
    """
    chosen = solution.chosen
    if model == "capacity" and solution.assignment is not None:
        served = np.asarray(solution.assignment.sum(axis=0)).ravel()[chosen]
        order = np.argsort(-served, kind="stable")
        ranked = chosen[order]
        covered = [problem.evaluate(open_candidates=ranked[:r])["elderly_covered"]
                   for r in range(len(ranked) + 1)]
        return ranked, np.diff(np.asarray(covered, dtype=float)), served[order]
    cover = problem.groups.cover[:, chosen]
    order, gains = greedy_cover(cover, problem.groups.weight, k=len(chosen))
    rest = np.setdiff1d(np.arange(len(chosen)), order)  # adding nothing more: last
    return (chosen[np.concatenate([order, rest])],
            np.concatenate([gains, np.zeros(len(rest))]), None)


def _units_at(result: CoverageResult, lon: np.ndarray, lat: np.ndarray
              ) -> tuple[list[str], list[str]]:
    """Names of the town and the village holding each point ('' without boundaries)."""
    towns, villages = [""] * len(lon), [""] * len(lon)
    units = result.units
    if units is None or len(units) == 0 or "level" not in units:
        return towns, villages
    if units.crs is not None and not units.crs.equals("EPSG:4326"):
        units = units.to_crs(4326)  # the run's out_crs: the points are WGS-84
    pts = shapely.points(lon, lat)
    for level, out in (("town", towns), ("village", villages)):
        part = units[(units["level"] == level) & units.geometry.notna()]
        if len(part) == 0:
            continue
        pt_i, unit_i = shapely.STRtree(part.geometry.to_numpy()).query(pts,
                                                                       predicate="intersects")
        names = part["name"].astype(str).to_numpy()
        for p, u in zip(pt_i[::-1], unit_i[::-1], strict=True):  # the first unit wins
            out[p] = names[u]
    return towns, villages


def _sites_table(result: CoverageResult, problem: SiteProblem, order: np.ndarray,
                 gains: np.ndarray, served: np.ndarray | None, capacity: np.ndarray | None
                 ) -> gpd.GeoDataFrame:
    from .chinese_crs import wgs84_to_gcj02

    cand = problem.candidates.table.iloc[order].reset_index(drop=True)
    lon, lat = cand["lon"].to_numpy(float), cand["lat"].to_numpy(float)
    glon, glat = wgs84_to_gcj02(lon, lat)
    towns, villages = _units_at(result, lon, lat)
    cumulative = (problem.elderly_served + np.cumsum(gains)) / problem.elderly_counted \
        if problem.elderly_counted else np.zeros(len(gains))
    table = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1), "candidate_id": cand["candidate_id"],
        "name": cand["name"], "origin": cand["origin"], "lon": lon, "lat": lat,
        "lon_gcj02": np.round(np.asarray(glon, float), 7),
        "lat_gcj02": np.round(np.asarray(glat, float), 7), "town": towns, "village": villages,
        "elderly_newly_covered": gains, "coverage_rate_cumulative": cumulative,
        "elderly_served": served if served is not None else np.full(len(order), np.nan),
        "capacity": capacity[order] if capacity is not None else cand["capacity"].to_numpy(),
        "beds": cand["beds"].to_numpy()})
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _check_type(policy: Any, circle: str, facility_type: str | None) -> str:
    """``facility_type``, or the circle's first type code when None; stop when new sites
    of that type would not serve ``circle`` (a new run would not count them, so the
    promise could not hold)."""
    spec = next(c for c in policy.circles if c.name == circle)
    allowed = policy.type_codes(spec.facility_kinds)
    if facility_type is None:
        return allowed[0] if allowed else ""
    if facility_type not in allowed:
        raise SiteSelectionError(
            f"facility type {facility_type!r} does not serve circle {circle!r} (it counts "
            f"{'/'.join(spec.facility_kinds)} facilities): choose one of {allowed}")
    return facility_type


def select_sites(
    result: CoverageResult, k: int | None = None, *, circle: str = "walk_1500m",
    model: str = "mclp", target: float | None = None,
    candidates: str | Path | pd.DataFrame | None = None, candidates_crs: str = "wgs84",
    generate: bool | None = None, spacing_m: float = DEFAULT_SPACING_M,
    capacity: float | None = None, facility_type: str | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S, solver: str = "highs",
    problem: SiteProblem | None = None,
) -> SiteSelection:
    """Choose new sites for a circle on a run's field.

    Parameters
    ----------
    result
        The result of :func:`~eldercare_coverage.pipeline.run` (it holds the field).
    k
        Number of new sites (``mclp``, ``capacity``).
    circle
        The circle to close the gap of (walking or delivery).
    model
        ``mclp`` (most elderly newly covered with ``k`` sites), ``lscp`` (fewest sites
        reaching ``target``) or ``capacity`` (``k`` sites, each serving at most its
        capacity; maximise the elderly they serve).
    target
        ``lscp``: the coverage rate to reach (0..1, of the circle's counted elderly);
        None: every elderly person some candidate can reach.
    candidates, candidates_crs
        A candidate file (CSV, XLSX, GeoJSON, GPKG) or the table of
        :func:`~eldercare_coverage.candidates.read_candidates`, and its coordinate system;
        None: candidates generated on the streets of the gap areas.
    generate, spacing_m
        Also generate street candidates with a file (default: only without one), and
        their spacing in metres (default 200).
    capacity
        Elderly people a site can serve (``capacity`` model) where the file gives no
        ``capacity`` or ``beds`` (beds count at the policy's beds-per-100 target).
    facility_type
        The type the new sites will have (default: the most common type among the
        circle's facilities), for :func:`~eldercare_coverage.site_outputs.sites_to_facilities`;
        it must be one of the codes that serve the circle
        (``policy.type_codes(circle.facility_kinds)``).
    time_limit_s
        Time limit of the solver, seconds.
    solver
        ``highs`` (highspy; scipy when not installed), ``scipy`` or ``greedy``.
    problem
        A :func:`siting_problem` already built for this circle and these candidates (to
        try several models or ``k`` without building the matrix again).

    Returns
    -------
    SiteSelection

    Raises
    ------
    SiteSelectionError
        An unknown model, a missing ``k``, a target out of (0, 1], a circle with no gap
        and no candidate file, or a ``facility_type`` that does not serve the circle.
    """
    if model not in MODELS:
        raise SiteSelectionError(f"model was {model!r} but is expected to be in {MODELS}")
    if model in ("mclp", "capacity") and (k is None or int(k) < 1):
        raise SiteSelectionError(f"model {model!r} needs k, the number of new sites (>= 1)")
    if target is not None and not 0 < target <= 1:
        raise SiteSelectionError(f"target was {target!r} but must be a rate in (0, 1]")
    if problem is None:
        problem = siting_problem(result, circle, candidates=candidates,
                               candidates_crs=candidates_crs, generate=generate,
                               spacing_m=spacing_m)
    state = _state(result)
    if facility_type is None:
        types = state.facilities.table["type"].to_numpy()[problem.facility_rows]
        facility_type = str(pd.Series(types).mode().iat[0]) if len(types) else None
    facility_type = _check_type(state.policy, problem.circle, facility_type)
    cap = _capacities(problem.candidates, capacity, result) if model == "capacity" else None
    solution = _solve(problem, model, k, target, cap, time_limit_s, solver)
    order, gains, served = _ranked(problem, solution, model)
    sites = _sites_table(result, problem, order, gains, served, cap)
    added = float(gains.sum())
    after = problem.elderly_served + added
    counted = problem.elderly_counted
    log.info("%s %s: %d sites, %.1f -> %.1f elderly covered (%.4f -> %.4f), gap %.2g, %.1f s",
             model, problem.circle, len(sites), problem.elderly_served, after,
             problem.rate_before, after / counted if counted else 0.0, solution.gap,
             solution.seconds)
    return SiteSelection(
        sites=sites, model=model, circle=problem.circle, k=None if k is None else int(k),
        target=target, objective=solution.objective, bound=solution.bound, gap=solution.gap,
        solve_s=solution.seconds, build_s=problem.build_s, rate_before=problem.rate_before,
        rate_after=after / counted if counted else 0.0, elderly_before=problem.elderly_served,
        elderly_after=after, problem=problem, solution=solution, facility_type=facility_type)
