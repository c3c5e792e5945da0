"""The demo county's street network, stage by stage, and its OSM XML.

A private helper of ``scripts/make_demo_data.py``; not part of the package. The stages
(:func:`build_streets`) run in a fixed order on one random generator: the county outline,
the river, the urban core's grid with a park, the towns' grids, villages on a jittered
hexagonal lattice, rural roads (a spanning tree of a Delaunay triangulation plus short
extra edges), one-way streets and two spurs walking cannot use, the river cuts with their
bridges, joins of stray components, the expressway with two interchanges, the two test
hamlets, and the river's own way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.spatial import Delaunay, cKDTree

from _demo_builder import (
    Builder,
    StreetGrid,
    connect_components,
    cut_river,
    find_spot,
    grid_gates,
    segment_lines,
    street_grid,
    village_lanes,
    winding_road,
)
from _demo_common import (
    NODE_CORE,
    NODE_HAMLET,
    NODE_NONE,
    NODE_RURAL,
    NODE_TOWN,
    RIVER_CLEAR_M,
    DemoSpec,
    River,
    densify,
    river_distance_m,
    to_lonlat,
)
from _demo_names import COL_ARTERIALS, ROW_ARTERIALS, short_name, town_names


@dataclass(frozen=True)
class Streets:
    """The county's streets in local metres, and the places the later stages need.

    Attributes
    ----------
    builder
        All nodes and ways (streets, the expressway, the river).
    county
        The county polygon.
    river, river_line
        The river's course and its centre line clipped to the county (plus 300 m).
    river_points
        The river way's nodes.
    core
        The urban core's grid lattice.
    park
        The park on the north bank in the core (no people live there).
    town_centres
        Town centres, in placement order (north to south).
    village_centres
        Centres of the villages; ``seats`` indexes the township seats among them.
    hamlet_xy, offnetwork_xy
        The disconnected hamlet and the off-network hamlet, (1, 2) arrays.
    """

    builder: Builder
    county: shapely.Polygon
    river: River
    river_line: shapely.LineString
    river_points: np.ndarray
    core: StreetGrid
    park: shapely.Polygon
    town_centres: list[np.ndarray]
    village_centres: np.ndarray
    seats: list[int]
    hamlet_xy: np.ndarray
    offnetwork_xy: np.ndarray


def build_streets(spec: DemoSpec, rng: np.random.Generator) -> Streets:
    """Every street of the county, in the stages' fixed order (see the module docstring)."""
    county = _county_outline(spec, rng)
    core_w, core_h = spec.core_size_m
    core_box = shapely.box(-core_w / 2, -core_h / 2, core_w / 2, core_h / 2)
    river, river_line = _river(spec, rng, county)
    motorway_xy = _expressway_course(spec, county)
    motorway_line = shapely.LineString(motorway_xy)

    builder = Builder()
    park_x = -0.2 * core_w  # the park on the north bank in the core
    bank_y = float(river.y(np.array([park_x]))[0])
    park = shapely.box(park_x - 0.12 * core_w, bank_y + 60,
                       park_x + 0.12 * core_w, bank_y + 60 + 0.12 * core_h)
    core = street_grid(builder, np.zeros(2), (core_w, core_h), spec.core_block_m, NODE_CORE,
                       "core", rng, river_line, spec, row_names=ROW_ARTERIALS,
                       col_names=COL_ARTERIALS, arterial_every=5, park=park)
    towns = _place_towns(spec, rng, county, river, river_line, motorway_line, core_box)
    town_grids = []
    for name, centre in zip(town_names(spec), towns, strict=True):
        short = short_name(name)
        town_grids.append(street_grid(
            builder, centre, (spec.town_size_m, spec.town_size_m * rng.uniform(0.8, 1.0)),
            spec.town_block_m, NODE_TOWN, "town", rng, river_line, spec,
            row_names=[f"{short}大街", f"{short}中路"], col_names=[f"{short}路", f"{short}东路"],
            arterial_every=4))
    half_town = spec.town_size_m / 2
    grid_hulls = [core_box] + [shapely.box(p[0] - half_town, p[1] - half_town,
                                           p[0] + half_town, p[1] + half_town) for p in towns]
    village_centres, seats = _place_villages(spec, rng, county, grid_hulls, river_line,
                                             motorway_line, towns)
    village_nodes = [village_lanes(builder, centre, rng, spec, 1.8 if k in seats else 1.0)
                     for k, centre in enumerate(village_centres)]
    _rural_roads(builder, spec, rng, [core, *town_grids], grid_hulls, village_centres,
                 village_nodes, county, river_line)
    _core_special_ways(builder, rng, core)
    # cut the river; then join what the cuts and the grids left apart
    cut_river(builder, river_line, spec, core_box)
    connect_components(builder, river, river_line, rng, spec)
    _expressway(builder, motorway_xy, county, river_line, rng)
    hamlet_xy, offnetwork_xy = _hamlets(builder, county, river_line)
    # the river way (own nodes)
    river_points = densify(np.asarray(river_line.coords), 120.0, rng)
    river_nodes = builder.add(river_points, NODE_NONE)
    builder.way(river_nodes, {"waterway": "river", "name": "澄江", "width": "80"}, "river")
    return Streets(builder=builder, county=county, river=river, river_line=river_line,
                   river_points=river_points, core=core, park=park, town_centres=towns,
                   village_centres=village_centres, seats=seats, hamlet_xy=hamlet_xy,
                   offnetwork_xy=offnetwork_xy)


# ----------------------------------------------------------------------------- outline, river


def _county_outline(spec: DemoSpec, rng: np.random.Generator) -> shapely.Polygon:
    """A wobbly ellipse of ``spec.aspect`` scaled to ``spec.area_km2`` exactly."""
    theta = np.linspace(0, 2 * np.pi, 257)[:-1]
    phase = rng.uniform(0, 2 * np.pi, 3)
    radius = (1 + 0.07 * np.sin(3 * theta + phase[0]) + 0.05 * np.sin(5 * theta + phase[1])
              + 0.025 * np.sin(9 * theta + phase[2]))
    pts = np.column_stack([spec.aspect * radius * np.cos(theta), radius * np.sin(theta)])
    unit_area = shapely.Polygon(pts).area
    return shapely.Polygon(pts * math.sqrt(spec.area_km2 * 1e6 / unit_area))


def _river(spec: DemoSpec, rng: np.random.Generator,
           county: shapely.Polygon) -> tuple[River, shapely.LineString]:
    """The river's course (west to east, just south of the centre) and its clipped line."""
    core_w, core_h = spec.core_size_m
    river = River(y0=-0.08 * core_h, amp=(0.13 * core_h, 0.05 * core_h),
                  wavelength=(1.5 * core_w, 0.57 * core_w),
                  phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))))
    minx, _, maxx, _ = county.bounds
    river_x = np.arange(minx - 500, maxx + 500, 40.0)
    river_line = shapely.LineString(np.column_stack([river_x, river.y(river_x)]))
    river_in = county.buffer(300).intersection(river_line)
    river_line = max(getattr(river_in, "geoms", [river_in]), key=lambda g: g.length)
    shapely.prepare(river_line)
    return river, river_line


def _expressway_course(spec: DemoSpec, county: shapely.Polygon) -> np.ndarray:
    """A quadratic curve from the south-west to the north-east border, around the core."""

    def border(theta: float) -> np.ndarray:
        ray = shapely.LineString([(0, 0), (1e6 * np.cos(theta), 1e6 * np.sin(theta))])
        hit = county.exterior.intersection(ray)
        if hit.geom_type != "Point":
            hit = min(hit.geoms, key=lambda q: q.distance(shapely.Point(0, 0)))
        return np.array(hit.coords[0]) * 0.985

    start, end = border(np.deg2rad(200.0)), border(np.deg2rad(68.0))
    mid = (start + end) / 2
    core_w, core_h = spec.core_size_m
    clear_m = math.hypot(core_w, core_h) / 2 + 1500.0  # the curve's apex keeps this off
    apex = mid / max(np.hypot(*mid), 1e-9) * max(float(np.hypot(*mid)), clear_m)
    ctrl = 2 * apex - mid
    along = np.linspace(0, 1, 400)[:, None]
    return (1 - along) ** 2 * start + 2 * (1 - along) * along * ctrl + along**2 * end


# ----------------------------------------------------------------------------- towns, villages


def _place_towns(spec: DemoSpec, rng: np.random.Generator, county: shapely.Polygon,
                 river: River, river_line: shapely.LineString,
                 motorway_line: shapely.LineString, core_box: shapely.Polygon) -> list[np.ndarray]:
    """Town centres away from the border, river, expressway, core and each other,
    alternating river banks; sorted north to south."""
    towns: list[np.ndarray] = []
    inner = county.buffer(-(spec.town_size_m / 2 + 1200))
    shapely.prepare(inner)
    tries = 0
    min_sep_m = 2.4 * spec.town_size_m + 1200  # metres between town centres, relaxed if needed
    while len(towns) < spec.n_towns:
        tries += 1
        if tries % 2000 == 0:
            min_sep_m *= 0.9
        if tries > 40000:
            raise RuntimeError("could not place the towns; enlarge the county")
        radius_m = rng.uniform(*spec.town_distance_m)
        angle = rng.uniform(0, 2 * np.pi)
        centre = np.array([radius_m * np.cos(angle), radius_m * np.sin(angle)])
        pt = shapely.Point(centre)
        if not inner.contains(pt):
            continue
        if river_line.distance(pt) < spec.town_size_m / 2 + 700:
            continue
        if motorway_line.distance(pt) < spec.town_size_m / 2 + 600:
            continue
        if core_box.distance(pt) < spec.town_size_m / 2 + 2500:
            continue
        if any(np.hypot(*(centre - other)) < min_sep_m for other in towns):
            continue
        if int(river.side(centre)[0]) != (1 if len(towns) % 2 == 0 else -1):
            continue  # alternate the river banks
        towns.append(centre)
    towns.sort(key=lambda p: (-p[1], p[0]))
    return towns


def _place_villages(spec: DemoSpec, rng: np.random.Generator, county: shapely.Polygon,
                    grid_hulls: list[shapely.Polygon], river_line: shapely.LineString,
                    motorway_line: shapely.LineString,
                    towns: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """Village centres on a jittered hexagonal lattice clear of the grids, river and
    expressway; and the township seats among them (farthest from the core and towns)."""
    avoid = shapely.union_all([h.buffer(900) for h in grid_hulls]
                              + [river_line.buffer(300), motorway_line.buffer(300)])
    room = county.buffer(-700).difference(avoid)
    minx, miny, maxx, maxy = county.bounds
    spacing_m = math.sqrt(room.area / spec.n_villages) * 0.95
    while True:  # shrink the lattice until it offers 15 % more spots than villages
        lattice_x, lattice_y = np.meshgrid(np.arange(minx, maxx, spacing_m),
                                           np.arange(miny, maxy, spacing_m * math.sqrt(3) / 2))
        lattice_x = lattice_x + (np.arange(lattice_x.shape[0])[:, None] % 2) * spacing_m / 2
        cand = np.column_stack([lattice_x.ravel(), lattice_y.ravel()])
        cand = cand + rng.uniform(-0.25, 0.25, cand.shape) * spacing_m
        cand = cand[shapely.contains_xy(room, cand[:, 0], cand[:, 1])]
        if len(cand) >= int(spec.n_villages * 1.15):
            break
        spacing_m *= 0.92
    village_centres = cand[np.sort(rng.choice(len(cand), spec.n_villages, replace=False))]
    anchors = np.vstack([np.zeros((1, 2))] + [p[None] for p in towns])
    seats: list[int] = []
    for _ in range(spec.n_townships):
        taken = np.vstack([anchors] + [village_centres[s][None] for s in seats])
        offsets = village_centres[:, None, :] - taken[None]
        nearest_m = np.min(np.hypot(offsets[..., 0], offsets[..., 1]), axis=1)
        seats.append(int(np.argmax(nearest_m)))
    return village_centres, seats


# ----------------------------------------------------------------------------- roads


def _rural_roads(builder: Builder, spec: DemoSpec, rng: np.random.Generator,
                 grids: list[StreetGrid], grid_hulls: list[shapely.Polygon],
                 village_centres: np.ndarray, village_nodes: list[np.ndarray],
                 county: shapely.Polygon, river_line: shapely.LineString) -> None:
    """Rural roads: the minimum spanning tree of a Delaunay triangulation of the village
    centres and the grids' gates, plus 60 % of its other short edges."""
    coords = builder.coords()
    core_w = spec.core_size_m[0]
    gates = [grid_gates(grids[0], coords, 12 if core_w < 6000 else 20)] + [
        grid_gates(g, coords, 6) for g in grids[1:]]
    # the triangulated points: villages first (owner = village), then gates (owner = -grid-1)
    pts = [village_centres]
    owner_list = list(range(len(village_centres)))
    gate_nodes: list[int] = [-1] * len(village_centres)
    for grid_no, grid_gate_nodes in enumerate(gates):
        pts.append(coords[grid_gate_nodes])
        owner_list += [-(grid_no + 1)] * len(grid_gate_nodes)
        gate_nodes += grid_gate_nodes.tolist()
    points = np.vstack(pts)
    owner = np.array(owner_list)
    tri = Delaunay(points)
    edges = np.vstack([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]],
                       tri.simplices[:, [0, 2]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    same_grid = (owner[edges[:, 0]] < 0) & (owner[edges[:, 0]] == owner[edges[:, 1]])
    edges = edges[~same_grid]
    edge_len_m = np.hypot(*(points[edges[:, 0]] - points[edges[:, 1]]).T)
    lines = shapely.linestrings(np.stack([points[edges[:, 0]], points[edges[:, 1]]], axis=1))
    bad = np.zeros(len(edges), dtype=bool)
    for hull in grid_hulls:  # no road straight through a grid
        inter = shapely.length(shapely.intersection(lines, hull.buffer(-30)))
        bad |= inter > 60
    bad |= shapely.intersects(lines, county.exterior)
    edges, edge_len_m = edges[~bad], edge_len_m[~bad]
    mst = sparse.csgraph.minimum_spanning_tree(sparse.coo_matrix(
        (edge_len_m, (edges[:, 0], edges[:, 1])), shape=(len(points), len(points))).tocsr()
    ).tocoo()
    in_mst = set(zip(np.minimum(mst.row, mst.col).tolist(),
                     np.maximum(mst.row, mst.col).tolist(), strict=True))
    median_m = float(np.median(mst.data)) if mst.nnz else 1000.0
    keep = np.array([(int(i), int(j)) in in_mst for i, j in edges]) | (
        (edge_len_m < 1.6 * median_m) & (rng.random(len(edges)) < 0.6))
    ref_no = 200
    for (i, j), length_m in zip(edges[keep], edge_len_m[keep], strict=True):
        ends = []
        for src, other in ((int(i), int(j)), (int(j), int(i))):
            if owner[src] >= 0:  # a village: its node nearest to the other end
                lanes = village_nodes[owner[src]]
                ends.append(int(lanes[np.argmin(np.hypot(*(coords[lanes] - points[other]).T))]))
            else:
                ends.append(gate_nodes[src])
        if ends[0] == ends[1]:
            continue
        interior = winding_road(coords[ends[0]], coords[ends[1]], spec.rural_node_spacing_m, rng)
        if len(interior):
            wet = river_distance_m(river_line, interior, RIVER_CLEAR_M + 1) < RIVER_CLEAR_M
            interior = interior[~wet]
        grid_end = owner[i] < 0 or owner[j] < 0
        if grid_end or length_m > 2.2 * median_m:
            tags = {"highway": "tertiary", "ref": f"X{ref_no}"}
            ref_no += 1
        else:
            tags = {"highway": "unclassified"}
        builder.polyline(ends[0], interior, ends[1], NODE_RURAL, tags, "rural")


def _core_special_ways(builder: Builder, rng: np.random.Generator, core: StreetGrid) -> None:
    """Five one-way core streets, and the ``foot=no`` and ``access=private`` spurs."""
    core_res = [k for k, w in enumerate(builder.ways) if w.kind == "core"
                and w.tags["highway"] == "residential" and len(w.nodes) >= 4]
    oneway = rng.choice(len(core_res), min(5, len(core_res)), replace=False)
    for n, k in enumerate(sorted(int(core_res[o]) for o in oneway)):
        builder.ways[k].tags["oneway"] = "-1" if n == 0 else "yes"
    coords = builder.coords()
    core_nodes = core.index[core.index >= 0]
    for direction, tags in (
        (np.array([1.0, 0.15]), {"highway": "service", "foot": "no", "name": "物流园区通道",
                                 "service": "driveway"}),
        (np.array([0.1, 1.0]), {"highway": "service", "access": "private",
                                "name": "锦园小区内部道路"}),
    ):
        src = int(core_nodes[np.argmax((coords[core_nodes]) @ direction)])  # outermost node
        unit = direction / np.hypot(*direction)
        raw = np.vstack([coords[src], coords[src] + unit * 220, coords[src] + unit * 220
                         + np.array([-unit[1], unit[0]]) * 90])
        pts = densify(raw, (40.0, 60.0), rng)[1:]
        builder.polyline(src, pts, None, NODE_NONE, tags, "spur")


def _expressway(builder: Builder, motorway_xy: np.ndarray, county: shapely.Polygon,
                river_line: shapely.LineString, rng: np.random.Generator) -> None:
    """The expressway (bridged over the river) with two interchanges (never walkable)."""
    pts = densify(motorway_xy, 200.0, rng)  # even spacing: no draw
    pts = pts[shapely.contains_xy(county, pts[:, 0], pts[:, 1])]
    pts = pts[river_distance_m(river_line, pts, RIVER_CLEAR_M + 1) >= RIVER_CLEAR_M]
    motorway_nodes = builder.add(pts, NODE_NONE)
    tags = {"highway": "motorway", "ref": "G15", "name": "沈海高速", "oneway": "no",
            "lanes": "6", "maxspeed": "120"}
    seg_lines = shapely.linestrings(np.stack([pts[:-1], pts[1:]], axis=1))
    start = 0
    for k in np.flatnonzero(shapely.intersects(river_line, seg_lines)).tolist():
        if k > start:
            builder.way(motorway_nodes[start:k + 1], tags, "motorway")
        builder.way(motorway_nodes[k:k + 2], {**tags, "bridge": "yes", "layer": "1"}, "motorway")
        start = k + 1
    builder.way(motorway_nodes[start:], tags, "motorway")
    _interchanges(builder, motorway_nodes, river_line)


def _interchanges(builder: Builder, motorway_nodes: np.ndarray,
                  river_line: shapely.LineString) -> None:
    """Two interchanges: a pair of one-way ramps from the expressway to a road node
    150-1500 m away, tried at a few points along it."""
    coords = builder.coords()
    road_nodes = np.unique(np.concatenate(
        [w.nodes for w in builder.ways if w.kind in ("rural", "town", "connector")]))
    road_tree = cKDTree(coords[road_nodes])
    made = 0
    for frac in (0.3, 0.72, 0.5, 0.15, 0.85):
        if made == 2:
            break
        at = int(frac * (len(motorway_nodes) - 3)) + 1
        dist_m, near = road_tree.query(coords[motorway_nodes[at]],
                                       k=min(40, len(road_nodes)))
        for d_m, j in zip(np.atleast_1d(dist_m), np.atleast_1d(near), strict=True):
            road = int(road_nodes[j])
            if not 150 < d_m < 1500:
                continue
            crosses_river = False
            ramps = []
            for mw_at, bulge in ((at - 1, 1.0), (at + 1, -1.0)):
                p_mw, p_road = coords[motorway_nodes[mw_at]], coords[road]
                chord = p_road - p_mw
                normal = np.array([-chord[1], chord[0]]) / max(np.hypot(*chord), 1e-9)
                along = np.linspace(0, 1, 7)[1:-1, None]
                ramp = (p_mw + along * chord
                        + (np.sin(np.pi * along) * 0.25 * np.hypot(*chord) * bulge) * normal)
                if shapely.LineString(np.vstack([p_mw, ramp, p_road])).intersects(river_line):
                    crosses_river = True
                ramps.append((int(motorway_nodes[mw_at]), ramp))
            if crosses_river:
                continue
            link_tags = {"highway": "motorway_link", "oneway": "yes"}
            builder.polyline(ramps[0][0], ramps[0][1], road, NODE_NONE, link_tags, "link")
            builder.polyline(road, ramps[1][1][::-1], ramps[1][0], NODE_NONE, link_tags, "link")
            made += 1
            break


def _hamlets(builder: Builder, county: shapely.Polygon,
             river_line: shapely.LineString) -> tuple[np.ndarray, np.ndarray]:
    """The disconnected hamlet (lanes 420-700 m from every road, joined to none) and the
    off-network hamlet's spot (700-800 m from every road); (1, 2) arrays."""

    def road_tree() -> shapely.STRtree:
        return shapely.STRtree(segment_lines(builder, builder.coords(),
                                             lambda w: "highway" in w.tags))

    hamlet_xy = find_spot(county, river_line, road_tree(), (420.0, 700.0), 560.0)
    hamlet_nodes = builder.add(
        hamlet_xy + np.array([[-70, -20], [-20, 5], [30, 10], [80, 40], [10, 70]]), NODE_HAMLET)
    builder.way(hamlet_nodes[[0, 1, 2, 3]], {"highway": "residential"}, "hamlet")
    builder.way(hamlet_nodes[[2, 4]], {"highway": "track"}, "hamlet")
    offnetwork_xy = find_spot(county, river_line, road_tree(), (700.0, 800.0), 750.0)
    return hamlet_xy, offnetwork_xy


# ----------------------------------------------------------------------------- OSM


@dataclass(frozen=True)
class OsmWay:
    """One OSM way: its id, node ids in order and tags."""

    id: int
    nodes: tuple[int, ...]
    tags: dict[str, str]


def osm_elements(builder: Builder) -> tuple[pd.DataFrame, tuple[OsmWay, ...]]:
    """OSM nodes (``id``, ``lon``, ``lat``; ids 1..N in build order, only nodes a way
    uses) and ways (ids 1..M in build order, tags sorted)."""
    used = np.zeros(builder.n_nodes, dtype=bool)
    for way in builder.ways:
        used[way.nodes] = True
    new_id = np.cumsum(used)
    node_lonlat = to_lonlat(builder.coords()[used])
    nodes = pd.DataFrame({"id": np.arange(1, int(used.sum()) + 1, dtype=np.int64),
                          "lon": node_lonlat[:, 0], "lat": node_lonlat[:, 1]})
    ways = tuple(OsmWay(k + 1, tuple(int(v) for v in new_id[w.nodes]),
                        dict(sorted(w.tags.items())))
                 for k, w in enumerate(builder.ways))
    return nodes, ways


def osm_xml(nodes: pd.DataFrame, ways: tuple[OsmWay, ...]) -> str:
    """OSM XML 0.6 text of ``nodes`` and ``ways`` (7 decimals, ways sorted by id)."""
    lonlat = nodes[["lon", "lat"]].to_numpy()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<osm version="0.6" generator="eldercare-coverage demo">']
    lon0, lat0 = lonlat.min(axis=0)
    lon1, lat1 = lonlat.max(axis=0)
    lines.append(f'  <bounds minlat="{lat0:.7f}" minlon="{lon0:.7f}" maxlat="{lat1:.7f}" '
                 f'maxlon="{lon1:.7f}"/>')
    lats = [f"{v:.7f}" for v in lonlat[:, 1]]
    lons = [f"{v:.7f}" for v in lonlat[:, 0]]
    lines.extend(f'  <node id="{i}" version="1" lat="{lat}" lon="{lon}"/>'
                 for i, lat, lon in zip(nodes["id"].tolist(), lats, lons, strict=True))
    for way in sorted(ways, key=lambda w: w.id):
        lines.append(f'  <way id="{way.id}" version="1">')
        lines.extend(f'    <nd ref="{ref}"/>' for ref in way.nodes)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>"
                     for k, v in sorted(way.tags.items()))
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"
