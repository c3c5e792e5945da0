"""Street-building pieces of the demo county generator: nodes and ways in local metres,
jittered street grids, village lanes, winding rural roads, river crossings and joins.

A private helper of ``scripts/make_demo_data.py``; not part of the package. Each piece
draws from the one generator it is handed, in a fixed order: the same seed gives the same
streets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from _demo_common import (
    NODE_NONE,
    NODE_RURAL,
    NODE_VILLAGE,
    RIVER_CLEAR_M,
    DemoSpec,
    River,
    densify,
    river_distance_m,
)

WALK_EXCLUDED = {"motorway", "motorway_link"}  # highway values walking cannot use


@dataclass
class Way:
    """A way under construction: builder node indices, OSM tags, and what built it."""

    nodes: np.ndarray
    tags: dict[str, str]
    kind: str  # core, town, village, rural, park, connector, motorway, link, spur, hamlet, river


@dataclass
class Builder:
    """Nodes (local metres, with a population class each) and ways, in build order."""

    xy_parts: list[np.ndarray] = field(default_factory=list)
    class_parts: list[np.ndarray] = field(default_factory=list)
    n_nodes: int = 0
    ways: list[Way] = field(default_factory=list)

    def add(self, xy: np.ndarray, node_class: int) -> np.ndarray:
        """Add nodes at ``xy``; returns their indices."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        idx = np.arange(self.n_nodes, self.n_nodes + len(xy))
        self.xy_parts.append(xy)
        self.class_parts.append(np.full(len(xy), node_class, dtype=np.int8))
        self.n_nodes += len(xy)
        return idx

    def coords(self) -> np.ndarray:
        """All node coordinates so far, (n_nodes, 2) metres."""
        return np.concatenate(self.xy_parts) if self.xy_parts else np.zeros((0, 2))

    def classes(self) -> np.ndarray:
        """All node population classes so far."""
        return np.concatenate(self.class_parts) if self.class_parts else np.zeros(0, np.int8)

    def way(self, nodes: np.ndarray | list[int], tags: dict[str, str], kind: str) -> None:
        """Add a way through existing ``nodes`` (ignored when shorter than two nodes)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if len(nodes) >= 2:
            self.ways.append(Way(nodes, dict(tags), kind))

    def polyline(self, start: int | None, pts: np.ndarray, end: int | None, node_class: int,
                 tags: dict[str, str], kind: str) -> np.ndarray:
        """Add the interior points ``pts`` as new nodes between existing nodes."""
        mid = self.add(pts, node_class) if len(pts) else np.zeros(0, np.int64)
        parts = [np.array([start])] if start is not None else []
        parts.append(mid)
        if end is not None:
            parts.append(np.array([end]))
        nodes = np.concatenate(parts).astype(np.int64)
        self.way(nodes, tags, kind)
        return nodes


def segment_ends(ways: list[Way]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per straight segment of ``ways``: its start node, end node and way position."""
    start = np.concatenate([w.nodes[:-1] for w in ways])
    end = np.concatenate([w.nodes[1:] for w in ways])
    way_pos = np.concatenate([np.full(len(w.nodes) - 1, i) for i, w in enumerate(ways)])
    return start, end, way_pos


def segment_lines(builder: Builder, coords: np.ndarray,
                  keep: Callable[[Way], bool]) -> np.ndarray:
    """The straight segments of the ways ``keep`` accepts, as shapely lines."""
    start, end, _ = segment_ends([w for w in builder.ways if keep(w)])
    return shapely.linestrings(np.stack([coords[start], coords[end]], axis=1))


def walkable(way: Way) -> bool:
    """Whether walking may use ``way`` (a highway, not motorway, foot=no or private)."""
    tags = way.tags
    return (tags.get("highway", "") not in WALK_EXCLUDED and "highway" in tags
            and tags.get("foot") != "no" and tags.get("access") != "private")


# ----------------------------------------------------------------------------- street grids


@dataclass(frozen=True)
class StreetGrid:
    """A street grid's lattice: builder node index per crossing (-1 outside, -2 in the
    river) and the grid's centre (local metres)."""

    index: np.ndarray
    center: np.ndarray


def street_grid(builder: Builder, center: np.ndarray, size: tuple[float, float],
                block: tuple[float, float], node_class: int, kind: str, rng: np.random.Generator,
                river_line: shapely.LineString, spec: DemoSpec, *,
                row_names: list[str], col_names: list[str], arterial_every: int,
                park: shapely.Polygon | None = None) -> StreetGrid:
    """A jittered street grid clipped to a rounded rectangle; returns its lattice.

    Every ``arterial_every``-th row and column from the middle is an arterial (the middle
    ones primary, named from ``row_names``/``col_names``); 5 % of residential blocks'
    edges are left out; edges inside ``park`` become footways, paths and steps.
    """
    width_m, height_m = size

    def lines(extent_m: float) -> np.ndarray:
        steps_m = rng.uniform(block[0], block[1], int(extent_m / block[0]) + 3)
        pos_m = np.concatenate([[0.0], np.cumsum(steps_m)])
        pos_m = pos_m[pos_m <= extent_m + block[0]]
        return pos_m - pos_m[-1] / 2

    grid_x, grid_y = np.meshgrid(lines(width_m), lines(height_m))  # shape (n_rows, n_cols)
    jitter_m = 0.07 * block[0]
    grid_x = grid_x + rng.uniform(-jitter_m, jitter_m, grid_x.shape) + center[0]
    grid_y = grid_y + rng.uniform(-jitter_m, jitter_m, grid_y.shape) + center[1]
    rel_x = (grid_x - center[0]) / (width_m / 2)
    rel_y = (grid_y - center[1]) / (height_m / 2)
    inside = np.abs(rel_x) ** 3.5 + np.abs(rel_y) ** 3.5 <= 1.0  # a rounded rectangle
    pts = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    river_m = river_distance_m(river_line, pts, RIVER_CLEAR_M + 1).reshape(grid_x.shape)
    wet = inside & (river_m < RIVER_CLEAR_M)  # skipped: streets jump these to cross
    inside &= ~wet
    in_park = np.zeros(grid_x.shape, dtype=bool)
    if park is not None:
        in_park = shapely.contains_xy(park, grid_x, grid_y)
    index = np.full(grid_x.shape, -1, dtype=np.int64)
    crossing_class = np.where(in_park, NODE_NONE, node_class)
    flat = np.flatnonzero(inside.ravel())
    for cls in np.unique(crossing_class.ravel()[flat]):
        sel = flat[crossing_class.ravel()[flat] == cls]
        index.ravel()[sel] = builder.add(pts[sel], int(cls))
    index[wet] = -2
    n_rows, n_cols = grid_x.shape
    coords = builder.coords()

    def emit(seq: np.ndarray, tags: dict[str, str], park_flags: np.ndarray,
             drop: np.ndarray) -> None:
        # split the run into ways by edge category: 0 street, 1 park, 2 dropped
        category = np.where(drop, 2, np.where(park_flags, 1, 0))
        start = 0
        for k in range(1, len(category) + 1):
            if k == len(category) or category[k] != category[start]:
                if category[start] != 2:
                    nodes = seq[start:k + 1]
                    if category[start] == 1:
                        pick = int(rng.integers(0, 10))
                        highway = "steps" if pick == 0 else ("path" if pick < 4 else "footway")
                        way_tags, way_kind = {"highway": highway}, "park"
                    else:
                        way_tags, way_kind = tags, kind
                    add_dense(builder, coords, nodes, way_tags, way_kind,
                              spec.street_node_spacing_m, node_class)
                start = k

    for axis in (0, 1):
        count = n_rows if axis == 0 else n_cols
        mid = n_rows // 2 if axis == 0 else n_cols // 2
        names = row_names if axis == 0 else col_names
        arterial_ids = [k for k in range(count) if (k - mid) % arterial_every == 0]
        for k in range(count):
            line_idx = index[k, :] if axis == 0 else index[:, k]
            park_line = in_park[k, :] if axis == 0 else in_park[:, k]
            if k in arterial_ids:
                rank = sorted(arterial_ids, key=lambda a: (abs(a - mid), a)).index(k)
                highway = "primary" if rank == 0 else "secondary"
                tags = {"highway": highway, "lanes": "4" if highway == "primary" else "2"}
                if rank < len(names):
                    tags["name"] = names[rank]
                drop_p = 0.0
            else:
                tags = {"highway": "residential"}
                drop_p = 0.05
            # runs of consecutive valid nodes; a street jumps over its nodes in the river
            dry = line_idx != -2
            line_idx, park_line = line_idx[dry], park_line[dry]
            valid = line_idx >= 0
            n_line = len(line_idx)
            first = 0
            while first < n_line:
                if not valid[first]:
                    first += 1
                    continue
                last = first
                while last + 1 < n_line and valid[last + 1]:
                    last += 1
                if last > first:
                    seq = line_idx[first:last + 1]
                    park_edge = park_line[first:last] & park_line[first + 1:last + 1]
                    drop = rng.random(last - first) < drop_p
                    drop &= ~park_edge
                    emit(seq, tags, park_edge, drop)
                first = last + 1
    return StreetGrid(index=index, center=center)


def add_dense(builder: Builder, coords: np.ndarray, nodes: np.ndarray, tags: dict[str, str],
              kind: str, spacing_m: float | None, node_class: int) -> None:
    """A way through existing ``nodes`` with shape nodes inserted every ``spacing_m``."""
    if spacing_m is None or len(nodes) < 2:
        builder.way(nodes, tags, kind)
        return
    out: list[np.ndarray] = []
    for start, end in zip(nodes[:-1], nodes[1:], strict=True):
        p_start, p_end = coords[start], coords[end]
        n_steps = int(np.hypot(*(p_end - p_start)) // spacing_m)
        out.append(np.array([start]))
        if n_steps >= 1:
            frac = np.linspace(0, 1, n_steps + 1)[1:-1]
            if len(frac):
                pts = p_start + frac[:, None] * (p_end - p_start)
                out.append(builder.add(pts, node_class if kind != "park" else NODE_NONE))
    out.append(np.array([nodes[-1]]))
    builder.way(np.concatenate(out), tags, kind)


def grid_gates(grid: StreetGrid, coords: np.ndarray, n: int) -> np.ndarray:
    """The grid's outermost nodes in ``n`` evenly spread directions: where roads leave it."""
    idx = grid.index[grid.index >= 0]  # -1 outside, -2 in the river
    rel = coords[idx] - grid.center
    out = []
    for angle in np.arange(n) * 2 * np.pi / n:
        direction = np.array([np.cos(angle), np.sin(angle)])
        out.append(idx[int(np.argmax(rel @ direction))])
    return np.unique(np.array(out))


# ----------------------------------------------------------------------------- villages, roads


def village_lanes(builder: Builder, center: np.ndarray, rng: np.random.Generator,
                  spec: DemoSpec, size: float) -> np.ndarray:
    """Lanes of one village around ``center``; returns its node indices."""
    first = builder.n_nodes
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    half_m = rng.uniform(150, 300) * size
    along = np.linspace(-1, 1, 9)
    bend_m = rng.uniform(-40, 40)
    raw = center + np.outer(along * half_m, direction) + np.outer(bend_m * (1 - along**2), normal)
    main_xy = densify(raw, spec.lane_node_spacing_m, rng)
    main = builder.add(main_xy, NODE_VILLAGE)
    builder.way(main, {"highway": "residential"}, "village")
    ends: list[tuple[int, np.ndarray, float]] = []  # branch end node, its xy, side of main
    n_branches = int(rng.integers(2, 6 if size <= 1 else 9))
    for k in range(n_branches):
        at = int(rng.integers(1, max(2, len(main) - 1)))
        side = 1 if k % 2 == 0 else -1
        branch_angle = angle + side * rng.uniform(np.pi / 3, 2 * np.pi / 3)
        branch_dir = np.array([np.cos(branch_angle), np.sin(branch_angle)])
        length_m = rng.uniform(80, 250) * size
        raw = np.vstack([main_xy[at], main_xy[at] + branch_dir * length_m])
        pts = densify(raw, spec.lane_node_spacing_m, rng)[1:]
        highway = ["service", "track", "residential", "service",
                   "residential"][int(rng.integers(0, 5))]
        branch = builder.polyline(int(main[at]), pts, None, NODE_VILLAGE,
                                  {"highway": highway}, "village")
        ends.append((int(branch[-1]), pts[-1], side))
    # footpaths between houses: join branch ends on the same side, or a short stub
    for k in range(len(ends)):
        node0, xy0, side0 = ends[k]
        later = [e for e in ends[k + 1:] if e[2] == side0]
        pick = int(rng.integers(0, 10))
        highway = "steps" if pick == 0 else ("path" if pick < 3 else "footway")
        if later and np.hypot(*(later[0][1] - xy0)) < 260:
            node1, xy1, _ = later[0]
            pts = densify(np.vstack([xy0, xy1]), spec.lane_node_spacing_m, rng)[1:-1]
            builder.polyline(node0, pts, node1, NODE_VILLAGE, {"highway": highway}, "village")
        elif pick < 6:
            stub_angle = rng.uniform(0, 2 * np.pi)
            stub_end = xy0 + rng.uniform(40, 100) * np.array([np.cos(stub_angle),
                                                              np.sin(stub_angle)])
            pts = densify(np.vstack([xy0, stub_end]), spec.lane_node_spacing_m, rng)[1:]
            builder.polyline(node0, pts, None, NODE_VILLAGE, {"highway": highway}, "village")
    return np.arange(first, builder.n_nodes)


def winding_road(start: np.ndarray, end: np.ndarray, spacing_m: tuple[float, float],
                 rng: np.random.Generator) -> np.ndarray:
    """Interior points of a winding rural road from ``start`` to ``end``."""
    chord = end - start
    length_m = float(np.hypot(*chord))
    if length_m < 1:
        return np.zeros((0, 2))
    normal = np.array([-chord[1], chord[0]]) / length_m
    amp1_m = rng.uniform(-0.08, 0.08) * min(length_m, 3000)
    amp3_m = rng.uniform(-0.03, 0.03) * min(length_m, 3000)
    along = np.linspace(0, 1, 65)
    offset_m = amp1_m * np.sin(np.pi * along) + amp3_m * np.sin(3 * np.pi * along)
    raw = start + np.outer(along, chord) + np.outer(offset_m, normal)
    return densify(raw, spacing_m, rng)[1:-1]


# ----------------------------------------------------------------------------- the river, joins


def cut_river(builder: Builder, river_line: shapely.LineString, spec: DemoSpec,
              core_box: shapely.Polygon) -> None:
    """Cut every way where it crosses the river, except on the chosen bridges.

    Bridges (``bridge=yes``, ``layer=1``): ``spec.n_core_bridges`` arterials spread across
    the core, ``spec.n_rural_bridges`` rural roads spread across the county (far from the
    core when there are enough), and every motorway crossing.
    """
    coords = builder.coords()
    seg_start, seg_end, seg_way = segment_ends(builder.ways)
    segs = shapely.linestrings(np.stack([coords[seg_start], coords[seg_end]], axis=1))
    shapely.prepare(river_line)
    crossing = np.flatnonzero(shapely.intersects(river_line, segs))
    mids = (coords[seg_start[crossing]] + coords[seg_end[crossing]]) / 2
    kinds = np.array([builder.ways[i].kind for i in seg_way[crossing]], dtype=object)
    highways = np.array([builder.ways[i].tags.get("highway", "") for i in seg_way[crossing]],
                        dtype=object)
    bridges: set[int] = set()
    # core bridges: arterial columns, spread across the core
    in_core = shapely.contains_xy(core_box, mids[:, 0], mids[:, 1])
    cand = np.flatnonzero(in_core & (kinds == "core")
                          & np.isin(highways, ["primary", "secondary"]))
    if len(cand) < spec.n_core_bridges:
        cand = np.flatnonzero(in_core & (kinds == "core"))
    bridges |= spread_pick(crossing, cand, mids[:, 0], spec.n_core_bridges, core_box.bounds)
    cand = np.flatnonzero(~in_core & (kinds == "rural"))
    minx, _, maxx, _ = shapely.bounds(shapely.MultiPoint(coords)).tolist()
    far = np.flatnonzero(~in_core & (kinds == "rural")
                         & (np.abs(mids[:, 0]) > (core_box.bounds[2] - core_box.bounds[0])))
    pool = far if len(far) >= spec.n_rural_bridges else cand
    bridges |= spread_pick(crossing, pool, mids[:, 0], spec.n_rural_bridges,
                           (minx, 0.0, maxx, 0.0))
    # motorways are always bridged
    cuts_by_way: dict[int, list[int]] = {}
    first_seg = np.concatenate([[0], np.cumsum([len(w.nodes) - 1 for w in builder.ways])])
    for s in crossing.tolist():
        cuts_by_way.setdefault(int(seg_way[s]), []).append(s)
    new_ways: list[Way] = []
    for i, way in enumerate(builder.ways):
        if i not in cuts_by_way:
            new_ways.append(way)
            continue
        local = sorted(s - int(first_seg[i]) for s in cuts_by_way[i])
        bridged = {s - int(first_seg[i]) for s in cuts_by_way[i]
                   if s in bridges or way.kind == "motorway"}
        start = 0
        for s in local:
            if s > start:
                new_ways.append(Way(way.nodes[start:s + 1], dict(way.tags), way.kind))
            if s in bridged:
                tags = dict(way.tags)
                tags.update({"bridge": "yes", "layer": "1"})
                new_ways.append(Way(way.nodes[s:s + 2], tags, way.kind))
            start = s + 1
        if start < len(way.nodes) - 1:
            new_ways.append(Way(way.nodes[start:], dict(way.tags), way.kind))
    builder.ways = new_ways


def spread_pick(crossing: np.ndarray, cand: np.ndarray, x: np.ndarray, n: int,
                bounds: tuple[float, float, float, float]) -> set[int]:
    """``n`` of the candidate crossings nearest to ``n`` eastings spread over ``bounds``."""
    if n <= 0 or len(cand) == 0:
        return set()
    x0, x1 = bounds[0], bounds[2]
    targets = x0 + (np.arange(n) + 0.5) / n * (x1 - x0)
    chosen: list[int] = []
    for target in targets:
        free = [k for k in cand.tolist() if k not in chosen]
        if not free:
            break
        chosen.append(min(free, key=lambda k: (abs(x[k] - target), k)))
    return {int(crossing[k]) for k in chosen}


def connect_components(builder: Builder, river: River, river_line: shapely.LineString,
                       rng: np.random.Generator, spec: DemoSpec) -> None:
    """Join every walkable component to the largest one on its own river side."""
    coords = builder.coords()
    walk = [w for w in builder.ways if walkable(w) and w.kind != "hamlet"]
    seg_start, seg_end, _ = segment_ends(walk)
    adjacency = sparse.coo_matrix((np.ones(len(seg_start)), (seg_start, seg_end)),
                                  shape=(builder.n_nodes, builder.n_nodes))
    n_comp, label = sparse.csgraph.connected_components(adjacency, directed=False)
    used = np.zeros(builder.n_nodes, dtype=bool)
    used[seg_start] = True
    used[seg_end] = True
    sizes = np.bincount(label[used], minlength=n_comp)
    main = int(np.argmax(sizes))
    main_nodes = np.flatnonzero(used & (label == main))
    tree = cKDTree(coords[main_nodes])
    side = river.side(coords)
    others = [k for k in range(n_comp) if sizes[k] > 0 and k != main]
    others.sort(key=lambda k: (-int(sizes[k]), int(np.flatnonzero(label == k)[0])))
    for comp in others:
        nodes = np.flatnonzero(used & (label == comp))
        done = False
        for n_near in (8, 64, len(main_nodes)):  # widen the search until a join is found
            n_near = min(n_near, len(main_nodes))
            dist_m, near = tree.query(coords[nodes], k=n_near)
            dist_m = dist_m.reshape(len(nodes), -1)
            near = near.reshape(len(nodes), -1)
            order = np.lexsort((near.ravel(), dist_m.ravel()))  # shortest joins first
            for o in order.tolist():
                src = int(nodes[o // n_near])
                dst = int(main_nodes[near.ravel()[o]])
                if side[src] != side[dst]:
                    continue
                line = shapely.LineString([coords[src], coords[dst]])
                if line.intersects(river_line):
                    continue
                pts = densify(np.vstack([coords[src], coords[dst]]),
                              spec.rural_node_spacing_m, rng)[1:-1]
                builder.polyline(src, pts, dst, NODE_RURAL, {"highway": "unclassified"},
                                 "connector")
                done = True
                break
            if done:
                break


def find_spot(county: shapely.Polygon, river_line: shapely.LineString, tree: shapely.STRtree,
              band: tuple[float, float], target: float) -> np.ndarray:
    """A lattice point whose distance to every road lies in ``band`` (closest to target).

    ``tree`` holds the road segments; returns a (1, 2) array of local metres.
    """
    minx, miny, maxx, maxy = county.bounds
    step_m = max(100.0, np.sqrt(county.area) / 250)  # metres between candidate spots
    grid_x, grid_y = np.meshgrid(np.arange(minx, maxx, step_m), np.arange(miny, maxy, step_m))
    spots = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    inner = county.buffer(-900)
    spots = spots[shapely.contains_xy(inner, spots[:, 0], spots[:, 1])]
    spots = spots[river_distance_m(river_line, spots, 501.0) > 500]
    _, road_m = tree.query_nearest(shapely.points(spots), return_distance=True,
                                   all_matches=False)
    ok = (road_m >= band[0]) & (road_m <= band[1])
    if not ok.any():
        raise RuntimeError(f"no place {band} m from every road: the county is too dense")
    best = np.flatnonzero(ok)[np.argmin(np.abs(road_m[ok] - target))]
    return spots[best][None, :]
