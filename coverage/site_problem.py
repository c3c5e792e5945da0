"""A circle's site-selection problem: demand groups, the coverage matrix, scenarios.

Demand is the distance field's own population pixels (:class:`~eldercare_coverage.field.PopulationPixels`:
each pixel carries its cell's people per pixel), so that what a model promises is what
:func:`~eldercare_coverage.pipeline.run` measures once the sites are built:

* the **universe**: the pixels on the streets whose cell the circle counts (a class-bound
  circle counts only its class's cells) and that hold people; a pixel's weight is its
  people;
* **unserved** pixels: those the existing facilities' field leaves beyond the limit;
* the **coverage matrix**: unserved pixels x candidates, True where the candidate alone
  reaches the pixel within the limit (:class:`~eldercare_coverage.site_reach.ReachIndex`:
  the same distance as the field);
* **demand groups**: unserved pixels grouped by the set of candidates that reach them
  (pixels no candidate reaches are left out): a group's weight is its pixels' people.
  Groups are found by two random 64-bit hashes of each row's candidates and then checked
  exactly (the grouped matrix expanded back must equal the pixel matrix), so the models
  stay small and their objective is exactly the people a re-run will count.

Scenarios (:meth:`SiteProblem.evaluate`): sites added and existing facilities closed.
Sites added to the unserved pixels are a sparse matrix-vector product. A closed
facility's own reach and that of the open facilities within twice the reach radius of it
(the only ones that can reach its pixels) are searched the first time they are asked and
kept; the pixels it alone reached are lost unless an added site reaches them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.spatial.distance import cdist

from .candidates import Candidates
from .costs import EdgeCosts
from .prepared import PreparedNetwork
from .site_models import SiteSelectionError
from .site_reach import ReachIndex
from .snapping import NetworkLocations

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemandGroups:
    """Unserved pixels grouped by the candidates that reach them.

    Attributes
    ----------
    cover
        Groups x candidates, True where the candidate reaches the group (CSC).
    weight
        People of each group.
    group_of
        Per unserved pixel (rows of :attr:`SiteProblem.unserved_cover`), its group (-1:
        reached by no candidate, or no people).
    """

    cover: sparse.csc_matrix
    weight: np.ndarray
    group_of: np.ndarray


def group_demand(cover: sparse.spmatrix, weight: np.ndarray, *, seed: int = 0) -> DemandGroups:
    """Group the rows of ``cover`` (pixels x candidates) with the same candidates.

    Examples
    --------
    >>> cover = sparse.csr_matrix(np.array([[1, 0], [0, 0], [1, 0], [1, 1]], dtype=bool))
    >>> g = group_demand(cover, np.array([1.0, 5.0, 2.0, 4.0]))
    >>> g.cover.toarray().tolist(), g.weight.tolist(), g.group_of.tolist()
    ([[True, False], [True, True]], [3.0, 4.0], [0, -1, 0, 1])
    """
    csr = sparse.csr_matrix(cover, dtype=bool)
    csr.sum_duplicates()
    csr.sort_indices()
    weight = np.asarray(weight, dtype=float)
    rows = np.flatnonzero((np.diff(csr.indptr) > 0) & (weight > 0))
    group_of = np.full(csr.shape[0], -1, dtype=np.int64)
    if len(rows) == 0:
        return DemandGroups(sparse.csc_matrix((0, csr.shape[1]), dtype=bool), np.empty(0),
                            group_of)
    sub = csr[rows]
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=(2, csr.shape[1]), dtype=np.uint64,
                          endpoint=True)
    starts = sub.indptr[:-1]
    key = np.column_stack([np.add.reduceat(h[sub.indices], starts) for h in hashes]
                          + [np.diff(sub.indptr).astype(np.uint64)])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    grouped = sub[first]
    member = sparse.csr_matrix((np.ones(len(rows), dtype=bool), (np.arange(len(rows)), inverse)),
                               shape=(len(rows), len(first)))
    if ((member.astype(np.int32) @ grouped.astype(np.int32)).astype(bool) != sub).nnz:
        raise SiteSelectionError("demand grouping: two different candidate sets hashed alike")
    group_of[rows] = inverse
    return DemandGroups(grouped.tocsc(), np.bincount(inverse, weights=weight[rows],
                                                     minlength=len(first)), group_of)


@dataclass(eq=False)
class SiteProblem:
    """One circle's coverage by existing facilities and candidate sites, on its pixels.

    Attributes
    ----------
    circle
        The circle's name.
    limit_cost, radius_m
        Its limit in engine cost and the straight-line distance nothing within it lies beyond.
    candidates
        The candidate sites.
    facility_rows, facility_ids
        The existing facilities that serve the circle (rows of the run's facility table)
        and their ids.
    weight
        People of each universe pixel (counted cells, on the streets).
    served
        Whether the existing facilities serve each universe pixel.
    unserved_cover
        Unserved universe pixels x candidates (CSC, bool).
    groups
        :func:`group_demand` of ``unserved_cover``.
    elderly_counted
        People the circle counts (its rate's denominator).
    build_s
        Seconds spent building the coverage matrix.
    """

    circle: str
    limit_cost: float
    radius_m: float
    candidates: Candidates
    facility_rows: np.ndarray
    facility_ids: np.ndarray
    facility_xy: np.ndarray
    facility_locations: NetworkLocations
    pixels: np.ndarray
    weight: np.ndarray
    served: np.ndarray
    unserved_cover: sparse.csc_matrix
    groups: DemandGroups
    elderly_counted: float
    build_s: float
    _universe: tuple[PreparedNetwork, NetworkLocations, EdgeCosts | None]
    _index: ReachIndex | None = None
    _cache: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    @property
    def elderly_served(self) -> float:
        """People the existing facilities serve."""
        return float(self.weight[self.served].sum())

    @property
    def rate_before(self) -> float:
        """The circle's coverage rate with the existing facilities."""
        return self.elderly_served / self.elderly_counted if self.elderly_counted else 0.0

    def candidate_index(self, ids: Iterable[Any]) -> np.ndarray:
        """Columns of the candidates with these ids (Python or numpy integers: already
        column numbers)."""
        return _index_of(self.candidates.table["candidate_id"].astype(str).to_numpy(), ids,
                         "candidate", positions=True)

    def facility_index(self, ids: Iterable[Any]) -> np.ndarray:
        """Positions (in :attr:`facility_rows`) of the existing facilities with these ids
        (``facility_id``; a facility that does not serve the circle is an error)."""
        return _index_of(self.facility_ids.astype(str), ids, "facility", positions=False)

    def _columns(self, kind: str, which: np.ndarray) -> list[np.ndarray]:
        """Universe pixels reached by each facility (``kind`` ``f``) or candidate (``c``),
        searched once and kept."""
        todo = [int(i) for i in which if (kind, int(i)) not in self._cache]
        if todo:
            idx = np.asarray(todo, dtype=np.int64)
            if kind == "f":
                loc, xy = self.facility_locations.take(idx), self.facility_xy[idx]
            else:
                loc, xy = self.candidates.locations.take(idx), self.candidates.xy[idx]
            if self._index is None:  # built at the first closure asked
                net, targets, costs = self._universe
                self._index = ReachIndex(net.network, targets, costs)
            mat = self._index.matrix(loc, xy, self.limit_cost, radius_m=self.radius_m)
            for k, i in enumerate(todo):
                self._cache[(kind, i)] = mat.indices[mat.indptr[k]:mat.indptr[k + 1]]
        return [self._cache[(kind, int(i))] for i in which]

    def precompute_facilities(self) -> None:
        """Search every existing facility's reach now (otherwise each is searched the
        first time a scenario closes it or a facility near it)."""
        self._columns("f", np.arange(len(self.facility_rows)))

    def evaluate(self, open_candidates: Iterable[Any] = (),
                 closed_facilities: Iterable[Any] = ()) -> dict[str, float]:
        """The circle's coverage with candidate sites added and existing facilities closed.

        Parameters
        ----------
        open_candidates
            Candidate ids (or column numbers) of the sites added.
        closed_facilities
            Facility ids of existing facilities closed.

        Returns
        -------
        dict
            ``elderly_covered``, ``coverage_rate``, ``elderly_counted``, ``seconds``.
        """
        t0 = time.perf_counter()
        opened = self.candidate_index(open_candidates)
        closed = self.facility_index(closed_facilities)
        reach_new = np.asarray(self.unserved_cover[:, opened].sum(axis=1)).ravel() > 0
        covered = self.elderly_served + float(self.weight[~self.served][reach_new].sum())
        if len(closed):
            lost = np.zeros(len(self.weight), dtype=bool)
            for col in self._columns("f", closed):
                lost[col] = True
            lost &= self.served
            # only a facility within twice the radius of a closed one reaches its pixels
            apart = cdist(self.facility_xy, self.facility_xy[closed])
            near = np.flatnonzero((apart <= 2 * self.radius_m + 1.0).any(axis=1))
            still = np.setdiff1d(near, closed)
            for col in self._columns("f", still):
                lost[col] = False
            if lost.any() and len(opened):
                for col in self._columns("c", opened):
                    lost[col] = False
            covered -= float(self.weight[lost].sum())
        rate = covered / self.elderly_counted if self.elderly_counted else 0.0
        return {"elderly_covered": covered, "coverage_rate": rate,
                "elderly_counted": self.elderly_counted,
                "seconds": time.perf_counter() - t0}


def _index_of(names: np.ndarray, ids: Iterable[Any], what: str, *, positions: bool
              ) -> np.ndarray:
    ids = list(ids)
    if positions and all(isinstance(i, int | np.integer) for i in ids):
        index = np.asarray(ids, dtype=np.int64)
        if len(index) and not ((index >= 0) & (index < len(names))).all():
            raise SiteSelectionError(f"{what} positions {ids[:10]} out of 0..{len(names) - 1}")
        return index
    pos = {n: k for k, n in enumerate(names)}
    missing = [i for i in ids if str(i) not in pos]
    if missing:
        raise SiteSelectionError(f"{what} ids {missing[:10]} are not among the {len(names)} "
                                 f"{what} ids of this circle (e.g. {list(names[:3])})")
    return np.asarray([pos[str(i)] for i in ids], dtype=np.int64)


def build_problem(
    *, circle: str, limit_cost: float, radius_m: float, prepared: PreparedNetwork,
    costs: EdgeCosts | None, candidates: Candidates, facility_rows: np.ndarray,
    facility_ids: np.ndarray, facility_xy: np.ndarray, facility_locations: NetworkLocations,
    pixel_locations: NetworkLocations, pixel_people: np.ndarray, pixel_counted: np.ndarray,
    pixel_cost: np.ndarray, elderly_counted: float,
) -> SiteProblem:
    """Build the coverage matrix and the demand groups of one circle (see the module
    docstring); the arguments are the run's own arrays for the circle's mode."""
    t0 = time.perf_counter()
    pixels = np.flatnonzero(pixel_locations.on_network & pixel_counted & (pixel_people > 0))
    weight = pixel_people[pixels]
    served = pixel_cost[pixels] <= limit_cost
    universe = pixel_locations.take(pixels)
    unserved = ReachIndex(prepared.network, universe.take(np.flatnonzero(~served)), costs)
    cover = unserved.matrix(candidates.locations, candidates.xy, limit_cost, radius_m=radius_m)
    groups = group_demand(cover, weight[~served])
    build_s = time.perf_counter() - t0
    log.info("%s: %d candidates reach %d of %d unserved pixels in %d demand groups (%.1f s)",
             circle, len(candidates), int((groups.group_of >= 0).sum()), int((~served).sum()),
             len(groups.weight), build_s)
    return SiteProblem(circle, float(limit_cost), float(radius_m), candidates,
                       np.asarray(facility_rows, dtype=np.int64), np.asarray(facility_ids),
                       np.asarray(facility_xy, dtype=float), facility_locations, pixels,
                       weight, served, cover, groups, float(elderly_counted), build_s,
                       (prepared, universe, costs))
