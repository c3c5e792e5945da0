"""Which OSM ways a travel mode may use: the walking rule (data in the settings) and the
delivery vehicle's drive rule.

:func:`walkable` is DESIGN.md's "Walkable ways": osmnx's ``walk`` filter applied to each
OSM way before simplification, with ``foot=yes|designated|permissive`` letting in a way the
rule keeps out for access or class. Its values are :class:`WalkRule`, read from
``settings.walk_*`` so a user can change them; every reader (OSM files, GraphML, downloads)
applies the same rule, and the network cache's key holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .settings import settings as _settings


def values_of(value: Any) -> list[str]:
    """An OSM tag value as a list of strings (osmnx merges ways into lists of values)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return [str(value)]


@dataclass(frozen=True)
class WalkRule:
    """The walking rule's values (see :func:`walkable`); by default those of the settings.

    Attributes
    ----------
    exclude_highway
        ``highway`` values walking never uses (``settings.walk_exclude_highway``).
    foot_only_highway
        ``highway`` values walked only with an allowing ``foot`` tag
        (``settings.walk_foot_only_highway``).
    foot_allowed
        ``foot`` values that allow walking (``settings.walk_foot_allowed``).
    exclude_tags
        ``{key: values}`` that keep a way out whatever ``foot`` says
        (``settings.walk_exclude_tags``).
    restricted_tags
        ``{key: values}`` that keep a way out unless ``foot`` allows it
        (``settings.walk_restricted_tags``).
    """

    exclude_highway: frozenset[str]
    foot_only_highway: frozenset[str]
    foot_allowed: frozenset[str]
    exclude_tags: Mapping[str, frozenset[str]]
    restricted_tags: Mapping[str, frozenset[str]]

    @classmethod
    def from_settings(cls) -> WalkRule:
        """The rule as the settings hold it now."""
        return cls(
            exclude_highway=frozenset(_settings.walk_exclude_highway),
            foot_only_highway=frozenset(_settings.walk_foot_only_highway),
            foot_allowed=frozenset(_settings.walk_foot_allowed),
            exclude_tags={k: frozenset(v) for k, v in _settings.walk_exclude_tags.items()},
            restricted_tags={k: frozenset(v)
                             for k, v in _settings.walk_restricted_tags.items()},
        )

    def keys(self) -> tuple[str, ...]:
        """The OSM tag keys the rule reads, ``highway`` first."""
        return tuple(dict.fromkeys(["highway", "foot", *self.exclude_tags,
                                    *self.restricted_tags]))

    def as_dict(self) -> dict[str, Any]:
        """The rule as sorted lists (JSON): for cache keys and the report's method section.

        Examples
        --------
        >>> WalkRule.from_settings().as_dict()["foot_only_highway"]
        ['cycleway']
        """
        return {
            "exclude_highway": sorted(self.exclude_highway),
            "foot_only_highway": sorted(self.foot_only_highway),
            "foot_allowed": sorted(self.foot_allowed),
            "exclude_tags": {k: sorted(v) for k, v in sorted(self.exclude_tags.items())},
            "restricted_tags": {k: sorted(v) for k, v in sorted(self.restricted_tags.items())},
        }


def walkable(data: Mapping[str, Any], *, rule: WalkRule | None = None) -> bool:
    """Whether walking may use an OSM way with these tags.

    osmnx's ``walk`` filter, applied to each OSM way before simplification: a ``highway``
    is needed and must not be one walking never uses (``settings.walk_exclude_highway``:
    motorways, construction, ...); ``area=yes``, ``foot=no`` and ``sidewalk``,
    ``sidewalk:both``, ``sidewalk:left`` or ``sidewalk:right`` = ``separate`` (the
    sidewalk is drawn as its own way) keep a way out (``settings.walk_exclude_tags``);
    ``access=private`` and ``service=private`` keep it out too
    (``settings.walk_restricted_tags``), and so does a ``highway`` pedestrians may not use
    by default (``settings.walk_foot_only_highway``: ``cycleway``, as in OSM's default
    access table), unless ``foot`` is ``yes``, ``designated`` or ``permissive``
    (``settings.walk_foot_allowed``): a shared foot-and-cycle path walks, a bare cycleway
    does not.

    An osmnx edge merged from several ways holds lists of values: it is walkable when one
    of its ``highway`` values is and none of its other values keeps it out.

    Parameters
    ----------
    data
        The way's tags (or an osmnx edge's attributes).
    rule
        The rule's values; None: ``WalkRule.from_settings()``.

    Examples
    --------
    >>> walkable({"highway": "residential"}), walkable({"highway": "motorway"})
    (True, False)
    >>> walkable({"highway": "cycleway"}), walkable({"highway": "cycleway", "foot": "designated"})
    (False, True)
    >>> walkable({"highway": "service", "access": "private"})
    False
    >>> walkable({"highway": "service", "access": "private", "foot": "yes"})
    True
    >>> walkable({"highway": "secondary", "sidewalk": "separate"})
    False
    >>> walkable({"highway": "footway", "foot": "no"}), walkable({"waterway": "river"})
    (False, False)
    """
    rule = WalkRule.from_settings() if rule is None else rule
    foot_allowed = not rule.foot_allowed.isdisjoint(values_of(data.get("foot")))
    if not any(h not in rule.exclude_highway
               and (foot_allowed or h not in rule.foot_only_highway)
               for h in values_of(data.get("highway"))):
        return False
    if any(not values.isdisjoint(values_of(data.get(key)))
           for key, values in rule.exclude_tags.items()):
        return False
    return foot_allowed or all(values.isdisjoint(values_of(data.get(key)))
                               for key, values in rule.restricted_tags.items())


_DRIVE_EXCLUDE_HIGHWAY = frozenset({
    "abandoned", "bridleway", "bus_guideway", "construction", "corridor", "cycleway",
    "elevator", "escalator", "footway", "no", "path", "pedestrian", "planned", "platform",
    "proposed", "raceway", "razed", "rest_area", "service", "services", "steps", "track"})
_DRIVE_EXCLUDE_SERVICE = frozenset({"alley", "driveway", "emergency_access", "parking",
                                    "parking_aisle", "private"})


def drivable(data: dict[str, Any]) -> bool:
    """Whether a delivery vehicle may use an OSM way with these tags (osmnx's ``drive``).

    Examples
    --------
    >>> drivable({"highway": "primary"}), drivable({"highway": "footway"})
    (True, False)
    >>> drivable({"highway": "residential", "motor_vehicle": "no"})
    False
    """
    highways = values_of(data.get("highway"))
    if not highways or all(h in _DRIVE_EXCLUDE_HIGHWAY for h in highways):
        return False
    if "yes" in values_of(data.get("area")) or "private" in values_of(data.get("access")):
        return False
    if "no" in values_of(data.get("motor_vehicle")) or "no" in values_of(data.get("motorcar")):
        return False
    return not set(values_of(data.get("service"))) & _DRIVE_EXCLUDE_SERVICE


# --- delivery ----------------------------------------------------------------------------
DELIVERY_PROFILES = ("ebike", "van")
DELIVERY_RULE_VERSION = 1  # part of the network cache's key: raise it when the rule changes
DELIVERY_TAG_KEYS = ("highway", "oneway", "oneway:bicycle", "junction", "maxspeed", "bicycle",
                     "access", "motor_vehicle", "motorcar", "service", "area", "motorroad")
_RIDE_EXCLUDE_HIGHWAY = frozenset({
    "motorway", "motorway_link", "abandoned", "bus_guideway", "construction", "corridor",
    "elevator", "escalator", "no", "planned", "platform", "proposed", "raceway", "razed",
    "rest_area", "services", "steps", "bridleway"})
# ways an e-bike is ridden on only when ``bicycle`` allows it, and pushed on otherwise (OSM's
# default access: bicycle=dismount on footways and pedestrian streets; paths are ridden)
_RIDE_BICYCLE_ONLY_HIGHWAY = frozenset({"footway", "pedestrian"})
_BICYCLE_ALLOWED = frozenset({"yes", "designated", "permissive"})
_ONEWAY_FORWARD = frozenset({"yes", "1", "true"})


def rideable(data: Mapping[str, Any]) -> bool:
    """Whether a delivery e-bike may be ridden on an OSM way with these tags.

    The drive rule's roads (:func:`drivable`, whatever ``motor_vehicle`` says: an
    e-bike is a non-motor vehicle) plus ``cycleway``, ``track``, ``path`` and ``service``
    roads of every kind (OSM's default access), and footways and pedestrian streets where
    ``bicycle`` is ``yes``, ``designated`` or ``permissive``; never motorways (or
    ``motorroad=yes``), steps, ``bicycle=no|dismount``, ``area=yes``, or
    ``access=private|no`` unless ``bicycle`` allows it. Where the bike is pushed instead:
    :func:`dismount`.

    Riding ``highway=path`` is a judgement (OSM's default access lets bicycles on it;
    rural Zhejiang maps field and embankment paths so). It moves the rural 30-minute rate
    little, since a pushed bike still covers 2.2 km in 30 minutes (the benchmark county:
    99.98 % with paths ridden or pushed; see :mod:`eldercare_coverage.delivery`). Tag
    paths not ridden in practice ``bicycle=no|dismount``, lower their speed in the policy's
    ``delivery_speeds.csv``, or use the ``van`` profile
    (:data:`eldercare_coverage.delivery.DELIVERY_RULES`).

    Examples
    --------
    >>> rideable({"highway": "primary"}), rideable({"highway": "motorway"})
    (True, False)
    >>> rideable({"highway": "cycleway"}), rideable({"highway": "footway"})
    (True, False)
    >>> rideable({"highway": "path"}), rideable({"highway": "path", "bicycle": "dismount"})
    (True, False)
    >>> rideable({"highway": "footway", "bicycle": "yes"})
    True
    >>> rideable({"highway": "residential", "bicycle": "no"})
    False
    >>> rideable({"highway": "service", "access": "private"})
    False
    >>> rideable({"highway": "residential", "motor_vehicle": "no"})
    True
    """
    highways = values_of(data.get("highway"))
    bicycle = values_of(data.get("bicycle"))
    allowed = not _BICYCLE_ALLOWED.isdisjoint(bicycle)
    if "no" in bicycle or "dismount" in bicycle or "yes" in values_of(data.get("area")) \
            or "yes" in values_of(data.get("motorroad")):
        return False
    if not any(h not in _RIDE_EXCLUDE_HIGHWAY
               and (allowed or h not in _RIDE_BICYCLE_ONLY_HIGHWAY) for h in highways):
        return False
    access = values_of(data.get("access"))
    return allowed or ("private" not in access and "no" not in access)


def dismount(data: Mapping[str, Any]) -> bool:
    """Whether the courier pushes the e-bike along a way: footways and pedestrian streets
    without a ``bicycle`` tag that allows riding, and any walkable way tagged
    ``bicycle=dismount`` (OSM's default access for cycles on footways); never ``bicycle=no``,
    steps, ``area=yes`` or ``access=private|no``. Pushed ways are walked at the courier's
    pace, both ways.

    Examples
    --------
    >>> dismount({"highway": "footway"}), dismount({"highway": "footway", "bicycle": "yes"})
    (True, False)
    >>> dismount({"highway": "steps"}), dismount({"highway": "footway", "bicycle": "no"})
    (False, False)
    >>> dismount({"highway": "residential", "bicycle": "dismount"})
    True
    """
    highways = values_of(data.get("highway"))
    bicycle = values_of(data.get("bicycle"))
    if "no" in bicycle or "yes" in values_of(data.get("area")):
        return False
    access = values_of(data.get("access"))
    if "private" in access or "no" in access:
        return False
    if "dismount" in bicycle:
        return any(h not in _RIDE_EXCLUDE_HIGHWAY for h in highways)
    return not rideable(data) and any(h in _RIDE_BICYCLE_ONLY_HIGHWAY for h in highways)


def delivery_usable(data: Mapping[str, Any], *, profile: str = "ebike") -> bool:
    """Whether the delivery vehicle of ``profile`` may use a way: ridden (:func:`rideable`)
    or pushed (:func:`dismount`) for ``ebike``, :func:`drivable` for ``van``."""
    if profile == "ebike":
        return rideable(data) or dismount(data)
    return drivable(dict(data))


def oneway_code(data: Mapping[str, Any], *, profile: str = "ebike") -> int:
    """The way's allowed direction for the delivery vehicle: 0 both, 1 only along the
    way's nodes, -1 only against them.

    ``oneway=yes|1|true`` and ``junction=roundabout|circular`` (unless ``oneway=no``) are
    one way along the way, ``oneway=-1`` against it; ``oneway:bicycle=no`` opens both
    directions to the e-bike (not to the van).

    Examples
    --------
    >>> oneway_code({"oneway": "yes"}), oneway_code({"oneway": "-1"})
    (1, -1)
    >>> oneway_code({"junction": "roundabout"}), oneway_code({"oneway": "no"})
    (1, 0)
    >>> oneway_code({"oneway": "yes", "oneway:bicycle": "no"})
    0
    >>> oneway_code({"oneway": "yes", "oneway:bicycle": "no"}, profile="van")
    1
    """
    oneway = values_of(data.get("oneway"))
    if profile == "ebike" and "no" in values_of(data.get("oneway:bicycle")):
        return 0
    if "-1" in oneway:
        return -1
    if not _ONEWAY_FORWARD.isdisjoint(oneway):
        return 1
    if "no" not in oneway and not {"roundabout", "circular"}.isdisjoint(
            values_of(data.get("junction"))):
        return 1
    return 0


_MPH_KPH = 1.609344  # km per mile


def parse_maxspeed_kph(value: Any) -> float:
    """A ``maxspeed`` tag in km/h (NaN when it holds no number).

    Plain numbers are km/h; ``km/h``, ``kmh``, ``kph`` and ``mph`` are understood; of
    several values (``"50;30"``) the lowest counts. Zones such as ``CN:urban`` or
    ``walk`` give NaN (the road class's speed applies).

    Examples
    --------
    >>> parse_maxspeed_kph("50"), parse_maxspeed_kph("50 km/h"), parse_maxspeed_kph("40kmh")
    (50.0, 50.0, 40.0)
    >>> round(parse_maxspeed_kph("30 mph"), 2), parse_maxspeed_kph("60;40")
    (48.28, 40.0)
    >>> import math; math.isnan(parse_maxspeed_kph("CN:urban")), math.isnan(parse_maxspeed_kph(None))
    (True, True)
    """
    speeds = []
    for text in values_of(value):
        for part in text.split(";"):
            part = part.strip().lower().replace(" ", "")
            factor = 1.0
            if part.endswith("mph"):
                part, factor = part[:-3], _MPH_KPH
            else:
                for unit in ("km/h", "kmh", "kph"):
                    if part.endswith(unit):
                        part = part[:-len(unit)]
                        break
            try:
                kph = float(part) * factor
            except ValueError:
                continue
            if np.isfinite(kph) and kph > 0:
                speeds.append(kph)
    return float(min(speeds)) if speeds else float("nan")
