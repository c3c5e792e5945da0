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
