"""What it costs to travel each street, in each direction: the engine's edge costs.

The distance engine (:mod:`eldercare_coverage.isochrones`) knows nothing of modes: it
searches on the costs it is given. :class:`EdgeCosts` holds, for every edge of a
:class:`~eldercare_coverage.network.StreetNetwork` (one record per physical street, its
geometry from ``u`` to ``v``), the cost of the whole edge forward (``u -> v``) and
backward (``v -> u``), ``inf`` where that direction is not allowed. Cost along an edge
is proportional to the distance along it (one speed per edge), so a point at offset
``s`` of an edge of length ``L`` is ``forward * s / L`` from ``u``.

* Walking: both directions cost the length in metres, access legs are metres
  (:meth:`EdgeCosts.walking`; the engine's default, bit for bit).
* Delivery: seconds of riding, one-way streets ``inf`` against the traffic, access legs
  walked at a courier's pace (:func:`eldercare_coverage.delivery.delivery_costs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ._errors import NetworkError
from .network import StreetNetwork, cheapest_edges_csr


@dataclass(frozen=True, eq=False)
class EdgeCosts:
    """Cost of every edge forward and backward, and of the access legs.

    Attributes
    ----------
    forward, backward
        Cost of travelling the whole edge ``u -> v`` and ``v -> u``, shape (E,);
        ``inf`` where the direction is not allowed.
    access_m_per_cost
        Metres of straight access leg per unit of cost (walking: 1, metres; delivery:
        the courier's walking speed in m/s, costs in seconds).
    junction_cost
        Cost added each time a path arrives at a junction (a node where three or more
        edges meet) it goes on from: a delay per junction passed (0 for walking).
    unit
        The unit of every cost: ``"m"`` or ``"s"``.
    """

    forward: np.ndarray
    backward: np.ndarray
    access_m_per_cost: float = 1.0
    junction_cost: float = 0.0
    unit: str = "m"

    def __post_init__(self) -> None:
        if self.forward.shape != self.backward.shape:
            raise NetworkError(f"edge costs: forward {self.forward.shape} and backward "
                               f"{self.backward.shape} differ in shape")
        if not (np.isfinite(self.access_m_per_cost) and self.access_m_per_cost > 0):
            raise NetworkError(f"edge costs: access_m_per_cost was {self.access_m_per_cost!r} "
                               "but must be a positive number")
        if (self.forward < 0).any() or (self.backward < 0).any():
            raise NetworkError("edge costs: negative costs are not allowed")

    @classmethod
    def walking(cls, network: StreetNetwork) -> EdgeCosts:
        """Both ways the length in metres, access legs in metres (the default)."""
        return cls(network.edge_length_m, network.edge_length_m, 1.0, 0.0, "m")

    def per_metre(self, network: StreetNetwork) -> tuple[np.ndarray, np.ndarray]:
        """Cost per metre along each edge, forward and backward (``inf``: not allowed;
        0 on an edge of no length)."""
        length = network.edge_length_m
        rates = []
        for cost in (self.forward, self.backward):
            rate = np.where(np.isinf(cost), np.inf, 0.0)
            np.divide(cost, length, out=rate, where=(length > 0) & np.isfinite(cost))
            rates.append(rate)
        return rates[0], rates[1]

    def arrival(self, network: StreetNetwork) -> np.ndarray:
        """Cost of arriving at each node: ``junction_cost`` at junctions (three or more
        edge ends), 0 elsewhere, shape (N,)."""
        if self.junction_cost == 0:
            return np.zeros(network.n_nodes)
        ends = np.bincount(network.edge_u, minlength=network.n_nodes) \
            + np.bincount(network.edge_v, minlength=network.n_nodes)
        return np.where(ends >= 3, float(self.junction_cost), 0.0)

    def adjacency(self, network: StreetNetwork) -> sparse.csr_matrix:
        """The directed adjacency ``u -> v`` (forward) and ``v -> u`` (backward) of the
        allowed directions, the cheapest of parallel edges kept, self-loops left out, the
        arrival cost of the node reached added to every step."""
        u, v = network.edge_u, network.edge_v
        loop = u == v
        fwd = ~loop & np.isfinite(self.forward)
        bwd = ~loop & np.isfinite(self.backward)
        head = np.concatenate([v[fwd], u[bwd]])
        return cheapest_edges_csr(np.concatenate([u[fwd], v[bwd]]), head,
                                  np.concatenate([self.forward[fwd], self.backward[bwd]])
                                  + self.arrival(network)[head],
                                  (network.n_nodes, network.n_nodes))


def along(rate: np.ndarray, distance_m: np.ndarray) -> np.ndarray:
    """Cost of ``distance_m`` metres at ``rate`` per metre; 0 for no distance, even on a
    direction not allowed (``inf * 0`` would be NaN).

    Examples
    --------
    >>> along(np.array([1.0, np.inf, np.inf, 0.5]), np.array([3.0, 0.0, 2.0, 4.0])).tolist()
    [3.0, 0.0, inf, 2.0]
    """
    with np.errstate(invalid="ignore"):
        return np.where(distance_m > 0, rate * distance_m, 0.0)
