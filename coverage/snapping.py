"""Snap points to the nearest street edge (not the nearest node).

A point x becomes a *network location*: the edge ``e`` nearest to it, the offset
``s`` of its projection ``p_x`` along ``e`` (metres from the edge's ``u`` end) and the
straight-line access leg ``|x - p_x|`` (``snap_m``). DESIGN.md: the network distance
from a facility f to x is ``snap(f) + d_G(p_f, p_x) + snap(x)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .network import StreetNetwork


@dataclass(frozen=True)
class NetworkLocations:
    """Points projected onto their nearest edge.

    Attributes
    ----------
    edge
        Index of the nearest edge, -1 where no edge lies within the snap limit
        (or the point had no coordinates).
    offset_m
        Distance along the edge from its ``u`` end to the projection, metres.
    snap_m
        Straight-line length of the access leg, metres; the distance to the
        nearest edge even where it exceeds the limit, NaN without coordinates.
    """

    edge: np.ndarray
    offset_m: np.ndarray
    snap_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def on_network(self) -> np.ndarray:
        """Boolean mask of points that were snapped."""
        return self.edge >= 0

    def take(self, index: np.ndarray) -> NetworkLocations:
        """The locations at ``index`` (integer or boolean array)."""
        return NetworkLocations(self.edge[index], self.offset_m[index], self.snap_m[index])


def snap_points(
    network: StreetNetwork, xy: np.ndarray, *, max_snap_m: float
) -> NetworkLocations:
    """Project points onto their nearest edge.

    Parameters
    ----------
    network
        Projected street network.
    xy
        Point coordinates in the network's CRS, shape (n, 2); NaN rows allowed.
    max_snap_m
        Points farther than this from every edge are not snapped (``edge == -1``).

    Returns
    -------
    NetworkLocations

    Examples
    --------
    >>> import numpy as np, pyproj, shapely
    >>> from coverage.network import StreetNetwork
    >>> line = shapely.LineString([(0, 0), (100, 0)])
    >>> net = StreetNetwork(pyproj.CRS(32651), np.array([1, 2]), np.array([[0., 0.], [100., 0.]]),
    ...     np.array([0]), np.array([1]), np.array([100.]), np.array([line], dtype=object),
    ...     np.array(["residential"], dtype=object))
    >>> loc = snap_points(net, np.array([[30., 40.], [50., 900.]]), max_snap_m=500)
    >>> loc.edge.tolist(), loc.offset_m.tolist(), loc.snap_m.tolist()
    ([0, -1], [30.0, nan], [40.0, 900.0])
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    offset = np.full(n, np.nan)
    snap = np.full(n, np.nan)
    valid = np.isfinite(xy).all(axis=1)
    if not valid.any():
        return NetworkLocations(edge, offset, snap)
    points = shapely.points(xy[valid])
    idx_in, idx_edge = network.edge_tree.query_nearest(points, all_matches=False)
    # query_nearest returns pairs sorted by input; one match per point without max_distance
    order = np.argsort(idx_in, kind="stable")
    idx_in, idx_edge = idx_in[order], idx_edge[order]
    geoms = network.edge_geometry[idx_edge]
    dist = shapely.distance(points[idx_in], geoms)
    pos = np.flatnonzero(valid)[idx_in]
    snap[pos] = dist
    ok = dist <= max_snap_m
    edge[pos[ok]] = idx_edge[ok]
    offset[pos[ok]] = shapely.line_locate_point(geoms[ok], points[idx_in][ok])
    return NetworkLocations(edge, offset, snap)
