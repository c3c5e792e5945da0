"""The typed results of the pipeline's stages (:mod:`eldercare_coverage.pipeline`).

Each stage of :func:`~eldercare_coverage.pipeline.run` takes and returns one of these, so a
user (and the later questions: the meal stage, site selection) can inspect what it did:

- :class:`RunOptions` -- the settings of one run, resolved once;
- :class:`PlacedFacilities` -- the facility table on the streets, and who serves which circle;
- :class:`PlacedPopulation` -- the cells, their centroids and pixels on the streets;
- :class:`Fields` -- one search per mode and distinct set of facilities;
- :class:`CircleMeasures` -- what the fields say of each circle and rings set;
- :class:`DrawnPolygons` -- service areas, catchments and bands drawn from the fields;
- :class:`RunState` -- all of it, kept in ``result.meta["state"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np

from .field import CircleLimit, DistanceField, FacilityReach, PopulationPixels
from .modes import ModeNetwork, UnitClasses
from .policy import Policy, Rings
from .prepared import PreparedNetwork
from .settings import settings as _settings
from .snapping import NetworkLocations

__all__ = ["CircleMeasures", "DrawnPolygons", "FieldKey", "Fields", "PlacedFacilities",
           "PlacedPopulation", "RunOptions", "RunState", "field_key"]


@dataclass(frozen=True)
class RunOptions:
    """The settings of one run, resolved once (arguments over ``settings``)."""

    max_snap_m: float
    walk_speed_m_s: float
    pixel_m: float
    draw_pixel_m: float
    progress: bool
    facility_areas: bool
    delivery_draw_pixel_m: float = 40.0

    @classmethod
    def resolve(cls, *, max_snap_m: float | None = None, walk_speed_m_s: float | None = None,
                progress: bool | None = None, facility_areas: bool = False) -> RunOptions:
        """Options from the given values, ``settings`` where a value is None."""
        return cls(
            max_snap_m=_settings.max_snap_m if max_snap_m is None else float(max_snap_m),
            walk_speed_m_s=(_settings.walk_speed_m_s if walk_speed_m_s is None
                            else float(walk_speed_m_s)),
            pixel_m=float(_settings.overlay_pixel_m),
            draw_pixel_m=float(_settings.draw_pixel_m),
            progress=_settings.progress if progress is None else bool(progress),
            facility_areas=bool(facility_areas),
            delivery_draw_pixel_m=float(_settings.delivery_draw_pixel_m))


@dataclass(frozen=True)
class PlacedFacilities:
    """The facility table on the streets, and who serves which circle.

    Attributes
    ----------
    table
        Every input row, ``status`` ``used`` or ``excluded`` with its ``reason``, and
        ``snap_m`` (the access leg), in the input's CRS.
    xy
        Coordinates in the work CRS (NaN without coordinates), shape (F, 2).
    locations
        Every row on its nearest street (``edge == -1`` when farther than the limit).
    circles
        Each circle's limit in engine cost and the rows that serve it.
    rings
        Each rings set and the rows that serve it.
    by_mode
        Every row on its nearest street of each other mode's network (``delivery``).
    """

    table: gpd.GeoDataFrame
    xy: np.ndarray
    locations: NetworkLocations
    circles: tuple[CircleLimit, ...]
    rings: tuple[tuple[Rings, np.ndarray], ...]
    by_mode: dict[str, NetworkLocations] = field(default_factory=dict)

    def located(self, mode: str) -> NetworkLocations:
        """Every row on its nearest street of ``mode``'s network."""
        return self.locations if mode == "walk" else self.by_mode[mode]


@dataclass(frozen=True)
class PlacedPopulation:
    """The population cells in the work CRS, their centroids and pixels on the streets.

    Attributes
    ----------
    cells
        The cells (``elderly``, geometry, ...) in the work CRS, index 0..n-1, with
        ``snap_m`` (the centroid's access leg).
    centroids
        Each cell's centroid on its nearest street.
    pixels
        The cells' pixels on their nearest streets.
    by_mode
        The centroids and pixels on each other mode's network (``delivery``).
    """

    cells: gpd.GeoDataFrame
    centroids: NetworkLocations
    pixels: PopulationPixels
    by_mode: dict[str, tuple[NetworkLocations, PopulationPixels]] = field(default_factory=dict)

    def located(self, mode: str) -> tuple[NetworkLocations, PopulationPixels]:
        """The centroids and pixels on ``mode``'s network."""
        return (self.centroids, self.pixels) if mode == "walk" else self.by_mode[mode]

    @property
    def elderly(self) -> np.ndarray:
        """People per cell."""
        return self.cells["elderly"].to_numpy(dtype=float)


FieldKey = tuple[str, tuple[int, ...]]  # (mode, facility rows)


def field_key(sources: np.ndarray, mode: str) -> FieldKey:
    return mode, tuple(int(i) for i in sources)


@dataclass(frozen=True)
class Fields:
    """One search per mode and distinct set of facilities, shared by the circles that
    use it."""

    reach: dict[FieldKey, FacilityReach]
    field: dict[FieldKey, DistanceField]

    def of(self, sources: np.ndarray, mode: str = "walk") -> tuple[FacilityReach, DistanceField]:
        """The search and field of the facilities at rows ``sources`` on ``mode``."""
        key = field_key(sources, mode)
        return self.reach[key], self.field[key]


@dataclass(frozen=True)
class CircleMeasures:
    """What the field says of each circle and rings set.

    Attributes
    ----------
    cells
        The population cells with the per-circle columns (``<name>_dist`` in the
        circle's unit, ``_facility``, ``_share``, ``_covered``), ``<rings>_band``,
        ``status`` and ``reason``.
    circles
        The circle rows of the summary.
    catchment_people
        Per circle name, the people of each facility row's catchment.
    rings
        The rings rows of the summary (people per band).
    counted
        Per circle name, the cells it counts (None: every cell).
    """

    cells: gpd.GeoDataFrame
    circles: list[dict[str, Any]]
    catchment_people: dict[str, np.ndarray]
    rings: list[dict[str, Any]]
    counted: dict[str, np.ndarray | None] = field(default_factory=dict)


@dataclass(frozen=True)
class DrawnPolygons:
    """Service areas (one per circle), catchments and distance bands, in the work CRS."""

    service_areas: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    rings: gpd.GeoDataFrame
    facility_areas: gpd.GeoDataFrame | None


@dataclass(frozen=True, eq=False)
class RunState:
    """What a run measured, kept so that later questions (site selection) ask the same
    field without reading the inputs again: ``result.meta["state"]``."""

    prepared: PreparedNetwork
    facilities: PlacedFacilities
    population: PlacedPopulation
    fields: Fields
    classes: UnitClasses
    modes: dict[str, ModeNetwork]
    opts: RunOptions
    policy: Policy
