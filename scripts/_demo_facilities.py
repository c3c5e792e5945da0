"""The demo county's elderly-care facilities and their CSV (a Chinese office export).

A private helper of ``scripts/make_demo_data.py``; not part of the package. Facilities sit
at their unit's seed (the county centre, a town centre per town-level unit, community
centres for communities and the villages near towns, nursing homes, kitchens, canteens and
meal points), then move 8-45 m off the nearest walkable street onto dry land. One planned
facility has no coordinates yet.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pandas as pd
import shapely

from _demo_boundaries import Seed
from _demo_builder import Builder, Way, segment_ends, segment_lines
from _demo_common import DemoSpec, river_distance_m, to_lonlat
from _demo_names import short_name, town_level_names

CSV_COLUMNS = ["id", "name", "type", "lon", "lat", "beds", "meals_per_day"]


def build_facilities(spec: DemoSpec, rng: np.random.Generator, builder: Builder,
                     coords: np.ndarray, walk_ways: list[Way], county: shapely.Polygon,
                     river_line: shapely.LineString, seeds: list[Seed]) -> pd.DataFrame:
    """The facility table: ``id, name, type, lon, lat, beds, meals_per_day`` (WGS-84)."""
    rows, without_centre = _place_facilities(spec, rng, seeds)
    xy = _beside_streets(np.array([r["xy"] for r in rows]), rng, builder, coords, walk_ways,
                         county, river_line)
    lonlat = to_lonlat(xy)
    table = pd.DataFrame({
        "id": "",
        "name": [r["name"] for r in rows],
        "type": [r["type"] for r in rows],
        "lon": np.round(lonlat[:, 0], 6),
        "lat": np.round(lonlat[:, 1], 6),
        "beds": pd.array([r["beds"] for r in rows], dtype="Int64"),
        "meals_per_day": pd.array([r["meals_per_day"] for r in rows], dtype="Int64"),
    })
    planned = []
    for i in range(spec.planned):
        k = without_centre[i] if i < len(without_centre) else int(rng.integers(0, len(seeds)))
        planned.append({"id": "", "name": f"规划中：{seeds[k].name}居家养老服务照料中心",
                        "type": "community_center", "lon": np.nan, "lat": np.nan,
                        "beds": pd.NA, "meals_per_day": pd.NA})
    if planned:
        planned_table = pd.DataFrame(planned).astype({"beds": "Int64", "meals_per_day": "Int64",
                                                      "lon": float, "lat": float})
        table = pd.concat([table, planned_table], ignore_index=True)
    width = max(3, len(str(len(table))))
    table["id"] = [f"F{i + 1:0{width}d}" for i in range(len(table))]
    return table


def _town_seats(seeds: list[Seed]) -> list[int]:
    """Per town-level unit, its seed nearest to the centroid of its communities (of all
    its seeds when it has none)."""
    n_town_units = max(s.town for s in seeds) + 1
    seats: list[int] = []
    for t in range(n_town_units):
        members = [k for k, s in enumerate(seeds) if s.town == t]
        if not members:
            continue
        centre = np.mean([seeds[k].xy for k in members if seeds[k].kind != "village"]
                         or [seeds[k].xy for k in members], axis=0)
        seats.append(min(members, key=lambda k: (float(np.hypot(*(seeds[k].xy - centre))), k)))
    return seats


def _place_facilities(spec: DemoSpec, rng: np.random.Generator,
                      seeds: list[Seed]) -> tuple[list[dict[str, Any]], list[int]]:
    """Every facility with coordinates at its seed (local metres), in table order; and
    the villages without a community centre (best-scored first), for planned ones.

    The order of the draws is part of the committed output.
    """
    rows: list[dict[str, Any]] = []

    def add(xy: np.ndarray, name: str, kind: str, beds: int | None = None,
            meals: int | None = None) -> None:
        rows.append({"xy": np.asarray(xy, dtype=float), "name": name, "type": kind,
                     "beds": beds, "meals_per_day": meals})

    seats = _town_seats(seeds)
    names = town_level_names(spec)
    for _ in range(spec.county_centers):
        add(np.array([120.0, 260.0]), "县级居家养老服务指导中心", "county_center")
    # town centres: one per town-level unit, extras in the biggest towns' other communities
    for k in seats[: spec.town_centers]:
        add(seeds[k].xy, f"{names[seeds[k].town]}居家养老服务中心", "town_center")
    extra = spec.town_centers - min(spec.town_centers, len(seats))
    others = [k for k, s in enumerate(seeds) if s.kind == "community" and k not in seats]
    if extra:
        picked = np.sort(rng.choice(len(others), min(extra, len(others)), replace=False))
        for k in [others[int(i)] for i in picked]:
            add(seeds[k].xy, f"{names[seeds[k].town]}{seeds[k].name}示范型居家养老服务中心",
                "town_center")
    with_centre, without_centre = _community_centre_seeds(spec, rng, seeds, seats)
    for k in with_centre:
        add(seeds[k].xy, f"{seeds[k].name}居家养老服务照料中心", "community_center")
    # nursing homes: the county's welfare home in the core, then the town seats
    weights = rng.uniform(0.5, 1.5, spec.nursing_homes)
    weights[0] = 2.6
    beds = split_total(spec.nursing_beds, weights)
    urban = [k for k, s in enumerate(seeds) if s.kind == "community"]
    homes = [urban[0]] + [seats[(i + 1) % len(seats)] for i in range(spec.nursing_homes - 1)]
    for i, k in enumerate(homes):
        seed = seeds[k]
        offset_m = rng.uniform(-300, 300, 2)
        if i == 0:
            name = "县社会福利院"
        elif i < len(seats):
            town = names[seed.town]
            name = f"{town}敬老院" if not town.endswith("街道") else f"{short_name(town)}颐养院"
        else:
            name = f"{seed.name}{['护理院', '老年公寓', '颐养院'][i % 3]}"
        add(seed.xy + offset_m, name, "nursing_home", beds=int(beds[i]))
    # meal facilities
    kitchen_meals = split_total(max(300, spec.central_kitchens * 600),
                                rng.uniform(0.6, 1.4, spec.central_kitchens))
    for i in range(spec.central_kitchens):
        k = seats[i % len(seats)] if i < len(seats) else int(rng.integers(0, len(seeds)))
        town = short_name(names[seeds[k].town])
        name = f"{town}中心厨房" if i < len(seats) else f"{seeds[k].name}中心厨房"
        add(seeds[k].xy + rng.uniform(-400, 400, 2), name, "central_kitchen",
            meals=int(kitchen_meals[i]))
    villages = [k for k, s in enumerate(seeds) if s.kind == "village"]
    pool = np.array(villages + urban)
    canteens = pool[np.sort(rng.choice(len(pool), min(spec.canteens, len(pool)), replace=False))]
    for k in canteens.tolist():
        add(seeds[k].xy + rng.uniform(-60, 60, 2), f"{seeds[k].name}老年食堂", "canteen",
            meals=int(rng.integers(3, 16)) * 10)
    every = np.arange(len(seeds))
    meal_points = every[np.sort(rng.choice(len(every), min(spec.meal_points, len(every)),
                                           replace=False))]
    for k in meal_points.tolist():
        add(seeds[k].xy + rng.uniform(-120, 120, 2), f"{seeds[k].name}助餐点", "meal_point",
            meals=int(rng.integers(3, 13)) * 5)
    return rows, without_centre


def _community_centre_seeds(spec: DemoSpec, rng: np.random.Generator, seeds: list[Seed],
                            seats: list[int]) -> tuple[list[int], list[int]]:
    """Seeds with a community centre (the ``spec.community_centers`` best-scored, in seed
    order) and the villages without one (best-scored first): communities and township
    seats score highest, villages by closeness to a town seat, so remote ones miss out."""
    anchors = np.array([seeds[k].xy for k in seats])
    score = np.zeros(len(seeds))
    for k, seed in enumerate(seeds):
        anchor_m = float(np.min(np.hypot(*(anchors - seed.xy).T)))
        if seed.kind == "community":
            score[k] = 1.3 + rng.random()
        elif seed.kind == "seat":
            score[k] = 2.5
        else:
            score[k] = rng.random() + 0.9 * max(0.0, 1 - anchor_m / 9000.0)
    order = np.lexsort((np.arange(len(seeds)), -score))
    with_centre = sorted(order[: spec.community_centers].tolist())
    without_centre = [k for k in order[spec.community_centers:].tolist()
                      if seeds[k].kind == "village"]
    return with_centre, without_centre


def _beside_streets(target_xy: np.ndarray, rng: np.random.Generator, builder: Builder,
                    coords: np.ndarray, walk_ways: list[Way], county: shapely.Polygon,
                    river_line: shapely.LineString) -> np.ndarray:
    """Move each facility 12-40 m (8 m where that fails) off the middle part of its
    nearest walkable street segment, on dry land inside the county, nearer to that
    street than to any other road."""
    street_ways = [w for w in walk_ways if w.kind not in ("hamlet", "park", "spur")]
    seg_start, seg_end, _ = segment_ends(street_ways)
    start_xy, end_xy = coords[seg_start], coords[seg_end]
    street_tree = shapely.STRtree(shapely.linestrings(np.stack([start_xy, end_xy], axis=1)))
    road_tree = shapely.STRtree(segment_lines(builder, coords, lambda w: "highway" in w.tags))
    near = street_tree.query_nearest(shapely.points(target_xy), return_distance=False,
                                     all_matches=False)[1]
    p_start, p_end = start_xy[near], end_xy[near]
    frac = rng.uniform(0.3, 0.7, len(target_xy))[:, None]
    base = p_start + frac * (p_end - p_start)
    chord = p_end - p_start
    normal = (np.column_stack([-chord[:, 1], chord[:, 0]])
              / np.maximum(np.hypot(*chord.T), 1e-9)[:, None])
    side = np.sign(np.einsum("ij,ij->i", target_xy - base, normal))  # keep the target's side
    side[side == 0] = 1
    offset_m = rng.uniform(12, 40, len(target_xy))
    out = base + (side * offset_m)[:, None] * normal
    inner = county.buffer(-150)
    for attempt in range(4):
        pts = shapely.points(out)
        _, street_m = street_tree.query_nearest(pts, return_distance=True, all_matches=False)
        _, road_m = road_tree.query_nearest(pts, return_distance=True, all_matches=False)
        bad = ((street_m < 5) | (street_m > 60) | (road_m < street_m - 1e-9)
               | (river_distance_m(river_line, out, 71.0) < 70)
               | ~shapely.contains_xy(inner, out[:, 0], out[:, 1]))
        if not bad.any():
            break
        flip = -1.0 if attempt % 2 == 0 else 1.0  # other side first, then back at 8 m
        retry_m = 8.0 if attempt >= 1 else offset_m[bad]
        out[bad] = base[bad] + (flip * side[bad] * retry_m)[:, None] * normal[bad]
    return out


def split_total(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that add up to ``total`` exactly."""
    raw = total * weights / weights.sum()
    out = np.floor(raw).astype(np.int64)
    remainder = int(total - out.sum())
    order = np.lexsort((np.arange(len(raw)), -(raw - out)))  # largest fractions first
    out[order[:remainder]] += 1
    return out


def facilities_csv(table: pd.DataFrame) -> str:
    """CSV text of the facility table (UTF-8 without BOM, ``\\n`` line ends, 6 decimals)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table.itertuples(index=False):
        writer.writerow([
            row.id, row.name, row.type,
            "" if pd.isna(row.lon) else f"{row.lon:.6f}",
            "" if pd.isna(row.lat) else f"{row.lat:.6f}",
            "" if pd.isna(row.beds) else str(int(row.beds)),
            "" if pd.isna(row.meals_per_day) else str(int(row.meals_per_day)),
        ])
    return buf.getvalue()
