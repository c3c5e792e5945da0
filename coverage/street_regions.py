"""Which street is nearest: the plane split into the regions of edges and nodes.

The distance of a place x (DESIGN.md) is measured through its *nearest* street:
``snap(x) + cost(p_x)``, with ``p_x`` the projection onto the nearest edge. A
service-area polygon built by buffering each reached edge by its remaining budget
would also take in places whose nearest street is a different, less reached one
(the far side of a block, across the midline to a parallel street). Clipping each
edge's pieces to the region of the plane nearest to that edge makes the polygon
match the point-wise rule.

The regions are a Voronoi diagram of the streets, discretised: every edge is
sampled every ``spacing_m`` metres (its own vertices included), each sample keeps
the label of its edge (end points the label of their node), GEOS computes the
Voronoi cells of all samples at once and the cells are merged per label. Between
two streets D metres apart the discretised boundary strays from the true midline
by about ``spacing_m**2 / (4 D)`` (1 m for 20 m sampling and 100 m blocks).

:class:`StreetRegions` holds, per edge, the region nearest to it *or to one of its
end nodes* (a piece of an edge right at a crossing may project onto the node's
sample: the node's region belongs to every edge that meets there), and per node
the region nearest to the node itself (for the sectors around dead ends and bends
at nodes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from ._geometry import dissolve, polygonal
from .network import StreetNetwork

FORMAT_VERSION = 1

log = logging.getLogger(__name__)

_JITTER_M = 1e-3


@dataclass(frozen=True)
class StreetRegions:
    """Regions of the plane nearest to each edge (with its end nodes) and to each node.

    Attributes
    ----------
    edge
        Polygon per edge (network CRS), shape (n_edges,): nearest to the edge or to
        one of its end nodes.
    node
        Polygon per node, shape (n_nodes,); empty for nodes without edges.
    edge_own
        Polygon per edge nearest to the edge's own samples (its end nodes' regions
        left out; empty for an edge too short to be sampled between its nodes).
        ``edge_own`` and ``node`` tile the plane: they share their boundaries exactly.
    edge_depth, node_depth
        Upper bound of the distance from any point of ``edge_own`` (``node``) to its
        edge (node), metres; ``inf`` for a node without a region.
    spacing_m
        Sampling step along the edges.
    """

    edge: np.ndarray
    node: np.ndarray
    edge_own: np.ndarray
    edge_depth: np.ndarray
    node_depth: np.ndarray
    spacing_m: float


def _merge(cells: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(groups), dtype=object)
    for i, idx in enumerate(groups):
        out[i] = dissolve(cells[idx])
    return out


def street_regions(network: StreetNetwork, *, spacing_m: float = 20.0,
                   margin_m: float = 1000.0) -> StreetRegions:
    """Split the plane around ``network`` into the regions nearest to each edge and node.

    Parameters
    ----------
    network
        Projected street network.
    spacing_m
        Sampling step along the edges, metres (smaller: more exact, slower).
    margin_m
        How far beyond the network's bounding box the regions reach; at least the
        longest access leg allowed.

    Returns
    -------
    StreetRegions
    """
    t0 = time.perf_counter()
    n_e, n_n = network.n_edges, network.n_nodes
    geoms = shapely.segmentize(shapely.simplify(network.edge_geometry, 0.05), spacing_m)
    xy, edge_of = shapely.get_coordinates(geoms, return_index=True)
    counts = np.bincount(edge_of, minlength=n_e)
    start = np.concatenate([[0], np.cumsum(counts)])
    label = edge_of.astype(np.int64)
    label[start[:-1]] = n_e + network.edge_u
    label[start[1:] - 1] = n_e + network.edge_v
    # node samples come once per incident edge: keep one sample per place
    xy = np.concatenate([network.node_xy, xy])
    label = np.concatenate([n_e + np.arange(n_n), label])
    xy, first = np.unique(xy, axis=0, return_index=True)
    label = label[first]
    # a millimetre of fixed jitter breaks the co-circular samples of regular grids, on
    # which GEOS's Voronoi cells can come out wrong
    xy = xy + np.random.default_rng(0).uniform(-_JITTER_M, _JITTER_M, xy.shape)
    x0, y0, x1, y1 = network.bounds()
    frame = shapely.box(x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True))
    if len(cells) != len(xy):  # pragma: no cover - GEOS < 3.12 cannot keep the order
        raise RuntimeError("GEOS did not return one Voronoi cell per sample; GEOS >= 3.12 needed")
    # the cells must tile the diagram's extent: a wrong cell overlaps its neighbours
    bx0, by0, bx1, by1 = shapely.total_bounds(cells)
    extent = (bx1 - bx0) * (by1 - by0)
    if abs(float(shapely.area(cells).sum()) - extent) > 1e-6 * extent:
        raise RuntimeError(f"Voronoi cells of {len(xy)} street samples do not tile the plane "
                           "(GEOS robustness); please report this network")
    bad = ~shapely.is_valid(cells)
    if bad.any():  # degenerate cells of (nearly) collinear samples
        cells[bad] = shapely.make_valid(cells[bad])
    # how far a cell reaches from its sample: bounds the distance from any point of a
    # region to its street (the distance to a point is convex: its maximum over a
    # convex cell is at a vertex)
    cxy, cell_of = shapely.get_coordinates(cells, return_index=True)
    far = np.zeros(len(cells))
    np.maximum.at(far, cell_of, np.hypot(*(cxy - xy[cell_of]).T))
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_e + n_n + 1))
    members = [order[bounds[k]:bounds[k + 1]] for k in range(n_e + n_n)]
    node_members = members[n_e:]
    node = np.array([polygonal(cells[m[0]]) if len(m) else shapely.Polygon()
                     for m in node_members], dtype=object)
    node_depth = np.array([far[m[0]] if len(m) else np.inf for m in node_members])
    own = _merge(cells, members[:n_e])
    edge_depth = np.array([far[m].max() if len(m) else 0.0 for m in members[:n_e]])
    edge = _merge(np.concatenate([own, node]),
                  [np.array([e, n_e + u, n_e + v]) for e, (u, v)
                   in enumerate(zip(network.edge_u, network.edge_v, strict=True))])
    log.info("street regions: %d samples every %g m, %d edges, %.1f s", len(xy), spacing_m,
             n_e, time.perf_counter() - t0)
    return StreetRegions(edge=edge, node=node, edge_own=own, edge_depth=edge_depth,
                         node_depth=node_depth, spacing_m=float(spacing_m))


def regions_for(network: StreetNetwork, *, margin_m: float,
                spacing_m: float = 20.0) -> StreetRegions:
    """:func:`street_regions`, kept with the network: in memory and in its disk cache.

    A network loaded through :mod:`eldercare_coverage.network_cache` keeps its regions in a
    file next to its cache entry, so a county's regions are computed once.
    """
    key = (float(spacing_m), float(margin_m))
    memo: dict[tuple[float, float], StreetRegions] = network.__dict__.setdefault(
        "_street_regions", {})
    if key in memo:
        return memo[key]
    path = regions_path(network, margin_m=margin_m, spacing_m=spacing_m)
    reg = None
    if path is not None and path.exists():
        try:
            reg = read_regions(path, network)
        except Exception as exc:
            log.warning("street regions cache %s is unreadable (%s); computing again", path, exc)
    if reg is None:
        reg = street_regions(network, spacing_m=spacing_m, margin_m=margin_m)
        if path is not None:
            try:
                save_regions(reg, path)
            except OSError as exc:
                log.warning("could not write the street regions cache %s (%s)", path, exc)
    memo[key] = reg
    return reg


def regions_path(network: StreetNetwork, *, margin_m: float,
                 spacing_m: float = 20.0) -> Path | None:
    """Where :func:`regions_for` caches ``network``'s regions (None: network not cached)."""
    if not network.cache_file:
        return None
    base = Path(network.cache_file)
    return base.with_name(f"{base.stem}.regions-v{FORMAT_VERSION}-{spacing_m:g}-{margin_m:g}.npz")


def _pack(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wkb = shapely.to_wkb(geoms)
    sizes = np.fromiter((len(b) for b in wkb), dtype=np.int64, count=len(wkb))
    return np.frombuffer(b"".join(wkb), dtype=np.uint8), np.concatenate([[0], np.cumsum(sizes)])


def _unpack(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    raw = buf.tobytes()
    return shapely.from_wkb([raw[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)])


def save_regions(reg: StreetRegions, path: str | Path) -> Path:
    """Write ``reg`` to ``path`` (``.npz``, geometries as WKB) atomically."""
    from .network_cache import savez_atomic

    arrays = {}
    for name in ("edge", "node", "edge_own"):
        arrays[f"{name}_wkb"], arrays[f"{name}_offsets"] = _pack(getattr(reg, name))
    return savez_atomic(path, edge_depth=reg.edge_depth, node_depth=reg.node_depth,
                        spacing_m=np.array(reg.spacing_m),
                        version=np.array(FORMAT_VERSION), **arrays)


def read_regions(path: str | Path, network: StreetNetwork) -> StreetRegions:
    """Read regions written by :func:`save_regions` for ``network``.

    Raises
    ------
    ValueError
        When the file is of another format version or does not fit ``network``.
    """
    with np.load(Path(path), allow_pickle=False) as z:
        if int(z["version"]) != FORMAT_VERSION:
            raise ValueError(f"format {int(z['version'])}, expected {FORMAT_VERSION}")
        geoms = {name: _unpack(z[f"{name}_wkb"], z[f"{name}_offsets"])
                 for name in ("edge", "node", "edge_own")}
        reg = StreetRegions(edge_depth=z["edge_depth"], node_depth=z["node_depth"],
                            spacing_m=float(z["spacing_m"]), **geoms)
    if len(reg.edge) != network.n_edges or len(reg.node) != network.n_nodes:
        raise ValueError(f"{len(reg.edge)} edges and {len(reg.node)} nodes, the network has "
                         f"{network.n_edges} and {network.n_nodes}")
    return reg
