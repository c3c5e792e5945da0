"""Meal delivery: speeds per road class, urban or rural, and the delivery network's costs.

The delivery network is read by :func:`eldercare_coverage.network.load_network` with
``mode="delivery"``: the ways the vehicle may use (:func:`eldercare_coverage.osm_rules.rideable`
for the default e-bike, :func:`~eldercare_coverage.osm_rules.drivable` for a van), each
edge on one way, with its allowed direction (``oneway``, ``oneway:bicycle``,
``junction=roundabout``) and its ``maxspeed``. Here it gets its costs
(:class:`~eldercare_coverage.costs.EdgeCosts`, seconds):

* the speed on an edge is ``min(maxspeed where tagged, the road class's speed, the
  vehicle's top speed)`` (:func:`edge_speed_kph`); class speeds are data
  (``coverage/data/delivery_speeds.csv``: ``profile``, ``highway``, ``urban_kph``,
  ``rural_kph``; the row ``*`` for any other class), urban or rural by the class of the
  unit the edge's midpoint lies in (:func:`edge_is_urban`);
* the e-bike's top speed is ``settings.ebike_max_kph`` (25 km/h, GB 17761-2018);
* a direction the vehicle may not ride costs ``inf``;
* footways and pedestrian streets the e-bike may not be ridden on (OSM's default
  ``bicycle=dismount``) are pushed at the courier's walking pace, both ways;
* ``settings.delivery_junction_delay_s`` is added at every junction passed;
* the access legs at both ends are walked at ``settings.courier_walk_speed_m_s``.

Which ways each vehicle uses (:data:`DELIVERY_RULES`, written into ``summary.json``'s
``delivery_network`` entry):

* ``ebike`` (``settings.delivery_profile``'s default): the e-bike **rides** every road
  but motorways (and ``motorroad=yes``), and also ``cycleway``, ``track``, ``service``
  and ``path`` (OSM's default access lets bicycles on a ``path``); it **pushes** along
  ``footway`` and ``pedestrian`` ways unless ``bicycle=yes|designated|permissive`` (OSM's
  default ``bicycle=dismount`` there), at the courier's pace, both ways; ``bicycle=no``,
  steps and ``access=private|no`` keep it off. Riding ``path`` is a judgement (field and
  embankment paths are mapped so in rural Zhejiang), but the rural 30-minute rate hardly
  depends on it, because a pushed bike still covers 2.2 km in 30 minutes: on the
  benchmark county (``benchmarks/make_dense_county.py``, synthetic, 246 kitchens on
  926 km²) the rate is 99.98 % with paths ridden, 99.98 % with paths pushed, 99.82 % with
  paths and tracks pushed, and 17.65 % by van; on the demo county 23.31 %, 23.30 % and
  7.17 % by van. The 30-minute rural circle measures mainly how dense the kitchens are;
  the ``van`` profile is the strict reading. Where paths are not ridden in practice, tag
  them ``bicycle=no|dismount`` in the OSM data or lower the ``path`` speed in a policy's
  ``delivery_speeds.csv``.
* ``van``: drivable roads only (:func:`~eldercare_coverage.osm_rules.drivable`, osmnx's
  ``drive`` filter: motorways yes; tracks, service roads, paths, cycleways, footways no),
  one-way streets for every vehicle (``oneway:bicycle`` does not apply), the van's class
  speeds and no top speed but ``maxspeed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ._errors import NetworkError, PolicyError
from .costs import EdgeCosts
from .network import StreetNetwork
from .osm_rules import DELIVERY_PROFILES
from .policy import POLICY_FILES, ClassSpeed, read_speed_table
from .settings import settings as _settings

KPH_TO_M_S = 1 / 3.6  # metres per second in one km/h
_ANY_CLASS = "*"

#: The ways each delivery profile uses, in words (the report's method and
#: ``summary.json``'s ``delivery_network.rule``).
DELIVERY_RULES = {
    "ebike": "e-bike: rides roads (not motorways or motorroad=yes), cycleways, tracks, "
             "service roads and paths (OSM default access: bicycles on highway=path); pushes "
             "along footways and pedestrian streets without bicycle=yes|designated|permissive "
             "at the courier's walking pace, both ways; never bicycle=no, steps or "
             "access=private|no; one-way streets unless oneway:bicycle=no; at most "
             "settings.ebike_max_kph",
    "van": "van: drivable roads only (osmnx drive filter: motorways yes; tracks, service "
           "roads, paths, cycleways and footways no); one-way streets apply; class speeds "
           "capped by maxspeed only",
}


@dataclass(frozen=True)
class DeliverySpeeds:
    """Speeds per road class of one delivery profile, km/h.

    Attributes
    ----------
    profile
        ``ebike`` or ``van``.
    urban_kph, rural_kph
        ``{highway: speed}`` in urban and rural units; the key ``"*"`` is any other class.
    max_kph
        The vehicle's top speed (``settings.ebike_max_kph`` for the e-bike, ``inf`` for
        the van).
    source
        The file the speeds were read from.
    """

    profile: str
    urban_kph: dict[str, float]
    rural_kph: dict[str, float]
    max_kph: float
    source: str = ""

    def class_speed_kph(self, highway: np.ndarray, urban: np.ndarray) -> np.ndarray:
        """Each edge's class speed: by its ``highway`` and whether it lies in an urban unit."""
        highway = np.asarray(highway, dtype=object)
        out = np.empty(len(highway))
        for table, where in ((self.urban_kph, urban), (self.rural_kph, ~urban)):
            if _ANY_CLASS not in table:
                missing = sorted({str(h) for h in highway[where]} - set(table))
                if missing:
                    raise PolicyError(
                        f"{self.source or 'delivery speeds'}: no {self.profile} speed for the "
                        f"road classes {missing} of this network; add a row for each, or a "
                        f"row {self.profile},*,URBAN_KPH,RURAL_KPH for any other class")
            default = table.get(_ANY_CLASS, np.nan)
            values = np.array([table.get(str(h), default) for h in highway[where]], dtype=float)
            out[where] = values
        return out


def read_delivery_speeds(path: str | Path | None = None, *, profile: str | None = None,
                         table: Sequence[ClassSpeed] | None = None) -> DeliverySpeeds:
    """The class speeds of ``profile`` (default ``settings.delivery_profile``).

    Parameters
    ----------
    path
        A CSV with the columns of ``coverage/data/delivery_speeds.csv`` (None: that file).
    profile
        ``ebike`` or ``van``.
    table
        The rows already read (a policy's ``delivery_speeds``,
        :func:`~eldercare_coverage.policy.read_speed_table`); wins over ``path`` unless
        empty.

    Returns
    -------
    DeliverySpeeds

    Raises
    ------
    PolicyError
        Naming the file and row of a bad speed, or the file without the profile's rows.

    Examples
    --------
    >>> s = read_delivery_speeds(profile="ebike")
    >>> s.urban_kph["residential"], s.rural_kph["primary"], s.max_kph
    (15.0, 25.0, 25.0)
    """
    profile = _settings.delivery_profile if profile is None else profile
    if profile not in DELIVERY_PROFILES:
        raise PolicyError(f"delivery profile was {profile!r} but is expected to be in "
                          f"{DELIVERY_PROFILES}")
    rows = tuple(table) if table else read_speed_table(path)
    source = (rows[0].where.rsplit(" row ", 1)[0] if rows and rows[0].where
              else str(path or f"coverage/data/{POLICY_FILES['delivery_speeds']}"))
    mine = [r for r in rows if r.profile == profile]
    if not mine:
        raise PolicyError(f"{source}: no speeds for the delivery profile {profile!r}; add rows "
                          f"profile={profile},highway=...,urban_kph=...,rural_kph=... (the "
                          "row highway=* is any other class)")
    urban = {r.highway: r.urban_kph for r in mine}
    rural = {r.highway: r.rural_kph for r in mine}
    max_kph = float(_settings.ebike_max_kph) if profile == "ebike" else float("inf")
    return DeliverySpeeds(profile, urban, rural, max_kph, source)


def edge_speed_kph(network: StreetNetwork, urban: np.ndarray, speeds: DeliverySpeeds
                   ) -> np.ndarray:
    """Speed on each edge: min(its ``maxspeed``, its class's speed, the top speed), km/h.

    Examples
    --------
    >>> from eldercare_coverage.network import network_from_arrays
    >>> net = network_from_arrays([[0, 0], [100, 0], [200, 0]], [0, 1], [1, 2], crs=32651,
    ...                           edge_highway=np.array(["primary", "residential"]))
    >>> net.edge_maxspeed_kph = np.array([np.nan, 10.0])
    >>> edge_speed_kph(net, np.array([False, True]), read_delivery_speeds(profile="ebike"))
    array([25., 10.])
    """
    speed = speeds.class_speed_kph(network.edge_highway, np.asarray(urban, dtype=bool))
    if network.edge_maxspeed_kph is not None:
        speed = np.fmin(speed, network.edge_maxspeed_kph)
    return np.minimum(speed, speeds.max_kph)


def edge_is_urban(network: StreetNetwork, units: Any, *, default_urban: bool) -> np.ndarray:
    """Whether each edge lies in an urban unit (by its midpoint; villages and communities
    decide over towns); ``default_urban`` outside every classed unit.

    Parameters
    ----------
    network
        The delivery network.
    units
        A GeoDataFrame of units with ``urban_rural`` (``urban`` / ``rural`` / NA) and
        ``level``, or None.
    default_urban
        The class of edges outside every classed unit (the study area's class by the
        density rule).
    """
    urban = np.full(network.n_edges, bool(default_urban))
    if units is None or len(units) == 0 or "urban_rural" not in units:
        return urban
    units = units.to_crs(network.crs)
    classed = units[units["urban_rural"].notna()]
    mid = shapely.line_interpolate_point(network.edge_geometry, 0.5, normalized=True)
    levels = classed["level"].astype(str) if "level" in classed else None
    # towns first, then villages over them
    order = ([lv for lv in dict.fromkeys(levels) if lv != "village"] + ["village"]
             if levels is not None else [None])
    for level in order:
        part = classed if level is None else classed[levels == level]
        if len(part) == 0:
            continue
        tree = shapely.STRtree(part.geometry.to_numpy())
        edge_i, unit_i = tree.query(mid, predicate="within")
        urban[edge_i] = part["urban_rural"].astype(str).to_numpy()[unit_i] == "urban"
    return urban


def delivery_costs(
    network: StreetNetwork, *, urban: np.ndarray, speeds: DeliverySpeeds | None = None,
    courier_walk_speed_m_s: float | None = None, junction_delay_s: float | None = None,
) -> EdgeCosts:
    """Seconds to ride each edge forward and backward (``inf`` against a one-way street).

    Parameters
    ----------
    network
        A delivery network (``mode="delivery"``: ``edge_oneway`` set).
    urban
        Whether each edge lies in an urban unit (:func:`edge_is_urban`).
    speeds
        Class speeds (default :func:`read_delivery_speeds` of ``settings.delivery_profile``).
    courier_walk_speed_m_s, junction_delay_s
        Override the settings of the same names.

    Returns
    -------
    EdgeCosts
        In seconds; access legs at the courier's walking pace.

    Examples
    --------
    A 250 m residential street, one way, in a rural unit (18 km/h = 5 m/s):

    >>> from eldercare_coverage.network import network_from_arrays
    >>> net = network_from_arrays([[0, 0], [250, 0]], [0], [1], crs=32651)
    >>> net.edge_oneway = np.array([1], dtype=np.int8)
    >>> c = delivery_costs(net, urban=np.array([False]))
    >>> c.forward.tolist(), c.backward.tolist(), c.access_m_per_cost
    ([50.0], [inf], 1.2)
    """
    if network.edge_oneway is None:
        raise NetworkError(f"{network.source}: not a delivery network (no one-way directions); "
                           "load it with load_network(path, mode='delivery')")
    speeds = read_delivery_speeds() if speeds is None else speeds
    walk = (_settings.courier_walk_speed_m_s if courier_walk_speed_m_s is None
            else float(courier_walk_speed_m_s))
    delay = (_settings.delivery_junction_delay_s if junction_delay_s is None
             else float(junction_delay_s))
    speed_m_s = edge_speed_kph(network, urban, speeds) * KPH_TO_M_S
    oneway = network.edge_oneway
    if network.edge_dismount is not None:  # pushed at the courier's pace, both ways
        pushed = np.asarray(network.edge_dismount, dtype=bool)
        speed_m_s = np.where(pushed, walk, speed_m_s)
        oneway = np.where(pushed, 0, oneway)
    time_s = network.edge_length_m / speed_m_s
    forward = np.where(oneway >= 0, time_s, np.inf)
    backward = np.where(oneway <= 0, time_s, np.inf)
    return EdgeCosts(forward, backward, access_m_per_cost=walk, junction_cost=delay, unit="s")
