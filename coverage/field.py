"""The distance field: every place's network distance to its nearest facility.

DESIGN.md "Distance field": for a set of facilities, every point x has the network
distance ``snap(f) + d_G(p_f, p_x) + snap(x)`` to the nearest of them (one
multi-source search, :func:`~eldercare_coverage.isochrones.nearest_source_reach`,
then a gather per point, :func:`~eldercare_coverage.isochrones.distances_to_locations`).
The field is evaluated where it is needed:

* on the **pixels of the population cells** (:class:`PopulationPixels`): each cell is
  cut into ``pixel_m`` pixels (10 m, ``settings.overlay_pixel_m``), every pixel centre
  is snapped to its own nearest street, and a cell's **share** inside a circle is the
  share of its pixels whose centre is within the limit; its people are spread evenly
  over its pixels, so covered people, catchments and distance bands are sums over
  pixels and totals are conserved exactly. A cell too small to hold a pixel centre is
  one pixel at its centroid (all or nothing);
* on each cell's **centroid**: ``<circle>_dist`` and ``<circle>_facility`` of the
  population layer, and the cross-check of the pixel count;
* on a coarser grid over all ground near a street, to draw polygons
  (:mod:`eldercare_coverage.drawing`).

Costs are the engine's: metres of walking, or seconds for delivery
(:class:`~eldercare_coverage.costs.EdgeCosts`); circles convert their limit once
(:class:`CircleLimit`). Nothing here builds a polygon: one search per facility set,
then numpy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

from .costs import EdgeCosts
from .isochrones import distances_to_locations, nearest_source_reach
from .network import StreetNetwork
from .prepared import PreparedNetwork
from .raster_overlay import cell_pixel_labels
from .snapping import NetworkLocations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CircleLimit:
    """A circle as the field sees it: its name, the limit in engine cost, its sources.

    Attributes
    ----------
    name
        The circle's name (output columns ``<name>_...``).
    limit_cost
        The limit in the engine's cost unit of its mode (metres of walking, seconds of
        delivery), converted once.
    sources
        Row indices (into the facility table) of the facilities that serve it.
    mode
        The network its field is searched on (``walk`` or ``delivery``).
    """

    name: str
    limit_cost: float
    sources: np.ndarray
    mode: str = "walk"


@dataclass(frozen=True)
class PopulationPixels:
    """Population cells cut into pixels, each pixel centre snapped to its street.

    Attributes
    ----------
    n_cells
        Number of cells.
    cell_of
        The cell of each pixel, shape (P,).
    people
        People per pixel (the cell's people spread evenly over its pixels), shape (P,).
    n_pixels
        Pixels per cell, shape (n_cells,); 0 for a cell without geometry.
    locations
        Each pixel centre on its nearest street (``edge == -1``: farther than the snap
        limit from every street).
    xy
        Pixel centres in the work CRS, shape (P, 2).
    pixel_m
        Pixel size, metres.
    """

    n_cells: int
    cell_of: np.ndarray
    people: np.ndarray
    n_pixels: np.ndarray
    locations: NetworkLocations
    xy: np.ndarray
    pixel_m: float

    def share(self, inside: np.ndarray) -> np.ndarray:
        """Share (0..1) of each cell's pixels for which ``inside`` holds."""
        hit = np.bincount(self.cell_of, weights=inside, minlength=self.n_cells)
        return np.where(self.n_pixels > 0, hit / np.maximum(self.n_pixels, 1), 0.0)


def population_pixels(
    network: PreparedNetwork, cells: np.ndarray, elderly: np.ndarray, *, pixel_m: float,
    max_snap_m: float,
) -> PopulationPixels:
    """Cut cells into pixels (one per pixel centre inside a cell) and snap their centres.

    Parameters
    ----------
    network
        The prepared street network.
    cells
        Cell polygons in the network's CRS (metres), non-overlapping.
    elderly
        People per cell.
    pixel_m
        Pixel size, metres.
    max_snap_m
        Longest access leg; farther pixel centres are off the network.

    Returns
    -------
    PopulationPixels

    Examples
    --------
    >>> import numpy as np, shapely
    >>> from eldercare_coverage.network import network_from_arrays
    >>> from eldercare_coverage.prepared import prepare_network
    >>> net = prepare_network(network_from_arrays([[0, 0], [100, 0]], [0], [1], crs=32651))
    >>> pix = population_pixels(net, shapely.box([0, 0], [0, 3], [20, 3.5], [10, 3.6]),
    ...                         np.array([40.0, 1.0]), pixel_m=10, max_snap_m=500)
    >>> pix.n_pixels.tolist(), pix.people.tolist()
    ([2, 1], [20.0, 20.0, 1.0])
    """
    cells = np.asarray(cells, dtype=object)
    elderly = np.asarray(elderly, dtype=float)
    label, x0, y1 = cell_pixel_labels(cells, pixel_m=pixel_m)
    rows, cols = np.nonzero(label >= 0)
    cell_of = label[rows, cols].astype(np.int64)
    xy = np.column_stack([x0 + (cols + 0.5) * pixel_m, y1 - (rows + 0.5) * pixel_m])
    del label, rows, cols
    counts = np.bincount(cell_of, minlength=len(cells))
    # a cell that holds no pixel centre (finer than a pixel, a sliver) is one pixel at
    # its centroid, so that no cell is left out
    present = ~(shapely.is_missing(cells) | shapely.is_empty(cells))
    small = np.flatnonzero(present & (counts == 0))
    if len(small):
        cell_of = np.concatenate([cell_of, small])
        xy = np.concatenate([xy, shapely.get_coordinates(shapely.centroid(cells[small]))])
        counts[small] = 1
    people = elderly[cell_of] / counts[cell_of]
    locations = network.snap(xy, max_snap_m=max_snap_m, exact_beyond=False)
    log.info("population: %d cells as %d pixels of %g m (%d snapped to streets)",
             len(cells), len(cell_of), pixel_m, int(locations.on_network.sum()))
    return PopulationPixels(len(cells), cell_of, people, counts, locations, xy, float(pixel_m))


@dataclass(frozen=True)
class DistanceField:
    """Distance to the nearest of a set of facilities, at pixels and at cell centroids.

    Attributes
    ----------
    sources
        Row indices (into the facility table) of the facilities.
    pixel_cost, pixel_source
        Per pixel: cost from the nearest facility (``inf`` unreachable) and its row
        index in the facility table (-1 none).
    centroid_cost, centroid_source
        The same per cell, measured from the cell's centroid.
    """

    sources: np.ndarray
    pixel_cost: np.ndarray
    pixel_source: np.ndarray
    centroid_cost: np.ndarray
    centroid_source: np.ndarray


class FacilityReach:
    """One multi-source search from a set of facilities, asked at any points after.

    Parameters
    ----------
    network
        The projected street network.
    facilities
        Every facility's location (rows of the facility table).
    sources
        Rows of the facilities searched from.
    costs
        The edges' costs forward and backward (None: walking, metres both ways).
    """

    def __init__(self, network: StreetNetwork, facilities: NetworkLocations,
                 sources: np.ndarray, *, costs: EdgeCosts | None = None):
        self.network = network
        self.costs = costs
        self.sources = np.asarray(sources, dtype=np.int64)
        self._located = facilities.take(self.sources)
        self._reach = nearest_source_reach(network, self._located, costs=costs)

    def at(self, targets: NetworkLocations) -> tuple[np.ndarray, np.ndarray]:
        """Cost from the nearest facility to each target (``inf`` when unreachable or
        off the network) and that facility's row in the facility table (-1 none)."""
        cost, origin = distances_to_locations(self.network, self._reach, self._located,
                                              targets, costs=self.costs)
        if len(self.sources) == 0:  # nothing to index: no facility, nothing reached
            return cost, np.full(len(cost), -1, dtype=np.int64)
        return cost, np.where(origin >= 0, self.sources[np.clip(origin, 0, None)], -1)

    def field(self, pixels: PopulationPixels, centroids: NetworkLocations) -> DistanceField:
        """The field at the population pixels and the cells' centroids."""
        pixel_cost, pixel_source = self.at(pixels.locations)
        centroid_cost, centroid_source = self.at(centroids)
        return DistanceField(self.sources, pixel_cost, pixel_source, centroid_cost,
                             centroid_source)


@dataclass(frozen=True)
class CircleCoverage:
    """One circle measured on its field.

    Attributes
    ----------
    share
        Per cell, the share of its pixels within the limit (0..1).
    covered
        Per cell, the people within the limit (``elderly * share``).
    catchment
        Per facility row of the table, the people for whom it is the nearest facility
        within the limit (its catchment); sums to ``covered.sum()``.
    """

    share: np.ndarray
    covered: np.ndarray
    catchment: np.ndarray


def circle_coverage(
    field: DistanceField, pixels: PopulationPixels, elderly: np.ndarray, limit_cost: float,
    *, n_facilities: int, counted: np.ndarray | None = None,
) -> CircleCoverage:
    """Shares, covered people and catchments of a circle of limit ``limit_cost``.

    ``counted`` (per cell, bool) restricts covered people and catchments to the cells a
    circle counts (a class-bound circle: its class's cells); shares are every cell's.

    Examples
    --------
    >>> import numpy as np
    >>> from eldercare_coverage.snapping import NetworkLocations
    >>> none = np.array([], dtype=np.int64)
    >>> pix = PopulationPixels(2, np.array([0, 0, 1, 1]), np.array([5., 5., 2., 2.]),
    ...     np.array([2, 2]), NetworkLocations(none, none, none), np.zeros((4, 2)), 10.0)
    >>> fld = DistanceField(np.array([0, 1]), np.array([100., 900., 400., np.inf]),
    ...     np.array([0, 1, 1, -1]), np.array([100., 400.]), np.array([0, 1]))
    >>> cov = circle_coverage(fld, pix, np.array([10., 4.]), 500.0, n_facilities=3)
    >>> cov.share.tolist(), cov.covered.tolist(), cov.catchment.tolist()
    ([0.5, 0.5], [5.0, 2.0], [5.0, 2.0, 0.0])
    """
    within = field.pixel_cost <= limit_cost
    share = np.clip(pixels.share(within), 0.0, 1.0)
    covered = np.asarray(elderly, dtype=float) * share
    if counted is not None:
        within = within & np.asarray(counted, dtype=bool)[pixels.cell_of]
        covered = np.where(counted, covered, 0.0)
    catchment = np.bincount(field.pixel_source[within], weights=pixels.people[within],
                            minlength=n_facilities).astype(float)
    return CircleCoverage(share, covered, catchment)


def band_people(field: DistanceField, pixels: PopulationPixels, breaks: np.ndarray
                ) -> np.ndarray:
    """People per distance band: ``[0, b0]``, ``(b0, b1]``, ..., beyond the last break
    (unreachable included), so the bands sum to every person of the pixels."""
    band = np.searchsorted(np.asarray(breaks, dtype=float), field.pixel_cost, side="left")
    return np.bincount(band, weights=pixels.people, minlength=len(breaks) + 1).astype(float)
