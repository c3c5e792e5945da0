"""The networks a run travels on, and the urban or rural class of every place.

A circle is data: its ``mode`` names the network its field is searched on. Each mode
is a :class:`ModeNetwork`: a prepared network (its own streets and snapping index) and
the engine's edge costs on it (:class:`~eldercare_coverage.costs.EdgeCosts`; None for
walking, metres both ways). The engine never asks which mode it runs.

Classes (:class:`UnitClasses`): every population cell is ``urban`` or ``rural`` by the
unit that holds its centroid (villages and communities over towns; the official code,
else :func:`~eldercare_coverage.boundaries.classify_urban_rural`'s density rule); without
boundaries the study area is one unit classed by the density rule, and class-bound
circles count every cell. Delivery speeds take the class of the unit an edge lies in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from .boundaries import DEFAULT_MIN_ELDERLY_PER_KM2, classify_urban_rural
from .costs import EdgeCosts
from .delivery import DeliverySpeeds, delivery_costs, edge_is_urban, read_delivery_speeds
from .policy import Circle, ClassSpeed, Policy
from .prepared import PreparedNetwork

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ModeNetwork:
    """One mode's network and its edge costs.

    Attributes
    ----------
    mode
        ``walk`` or ``delivery``.
    prepared
        The prepared network the mode's places snap to and its searches run on.
    costs
        The edge costs (None: walking, metres both ways).
    speeds
        The class speeds the costs came from (delivery only).
    """

    mode: str
    prepared: PreparedNetwork
    costs: EdgeCosts | None = None
    speeds: DeliverySpeeds | None = None

    def reach_m(self, limit_cost: float) -> float:
        """The straight-line distance no place within ``limit_cost`` lies beyond, metres
        (walking: the limit; else the limit at the fastest speed of any edge or leg)."""
        if self.costs is None:
            return float(limit_cost)
        net = self.prepared.network
        with np.errstate(divide="ignore", invalid="ignore"):
            fastest = [np.nanmax(np.where(np.isfinite(c) & (c > 0), net.edge_length_m / c,
                                          0.0), initial=0.0)
                       for c in (self.costs.forward, self.costs.backward)]
        return float(limit_cost) * max(*fastest, self.costs.access_m_per_cost)


@dataclass(frozen=True)
class UnitClasses:
    """The urban or rural class of every population cell.

    Attributes
    ----------
    cell_class
        ``"urban"`` or ``"rural"`` per cell (object array; None in a unit without a class
        when the density rule was not asked for).
    units
        The units in the work CRS with ``urban_rural`` filled by the density rule where
        the code was missing; None without boundaries.
    area_class
        The study area's class by the density rule (cells and edges outside every unit).
    """

    cell_class: np.ndarray
    units: gpd.GeoDataFrame | None
    area_class: str

    def counted(self, circle: Circle) -> np.ndarray | None:
        """The cells ``circle`` counts: its classes' cells, or None (every cell) when it is
        not class-bound or there are no boundaries."""
        if not circle.class_bound or self.units is None:
            return None
        return np.isin(self.cell_class, list(circle.unit_classes))


def classify_cells(cells: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, crs: Any,
                   *, density_rule: bool = True) -> UnitClasses:
    """Each cell's class by the unit holding its centroid (the finest level decides).

    Parameters
    ----------
    cells
        Population cells in the work CRS with ``elderly``.
    units
        Boundaries (:func:`~eldercare_coverage.boundaries.read_boundaries`) or None.
    crs
        The work CRS.
    density_rule
        Class units without an official code by the density rule
        (:func:`~eldercare_coverage.boundaries.classify_urban_rural`); False leaves them
        unclassed (a run without class-bound or delivery circles needs no classes).
    """
    geoms = cells.geometry.to_numpy()
    elderly = cells["elderly"].to_numpy(dtype=float)
    hull = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(geoms))) \
        if len(geoms) else shapely.Polygon()
    area_km2 = shapely.area(hull) / 1e6
    density = elderly.sum() / area_km2 if area_km2 > 0 else 0.0
    area_class = "urban" if density >= DEFAULT_MIN_ELDERLY_PER_KM2 else "rural"
    cell_class = np.full(len(cells), area_class, dtype=object)
    if units is None or len(units) == 0:
        log.info("no boundaries: the study area (%.1f elderly per km2) is %s", density,
                 area_class)
        return UnitClasses(cell_class, None, area_class)
    units = units.to_crs(crs).reset_index(drop=True)
    if density_rule and ("urban_rural" not in units or units["urban_rural"].isna().any()):
        units = classify_urban_rural(units, cells)
    elif not density_rule:
        cell_class[:] = None  # cells of unclassed units stay unclassed
    if "urban_rural" not in units:
        return UnitClasses(cell_class, units, area_class)
    centroids = shapely.centroid(geoms)
    levels = units["level"].astype(str) if "level" in units else None
    order = ([lv for lv in dict.fromkeys(levels) if lv != "village"] + ["village"]
             if levels is not None else [None])
    for level in order:  # towns first, villages and communities over them
        part = units if level is None else units[levels == level]
        part = part[part["urban_rural"].notna()]
        if len(part) == 0:
            continue
        cell_i, unit_i = shapely.STRtree(part.geometry.to_numpy()).query(
            centroids, predicate="within")
        cell_class[cell_i] = part["urban_rural"].astype(str).to_numpy()[unit_i]
    return UnitClasses(cell_class, units, area_class)


def delivery_mode(prepared: PreparedNetwork, classes: UnitClasses,
                  policy: Policy | None = None, *,
                  speed_table: Sequence[ClassSpeed] | None = None) -> ModeNetwork:
    """The delivery network with its costs: speeds by the class of each edge's unit.

    Parameters
    ----------
    prepared
        The prepared delivery network.
    classes
        The units' classes (:func:`classify_cells`).
    policy
        The run's policy: its delivery speeds table (:attr:`Policy.delivery_speeds`).
    speed_table
        A delivery speeds table instead (:func:`~eldercare_coverage.policy.read_speed_table`).
        Without either (or with an empty one): the shipped
        ``coverage/data/delivery_speeds.csv``. The profile is ``settings.delivery_profile``.
    """
    urban = edge_is_urban(prepared.network, classes.units,
                          default_urban=classes.area_class == "urban")
    if speed_table is None and policy is not None:
        speed_table = policy.delivery_speeds
    speeds = read_delivery_speeds(table=speed_table)
    return ModeNetwork("delivery", prepared,
                       delivery_costs(prepared.network, urban=urban, speeds=speeds), speeds)
