"""The meal question per village and community: reached, served, and meals per elderly.

A village or community is **reached** when at least ``settings.meal_reached_share`` of
its elderly live within its class's delivery limit (urban: ``meal_urban_15min``,
rural: ``meal_rural_30min``) or within the dine-in circle (``meal_walk_15min``); it is
**served** (as the plans count it) when a kitchen, canteen or meal point lies inside
it. :func:`community_meals` adds per unit the class, the limit used, the minutes from
a kitchen for its median elderly person, the share within, reached and served; the
summary gets ``community_meal_coverage_rate`` (share of villages and communities with
elderly that are reached) and ``community_meal_service_rate`` (share served).
Capacity (:func:`kitchen_capacity`): each kitchen's ``meals_per_day`` against the
elderly in its delivery catchment; per unit (:func:`unit_meal_capacity`) each kitchen's
meals are shared over the units in proportion to where its catchment's elderly live
(``meal_capacity_per_day``), and set against all the unit's elderly
(``meals_per_100_elderly``).

Counts are extensive: a cell split by a unit boundary gives the unit its people by area
(:func:`eldercare_coverage.analysis.area_weights`), as in the unit statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .analysis import OUTSIDE_UNITS, area_weights

COMMUNITY_LEVEL = "village"  # villages (rural) and communities (urban) are one level


@dataclass(frozen=True)
class CellMeals:
    """What the meal circles say of each population cell.

    Attributes
    ----------
    share_within
        Share of the cell's pixels within its class's delivery limit or the dine-in
        circle (0..1).
    kitchen_min
        Minutes from the nearest kitchen by delivery at the cell's centroid (NaN: none).
    limit_min
        The delivery limit of the cell's class, minutes (NaN: no delivery circle).
    """

    share_within: np.ndarray
    kitchen_min: np.ndarray
    limit_min: np.ndarray


def _weighted_median(group: np.ndarray, value: np.ndarray, weight: np.ndarray,
                     n_groups: int) -> np.ndarray:
    """Per group, the value of its median unit of weight (NaN for a group of no weight;
    NaN values count as beyond every number).

    Examples
    --------
    >>> _weighted_median(np.array([0, 0, 0, 1]), np.array([5., 1., 9., 2.]),
    ...                  np.array([1., 1., 3., 0.]), 3).tolist()
    [9.0, nan, nan]
    """
    value = np.where(np.isnan(value), np.inf, value)
    order = np.lexsort((value, group))
    group, value, weight = group[order], value[order], weight[order]
    total = np.bincount(group, weight, minlength=n_groups)
    cum = np.cumsum(weight)
    start = np.concatenate([[0.0], cum])[np.searchsorted(group, np.arange(n_groups))]
    out = np.full(n_groups, np.nan)
    for g in np.flatnonzero(total > 0):
        lo, hi = np.searchsorted(group, [g, g + 1])
        k = lo + int(np.searchsorted(cum[lo:hi] - start[g], total[g] / 2, side="left"))
        out[g] = value[min(k, hi - 1)]
    return np.where(np.isinf(out), np.nan, out)


def unit_weights(units: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """Area shares of the cells in every unit with a geometry: ``cell``, ``polygon`` (the
    unit's row), ``weight`` (:func:`~eldercare_coverage.analysis.area_weights`; units of
    one level do not overlap, so a cell's weights within a level sum to at most 1)."""
    geoms = units.geometry.to_numpy()
    has_geom = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    return area_weights(cells.geometry.to_numpy(), np.where(has_geom, geoms, shapely.Polygon()))


def community_meals(
    units: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, meals: CellMeals,
    meal_xy: np.ndarray, *, reached_share: float, limit_by_class: dict[str, float],
    weights: pd.DataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Per unit the meal columns, and the community rates of the summary.

    Parameters
    ----------
    units
        The unit table (:func:`~eldercare_coverage.analysis.unit_statistics`), work CRS.
    cells
        Population cells (``elderly``), work CRS.
    meals
        The meal circles at the cells.
    meal_xy
        Coordinates of every used kitchen, canteen and meal point (work CRS).
    reached_share
        A unit is reached when at least this share of its elderly are within.
    limit_by_class
        The delivery limit in minutes of each unit class.
    weights
        The cells' area shares in the units (:func:`unit_weights`; computed when None).

    Returns
    -------
    units, summary
        The table with ``meal_class``, ``meal_limit_min``, ``meal_kitchen_min_median``,
        ``meal_share_within``, ``meal_reached``, ``meal_facility_inside``; the summary's
        community rates.
    """
    out = units.copy()
    n = len(out)
    geoms = out.geometry.to_numpy()
    has_geom = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    elderly = cells["elderly"].to_numpy(dtype=float)
    w = unit_weights(units, cells) if weights is None else weights
    cell_i, unit_i = w["cell"].to_numpy(), w["polygon"].to_numpy()
    people = elderly[cell_i] * w["weight"].to_numpy()
    total = np.bincount(unit_i, people, minlength=n)
    within = np.bincount(unit_i, people * meals.share_within[cell_i], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, within / total, np.nan)
    median = _weighted_median(unit_i, meals.kitchen_min[cell_i], people, n)
    inside = np.zeros(n, dtype=bool)
    xy = np.asarray(meal_xy, dtype=float).reshape(-1, 2)
    if len(xy):
        _, hit = shapely.STRtree(np.where(has_geom, geoms, shapely.Polygon())).query(
            shapely.points(xy), predicate="intersects")
        inside[hit] = True
    classes = (out["urban_rural"].astype(object).where(out["urban_rural"].notna(), None)
               if "urban_rural" in out else pd.Series([None] * n, index=out.index))
    out["meal_class"] = classes.to_numpy()
    out["meal_limit_min"] = [limit_by_class.get(str(c), np.nan) if c is not None else np.nan
                             for c in classes]
    out["meal_kitchen_min_median"] = median
    out["meal_share_within"] = share
    out["meal_reached"] = np.where(has_geom, share >= reached_share, False)
    out["meal_facility_inside"] = np.where(has_geom, inside, False)
    levels = out["level"].astype(str).to_numpy() if "level" in out else np.full(n, "all")
    real = has_geom & (out["name"].astype(str).to_numpy() != OUTSIDE_UNITS)
    community = real & (levels == COMMUNITY_LEVEL)
    if not community.any():
        community = real  # no villages: the units there are (the study area without boundaries)
    with_people = community & (total > 0)
    summary = {
        "community_meal_coverage_rate": (float(out["meal_reached"].to_numpy()[with_people]
                                               .mean()) if with_people.any() else 0.0),
        "community_meal_service_rate": (float(inside[community].mean())
                                        if community.any() else 0.0),
        "community_meal_reached_share": float(reached_share),
        "communities": int(community.sum()),
        "communities_with_elderly": int(with_people.sum()),
        "communities_reached": int(out["meal_reached"].to_numpy()[with_people].sum()),
        "communities_with_meal_facility": int(inside[community].sum()),
    }
    return out, summary


def kitchen_capacity(meals_per_day: np.ndarray, catchment_elderly: np.ndarray
                     ) -> dict[str, Any]:
    """Meals a day against the elderly in the kitchens' delivery catchments.

    Parameters
    ----------
    meals_per_day
        Per kitchen, its ``meals_per_day`` (NaN unknown).
    catchment_elderly
        Per kitchen, the elderly of its delivery catchments.

    Examples
    --------
    >>> kitchen_capacity(np.array([200., np.nan]), np.array([1000., 500.]))["meals_per_100_elderly"]
    20.0
    """
    meals = np.asarray(meals_per_day, dtype=float)
    people = np.asarray(catchment_elderly, dtype=float)
    known = np.isfinite(meals)
    elderly_known = float(people[known].sum())
    return {"kitchens": int(len(meals)), "kitchens_with_meals_per_day": int(known.sum()),
            "meals_per_day": float(meals[known].sum()),
            "elderly_in_catchments": float(people.sum()),
            "meals_per_100_elderly": (100.0 * float(meals[known].sum()) / elderly_known
                                      if elderly_known > 0 else None)}


def unit_meal_capacity(units: gpd.GeoDataFrame, cells: gpd.GeoDataFrame,
                       catchment: pd.DataFrame, meals_per_day: np.ndarray, *,
                       weights: pd.DataFrame | None = None) -> np.ndarray:
    """Meals a day per unit: each kitchen's meals shared over the units in proportion to
    where its catchment's elderly live.

    Meals are extensive: a kitchen's meals go to the cells of its catchment in proportion
    to its people there, and a cell's meals to the units by area (as its people,
    :func:`~eldercare_coverage.analysis.area_weights`; the share outside every unit of a
    level goes to that level's ``(outside units)`` row). So each level of units holds
    the meals of every kitchen with a known ``meals_per_day`` and a non-empty catchment.

    Parameters
    ----------
    units
        The unit table (work CRS), with ``level`` and ``name`` when there are levels.
    cells
        Population cells (work CRS).
    catchment
        A long table ``kitchen, cell, elderly``: the people of kitchen ``kitchen`` (an
        index into ``meals_per_day``) in cell ``cell`` (a row of ``cells``).
    meals_per_day
        Per kitchen, its meals a day (NaN: unknown, shares nothing).
    weights
        The cells' area shares in the units (:func:`unit_weights`; computed when None).

    Returns
    -------
    numpy.ndarray
        Per unit row, meals a day (NaN for every row when no kitchen of the catchment
        has a known ``meals_per_day``).

    Examples
    --------
    Two units side by side, two cells, each in one unit; kitchen 0 (100 meals) serves 30
    people in cell 0 and 10 in cell 1; kitchen 1 (60 meals) serves 20 in cell 1:

    >>> units = gpd.GeoDataFrame({"name": ["A", "B"], "level": ["village"] * 2},
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)])
    >>> cells = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 2, 2), shapely.box(11, 1, 12, 2)])
    >>> catchment = pd.DataFrame({"kitchen": [0, 0, 1], "cell": [0, 1, 1],
    ...                           "elderly": [30.0, 10.0, 20.0]})
    >>> unit_meal_capacity(units, cells, catchment, np.array([100.0, 60.0])).tolist()
    [75.0, 85.0]
    """
    meals = np.asarray(meals_per_day, dtype=float)
    kitchen = catchment["kitchen"].to_numpy(dtype=np.int64)
    cell = catchment["cell"].to_numpy(dtype=np.int64)
    people = catchment["elderly"].to_numpy(dtype=float)
    known = np.isfinite(meals)
    if not known[kitchen].any():
        return np.full(len(units), np.nan)
    total = np.bincount(kitchen, people, minlength=len(meals))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total[kitchen] > 0, people / total[kitchen], 0.0)
    cell_meals = np.bincount(cell, np.where(known[kitchen], meals[kitchen], 0.0) * share,
                             minlength=len(cells))
    out = np.zeros(len(units))
    geoms = units.geometry.to_numpy()
    has_geom = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    levels = (units["level"].astype(str).to_numpy() if "level" in units
              else np.full(len(units), "all"))
    names = units["name"].astype(str).to_numpy() if "name" in units else np.full(len(units), "")
    w = unit_weights(units, cells) if weights is None else weights
    w_cell, w_unit, w_weight = (w["cell"].to_numpy(), w["polygon"].to_numpy(),
                                w["weight"].to_numpy())
    for level in dict.fromkeys(levels):
        mine = (levels == level)[w_unit] & has_geom[w_unit]
        cell_i, weight = w_cell[mine], w_weight[mine]
        np.add.at(out, w_unit[mine], cell_meals[cell_i] * weight)
        outside = np.flatnonzero((levels == level) & (names == OUTSIDE_UNITS))
        if len(outside):  # what no unit of the level holds
            inside = np.bincount(cell_i, weight, minlength=len(cells))
            out[outside[0]] += float((cell_meals * np.clip(1.0 - inside, 0.0, 1.0)).sum())
    return out
