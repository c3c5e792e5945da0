"""The meal question of a run: per cell, per village and community, per kitchen.

The pipeline's meal stage (:func:`eldercare_coverage.pipeline.run` calls it after the unit
statistics), on the fields the run measured:

- :func:`cell_meals` -- each cell's share within its class's delivery limit (urban 15 min,
  rural 30 min) or the dine-in circle, and its minutes from a kitchen;
- :func:`community_meal_columns` -- the units' meal columns (reached, has a meal facility,
  minutes for the median elderly person, meal capacity per day) and the community rates of
  ``summary.json`` (:mod:`eldercare_coverage.meals` holds the arithmetic);
- :func:`kitchen_columns` -- each kitchen's delivery catchment and meals per 100 elderly;
- :func:`delivery_summary` -- the delivery network and the rule and speeds it was built with.

A kitchen's catchment counts each person once, by the delivery circle of their own class.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .field import CircleLimit
from .meals import (
    CellMeals,
    community_meals,
    kitchen_capacity,
    unit_meal_capacity,
    unit_weights,
)
from .modes import ModeNetwork, UnitClasses
from .policy import Circle, Policy
from .settings import settings as _settings
from .stages import CircleMeasures, Fields, PlacedFacilities, PlacedPopulation

__all__ = ["cell_meals", "community_meal_columns", "delivery_summary", "kitchen_columns"]


def _meal_circles(policy: Policy, placed: PlacedFacilities
                  ) -> tuple[list[tuple[Circle, CircleLimit]], list[tuple[Circle, CircleLimit]]]:
    """The policy's delivery circles and its dine-in circles (walking circles whose
    facility types are all meal facilities), each with its limit."""
    kind_of = {t.code: t.kind for t in policy.facility_types}
    pairs = list(zip(policy.circles, placed.circles, strict=True))
    delivery = [(c, lim) for c, lim in pairs if c.mode == "delivery"]
    dine_in = [(c, lim) for c, lim in pairs if c.mode == "walk"
               and (codes := policy.type_codes(c.facility_kinds))
               and all(kind_of.get(k) == "meal" for k in codes)]
    return delivery, dine_in


def cell_meals(policy: Policy, placed: PlacedFacilities, people: PlacedPopulation,
                fields: Fields, classes: UnitClasses) -> CellMeals | None:
    """Each cell's share within its class's delivery limit or the dine-in circle, and its
    minutes from a kitchen (None when the run has no meal circle)."""
    delivery, dine_in = _meal_circles(policy, placed)
    if not delivery and not dine_in:
        return None
    pixels = people.pixels
    pixel_class = classes.cell_class[pixels.cell_of]
    within = np.zeros(len(pixels.cell_of), dtype=bool)
    kitchen_s = np.full(len(people.cells), np.nan)
    limit_s = np.full(len(people.cells), np.nan)
    for c, lim in delivery:
        _, fld = fields.of(lim.sources, lim.mode)
        mine = np.isin(pixel_class, list(c.unit_classes))
        within |= mine & (fld.pixel_cost <= lim.limit_cost)
        cell_mine = np.isin(classes.cell_class, list(c.unit_classes)) & np.isnan(limit_s)
        kitchen_s[cell_mine] = np.where(np.isfinite(fld.centroid_cost), fld.centroid_cost,
                                        np.nan)[cell_mine]
        limit_s[cell_mine] = lim.limit_cost
    for _, lim in dine_in:
        _, fld = fields.of(lim.sources, lim.mode)
        within |= fld.pixel_cost <= lim.limit_cost
    return CellMeals(np.clip(pixels.share(within), 0.0, 1.0), kitchen_s / 60.0, limit_s / 60.0)


def _delivery_catchment(policy: Policy, measures: CircleMeasures,
                        cells: gpd.GeoDataFrame) -> np.ndarray | float:
    """People per kitchen row over the delivery circles, each person counted once: by the
    circle of their own class. Class-bound circles count only their class's cells when
    there are boundaries; without them every cell has the area's class, and only that
    class's circle is summed (both would count every cell)."""
    classes = set(cells["urban_rural"].dropna()) if "urban_rural" in cells else set()
    circles = [c for c in policy.circles if c.mode == "delivery"]
    own = [c for c in circles if not classes or classes & set(c.unit_classes)]
    return sum((measures.catchment_people[c.name] for c in own), 0.0)


def community_meal_columns(policy: Policy, placed: PlacedFacilities, measures: CircleMeasures,
                     cells: gpd.GeoDataFrame,
                     unit_table: gpd.GeoDataFrame, meals: CellMeals, *,
                     people: PlacedPopulation | None = None, fields: Fields | None = None
                     ) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The units' meal columns, the community rates and the kitchens' capacity; with
    ``people`` and ``fields`` also each unit's share of the kitchens' meals
    (``meal_capacity_per_day``, ``meals_per_100_elderly``:
    :func:`~eldercare_coverage.meals.unit_meal_capacity`)."""
    delivery, _ = _meal_circles(policy, placed)
    table = placed.table
    meal_codes = [t.code for t in policy.facility_types if t.kind == "meal"]
    meal_rows = np.flatnonzero(table["type"].isin(meal_codes).to_numpy()
                               & (table["status"] == "used").to_numpy())
    limit_by_class = {k: float(c.limit) for c, _ in reversed(delivery) for k in c.unit_classes}
    weights = unit_weights(unit_table, cells)  # one overlay for both questions
    units, summary = community_meals(
        unit_table, cells, meals,
        placed.xy[meal_rows], reached_share=_settings.meal_reached_share,
        limit_by_class=limit_by_class, weights=weights)
    if delivery:
        kitchens = np.unique(np.concatenate([lim.sources for _, lim in delivery]))
        # per row (0.0 when no delivery circle counts a class present: no one to serve)
        catchment = np.broadcast_to(_delivery_catchment(policy, measures, cells), len(table))
        meals_per_day = table["meals_per_day"].to_numpy(dtype=float)[kitchens] \
            if "meals_per_day" in table else np.full(len(kitchens), np.nan)
        summary["meal_capacity"] = kitchen_capacity(meals_per_day,
                                                    np.asarray(catchment)[kitchens])
        if people is not None and fields is not None:
            # each kitchen's people per cell, pixel by pixel as its catchment counts them
            # (the circle of each person's own class: _delivery_catchment)
            present = set(cells["urban_rural"].dropna()) if "urban_rural" in cells else set()
            parts = []
            for c, lim in delivery:
                if present and not present & set(c.unit_classes):
                    continue
                pixels = people.located(lim.mode)[1]
                fld = fields.of(lim.sources, lim.mode)[1]
                within = fld.pixel_cost <= lim.limit_cost
                counted = measures.counted.get(c.name)
                if counted is not None:
                    within &= np.asarray(counted, dtype=bool)[pixels.cell_of]
                parts.append(pd.DataFrame({"kitchen": fld.pixel_source[within],
                                           "cell": pixels.cell_of[within],
                                           "elderly": pixels.people[within]}))
            all_meals = (pd.to_numeric(table["meals_per_day"], errors="coerce")
                         .to_numpy(dtype=float) if "meals_per_day" in table
                         else np.full(len(table), np.nan))
            served = (pd.concat(parts, ignore_index=True) if parts
                      else pd.DataFrame({"kitchen": [], "cell": [], "elderly": []}))
            capacity = unit_meal_capacity(units, cells, served, all_meals, weights=weights)
            units["meal_capacity_per_day"] = capacity
            elderly = units["elderly"].to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                units["meals_per_100_elderly"] = np.where(elderly > 0,
                                                          100.0 * capacity / elderly, np.nan)
    return units, summary


def kitchen_columns(table: gpd.GeoDataFrame, policy: Policy, placed: PlacedFacilities,
                     measures: CircleMeasures, cells: gpd.GeoDataFrame) -> None:
    """Each kitchen's meals against the elderly of its delivery catchments: the columns
    ``delivery_elderly`` and ``meals_per_100_elderly`` (NaN for other rows)."""
    names = [c.name for c in policy.circles if c.mode == "delivery"]
    if not names:
        return
    people_of = np.broadcast_to(_delivery_catchment(policy, measures, cells), len(table))
    kitchen = np.zeros(len(table), dtype=bool)
    for lim in placed.circles:
        if lim.mode == "delivery":
            kitchen[lim.sources] = True
    table["delivery_elderly"] = np.where(kitchen, people_of, np.nan)
    meals = (pd.to_numeric(table["meals_per_day"], errors="coerce").to_numpy(dtype=float)
             if "meals_per_day" in table else np.full(len(table), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        table["meals_per_100_elderly"] = np.where(
            kitchen & (people_of > 0), 100.0 * meals / people_of, np.nan)


def delivery_summary(modes: dict[str, ModeNetwork]) -> dict[str, Any]:
    """``summary.json``'s ``delivery_network`` entry: the delivery network, the rule of the
    ways its vehicle uses, the speeds table and the settings its costs came from (nothing
    without a delivery network)."""
    from .delivery import DELIVERY_RULES

    if "delivery" not in modes:
        return {}
    mode = modes["delivery"]
    net = mode.prepared.network
    oneway = net.edge_oneway if net.edge_oneway is not None else np.zeros(net.n_edges)
    profile = mode.speeds.profile if mode.speeds is not None else _settings.delivery_profile
    pushed = (np.asarray(net.edge_dismount, dtype=bool) if net.edge_dismount is not None
              else np.zeros(net.n_edges, dtype=bool))
    return {"delivery_network": {
        "profile": profile, "rule": DELIVERY_RULES.get(profile, ""),
        "nodes": net.n_nodes, "edges": net.n_edges,
        "length_km": float(net.edge_length_m.sum() / 1000),
        "oneway_edges": int((oneway != 0).sum()),
        "pushed_km": float(net.edge_length_m[pushed].sum() / 1000),  # footways, e-bike pushed
        "max_speed_kph": (float(mode.speeds.max_kph) if mode.speeds is not None
                          and np.isfinite(mode.speeds.max_kph) else None),
        "speeds_source": mode.speeds.source if mode.speeds is not None else "",
        "courier_walk_speed_m_s": float(_settings.courier_walk_speed_m_s),
        "junction_delay_s": float(_settings.delivery_junction_delay_s)}}
