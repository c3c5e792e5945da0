"""Defaults of eldercare-coverage: the one settings object.

Every public function that depends on one of these values takes it as a keyword
argument defaulting to ``None``, which means "use ``settings.<name>``". Change a
default for a whole session by assigning to the attribute::

    from eldercare_coverage import settings
    settings.max_snap_m = 300.0

Nothing here reads the environment or the command line; importing the package
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Settings:
    """Typed, documented defaults.

    Attributes
    ----------
    walk_speed_m_s
        Walking speed of an elderly person, metres per second (gait studies: people
        over 65 walk 0.8-0.9 m/s). Converts walking circles given in minutes.
    max_snap_m
        Longest straight-line access leg, metres, from a facility or a population
        cell to the street network. Points farther than this from every street are
        reported as "off network" and cannot be reached; service-area polygons are
        never wider than this on either side of a street.
    gap_max_share
        A population cell belongs to a gap area of a circle when less than this
        share of its area lies inside the circle.
    arc_segments
        Half the number of chords of a half circle when service-area polygons
        need rounded corners (dead ends, bends).
    progress
        Show tqdm progress bars on long steps (the CLI turns them on).
    n_jobs
        Threads for per-facility work (service areas); None means every core.
        GEOS releases the GIL, so threads run in parallel.
    walk_exclude_highway
        OSM ``highway`` values walking never uses, whatever the way's ``foot`` tag says:
        motorways, roads under construction or only planned, platforms, ... (osmnx's
        ``walk`` filter). The walking rule (:func:`eldercare_coverage.osm_rules.walkable`) is
        applied to every OSM way before simplification; it is this value and the four
        ``walk_*`` values below.
    walk_foot_only_highway
        ``highway`` values walking uses only when the way's ``foot`` tag allows it (one of
        ``walk_foot_allowed``): OSM's default access table keeps pedestrians off a bare
        ``highway=cycleway``, while a shared foot-and-cycle path (``foot=designated``)
        walks.
    walk_foot_allowed
        ``foot`` values that let a way in that ``walk_foot_only_highway`` or
        ``walk_restricted_tags`` would keep out.
    walk_exclude_tags
        Tag values that keep a way out whatever its ``foot`` tag says, as
        ``{key: values}``: ``area=yes`` (the outline of a square, not a path), ``foot=no``,
        and ``sidewalk``, ``sidewalk:both``, ``sidewalk:left``, ``sidewalk:right`` =
        ``separate`` (the sidewalk is mapped as its own way, which is walked instead).
    walk_restricted_tags
        Tag values that keep a way out unless its ``foot`` tag allows it (one of
        ``walk_foot_allowed``), as ``{key: values}``: ``access=private`` and
        ``service=private``.
    overlay_pixel_m
        Pixel size of the population cells' pixels, metres (:mod:`eldercare_coverage.field`):
        a cell's share inside a circle is the share of its pixels whose centre is
        within the limit.
    draw_pixel_m
        Pixel size, metres, of the grid the distance field is drawn on for maps and
        the GeoPackage (:mod:`eldercare_coverage.drawing`): drawn boundaries are within
        about a pixel of the true ones. Coverage never depends on it.
    delivery_draw_pixel_m
        Pixel size, metres, of the grid delivery circles (minutes by bike or van over
        kilometres) are drawn on, everywhere (walking circles are drawn on the population
        pixels where people live). Coverage never depends on it.
    cache_dir
        Folder of the network cache (None: ``$ELDERCARE_CACHE`` or
        ``~/.cache/eldercare-coverage``); see :mod:`eldercare_coverage.network_cache`.
    delivery_profile
        The meal-delivery vehicle: ``"ebike"`` (the electric delivery bike most services
        use: the e-bike rule :func:`eldercare_coverage.osm_rules.rideable`, which rides
        ``highway=path`` and pushes along footways; one-way streets with
        ``oneway:bicycle``; at most ``ebike_max_kph``) or ``"van"`` (drivable roads,
        motorways included, no tracks, paths or footways; one-way streets; the van's class
        speeds with no top speed but ``maxspeed``). Both rules in words:
        :data:`eldercare_coverage.delivery.DELIVERY_RULES`. Class speeds per profile are the
        policy's ``delivery_speeds.csv`` (shipped: ``coverage/data/delivery_speeds.csv``).
        The network cache keeps one delivery network per profile.
    ebike_max_kph
        Top speed of a delivery e-bike, km/h: 25, the national limit of GB 17761-2018.
    courier_walk_speed_m_s
        Walking pace of a courier on the access legs at both ends of a delivery (from the
        kitchen to its street, from the street to the door), metres per second.
    delivery_junction_delay_s
        Seconds added each time a delivery passes a junction (0: none).
    meal_reached_share
        A village or community is reached by meal service when at least this share of
        its elderly live within its class's delivery limit or the dine-in circle.
    download_busy_retries
        How often a street download asks Nominatim or Overpass the same request
        again after a "busy" answer (HTTP 429 or 504; osmnx waits 55 s before each)
        before giving up with an error.
    """

    walk_speed_m_s: float = 0.9
    max_snap_m: float = 500.0
    gap_max_share: float = 0.5
    arc_segments: int = 4
    progress: bool = False
    n_jobs: int | None = None
    overlay_pixel_m: float = 10.0
    draw_pixel_m: float = 20.0
    delivery_draw_pixel_m: float = 40.0
    cache_dir: str | None = None
    download_busy_retries: int = 3
    delivery_profile: str = "ebike"
    ebike_max_kph: float = 25.0
    courier_walk_speed_m_s: float = 1.2
    delivery_junction_delay_s: float = 0.0
    meal_reached_share: float = 0.5
    walk_exclude_highway: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {
                "motorway",
                "motorway_link",
                "abandoned",
                "bus_guideway",
                "construction",
                "planned",
                "platform",
                "proposed",
                "raceway",
                "razed",
                "no",
                "elevator",
                "corridor",
                "rest_area",
                "services",
            }
        )
    )
    walk_foot_only_highway: frozenset[str] = field(
        default_factory=lambda: frozenset({"cycleway"}))
    walk_foot_allowed: frozenset[str] = field(
        default_factory=lambda: frozenset({"yes", "designated", "permissive"}))
    walk_exclude_tags: dict[str, frozenset[str]] = field(
        default_factory=lambda: {
            "area": frozenset({"yes"}),
            "foot": frozenset({"no"}),
            **{key: frozenset({"separate"})
               for key in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")},
        })
    walk_restricted_tags: dict[str, frozenset[str]] = field(
        default_factory=lambda: {"access": frozenset({"private"}),
                                 "service": frozenset({"private"})})


settings = Settings()
