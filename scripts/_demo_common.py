"""What every part of the demo county generator shares: its sizes, constants, the metric
frame and the river.

A private helper of ``scripts/make_demo_data.py``; not part of the package. Everything is
built in metres in EPSG:32651 (UTM 51N) around :data:`DEMO_CENTER_LONLAT` ("local"
coordinates: metres east and north of the centre) and converted to lon/lat with pyproj.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from scipy.spatial import cKDTree

DEMO_CENTER_LONLAT = (121.37, 28.37)  # degrees, near Wenling
DEMO_ELDERLY_TOTAL = 47836.0  # people aged 60+ in the committed demo raster
DEFAULT_SEED = 20201101
UTM_EPSG = 32651
PIXEL_DEG = 1.0 / 1200.0  # degrees: 3 arc-seconds, the WorldPop grid
NODATA = -99999.0
COUNTY_CODE = "331099"  # fictional county code in Taizhou's 3310xx range

RIVER_CLEAR_M = 35.0  # metres: no road node closer than this to the river centre line
RIVER_DRY_M = 60.0  # metres: pixels whose centre is this close to the river have no people
LIVE_NEAR_ROAD_M = 250.0  # metres: people live within this distance of a road
BORDER_CLEAR_M = 80.0  # metres: populated pixels lie wholly inside the county (half-diagonal ~62 m)
QUANTUM = 64.0  # raster values are multiples of 1/64 person: sums are exact

# node classes: which share of the elderly a street node draws (population weights)
NODE_NONE, NODE_CORE, NODE_TOWN, NODE_VILLAGE, NODE_RURAL, NODE_HAMLET = range(6)


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
        Facility counts (``nursing_beds`` is the total over nursing homes). The demo's
        meal facilities keep Wenling's proportions (33 central kitchens, 16 canteens, 520
        meal points for 585 villages and communities with a centre) scaled to its 27
        centres (x 0.046: 1.5, 0.7, 24): 2 kitchens, 1 canteen and 22 meal points, so that the
        table keeps its 65 rows.
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
    canteens: int = 1
    meal_points: int = 22
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

        def count(wenling_count: float) -> int:
            return max(1, round(wenling_count * scale))

        length_scale = math.sqrt(scale)  # areas scale with `scale`, lengths with its root
        return cls(
            area_km2=926.0 * scale,
            aspect=1.2,
            core_size_m=(9000.0 * length_scale, 7000.0 * length_scale),
            n_subdistricts=5,
            n_core_communities=count(60),
            n_towns=count(11),
            town_size_m=max(1200.0, 2500.0 * min(1.0, length_scale)),
            town_distance_m=(6500.0 * length_scale, 17000.0 * length_scale),
            n_town_communities=4,
            n_townships=0,
            n_villages=count(576),
            street_node_spacing_m=7.0,
            lane_node_spacing_m=(6.0, 12.0),
            rural_node_spacing_m=(15.0, 30.0),
            n_rural_bridges=count(12),
            elderly_total=276870.0 * scale,
            town_centers=count(24),
            community_centers=count(585),
            nursing_homes=count(48),
            nursing_beds=count(9512),
            central_kitchens=count(33),
            canteens=count(16),
            meal_points=count(520),
            planned=0,
        )


# ----------------------------------------------------------------------------- metric frame


@lru_cache(maxsize=1)
def _transformers() -> tuple[pyproj.Transformer, pyproj.Transformer, tuple[float, float]]:
    to_utm = pyproj.Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
    to_lonlat_ = pyproj.Transformer.from_crs(UTM_EPSG, 4326, always_xy=True)
    x0, y0 = to_utm.transform(*DEMO_CENTER_LONLAT)
    return to_utm, to_lonlat_, (float(x0), float(y0))


def to_lonlat(xy: np.ndarray) -> np.ndarray:
    """Local metric coordinates (metres from the centre, UTM 51N axes) to lon/lat."""
    _, to_ll, (x0, y0) = _transformers()
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    lon, lat = to_ll.transform(xy[:, 0] + x0, xy[:, 1] + y0)
    return np.column_stack([lon, lat])


def to_local(lonlat: np.ndarray) -> np.ndarray:
    """Lon/lat to local metric coordinates (metres from the centre)."""
    to_utm, _, (x0, y0) = _transformers()
    lonlat = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    x, y = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([np.asarray(x) - x0, np.asarray(y) - y0])


def densify(pts: np.ndarray, spacing: tuple[float, float] | float | None,
            rng: np.random.Generator) -> np.ndarray:
    """Points along the polyline ``pts`` every ``spacing`` metres, ends included.

    A ``(low, high)`` spacing draws each step from ``rng`` (uniform); a single number
    spaces the points evenly (no random draw); None returns ``pts`` unchanged.
    """
    if spacing is None:
        return pts
    seg = np.diff(pts, axis=0)
    seg_len_m = np.hypot(seg[:, 0], seg[:, 1])
    cum_m = np.concatenate([[0.0], np.cumsum(seg_len_m)])
    total_m = cum_m[-1]
    if isinstance(spacing, tuple):
        n_steps = int(total_m / spacing[0]) + 2  # enough steps of the shortest length
        steps_m = rng.uniform(spacing[0], spacing[1], n_steps)
        at_m = np.cumsum(steps_m)
        at_m = at_m[at_m < total_m - 0.5 * spacing[0]]  # no stub shorter than half a step
    else:
        n_steps = int(total_m // spacing)
        at_m = np.linspace(0.0, total_m, n_steps + 1)[1:-1] if n_steps >= 1 else np.zeros(0)
    at_m = np.concatenate([[0.0], at_m, [total_m]])
    x = np.interp(at_m, cum_m, pts[:, 0])
    y = np.interp(at_m, cum_m, pts[:, 1])
    return np.column_stack([x, y])


# ----------------------------------------------------------------------------- the river


@dataclass(frozen=True)
class River:
    """The river's centre line as a sum of two sines across the county (local metres)."""

    y0: float
    amp: tuple[float, float]
    wavelength: tuple[float, float]
    phase: tuple[float, float]

    def y(self, x: np.ndarray) -> np.ndarray:
        """Northing of the centre line at eastings ``x``."""
        return (self.y0 + self.amp[0] * np.sin(2 * np.pi * x / self.wavelength[0] + self.phase[0])
                + self.amp[1] * np.sin(2 * np.pi * x / self.wavelength[1] + self.phase[1]))

    def side(self, xy: np.ndarray) -> np.ndarray:
        """+1 for points north of the river, -1 south of it."""
        xy = np.asarray(xy).reshape(-1, 2)
        return np.where(xy[:, 1] > self.y(xy[:, 0]), 1, -1)


@lru_cache(maxsize=4)
def _river_tree(river_line: shapely.LineString) -> cKDTree:
    pts = np.asarray(river_line.coords)
    return cKDTree(densify(pts, 4.0, np.random.default_rng(0)))  # even spacing: no draw


def river_distance_m(river_line: shapely.LineString, xy: np.ndarray,
                     upto: float = np.inf) -> np.ndarray:
    """Distance to the river centre line, metres (to within 2 m: points every 4 m).

    Distances beyond ``upto`` come back as inf (fast).
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return _river_tree(river_line).query(xy, distance_upper_bound=upto)[0]
