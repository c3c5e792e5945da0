"""The embedded demo county: a deterministic, synthetic Zhejiang-style county.

No network access exists at run time, so the project ships its own default input:
a small but realistic county placed at real coordinates near Wenling (centre
121.37 E, 28.37 N), written in the formats real users bring:

- ``network/demo_county.osm``: OSM XML 0.6 street network (urban core grid with
  arterials, a river crossed by three core bridges and two rural bridges, two
  towns, villages with lanes and footpaths, winding rural roads, an expressway
  with ramps that walking cannot use, a ``foot=no`` and an ``access=private``
  way, one disconnected hamlet road network);
- ``facilities/demo_facilities.csv``: elderly-care facilities, WGS-84, with one
  planned facility that has no coordinates yet;
- ``population/demo_elderly_60plus.tif``: WorldPop-style grid of people aged 60
  and over (EPSG:4326, 3 arc-seconds, float32, nodata -99999);
- ``boundaries/demo_units.geojson``: towns/subdistricts and villages/communities
  with official-format (fictional) codes and urban-rural codes.

The committed demo (``DemoSpec.demo()``, seed 20201101) has exactly **47,836**
elderly people (60+) in its raster. Everything is built in metres in
EPSG:32651 (UTM 51N) around :data:`DEMO_CENTER_LONLAT` and converted with pyproj.

Where the test cases sit (the pipeline authors rely on them):

- the *disconnected hamlet*: a few lanes (``highway=residential``/``track``)
  with about 24 elderly, 400-700 m from every other road and joined to none;
- the *off-network hamlet*: 10 elderly on three pixels 600-900 m from any road;
- the river: one ``waterway=river`` way (never a highway); roads cross it only
  on ways tagged ``bridge=yes`` + ``layer=1`` (three core bridges, two rural
  bridges, one expressway bridge).

Both hamlets' locations are in :attr:`DemoCounty.landmarks` (lon, lat).
:meth:`DemoSpec.wenling` sizes the same generator to Wenling's real figures
(benchmarks only, never committed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from affine import Affine
from scipy import ndimage, sparse
from scipy.spatial import Delaunay, cKDTree

from ._geometry import polygonal

__all__ = [
    "DEMO_CENTER_LONLAT",
    "DEMO_ELDERLY_TOTAL",
    "DemoCounty",
    "DemoInputs",
    "DemoSpec",
    "ElderlyRaster",
    "OsmWay",
    "build_demo_county",
    "write_demo_inputs",
]

DEMO_CENTER_LONLAT = (121.37, 28.37)
DEMO_ELDERLY_TOTAL = 47836.0  # people aged 60+ in the committed demo raster
DEFAULT_SEED = 20201101
UTM_EPSG = 32651
PIXEL_DEG = 1.0 / 1200.0  # 3 arc-seconds, the WorldPop grid
NODATA = -99999.0
COUNTY_CODE = "331099"  # fictional county code in Taizhou's 3310xx range

RIVER_CLEAR_M = 35.0  # no road node closer than this to the river centre line
RIVER_DRY_M = 60.0  # pixels whose centre is this close to the river have no people
LIVE_NEAR_ROAD_M = 250.0  # people live within this distance of a road
BORDER_CLEAR_M = 80.0  # populated pixels lie wholly inside the county (half-diagonal ~62 m)
QUANTUM = 64.0  # raster values are multiples of 1/64 person: sums are exact

# node classes (population weights)
_NONE, _CORE, _TOWN, _VILLAGE, _RURAL, _HAMLET = range(6)
_WALK_EXCLUDED = {"motorway", "motorway_link"}


# ----------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class DemoSpec:
    """Everything that sizes the synthetic county.

    Use the presets :meth:`demo` (the committed small county) and
    :meth:`wenling` (Wenling's real size, for benchmarks).

    Attributes
    ----------
    area_km2
        Area of the county polygon, km2 (met exactly).
    aspect
        East-west over north-south extent of the county.
    core_size_m
        Width and height of the urban core grid, metres.
    core_block_m
        Range of core block sizes, metres.
    n_subdistricts
        Subdistricts (街道) sharing the core; the last lies south of the river.
    n_core_communities
        Communities (社区) in the core.
    n_towns, town_size_m, town_block_m, town_distance_m
        Towns (镇) with their own street grid, its size, block range, and the
        range of distances from the core, metres.
    n_town_communities
        Communities per town.
    n_townships
        Townships (乡): villages only, the seat is a larger village.
    n_villages
        Villages (村), each a cluster of lanes.
    street_node_spacing_m
        Spacing of shape nodes inserted along grid streets (None: no shape nodes).
    lane_node_spacing_m, rural_node_spacing_m
        Node spacing ranges on village lanes and rural roads, metres.
    n_core_bridges, n_rural_bridges
        Road bridges over the river.
    elderly_total
        People aged 60+ in the raster (met exactly, up to float rounding).
    county_centers, town_centers, community_centers, nursing_homes,
    nursing_beds, central_kitchens, canteens, meal_points, planned
        Facility counts (``nursing_beds`` is the total over nursing homes).
    """

    area_km2: float = 360.0
    aspect: float = 1.25
    core_size_m: tuple[float, float] = (4000.0, 3000.0)
    core_block_m: tuple[float, float] = (120.0, 180.0)
    n_subdistricts: int = 3
    n_core_communities: int = 12
    n_towns: int = 2
    town_size_m: float = 1500.0
    town_block_m: tuple[float, float] = (150.0, 200.0)
    town_distance_m: tuple[float, float] = (5000.0, 7000.0)
    n_town_communities: int = 3
    n_townships: int = 1
    n_villages: int = 20
    street_node_spacing_m: float | None = None
    lane_node_spacing_m: tuple[float, float] = (30.0, 60.0)
    rural_node_spacing_m: tuple[float, float] = (40.0, 80.0)
    n_core_bridges: int = 3
    n_rural_bridges: int = 2
    elderly_total: float = DEMO_ELDERLY_TOTAL
    county_centers: int = 1
    town_centers: int = 6
    community_centers: int = 27
    nursing_homes: int = 5
    nursing_beds: int = 760
    central_kitchens: int = 2
    canteens: int = 8
    meal_points: int = 15
    planned: int = 1

    @classmethod
    def demo(cls) -> DemoSpec:
        """The committed small county (about 360 km2, 47,836 elderly)."""
        return cls()

    @classmethod
    def wenling(cls, scale: float = 1.0) -> DemoSpec:
        """County scale for benchmarks, with Wenling's real figures at ``scale=1``.

        24 town centres, 585 village/community centres, 48 nursing homes with
        9,512 beds, 33 central kitchens, 16 canteens, 520 meal points, 276,870
        elderly on 926 km2. ``scale`` multiplies area, counts and people.
        """
        if not scale > 0:
            raise ValueError(f"`scale` was {scale!r} but must be positive")

        def n(v: float) -> int:
            return max(1, round(v * scale))

        s = math.sqrt(scale)
        return cls(
            area_km2=926.0 * scale,
            aspect=1.2,
            core_size_m=(9000.0 * s, 7000.0 * s),
            n_subdistricts=5,
            n_core_communities=n(60),
            n_towns=n(11),
            town_size_m=max(1200.0, 2500.0 * min(1.0, s)),
            town_distance_m=(6500.0 * s, 17000.0 * s),
            n_town_communities=4,
            n_townships=0,
            n_villages=n(576),
            street_node_spacing_m=7.0,
            lane_node_spacing_m=(6.0, 12.0),
            rural_node_spacing_m=(15.0, 30.0),
            n_rural_bridges=n(12),
            elderly_total=276870.0 * scale,
            town_centers=n(24),
            community_centers=n(585),
            nursing_homes=n(48),
            nursing_beds=n(9512),
            central_kitchens=n(33),
            canteens=n(16),
            meal_points=n(520),
            planned=0,
        )

    @property
    def n_village_units(self) -> int:
        """Village-level units: core and town communities plus villages."""
        return self.n_core_communities + self.n_towns * self.n_town_communities + self.n_villages

    @property
    def n_town_units(self) -> int:
        """Town-level units: subdistricts, towns and townships."""
        return self.n_subdistricts + self.n_towns + self.n_townships


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OsmWay:
    """One OSM way: its id, node ids in order and tags."""

    id: int
    nodes: tuple[int, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class ElderlyRaster:
    """Elderly people per pixel, WorldPop-style.

    Attributes
    ----------
    array
        float32 array (rows, cols); ``nodata`` outside the county.
    transform
        Affine pixel-to-lon/lat transform (3 arc-second pixels).
    crs
        Always ``"EPSG:4326"``.
    nodata
        The nodata value (-99999).
    """

    array: np.ndarray
    transform: Affine
    crs: str = "EPSG:4326"
    nodata: float = NODATA

    @property
    def total(self) -> float:
        """Sum of the valid pixels (people aged 60+)."""
        a = self.array
        return float(a[a != self.nodata].astype(np.float64).sum())


@dataclass(frozen=True)
class DemoCounty:
    """The demo county in memory.

    Attributes
    ----------
    nodes
        OSM nodes: ``id``, ``lon``, ``lat`` (WGS-84), sorted by id.
    ways
        OSM ways (streets, the river, the expressway), sorted by id.
    facilities
        Facility table with the CSV's columns ``id, name, type, lon, lat, beds,
        meals_per_day``.
    elderly
        The 60+ population raster.
    units
        Towns and villages/communities (EPSG:4326): ``unit_id``, ``name``,
        ``level``, ``parent_id``, ``urban_rural_code``, ``geometry``.
    county
        The county polygon (EPSG:4326), the union of the towns.
    river
        The river centre line (EPSG:4326).
    landmarks
        Named lon/lat points: ``disconnected_hamlet``, ``offnetwork_hamlet``,
        ``county_center``.
    spec, seed
        What built it.
    """

    nodes: pd.DataFrame
    ways: tuple[OsmWay, ...]
    facilities: pd.DataFrame
    elderly: ElderlyRaster
    units: gpd.GeoDataFrame
    county: shapely.Geometry
    river: shapely.LineString
    landmarks: dict[str, tuple[float, float]]
    spec: DemoSpec
    seed: int


@dataclass(frozen=True)
class DemoInputs:
    """Paths of the written demo inputs."""

    network: Path
    facilities: Path
    population: Path
    boundaries: Path


# ----------------------------------------------------------------------------- frames


@lru_cache(maxsize=1)
def _transformers() -> tuple[pyproj.Transformer, pyproj.Transformer, tuple[float, float]]:
    to_utm = pyproj.Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
    to_ll = pyproj.Transformer.from_crs(UTM_EPSG, 4326, always_xy=True)
    x0, y0 = to_utm.transform(*DEMO_CENTER_LONLAT)
    return to_utm, to_ll, (float(x0), float(y0))


def _to_lonlat(xy: np.ndarray) -> np.ndarray:
    """Local metric coordinates (metres from the centre, UTM 51N axes) to lon/lat."""
    _, to_ll, (x0, y0) = _transformers()
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    lon, lat = to_ll.transform(xy[:, 0] + x0, xy[:, 1] + y0)
    return np.column_stack([lon, lat])


def _to_local(lonlat: np.ndarray) -> np.ndarray:
    to_utm, _, (x0, y0) = _transformers()
    ll = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    x, y = to_utm.transform(ll[:, 0], ll[:, 1])
    return np.column_stack([np.asarray(x) - x0, np.asarray(y) - y0])


# ----------------------------------------------------------------------------- names

_VILLAGE_A = list("上下东西南北前后大小新石沙塘岙湾洋桥山林陈王张李黄高横长里外中白青竹松梅杨柳金")
_VILLAGE_B = list("岙洋塘桥头湾山屿垟浦林溪岩坑门家宅庄里港岭田园堂河埠岗墩泾汇")
_COMMUNITY_A = list("江锦东三九文南北新兴万和丽翠鹤凤梅桂金银玉春秋永太长光明")
_COMMUNITY_B = list("滨屏辉星龙昌门华园寿平泽鸣凰苑湖港桥河城安宁丰隆")
_NORTH_SUBDISTRICTS = {
    0: [],
    1: ["城关街道"],
    2: ["城西街道", "城东街道"],
    3: ["城西街道", "城北街道", "城东街道"],
    4: ["城西街道", "城北街道", "城东街道", "滨江街道"],
}
_TOWNS = ["北山镇", "南塘镇", "东浦镇", "石桥镇", "岩头镇", "洋屿镇", "金湾镇", "青溪镇",
          "梅岙镇", "白岩镇", "上林镇", "凤山镇", "龙溪镇", "沙岙镇", "桐溪镇", "云峰镇"]
_TOWNSHIPS = ["西岙乡", "东岭乡", "南山乡", "北岙乡"]
_ROW_ARTERIALS = ["人民路", "中华路", "万寿路", "锦屏路", "横湖路", "新华路", "兴园路",
                  "环城北路", "环城南路", "文昌路", "丽泽路", "九龙路"]
_COL_ARTERIALS = ["东海大道", "太平路", "三星大道", "方城路", "九龙大道", "北门路",
                  "银湖大道", "江滨路", "学府路", "百丈路", "泽坎路", "凤凰路"]


def _unique_names(a: list[str], b: list[str], suffix: str, n: int,
                  rng: np.random.Generator) -> list[str]:
    combos = [x + y for x in a for y in b if x != y]
    order = rng.permutation(len(combos))
    base = [combos[i] for i in order]
    out: list[str] = []
    for variant in ("", "新", "二", "三", "四", "五", "六"):
        out.extend(c + variant + suffix for c in base)
        if len(out) >= n:
            break
    if len(out) < n:
        raise ValueError(f"cannot name {n} units with suffix {suffix!r}")
    return out[:n]


def _unique_list(names: list[str], n: int, kind: str) -> list[str]:
    if n <= len(names):
        return names[:n]
    return names + [f"{kind}{i + 1}" for i in range(n - len(names))]


def _short(town: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if town.endswith(suffix):
            return town[: -len(suffix)]
    return town


# ----------------------------------------------------------------------------- network builder


@dataclass
class _Way:
    nodes: np.ndarray
    tags: dict[str, str]
    kind: str  # core, town, village, rural, park, connector, motorway, link, spur, hamlet


@dataclass
class _Builder:
    xy: list[np.ndarray] = field(default_factory=list)
    cls: list[np.ndarray] = field(default_factory=list)
    n: int = 0
    ways: list[_Way] = field(default_factory=list)

    def add(self, xy: np.ndarray, cls: int) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        idx = np.arange(self.n, self.n + len(xy))
        self.xy.append(xy)
        self.cls.append(np.full(len(xy), cls, dtype=np.int8))
        self.n += len(xy)
        return idx

    def coords(self) -> np.ndarray:
        return np.concatenate(self.xy) if self.xy else np.zeros((0, 2))

    def classes(self) -> np.ndarray:
        return np.concatenate(self.cls) if self.cls else np.zeros(0, np.int8)

    def way(self, nodes: np.ndarray | list[int], tags: dict[str, str], kind: str) -> None:
        nodes = np.asarray(nodes, dtype=np.int64)
        if len(nodes) >= 2:
            self.ways.append(_Way(nodes, dict(tags), kind))

    def polyline(self, start: int | None, pts: np.ndarray, end: int | None, cls: int,
                 tags: dict[str, str], kind: str) -> np.ndarray:
        """Add the interior points ``pts`` as new nodes between existing nodes."""
        mid = self.add(pts, cls) if len(pts) else np.zeros(0, np.int64)
        parts = [np.array([start])] if start is not None else []
        parts.append(mid)
        if end is not None:
            parts.append(np.array([end]))
        nodes = np.concatenate(parts).astype(np.int64)
        self.way(nodes, tags, kind)
        return nodes


def _densify(pts: np.ndarray, spacing: tuple[float, float] | float | None,
             rng: np.random.Generator) -> np.ndarray:
    """Points along the polyline ``pts`` every ``spacing`` metres, ends included."""
    if spacing is None:
        return pts
    seg = np.diff(pts, axis=0)
    lens = np.hypot(seg[:, 0], seg[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(lens)])
    total = cum[-1]
    if isinstance(spacing, tuple):
        k = int(total / spacing[0]) + 2
        steps = rng.uniform(spacing[0], spacing[1], k)
        at = np.cumsum(steps)
        at = at[at < total - 0.5 * spacing[0]]
    else:
        k = int(total // spacing)
        at = np.linspace(0.0, total, k + 1)[1:-1] if k >= 1 else np.zeros(0)
    at = np.concatenate([[0.0], at, [total]])
    x = np.interp(at, cum, pts[:, 0])
    y = np.interp(at, cum, pts[:, 1])
    return np.column_stack([x, y])


@lru_cache(maxsize=4)
def _river_tree(river_line: shapely.LineString) -> cKDTree:
    pts = np.asarray(river_line.coords)
    return cKDTree(_densify(pts, 4.0, np.random.default_rng(0)))


def _river_dist(river_line: shapely.LineString, xy: np.ndarray,
                upto: float = np.inf) -> np.ndarray:
    """Distance to the river centre line, metres (to within 2 m: points every 4 m).

    Distances beyond ``upto`` come back as inf (fast).
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return _river_tree(river_line).query(xy, distance_upper_bound=upto)[0]


def _county_polygon(spec: DemoSpec, rng: np.random.Generator) -> shapely.Polygon:
    theta = np.linspace(0, 2 * np.pi, 257)[:-1]
    ph = rng.uniform(0, 2 * np.pi, 3)
    r = 1 + 0.07 * np.sin(3 * theta + ph[0]) + 0.05 * np.sin(5 * theta + ph[1]) \
        + 0.025 * np.sin(9 * theta + ph[2])
    ry = 1.0
    rx = spec.aspect
    pts = np.column_stack([rx * r * np.cos(theta), ry * r * np.sin(theta)])
    poly = shapely.Polygon(pts)
    k = math.sqrt(spec.area_km2 * 1e6 / poly.area)
    return shapely.Polygon(pts * k)


@dataclass(frozen=True)
class _River:
    y0: float
    amp: tuple[float, float]
    wavelength: tuple[float, float]
    phase: tuple[float, float]

    def y(self, x: np.ndarray) -> np.ndarray:
        return (self.y0 + self.amp[0] * np.sin(2 * np.pi * x / self.wavelength[0] + self.phase[0])
                + self.amp[1] * np.sin(2 * np.pi * x / self.wavelength[1] + self.phase[1]))

    def side(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy).reshape(-1, 2)
        return np.where(xy[:, 1] > self.y(xy[:, 0]), 1, -1)


def _grid(b: _Builder, center: np.ndarray, size: tuple[float, float],
          block: tuple[float, float], cls: int, kind: str, rng: np.random.Generator,
          river_line: shapely.LineString, spec: DemoSpec, *,
          row_names: list[str], col_names: list[str], arterial_every: int,
          park: shapely.Polygon | None = None) -> dict[str, Any]:
    """A jittered street grid clipped to a rounded rectangle; returns its lattice."""
    w, h = size

    def lines(extent: float) -> np.ndarray:
        steps = rng.uniform(block[0], block[1], int(extent / block[0]) + 3)
        pos = np.concatenate([[0.0], np.cumsum(steps)])
        pos = pos[pos <= extent + block[0]]
        return pos - pos[-1] / 2

    xs, ys = lines(w), lines(h)
    X, Y = np.meshgrid(xs, ys)  # shape (ny, nx)
    jit = 0.07 * block[0]
    X = X + rng.uniform(-jit, jit, X.shape) + center[0]
    Y = Y + rng.uniform(-jit, jit, Y.shape) + center[1]
    u = (X - center[0]) / (w / 2)
    v = (Y - center[1]) / (h / 2)
    inside = np.abs(u) ** 3.5 + np.abs(v) ** 3.5 <= 1.0
    pts = np.column_stack([X.ravel(), Y.ravel()])
    dist_river = _river_dist(river_line, pts, RIVER_CLEAR_M + 1).reshape(X.shape)
    wet = inside & (dist_river < RIVER_CLEAR_M)  # skipped: streets jump these to cross
    inside &= ~wet
    in_park = np.zeros(X.shape, dtype=bool)
    if park is not None:
        in_park = shapely.contains_xy(park, X, Y)
    index = np.full(X.shape, -1, dtype=np.int64)
    node_cls = np.where(in_park, _NONE, cls)
    flat = np.flatnonzero(inside.ravel())
    for c in np.unique(node_cls.ravel()[flat]):
        sel = flat[node_cls.ravel()[flat] == c]
        index.ravel()[sel] = b.add(pts[sel], int(c))
    index[wet] = -2
    ny, nx = X.shape
    cj, ci = ny // 2, nx // 2
    coords = b.coords()

    def emit(seq: np.ndarray, tags: dict[str, str], park_flags: np.ndarray,
             drop: np.ndarray) -> None:
        # split the run into ways by edge category: 0 street, 1 park, 2 dropped
        cat = np.where(drop, 2, np.where(park_flags, 1, 0))
        start = 0
        for k in range(1, len(cat) + 1):
            if k == len(cat) or cat[k] != cat[start]:
                if cat[start] != 2:
                    nodes = seq[start:k + 1]
                    if cat[start] == 1:
                        pk = int(rng.integers(0, 10))
                        hw = "steps" if pk == 0 else ("path" if pk < 4 else "footway")
                        t = {"highway": hw}
                        kd = "park"
                    else:
                        t, kd = tags, kind
                    _add_dense(b, coords, nodes, t, kd, spec.street_node_spacing_m, cls, rng)
                start = k

    for axis in (0, 1):
        count = ny if axis == 0 else nx
        mid = cj if axis == 0 else ci
        names = row_names if axis == 0 else col_names
        arterial_ids = [k for k in range(count) if (k - mid) % arterial_every == 0]
        for k in range(count):
            line_idx = index[k, :] if axis == 0 else index[:, k]
            parkline = in_park[k, :] if axis == 0 else in_park[:, k]
            if k in arterial_ids:
                pos = sorted(arterial_ids, key=lambda a: (abs(a - mid), a)).index(k)
                hw = "primary" if pos == 0 else "secondary"
                tags = {"highway": hw, "lanes": "4" if hw == "primary" else "2"}
                if pos < len(names):
                    tags["name"] = names[pos]
                drop_p = 0.0
            else:
                tags = {"highway": "residential"}
                drop_p = 0.05
            # runs of consecutive valid nodes; a street jumps over its nodes in the river
            dry = line_idx != -2
            line_idx, parkline = line_idx[dry], parkline[dry]
            valid = line_idx >= 0
            m = len(line_idx)
            j = 0
            while j < m:
                if not valid[j]:
                    j += 1
                    continue
                e = j
                while e + 1 < m and valid[e + 1]:
                    e += 1
                if e > j:
                    seq = line_idx[j:e + 1]
                    pk = parkline[j:e] & parkline[j + 1:e + 1]
                    drop = rng.random(e - j) < drop_p
                    drop &= ~pk
                    emit(seq, tags, pk, drop)
                j = e + 1
    return {"index": index, "X": X, "Y": Y, "center": center}


def _add_dense(b: _Builder, coords: np.ndarray, nodes: np.ndarray, tags: dict[str, str],
               kind: str, spacing: float | None, cls: int, rng: np.random.Generator) -> None:
    """A way through existing ``nodes`` with shape nodes inserted every ``spacing`` m."""
    if spacing is None or len(nodes) < 2:
        b.way(nodes, tags, kind)
        return
    out: list[np.ndarray] = []
    for a, c in zip(nodes[:-1], nodes[1:], strict=True):
        pa, pc = coords[a], coords[c]
        k = int(np.hypot(*(pc - pa)) // spacing)
        out.append(np.array([a]))
        if k >= 1:
            t = np.linspace(0, 1, k + 1)[1:-1]
            if len(t):
                pts = pa + t[:, None] * (pc - pa)
                out.append(b.add(pts, cls if kind != "park" else _NONE))
    out.append(np.array([nodes[-1]]))
    b.way(np.concatenate(out), tags, kind)


def _gates(grid: dict[str, Any], coords: np.ndarray, n: int) -> np.ndarray:
    idx = grid["index"][grid["index"] >= 0]  # -1 outside, -2 in the river
    rel = coords[idx] - grid["center"]
    out = []
    for a in np.arange(n) * 2 * np.pi / n:
        d = np.array([np.cos(a), np.sin(a)])
        out.append(idx[int(np.argmax(rel @ d))])
    return np.unique(np.array(out))


def _village(b: _Builder, c: np.ndarray, rng: np.random.Generator, spec: DemoSpec,
             size: float) -> np.ndarray:
    """Lanes of one village around ``c``; returns its node indices."""
    first = b.n
    ang = rng.uniform(0, np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    nrm = np.array([-d[1], d[0]])
    half = rng.uniform(150, 300) * size
    t = np.linspace(-1, 1, 9)
    bend = rng.uniform(-40, 40)
    raw = c + np.outer(t * half, d) + np.outer(bend * (1 - t**2), nrm)
    pts = _densify(raw, spec.lane_node_spacing_m, rng)
    main = b.add(pts, _VILLAGE)
    b.way(main, {"highway": "residential"}, "village")
    coords_main = pts
    ends: list[tuple[int, np.ndarray, float]] = []
    nb = int(rng.integers(2, 6 if size <= 1 else 9))
    for k in range(nb):
        i = int(rng.integers(1, max(2, len(main) - 1)))
        side = 1 if k % 2 == 0 else -1
        a = ang + side * rng.uniform(np.pi / 3, 2 * np.pi / 3)
        dd = np.array([np.cos(a), np.sin(a)])
        length = rng.uniform(80, 250) * size
        raw = np.vstack([coords_main[i], coords_main[i] + dd * length])
        p = _densify(raw, spec.lane_node_spacing_m, rng)[1:]
        hw = ["service", "track", "residential", "service", "residential"][int(rng.integers(0, 5))]
        br = b.polyline(int(main[i]), p, None, _VILLAGE, {"highway": hw}, "village")
        ends.append((int(br[-1]), p[-1], side))
    # footpaths between houses: join branch ends on the same side, or a short stub
    for k in range(len(ends)):
        n0, p0, s0 = ends[k]
        nxt = [e for e in ends[k + 1:] if e[2] == s0]
        pk = int(rng.integers(0, 10))
        hw = "steps" if pk == 0 else ("path" if pk < 3 else "footway")
        if nxt and np.hypot(*(nxt[0][1] - p0)) < 260:
            n1, p1, _ = nxt[0]
            raw = np.vstack([p0, p1])
            p = _densify(raw, spec.lane_node_spacing_m, rng)[1:-1]
            b.polyline(n0, p, n1, _VILLAGE, {"highway": hw}, "village")
        elif pk < 6:
            a = rng.uniform(0, 2 * np.pi)
            raw = np.vstack([p0, p0 + rng.uniform(40, 100) * np.array([np.cos(a), np.sin(a)])])
            p = _densify(raw, spec.lane_node_spacing_m, rng)[1:]
            b.polyline(n0, p, None, _VILLAGE, {"highway": hw}, "village")
    return np.arange(first, b.n)


def _winding(a: np.ndarray, c: np.ndarray, spacing: tuple[float, float],
             rng: np.random.Generator) -> np.ndarray:
    """Interior points of a winding rural road from ``a`` to ``c``."""
    v = c - a
    length = float(np.hypot(*v))
    if length < 1:
        return np.zeros((0, 2))
    nrm = np.array([-v[1], v[0]]) / length
    a1 = rng.uniform(-0.08, 0.08) * min(length, 3000)
    a2 = rng.uniform(-0.03, 0.03) * min(length, 3000)
    t = np.linspace(0, 1, 65)
    off = a1 * np.sin(np.pi * t) + a2 * np.sin(3 * np.pi * t)
    raw = a + np.outer(t, v) + np.outer(off, nrm)
    return _densify(raw, spacing, rng)[1:-1]


def _segments(b: _Builder, ways: list[_Way]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.concatenate([w.nodes[:-1] for w in ways])
    c = np.concatenate([w.nodes[1:] for w in ways])
    wid = np.concatenate([np.full(len(w.nodes) - 1, i) for i, w in enumerate(ways)])
    return a, c, wid


def _walkable(w: _Way) -> bool:
    t = w.tags
    return (t.get("highway", "") not in _WALK_EXCLUDED and "highway" in t
            and t.get("foot") != "no" and t.get("access") != "private")


def _cut_river(b: _Builder, river_line: shapely.LineString, spec: DemoSpec,
               core_box: shapely.Polygon, rng: np.random.Generator) -> None:
    coords = b.coords()
    a, c, wid = _segments(b, b.ways)
    segs = shapely.linestrings(np.stack([coords[a], coords[c]], axis=1))
    shapely.prepare(river_line)
    crossing = np.flatnonzero(shapely.intersects(river_line, segs))
    mids = (coords[a[crossing]] + coords[c[crossing]]) / 2
    kinds = np.array([b.ways[i].kind for i in wid[crossing]], dtype=object)
    hws = np.array([b.ways[i].tags.get("highway", "") for i in wid[crossing]], dtype=object)
    bridges: set[int] = set()
    # core bridges: arterial columns, spread across the core
    in_core = shapely.contains_xy(core_box, mids[:, 0], mids[:, 1])
    cand = np.flatnonzero(in_core & (kinds == "core") & np.isin(hws, ["primary", "secondary"]))
    if len(cand) < spec.n_core_bridges:
        cand = np.flatnonzero(in_core & (kinds == "core"))
    bridges |= _spread_pick(crossing, cand, mids[:, 0], spec.n_core_bridges, core_box.bounds)
    cand = np.flatnonzero(~in_core & (kinds == "rural"))
    minx, _, maxx, _ = shapely.bounds(shapely.MultiPoint(coords)).tolist()
    far = np.flatnonzero(~in_core & (kinds == "rural")
                         & (np.abs(mids[:, 0]) > (core_box.bounds[2] - core_box.bounds[0])))
    pool = far if len(far) >= spec.n_rural_bridges else cand
    bridges |= _spread_pick(crossing, pool, mids[:, 0], spec.n_rural_bridges,
                            (minx, 0.0, maxx, 0.0))
    # motorways are always bridged
    cut_by_way: dict[int, list[int]] = {}
    seg_start = np.concatenate([[0], np.cumsum([len(w.nodes) - 1 for w in b.ways])])
    for s in crossing.tolist():
        cut_by_way.setdefault(int(wid[s]), []).append(s)
    new_ways: list[_Way] = []
    for i, w in enumerate(b.ways):
        if i not in cut_by_way:
            new_ways.append(w)
            continue
        local = sorted(s - int(seg_start[i]) for s in cut_by_way[i])
        is_bridge = {s - int(seg_start[i]) for s in cut_by_way[i]
                     if s in bridges or w.kind == "motorway"}
        start = 0
        for s in local:
            if s > start:
                new_ways.append(_Way(w.nodes[start:s + 1], dict(w.tags), w.kind))
            if s in is_bridge:
                tags = dict(w.tags)
                tags.update({"bridge": "yes", "layer": "1"})
                new_ways.append(_Way(w.nodes[s:s + 2], tags, w.kind))
            start = s + 1
        if start < len(w.nodes) - 1:
            new_ways.append(_Way(w.nodes[start:], dict(w.tags), w.kind))
    b.ways = new_ways
    del rng


def _spread_pick(crossing: np.ndarray, cand: np.ndarray, x: np.ndarray, n: int,
                 bounds: tuple[float, float, float, float]) -> set[int]:
    if n <= 0 or len(cand) == 0:
        return set()
    x0, x1 = bounds[0], bounds[2]
    targets = x0 + (np.arange(n) + 0.5) / n * (x1 - x0)
    chosen: list[int] = []
    for t in targets:
        free = [k for k in cand.tolist() if k not in chosen]
        if not free:
            break
        chosen.append(min(free, key=lambda k: (abs(x[k] - t), k)))
    return {int(crossing[k]) for k in chosen}


def _connect(b: _Builder, river: _River, river_line: shapely.LineString,
             rng: np.random.Generator, spec: DemoSpec) -> None:
    """Join every walkable component to the largest one on its own river side."""
    coords = b.coords()
    walk = [w for w in b.ways if _walkable(w) and w.kind != "hamlet"]
    a, c, _ = _segments(b, walk)
    g = sparse.coo_matrix((np.ones(len(a)), (a, c)), shape=(b.n, b.n))
    ncomp, label = sparse.csgraph.connected_components(g, directed=False)
    used = np.zeros(b.n, dtype=bool)
    used[a] = True
    used[c] = True
    sizes = np.bincount(label[used], minlength=ncomp)
    main = int(np.argmax(sizes))
    main_nodes = np.flatnonzero(used & (label == main))
    tree = cKDTree(coords[main_nodes])
    side = river.side(coords)
    others = [k for k in range(ncomp) if sizes[k] > 0 and k != main]
    others.sort(key=lambda k: (-int(sizes[k]), int(np.flatnonzero(label == k)[0])))
    for comp in others:
        nodes = np.flatnonzero(used & (label == comp))
        done = False
        for k in (8, 64, len(main_nodes)):
            k = min(k, len(main_nodes))
            d, j = tree.query(coords[nodes], k=k)
            d = d.reshape(len(nodes), -1)
            j = j.reshape(len(nodes), -1)
            order = np.lexsort((j.ravel(), d.ravel()))
            for o in order.tolist():
                src = int(nodes[o // k])
                dst = int(main_nodes[j.ravel()[o]])
                if side[src] != side[dst]:
                    continue
                line = shapely.LineString([coords[src], coords[dst]])
                if line.intersects(river_line):
                    continue
                pts = _densify(np.vstack([coords[src], coords[dst]]),
                               spec.rural_node_spacing_m, rng)[1:-1]
                b.polyline(src, pts, dst, _RURAL, {"highway": "unclassified"}, "connector")
                done = True
                break
            if done:
                break


# ----------------------------------------------------------------------------- county build


def build_demo_county(spec: DemoSpec | None = None, *, seed: int = DEFAULT_SEED) -> DemoCounty:
    """Build the synthetic county in memory.

    Parameters
    ----------
    spec
        Sizes of the county; :meth:`DemoSpec.demo` when None.
    seed
        Seed of :func:`numpy.random.default_rng`, the only source of randomness.

    Returns
    -------
    DemoCounty
        Nodes, ways, facilities, the elderly raster and the units. With the
        defaults the raster holds exactly 47,836 people aged 60+.

    Examples
    --------
    >>> county = build_demo_county()  # doctest: +SKIP
    >>> county.elderly.total  # doctest: +SKIP
    47836.0
    """
    spec = DemoSpec.demo() if spec is None else spec
    rng = np.random.default_rng(seed)
    county = _county_polygon(spec, rng)
    minx, miny, maxx, maxy = county.bounds
    cw, ch = spec.core_size_m
    core_box = shapely.box(-cw / 2, -ch / 2, cw / 2, ch / 2)
    river = _River(y0=-0.08 * ch, amp=(0.13 * ch, 0.05 * ch), wavelength=(1.5 * cw, 0.57 * cw),
                   phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))))
    rx = np.arange(minx - 500, maxx + 500, 40.0)
    river_line = shapely.LineString(np.column_stack([rx, river.y(rx)]))
    river_in = county.buffer(300).intersection(river_line)
    river_line = max(getattr(river_in, "geoms", [river_in]), key=lambda g: g.length)
    shapely.prepare(river_line)

    # expressway: a quadratic curve from the south-west to the north-east border, around the core
    def border(theta: float) -> np.ndarray:
        ray = shapely.LineString([(0, 0), (1e6 * np.cos(theta), 1e6 * np.sin(theta))])
        p = county.exterior.intersection(ray)
        p = p if p.geom_type == "Point" else min(p.geoms, key=lambda q: q.distance(
            shapely.Point(0, 0)))
        return np.array(p.coords[0]) * 0.985

    p0, p2 = border(np.deg2rad(200.0)), border(np.deg2rad(68.0))
    mid = (p0 + p2) / 2
    r_core = math.hypot(cw, ch) / 2 + 1500.0
    q = mid / max(np.hypot(*mid), 1e-9) * max(float(np.hypot(*mid)), r_core)
    ctrl = 2 * q - mid
    t = np.linspace(0, 1, 400)[:, None]
    mw_raw = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * ctrl + t**2 * p2
    motorway_line = shapely.LineString(mw_raw)

    b = _Builder()
    # park on the north bank in the core
    px = -0.2 * cw
    park = shapely.box(px - 0.12 * cw, float(river.y(np.array([px]))[0]) + 60,
                       px + 0.12 * cw, float(river.y(np.array([px]))[0]) + 60 + 0.12 * ch)
    core = _grid(b, np.zeros(2), (cw, ch), spec.core_block_m, _CORE, "core", rng, river_line,
                 spec, row_names=_ROW_ARTERIALS, col_names=_COL_ARTERIALS, arterial_every=5,
                 park=park)

    # towns
    towns: list[np.ndarray] = []
    inner = county.buffer(-(spec.town_size_m / 2 + 1200))
    shapely.prepare(inner)
    tries = 0
    min_sep = 2.4 * spec.town_size_m + 1200  # metres between town centres, relaxed if needed
    while len(towns) < spec.n_towns:
        tries += 1
        if tries % 2000 == 0:
            min_sep *= 0.9
        if tries > 40000:
            raise RuntimeError("could not place the towns; enlarge the county")
        r = rng.uniform(*spec.town_distance_m)
        a = rng.uniform(0, 2 * np.pi)
        p = np.array([r * np.cos(a), r * np.sin(a)])
        pt = shapely.Point(p)
        if not inner.contains(pt):
            continue
        if river_line.distance(pt) < spec.town_size_m / 2 + 700:
            continue
        if motorway_line.distance(pt) < spec.town_size_m / 2 + 600:
            continue
        if core_box.distance(pt) < spec.town_size_m / 2 + 2500:
            continue
        if any(np.hypot(*(p - o)) < min_sep for o in towns):
            continue
        if int(river.side(p)[0]) != (1 if len(towns) % 2 == 0 else -1):
            continue  # alternate the river banks
        towns.append(p)
    towns.sort(key=lambda p: (-p[1], p[0]))
    town_names = _unique_list(_TOWNS, spec.n_towns, "新镇")
    town_grids = []
    for k, p in enumerate(towns):
        s = _short(town_names[k])
        town_grids.append(_grid(
            b, p, (spec.town_size_m, spec.town_size_m * rng.uniform(0.8, 1.0)),
            spec.town_block_m, _TOWN, "town", rng, river_line, spec,
            row_names=[f"{s}大街", f"{s}中路"], col_names=[f"{s}路", f"{s}东路"],
            arterial_every=4))
    grid_hulls = [shapely.box(-cw / 2, -ch / 2, cw / 2, ch / 2)] + [
        shapely.box(p[0] - spec.town_size_m / 2, p[1] - spec.town_size_m / 2,
                    p[0] + spec.town_size_m / 2, p[1] + spec.town_size_m / 2) for p in towns]

    # villages on a jittered hexagonal lattice
    avoid = shapely.union_all([h.buffer(900) for h in grid_hulls]
                              + [river_line.buffer(300), motorway_line.buffer(300)])
    room = county.buffer(-700).difference(avoid)
    spacing = math.sqrt(room.area / spec.n_villages) * 0.95
    while True:
        gx = np.arange(minx, maxx, spacing)
        gy = np.arange(miny, maxy, spacing * math.sqrt(3) / 2)
        GX, GY = np.meshgrid(gx, gy)
        GX = GX + (np.arange(len(gy))[:, None] % 2) * spacing / 2
        cand = np.column_stack([GX.ravel(), GY.ravel()])
        cand = cand + rng.uniform(-0.25, 0.25, cand.shape) * spacing
        ok = shapely.contains_xy(room, cand[:, 0], cand[:, 1])
        cand = cand[ok]
        if len(cand) >= int(spec.n_villages * 1.15):
            break
        spacing *= 0.92
    pick = np.sort(rng.choice(len(cand), spec.n_villages, replace=False))
    vcent = cand[pick]
    # township seats: villages farthest from the core and towns
    anchors0 = np.vstack([np.zeros((1, 2))] + [p[None] for p in towns])
    seats: list[int] = []
    for _ in range(spec.n_townships):
        allp = np.vstack([anchors0] + [vcent[s][None] for s in seats])
        d = np.min(np.hypot(*(vcent[:, None, :] - allp[None]).transpose(2, 0, 1)), axis=1)
        seats.append(int(np.argmax(d)))
    vnodes = []
    for k, c in enumerate(vcent):
        vnodes.append(_village(b, c, rng, spec, 1.8 if k in seats else 1.0))

    # rural roads: minimum spanning tree + short extra edges of a Delaunay triangulation
    coords = b.coords()
    gates = [_gates(core, coords, 12 if cw < 6000 else 20)] + [
        _gates(g, coords, 6) for g in town_grids]
    pts = [vcent]
    owner = list(range(len(vcent)))
    gate_nodes: list[int] = [-1] * len(vcent)
    for gi, gs in enumerate(gates):
        pts.append(coords[gs])
        owner += [-(gi + 1)] * len(gs)
        gate_nodes += gs.tolist()
    P = np.vstack(pts)
    owner_a = np.array(owner)
    tri = Delaunay(P)
    e = np.vstack([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]], tri.simplices[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    same_grid = (owner_a[e[:, 0]] < 0) & (owner_a[e[:, 0]] == owner_a[e[:, 1]])
    e = e[~same_grid]
    L = np.hypot(*(P[e[:, 0]] - P[e[:, 1]]).T)
    lines = shapely.linestrings(np.stack([P[e[:, 0]], P[e[:, 1]]], axis=1))
    bad = np.zeros(len(e), dtype=bool)
    for hull in grid_hulls:
        inter = shapely.length(shapely.intersection(lines, hull.buffer(-30)))
        bad |= inter > 60
    bad |= shapely.intersects(lines, county.exterior)
    e, L = e[~bad], L[~bad]
    mst = sparse.csgraph.minimum_spanning_tree(
        sparse.coo_matrix((L, (e[:, 0], e[:, 1])), shape=(len(P), len(P))).tocsr()).tocoo()
    in_mst = set(zip(np.minimum(mst.row, mst.col).tolist(),
                     np.maximum(mst.row, mst.col).tolist(), strict=True))
    med = float(np.median(mst.data)) if mst.nnz else 1000.0
    keep = np.array([(int(i), int(j)) in in_mst for i, j in e]) | (
        (L < 1.6 * med) & (rng.random(len(e)) < 0.6))
    ref_no = 200
    for (i, j), length in zip(e[keep], L[keep], strict=True):
        ends = []
        for src, o in ((int(i), int(j)), (int(j), int(i))):
            if owner_a[src] >= 0:
                vn = vnodes[owner_a[src]]
                ends.append(int(vn[np.argmin(np.hypot(*(coords[vn] - P[o]).T))]))
            else:
                ends.append(gate_nodes[src])
        if ends[0] == ends[1]:
            continue
        interior = _winding(coords[ends[0]], coords[ends[1]], spec.rural_node_spacing_m, rng)
        if len(interior):
            near = _river_dist(river_line, interior, RIVER_CLEAR_M + 1) < RIVER_CLEAR_M
            interior = interior[~near]
        grid_end = owner_a[i] < 0 or owner_a[j] < 0
        if grid_end or length > 2.2 * med:
            tags = {"highway": "tertiary", "ref": f"X{ref_no}"}
            ref_no += 1
        else:
            tags = {"highway": "unclassified"}
        b.polyline(ends[0], interior, ends[1], _RURAL, tags, "rural")

    # one-way streets, and the foot=no and access=private spurs in the core
    core_res = [k for k, w in enumerate(b.ways) if w.kind == "core"
                and w.tags["highway"] == "residential" and len(w.nodes) >= 4]
    ow = rng.choice(len(core_res), min(5, len(core_res)), replace=False)
    for n_, k in enumerate(sorted(int(core_res[o]) for o in ow)):
        b.ways[k].tags["oneway"] = "-1" if n_ == 0 else "yes"
    coords = b.coords()
    cidx = core["index"][core["index"] >= 0]
    for direction, tags in (
        (np.array([1.0, 0.15]), {"highway": "service", "foot": "no", "name": "物流园区通道",
                                 "service": "driveway"}),
        (np.array([0.1, 1.0]), {"highway": "service", "access": "private",
                                "name": "锦园小区内部道路"}),
    ):
        src = int(cidx[np.argmax((coords[cidx]) @ direction)])
        d = direction / np.hypot(*direction)
        raw = np.vstack([coords[src], coords[src] + d * 220, coords[src] + d * 220
                         + np.array([-d[1], d[0]]) * 90])
        p = _densify(raw, (40.0, 60.0), rng)[1:]
        b.polyline(src, p, None, _NONE, tags, "spur")

    # cut the river; then join what the cuts and the grids left apart
    _cut_river(b, river_line, spec, core_box, rng)
    _connect(b, river, river_line, rng, spec)

    # expressway with two interchanges (never walkable)
    mw = _densify(mw_raw, 200.0, rng)
    inside_mw = shapely.contains_xy(county, mw[:, 0], mw[:, 1])
    mw = mw[inside_mw]
    mw = mw[_river_dist(river_line, mw, RIVER_CLEAR_M + 1) >= RIVER_CLEAR_M]
    mw_nodes = b.add(mw, _NONE)
    mtags = {"highway": "motorway", "ref": "G15", "name": "沈海高速", "oneway": "no",
             "lanes": "6", "maxspeed": "120"}
    seg_lines = shapely.linestrings(np.stack([mw[:-1], mw[1:]], axis=1))
    cross = np.flatnonzero(shapely.intersects(river_line, seg_lines))
    start = 0
    for k in cross.tolist():
        if k > start:
            b.way(mw_nodes[start:k + 1], mtags, "motorway")
        b.way(mw_nodes[k:k + 2], {**mtags, "bridge": "yes", "layer": "1"}, "motorway")
        start = k + 1
    b.way(mw_nodes[start:], mtags, "motorway")
    coords = b.coords()
    road_nodes = np.unique(np.concatenate(
        [w.nodes for w in b.ways if w.kind in ("rural", "town", "connector")]))
    rtree = cKDTree(coords[road_nodes])
    made = 0
    for frac in (0.3, 0.72, 0.5, 0.15, 0.85):
        if made == 2:
            break
        i = int(frac * (len(mw_nodes) - 3)) + 1
        m0 = coords[mw_nodes[i]]
        dd, jj = rtree.query(m0, k=min(40, len(road_nodes)))
        for d_, j_ in zip(np.atleast_1d(dd), np.atleast_1d(jj), strict=True):
            r = int(road_nodes[j_])
            if not 150 < d_ < 1500:
                continue
            lines_ok = True
            ramps = []
            for mi, bulge in ((i - 1, 1.0), (i + 1, -1.0)):
                pa, pc = coords[mw_nodes[mi]], coords[r]
                v = pc - pa
                nrm = np.array([-v[1], v[0]]) / max(np.hypot(*v), 1e-9)
                tt = np.linspace(0, 1, 7)[1:-1, None]
                ramp = pa + tt * v + (np.sin(np.pi * tt) * 0.25 * np.hypot(*v) * bulge) * nrm
                line = shapely.LineString(np.vstack([pa, ramp, pc]))
                if line.intersects(river_line):
                    lines_ok = False
                ramps.append((int(mw_nodes[mi]), ramp))
            if not lines_ok:
                continue
            ltags = {"highway": "motorway_link", "oneway": "yes"}
            b.polyline(ramps[0][0], ramps[0][1], r, _NONE, ltags, "link")
            b.polyline(r, ramps[1][1][::-1], ramps[1][0], _NONE, ltags, "link")
            made += 1
            break

    # the two hamlets
    coords = b.coords()
    all_segs = _segment_lines(b, coords, lambda w: "highway" in w.tags)
    road_tree = shapely.STRtree(all_segs)
    hamlet_xy = _find_spot(county, river_line, road_tree, all_segs, (420.0, 700.0), 560.0)
    hn = b.add(hamlet_xy + np.array([[-70, -20], [-20, 5], [30, 10], [80, 40], [10, 70]]),
               _HAMLET)
    b.way(hn[[0, 1, 2, 3]], {"highway": "residential"}, "hamlet")
    b.way(hn[[2, 4]], {"highway": "track"}, "hamlet")
    coords = b.coords()
    all_segs = _segment_lines(b, coords, lambda w: "highway" in w.tags)
    road_tree = shapely.STRtree(all_segs)
    off_xy = _find_spot(county, river_line, road_tree, all_segs, (700.0, 800.0), 750.0)

    # the river way (own nodes)
    rv = np.asarray(river_line.coords)
    rv = _densify(rv, 120.0, rng)
    river_nodes = b.add(rv, _NONE)
    b.way(river_nodes, {"waterway": "river", "name": "澄江", "width": "80"}, "river")

    # ---------------------------------------------------------------- ids and lon/lat
    coords = b.coords()
    classes = b.classes()
    used = np.zeros(b.n, dtype=bool)
    for w in b.ways:
        used[w.nodes] = True
    new_id = np.cumsum(used)  # ids 1..N in build order
    node_xy = coords[used]
    node_ll = _to_lonlat(node_xy)
    nodes_df = pd.DataFrame({"id": np.arange(1, int(used.sum()) + 1, dtype=np.int64),
                             "lon": node_ll[:, 0], "lat": node_ll[:, 1]})
    ways = tuple(OsmWay(k + 1, tuple(int(v) for v in new_id[w.nodes]), dict(sorted(w.tags.items())))
                 for k, w in enumerate(b.ways))

    # ---------------------------------------------------------------- units
    units, seeds = _units(spec, rng, county, river, core, towns, town_names, vcent, seats)

    # ---------------------------------------------------------------- population
    walk_ways = [w for w in b.ways if _walkable(w)]
    elderly = _population(spec, b, coords, classes, walk_ways, county, river_line, park,
                          hamlet_xy, off_xy, rng)

    # ---------------------------------------------------------------- facilities
    fac = _facilities(spec, rng, b, coords, walk_ways, county, river_line, seeds)

    county_ll = shapely.union_all(units[units["level"] == "town"].geometry.to_numpy())
    river_ll = shapely.LineString(_to_lonlat(rv))
    marks = {
        "disconnected_hamlet": tuple(_to_lonlat(hamlet_xy)[0].tolist()),
        "offnetwork_hamlet": tuple(_to_lonlat(off_xy)[0].tolist()),
        "county_center": DEMO_CENTER_LONLAT,
    }
    return DemoCounty(nodes=nodes_df, ways=ways, facilities=fac, elderly=elderly, units=units,
                      county=county_ll, river=river_ll,
                      landmarks={k: (float(v[0]), float(v[1])) for k, v in marks.items()},
                      spec=spec, seed=seed)


def _segment_lines(b: _Builder, coords: np.ndarray, keep: Any) -> np.ndarray:
    ways = [w for w in b.ways if keep(w)]
    a, c, _ = _segments(b, ways)
    return shapely.linestrings(np.stack([coords[a], coords[c]], axis=1))


def _find_spot(county: shapely.Polygon, river_line: shapely.LineString, tree: shapely.STRtree,
               segs: np.ndarray, band: tuple[float, float], target: float) -> np.ndarray:
    """A lattice point whose distance to every road lies in ``band`` (closest to target)."""
    minx, miny, maxx, maxy = county.bounds
    step = max(100.0, math.sqrt(county.area) / 250)  # metres between candidate spots
    gx, gy = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    p = np.column_stack([gx.ravel(), gy.ravel()])
    inner = county.buffer(-900)
    p = p[shapely.contains_xy(inner, p[:, 0], p[:, 1])]
    p = p[_river_dist(river_line, p, 501.0) > 500]
    pts = shapely.points(p)
    _, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    ok = (dist >= band[0]) & (dist <= band[1])
    if not ok.any():
        raise RuntimeError(f"no place {band} m from every road: the county is too dense")
    k = np.flatnonzero(ok)[np.argmin(np.abs(dist[ok] - target))]
    return p[k][None, :]


# ----------------------------------------------------------------------------- units


@dataclass
class _Seed:
    xy: np.ndarray
    name: str
    town: int
    code: int
    kind: str  # community, village, seat
    unit_id: str = ""


def _units(spec: DemoSpec, rng: np.random.Generator, county: shapely.Polygon, river: _River,
           core: dict[str, Any], towns: list[np.ndarray], town_names: list[str],
           vcent: np.ndarray, seats: list[int]) -> tuple[gpd.GeoDataFrame, list[_Seed]]:
    cw, ch = spec.core_size_m
    # core community seeds: a jittered grid over the core
    nx_ = max(1, round(math.sqrt(spec.n_core_communities * cw / ch)))
    ny_ = max(1, math.ceil(spec.n_core_communities / nx_))
    gx = (np.arange(nx_) + 0.5) / nx_ * cw - cw / 2
    gy = (np.arange(ny_) + 0.5) / ny_ * ch - ch / 2
    GX, GY = np.meshgrid(gx, gy)
    cs = np.column_stack([GX.ravel(), GY.ravel()])
    cs = cs + rng.uniform(-0.15, 0.15, cs.shape) * np.array([cw / nx_, ch / ny_])
    if len(cs) > spec.n_core_communities:
        cs = cs[np.sort(rng.choice(len(cs), spec.n_core_communities, replace=False))]
    n_north = spec.n_subdistricts - 1 if spec.n_subdistricts >= 2 else spec.n_subdistricts
    sub_names = _NORTH_SUBDISTRICTS[min(n_north, 4)] + (
        ["江南街道"] if spec.n_subdistricts >= 2 else [])
    sub_names = _unique_list(sub_names, spec.n_subdistricts, "新城街道")
    side = river.side(cs)
    cname = _unique_names(_COMMUNITY_A, _COMMUNITY_B, "社区",
                          spec.n_core_communities + spec.n_towns * spec.n_town_communities, rng)
    seeds: list[_Seed] = []
    north = np.flatnonzero(side > 0) if spec.n_subdistricts >= 2 else np.arange(len(cs))
    if len(north):
        qs = np.quantile(cs[north, 0], np.linspace(0, 1, n_north + 1)[1:-1]) if n_north > 1 \
            else np.zeros(0)
    for k, p in enumerate(cs):
        if spec.n_subdistricts >= 2 and side[k] < 0:
            town = spec.n_subdistricts - 1
        else:
            town = int(np.searchsorted(qs, p[0])) if n_north > 1 else 0
        seeds.append(_Seed(p, cname[k], town, 111, "community"))
    # towns' communities around the town centre
    kc = spec.n_core_communities
    for t, p in enumerate(towns):
        for j in range(spec.n_town_communities):
            a = 2 * np.pi * j / spec.n_town_communities + rng.uniform(0, 0.5)
            r = rng.uniform(0.17, 0.27) * spec.town_size_m  # not cocircular: GEOS dislikes it
            q = p + r * np.array([np.cos(a), np.sin(a)])
            seeds.append(_Seed(q, cname[kc], spec.n_subdistricts + t, 121, "community"))
            kc += 1
    # villages: nearest town-level anchor
    anchors = []
    for s in range(spec.n_subdistricts):
        mem = [x.xy for x in seeds if x.town == s]
        anchors.append(np.mean(mem, axis=0) if mem else np.zeros(2))
    anchors += list(towns)
    anchors += [vcent[s] for s in seats]
    anchors_a = np.array(anchors)
    vnames = _unique_names(_VILLAGE_A, _VILLAGE_B, "村", len(vcent), rng)
    town_of_seat = {s: spec.n_subdistricts + spec.n_towns + k for k, s in enumerate(seats)}
    for k, p in enumerate(vcent):
        if k in town_of_seat:
            town = town_of_seat[k]
            code, kind = 121, "seat"
        else:
            d = np.hypot(*(anchors_a - p).T)
            town = int(np.argmin(d))
            if town < spec.n_subdistricts:
                code = 112
            elif d[town] < 3000:
                code = 210
            else:
                code = 220
            kind = "village"
        seeds.append(_Seed(p, vnames[k], town, code, kind))
    # Voronoi cells clipped to the county
    pts = np.array([s.xy for s in seeds])
    vor = shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=county.buffer(5000),
                                   ordered=True)
    cells = np.array(shapely.get_parts(vor))
    bad = ~shapely.is_valid(cells)
    if bad.any():  # GEOS can return self-touching cells for near-cocircular seeds
        cells[bad] = [polygonal(g) for g in shapely.make_valid(cells[bad])]
    cells = shapely.intersection(cells, county)
    cells_ll = shapely.transform(cells, lambda c: np.round(_to_lonlat(c), 6))
    bad = ~shapely.is_valid(cells_ll)
    if bad.any():  # rounding to 6 decimals can pinch a sliver
        cells_ll[bad] = [polygonal(g) for g in shapely.make_valid(cells_ll[bad])]
    cells_ll = shapely.remove_repeated_points(cells_ll)
    tnames = sub_names + town_names + _unique_list(_TOWNSHIPS, spec.n_townships, "新乡")
    rows: list[dict[str, Any]] = []
    for t, tn in enumerate(tnames):
        tid = f"{COUNTY_CODE}{t + 1:03d}"
        members = [k for k, s in enumerate(seeds) if s.town == t]
        members.sort(key=lambda k: (seeds[k].kind != "community", -round(seeds[k].xy[1], 3),
                                    round(seeds[k].xy[0], 3)))
        for j, k in enumerate(members):
            seeds[k].unit_id = f"{tid}{j + 1:03d}"
            rows.append({"unit_id": seeds[k].unit_id, "name": seeds[k].name, "level": "village",
                         "parent_id": tid, "urban_rural_code": seeds[k].code,
                         "geometry": cells_ll[k]})
        tgeom = polygonal(shapely.union_all(cells_ll[members])) if members else None
        if t < spec.n_subdistricts:
            tcode = 111
        elif t < spec.n_subdistricts + spec.n_towns:
            tcode = 121
        else:
            tcode = 220
        rows.append({"unit_id": tid, "name": tn, "level": "town", "parent_id": None,
                     "urban_rural_code": tcode, "geometry": tgeom})
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    units = units[units.geometry.notna()].sort_values("unit_id").reset_index(drop=True)
    units["urban_rural_code"] = units["urban_rural_code"].astype("int64")
    return units, seeds


# ----------------------------------------------------------------------------- population


def _population(spec: DemoSpec, b: _Builder, coords: np.ndarray, classes: np.ndarray,
                walk_ways: list[_Way], county: shapely.Polygon, river_line: shapely.LineString,
                park: shapely.Polygon, hamlet_xy: np.ndarray, off_xy: np.ndarray,
                rng: np.random.Generator) -> ElderlyRaster:
    county_ll = shapely.Polygon(_to_lonlat(np.asarray(county.exterior.coords)))
    lon0, lat0, lon1, lat1 = county_ll.bounds
    west = math.floor(lon0 * 1200) / 1200 - PIXEL_DEG
    north = math.ceil(lat1 * 1200) / 1200 + PIXEL_DEG
    width = math.ceil((lon1 - west) * 1200) + 1
    height = math.ceil((north - lat0) * 1200) + 1
    transform = Affine(PIXEL_DEG, 0.0, west, 0.0, -PIXEL_DEG, north)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    clon = west + (cols + 0.5) * PIXEL_DEG
    clat = north - (rows + 0.5) * PIXEL_DEG
    inside = shapely.contains_xy(county_ll, clon, clat)
    cxy = _to_local(np.column_stack([clon.ravel(), clat.ravel()]))
    pts = shapely.points(cxy)
    eligible = inside.ravel().copy()
    sel = np.flatnonzero(eligible)
    eligible[sel] &= shapely.distance(county.exterior, pts[sel]) > BORDER_CLEAR_M
    sel = np.flatnonzero(eligible)
    eligible[sel] &= _river_dist(river_line, cxy[sel], RIVER_DRY_M + 1) > RIVER_DRY_M
    eligible &= ~shapely.contains_xy(park.buffer(20), cxy[:, 0], cxy[:, 1])
    # distance to the nearest walkable road, from densified road points
    dense = []
    for w in walk_ways:
        p = coords[w.nodes]
        dense.append(_densify(p, 20.0, rng) if len(p) > 1 else p)
    road_tree = cKDTree(np.vstack(dense))
    sel = np.flatnonzero(eligible)
    d, _ = road_tree.query(cxy[sel], distance_upper_bound=LIVE_NEAR_ROAD_M)
    eligible[sel] &= np.isfinite(d)
    eligible = eligible.reshape(height, width)

    # node weights -> pixels, smoothed per class
    ll = _to_lonlat(coords)
    pc = np.floor((ll[:, 0] - west) / PIXEL_DEG).astype(int)
    pr = np.floor((north - ll[:, 1]) / PIXEL_DEG).astype(int)
    ok = (pc >= 0) & (pc < width) & (pr >= 0) & (pr < height)
    used = np.zeros(len(coords), dtype=bool)
    for w in walk_ways:
        used[w.nodes] = True
    # class: (share of the elderly, smoothing sigma in pixels)
    shares = {_CORE: (0.42, 1.3), _TOWN: (0.17, 1.0), _VILLAGE: (0.385, 0.9), _RURAL: (0.025, 0.7)}
    fixed_hamlet, fixed_off = 24.0, 10.0
    rest = spec.elderly_total - fixed_hamlet - fixed_off
    share_sum = sum(s for s, _ in shares.values())
    out = np.zeros((height, width))
    for c, (share, sigma) in shares.items():
        m = ok & used & (classes == c)
        if not m.any():
            continue
        grid = np.zeros((height, width))
        np.add.at(grid, (pr[m], pc[m]), 1.0)
        dens = ndimage.gaussian_filter(grid, sigma, mode="constant", truncate=3.0)
        # a little house-to-house variation
        dens *= rng.uniform(0.6, 1.4, dens.shape)
        dens[~eligible] = 0.0
        tot = dens.sum()
        if tot > 0:
            out += dens / tot * rest * share / share_sum
    # disconnected hamlet: pixels within 70 m of its lanes
    hm = np.hypot(cxy[:, 0] - hamlet_xy[0, 0], cxy[:, 1] - hamlet_xy[0, 1]).reshape(height, width)
    hmask = (hm < 140) & inside
    out[hmask] = 0.0
    out[hmask] += fixed_hamlet / hmask.sum()
    # off-network hamlet: the pixel holding the spot and its east and north neighbours
    r0 = int((north - _to_lonlat(off_xy)[0, 1]) / PIXEL_DEG)
    c0 = int((_to_lonlat(off_xy)[0, 0] - west) / PIXEL_DEG)
    for (dr, dc), v in zip(((0, 0), (0, 1), (-1, 0)), (5.0, 3.0, 2.0), strict=True):
        out[r0 + dr, c0 + dc] = v
    # quantise to 1/64 person and make the total exact
    q = np.floor(out * QUANTUM + 0.5)
    target = round(spec.elderly_total * QUANTUM)
    diff = int(target - q.sum())
    if diff:
        flat = q.ravel()
        order = np.lexsort((np.arange(flat.size), -flat))[: abs(diff)]
        flat[order] += np.sign(diff)
        q = flat.reshape(q.shape)
    arr = (q / QUANTUM).astype(np.float32)
    arr[~inside] = NODATA
    return ElderlyRaster(arr, transform)


# ----------------------------------------------------------------------------- facilities


def _facilities(spec: DemoSpec, rng: np.random.Generator, b: _Builder, coords: np.ndarray,
                walk_ways: list[_Way], county: shapely.Polygon, river_line: shapely.LineString,
                seeds: list[_Seed]) -> pd.DataFrame:
    segs_ways = [w for w in walk_ways if w.kind not in ("hamlet", "park", "spur")]
    a, c, _ = _segments(b, segs_ways)
    A, C = coords[a], coords[c]
    segs = shapely.linestrings(np.stack([A, C], axis=1))
    tree = shapely.STRtree(segs)
    all_tree = shapely.STRtree(_segment_lines(b, coords, lambda w: "highway" in w.tags))

    towns_of = [s.town for s in seeds]
    n_town_units = max(towns_of) + 1
    town_seat: list[int] = []
    for t in range(n_town_units):
        mem = [k for k, s in enumerate(seeds) if s.town == t]
        if not mem:
            continue
        cen = np.mean([seeds[k].xy for k in mem if seeds[k].kind != "village"] or
                      [seeds[k].xy for k in mem], axis=0)
        town_seat.append(min(mem, key=lambda k: (float(np.hypot(*(seeds[k].xy - cen))), k)))
    town_name = {}
    for k in town_seat:
        town_name[seeds[k].town] = seeds[k]
    rows: list[dict[str, Any]] = []

    def add(target: np.ndarray, name: str, typ: str, beds: int | None = None,
            meals: int | None = None) -> None:
        rows.append({"xy": np.asarray(target, dtype=float), "name": name, "type": typ,
                     "beds": beds, "meals_per_day": meals})

    tnames = _town_names(spec)
    for _ in range(spec.county_centers):
        add(np.array([120.0, 260.0]), "县级居家养老服务指导中心", "county_center")
    # town centres: one per town-level unit, extras in the biggest towns' other communities
    for k in town_seat[: spec.town_centers]:
        add(seeds[k].xy, f"{tnames[seeds[k].town]}居家养老服务中心", "town_center")
    extra = spec.town_centers - min(spec.town_centers, len(town_seat))
    comm = [k for k, s in enumerate(seeds) if s.kind == "community" and k not in town_seat]
    for k in [comm[int(i)] for i in np.sort(rng.choice(len(comm), min(extra, len(comm)),
                                                        replace=False))] if extra else []:
        add(seeds[k].xy, f"{tnames[seeds[k].town]}{seeds[k].name}示范型居家养老服务中心",
            "town_center")
    # community centres: communities first, then villages near the towns; remote ones miss out
    anchors = np.array([seeds[k].xy for k in town_seat])
    score = np.zeros(len(seeds))
    for k, s in enumerate(seeds):
        dmin = float(np.min(np.hypot(*(anchors - s.xy).T)))
        if s.kind == "community":
            score[k] = 1.3 + rng.random()
        elif s.kind == "seat":
            score[k] = 2.5
        else:
            score[k] = rng.random() + 0.9 * max(0.0, 1 - dmin / 9000.0)
    order = np.lexsort((np.arange(len(seeds)), -score))
    with_cc = sorted(order[: spec.community_centers].tolist())
    without = [k for k in order[spec.community_centers:].tolist() if seeds[k].kind == "village"]
    for k in with_cc:
        add(seeds[k].xy, f"{seeds[k].name}居家养老服务照料中心", "community_center")
    # nursing homes
    w = rng.uniform(0.5, 1.5, spec.nursing_homes)
    w[0] = 2.6
    beds = _split_total(spec.nursing_beds, w)
    urban = [k for k, s in enumerate(seeds) if s.kind == "community"]
    homes = [urban[0]] + [town_seat[(i + 1) % len(town_seat)] for i in range(spec.nursing_homes - 1)]
    for i, k in enumerate(homes):
        s = seeds[k]
        off = rng.uniform(-300, 300, 2)
        if i == 0:
            name = "县社会福利院"
        elif i < len(town_seat):
            tn = tnames[s.town]
            name = f"{tn}敬老院" if not tn.endswith("街道") else f"{_short(tn)}颐养院"
        else:
            name = f"{s.name}{['护理院', '老年公寓', '颐养院'][i % 3]}"
        add(s.xy + off, name, "nursing_home", beds=int(beds[i]))
    # meal facilities
    meals_k = _split_total(max(300, spec.central_kitchens * 600),
                           rng.uniform(0.6, 1.4, spec.central_kitchens))
    for i in range(spec.central_kitchens):
        k = town_seat[i % len(town_seat)] if i < len(town_seat) else int(
            rng.integers(0, len(seeds)))
        tn = _short(tnames[seeds[k].town])
        name = f"{tn}中心厨房" if i < len(town_seat) else f"{seeds[k].name}中心厨房"
        add(seeds[k].xy + rng.uniform(-400, 400, 2), name, "central_kitchen",
            meals=int(meals_k[i]))
    vill = [k for k, s in enumerate(seeds) if s.kind == "village"]
    pool = np.array(vill + urban)
    can = pool[np.sort(rng.choice(len(pool), min(spec.canteens, len(pool)), replace=False))]
    for k in can.tolist():
        add(seeds[k].xy + rng.uniform(-60, 60, 2), f"{seeds[k].name}老年食堂", "canteen",
            meals=int(rng.integers(3, 16)) * 10)
    allk = np.arange(len(seeds))
    mp = allk[np.sort(rng.choice(len(allk), min(spec.meal_points, len(allk)), replace=False))]
    for k in mp.tolist():
        add(seeds[k].xy + rng.uniform(-120, 120, 2), f"{seeds[k].name}助餐点", "meal_point",
            meals=int(rng.integers(3, 13)) * 5)

    # beside the streets: 8-45 m off the nearest walkable street, on dry land
    T = np.array([r["xy"] for r in rows])
    near = tree.query_nearest(shapely.points(T), return_distance=False, all_matches=False)[1]
    pa, pc = A[near], C[near]
    frac = rng.uniform(0.3, 0.7, len(T))[:, None]
    base = pa + frac * (pc - pa)
    v = pc - pa
    nrm = np.column_stack([-v[:, 1], v[:, 0]]) / np.maximum(np.hypot(*v.T), 1e-9)[:, None]
    side = np.sign(np.einsum("ij,ij->i", T - base, nrm))
    side[side == 0] = 1
    dist = rng.uniform(12, 40, len(T))
    out = base + (side * dist)[:, None] * nrm
    for attempt in range(4):
        pts = shapely.points(out)
        _, d_walk = tree.query_nearest(pts, return_distance=True, all_matches=False)
        _, d_any = all_tree.query_nearest(pts, return_distance=True, all_matches=False)
        bad = ((d_walk < 5) | (d_walk > 60) | (d_any < d_walk - 1e-9)
               | (_river_dist(river_line, out, 71.0) < 70)
               | ~shapely.contains_xy(county.buffer(-150), out[:, 0], out[:, 1]))
        if not bad.any():
            break
        flip = -1.0 if attempt % 2 == 0 else 1.0
        dd = (8.0 if attempt >= 1 else dist[bad])
        out[bad] = base[bad] + (flip * side[bad] * dd)[:, None] * nrm[bad]
    ll = _to_lonlat(out)
    fac = pd.DataFrame({
        "id": "",
        "name": [r["name"] for r in rows],
        "type": [r["type"] for r in rows],
        "lon": np.round(ll[:, 0], 6),
        "lat": np.round(ll[:, 1], 6),
        "beds": pd.array([r["beds"] for r in rows], dtype="Int64"),
        "meals_per_day": pd.array([r["meals_per_day"] for r in rows], dtype="Int64"),
    })
    planned = []
    for i in range(spec.planned):
        k = without[i] if i < len(without) else int(rng.integers(0, len(seeds)))
        planned.append({"id": "", "name": f"规划中：{seeds[k].name}居家养老服务照料中心",
                        "type": "community_center", "lon": np.nan, "lat": np.nan,
                        "beds": pd.NA, "meals_per_day": pd.NA})
    if planned:
        pl = pd.DataFrame(planned).astype({"beds": "Int64", "meals_per_day": "Int64",
                                           "lon": float, "lat": float})
        fac = pd.concat([fac, pl], ignore_index=True)
    width = max(3, len(str(len(fac))))
    fac["id"] = [f"F{i + 1:0{width}d}" for i in range(len(fac))]
    return fac


def _town_names(spec: DemoSpec) -> list[str]:
    n_north = spec.n_subdistricts - 1 if spec.n_subdistricts >= 2 else spec.n_subdistricts
    subs = _NORTH_SUBDISTRICTS[min(n_north, 4)] + (["江南街道"] if spec.n_subdistricts >= 2 else [])
    return (_unique_list(subs, spec.n_subdistricts, "新城街道")
            + _unique_list(_TOWNS, spec.n_towns, "新镇")
            + _unique_list(_TOWNSHIPS, spec.n_townships, "新乡"))


def _split_total(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that add up to ``total`` exactly."""
    raw = total * weights / weights.sum()
    out = np.floor(raw).astype(np.int64)
    rem = int(total - out.sum())
    order = np.lexsort((np.arange(len(raw)), -(raw - out)))
    out[order[:rem]] += 1
    return out


# ----------------------------------------------------------------------------- writers


def _fmt_float(v: float, digits: int) -> str:
    s = f"{v:.{digits}f}"
    return "0." + "0" * digits if s == "-0." + "0" * digits else s


def _osm_xml(county: DemoCounty) -> str:
    ll = county.nodes[["lon", "lat"]].to_numpy()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<osm version="0.6" generator="eldercare-coverage demo">']
    lon0, lat0 = ll.min(axis=0)
    lon1, lat1 = ll.max(axis=0)
    lines.append(f'  <bounds minlat="{lat0:.7f}" minlon="{lon0:.7f}" maxlat="{lat1:.7f}" '
                 f'maxlon="{lon1:.7f}"/>')
    ids = county.nodes["id"].to_numpy()
    lats = [f"{v:.7f}" for v in ll[:, 1]]
    lons = [f"{v:.7f}" for v in ll[:, 0]]
    lines.extend(f'  <node id="{i}" version="1" lat="{la}" lon="{lo}"/>'
                 for i, la, lo in zip(ids.tolist(), lats, lons, strict=True))
    for w in sorted(county.ways, key=lambda w: w.id):
        lines.append(f'  <way id="{w.id}" version="1">')
        lines.extend(f'    <nd ref="{r}"/>' for r in w.nodes)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>"
                     for k, v in sorted(w.tags.items()))
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def _facilities_csv(fac: pd.DataFrame) -> str:
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["id", "name", "type", "lon", "lat", "beds", "meals_per_day"])
    for r in fac.itertuples(index=False):
        wr.writerow([
            r.id, r.name, r.type,
            "" if pd.isna(r.lon) else f"{r.lon:.6f}",
            "" if pd.isna(r.lat) else f"{r.lat:.6f}",
            "" if pd.isna(r.beds) else str(int(r.beds)),
            "" if pd.isna(r.meals_per_day) else str(int(r.meals_per_day)),
        ])
    return buf.getvalue()


def _ring_text(ring: np.ndarray) -> str:
    return "[" + ",".join(f"[{_fmt_float(x, 6)},{_fmt_float(y, 6)}]" for x, y in ring) + "]"


def _geometry_json(g: shapely.Geometry) -> str:
    g = shapely.orient_polygons(g, exterior_cw=False)  # RFC 7946: exteriors counterclockwise

    def poly(p: shapely.Polygon) -> str:
        rings = [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
        return "[" + ",".join(_ring_text(r) for r in rings) + "]"

    if g.geom_type == "Polygon":
        return '{"type":"Polygon","coordinates":' + poly(g) + "}"
    parts = ",".join(poly(p) for p in g.geoms)
    return '{"type":"MultiPolygon","coordinates":[' + parts + "]}"


def _units_geojson(units: gpd.GeoDataFrame) -> str:
    feats = []
    for r in units.sort_values("unit_id").itertuples(index=False):
        props = {"unit_id": r.unit_id, "name": r.name, "level": r.level,
                 "parent_id": None if r.parent_id is None or pd.isna(r.parent_id)
                 else r.parent_id, "urban_rural_code": int(r.urban_rural_code)}
        feats.append('{"type":"Feature","properties":'
                     + json.dumps(props, ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":"))
                     + ',"geometry":' + _geometry_json(r.geometry) + "}")
    return ('{"type":"FeatureCollection","name":"demo_units","features":[\n'
            + ",\n".join(feats) + "\n]}\n")


def _write_raster(path: Path, raster: ElderlyRaster) -> None:
    import rasterio

    h, w = raster.array.shape
    profile = {"driver": "GTiff", "height": h, "width": w, "count": 1, "dtype": "float32",
               "crs": raster.crs, "transform": raster.transform, "nodata": raster.nodata,
               "compress": "deflate", "predictor": 3, "tiled": False}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(raster.array, 1)
        dst.update_tags(description="people aged 60 and over per pixel (synthetic demo county)",
                        elderly_total=f"{raster.total:.4f}")


def write_demo_inputs(directory: str | Path, *, spec: DemoSpec | None = None,
                      seed: int = DEFAULT_SEED) -> DemoInputs:
    """Write the demo county's four input files under ``directory``.

    Parameters
    ----------
    directory
        Target folder; ``network/``, ``facilities/``, ``population/`` and
        ``boundaries/`` are created inside it.
    spec
        Sizes of the county; :meth:`DemoSpec.demo` when None.
    seed
        Seed of the generator. The same spec and seed give byte-identical
        ``.osm``, ``.csv`` and ``.geojson`` files and an identical raster.

    Returns
    -------
    DemoInputs
        Paths of the four written files.

    Examples
    --------
    >>> inputs = write_demo_inputs("data")  # doctest: +SKIP
    >>> inputs.network.name  # doctest: +SKIP
    'demo_county.osm'
    """
    county = build_demo_county(spec, seed=seed)
    root = Path(directory)
    paths = DemoInputs(
        network=root / "network" / "demo_county.osm",
        facilities=root / "facilities" / "demo_facilities.csv",
        population=root / "population" / "demo_elderly_60plus.tif",
        boundaries=root / "boundaries" / "demo_units.geojson",
    )
    for p in (paths.network, paths.facilities, paths.population, paths.boundaries):
        p.parent.mkdir(parents=True, exist_ok=True)
    paths.network.write_text(_osm_xml(county), encoding="utf-8", newline="\n")
    paths.facilities.write_text(_facilities_csv(county.facilities), encoding="utf-8",
                                newline="\n")
    paths.boundaries.write_text(_units_geojson(county.units), encoding="utf-8", newline="\n")
    _write_raster(paths.population, county.elderly)
    return paths


def spec_with(spec: DemoSpec, **changes: Any) -> DemoSpec:
    """A copy of ``spec`` with some fields changed (a typed :func:`dataclasses.replace`)."""
    return replace(spec, **changes)
