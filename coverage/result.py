"""The result of one coverage run: the tables behind every output file.

All GeoDataFrames are in EPSG:4326 (the output CRS). Column contract
(DESIGN.md "Outputs"):

``facilities``
    one row per input facility: ``facility_id``, ``name``, ``type``, ``type_label``,
    ``beds``, ``meals_per_day``, ``source_row``, ``status`` (``used``/``excluded``),
    ``reason``, ``exclusion`` (for an excluded row: ``data``, a problem of the row itself,
    or ``not_requested``, a kind no circle of the run uses), ``snap_m`` (access leg to the
    street, metres), Point geometry or None.
``service_areas``
    one row per circle: ``circle``, ``label_zh``, ``label_en``, ``limit``, ``unit``,
    ``elderly_covered``, ``area_km2``, the dissolved area drawn from the distance field.
``catchments``
    one row per facility and circle it serves: ``facility_id``, ``type``, ``circle``,
    ``limit``, ``unit``, ``elderly_covered`` (the people for whom it is the nearest
    facility within the limit: a circle's catchments add up to its ``elderly_covered``),
    ``area_km2``, geometry (empty when it reaches no drawn ground).
``rings``
    one row per distance band of a rings set: ``rings``, ``band`` (e.g. ``500-1000m``),
    ``lower``, ``upper``, ``unit``, ``elderly`` (people whose nearest facility is that
    far), ``area_km2``, geometry.
``facility_areas``
    None unless asked (``run(..., facility_areas=True)``): one row per facility and
    circle with its own, overlapping area, ``elderly_reached`` (people inside it alone).
``population``
    one row per cell: ``cell_id``, ``row``, ``col``, ``elderly``, ``snap_m``,
    ``urban_rural`` (the class of the unit holding its centre), ``town``, ``village``
    and per circle ``<name>_dist`` (network distance or travel time to the nearest
    serving facility in the circle's unit, NaN when unreachable), ``<name>_facility``
    (that facility's id), ``<name>_share`` (area share inside the circle, 0..1),
    ``<name>_covered`` (elderly covered, = elderly * share; 0 in cells of the other
    class for a class-bound circle);
    per rings set ``<rings name>_band``; ``status`` / ``reason`` for cells the
    network cannot reach.
``gaps``
    connected groups of unserved cells per circle: ``gap_id``, ``circle``, ``rank``
    (1 = most elderly unserved), ``elderly_unserved``, ``cells``, ``area_km2``,
    ``town``, ``village`` (where most of its cells lie), ``nearest_dist`` (distance of its
    closest cell to the nearest facility) and ``nearest_dist_median`` (of its median
    unserved elderly person: the cells' ``<name>_dist`` weighted by their unserved people;
    NaN when that person is unreachable), both in the circle's unit; geometry.
``units``
    one row per unit (towns and villages) plus an ``(outside units)`` row per level when
    elderly lie outside every unit: ``unit_id``, ``name``, ``level``, ``parent_id``,
    ``urban_rural_code``, ``urban_rural``, ``elderly`` and per circle
    ``<name>_covered``, ``<name>_rate``, ``<name>_meets_target`` (class-bound circles
    also ``<name>_elderly``, the people of their class); with meal circles
    ``meal_class``, ``meal_limit_min``, ``meal_kitchen_min_median``,
    ``meal_share_within``, ``meal_reached``, ``meal_facility_inside``; geometry.
``summary``
    the dict written to ``summary.json``: besides DESIGN.md's keys, each entry of
    ``facilities.excluded`` has a ``category`` (``data`` or ``not_requested``, as the
    ``exclusion`` column), and ``warnings`` lists the warnings of the run
    (``category``: the warning class's name, ``message``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from .policy import Policy


@dataclass
class CoverageResult:
    """Tables of one run (EPSG:4326) and the summary dict."""

    facilities: gpd.GeoDataFrame
    service_areas: gpd.GeoDataFrame
    population: gpd.GeoDataFrame
    gaps: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    summary: dict[str, Any]
    policy: Policy
    catchments: gpd.GeoDataFrame | None = None
    rings: gpd.GeoDataFrame | None = None
    facility_areas: gpd.GeoDataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
