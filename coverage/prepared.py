"""A street network prepared for the engine, built once by one stage and passed down.

:func:`prepare_network` takes the :class:`~eldercare_coverage.network.StreetNetwork` that
a reader or the cache (:mod:`eldercare_coverage.network_cache`, read and written by the
caller that asks for it) returned, and builds what every later stage needs from it: the
segment index that snaps points to their nearest street (:mod:`eldercare_coverage.snapping`),
the adjacency the searches run on and the edges' spatial index. Nothing is stored on the
network itself; the prepared network is a value the pipeline hands from stage to stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj

from .network import StreetNetwork
from .snapping import NetworkLocations, SegmentIndex, snap_points


@dataclass(frozen=True, eq=False)
class PreparedNetwork:
    """A projected street network with its snapping index.

    Attributes
    ----------
    network
        The network's arrays (metres, projected CRS).
    index
        Its segment index for exact nearest-street queries.
    """

    network: StreetNetwork
    index: SegmentIndex

    @property
    def crs(self) -> pyproj.CRS:
        """The network's projected CRS."""
        return self.network.crs

    def snap(self, xy: np.ndarray, *, max_snap_m: float, exact_beyond: bool = True
             ) -> NetworkLocations:
        """Each point on its nearest street (see :func:`~eldercare_coverage.snapping.snap_points`).

        Examples
        --------
        >>> from eldercare_coverage.network import network_from_arrays
        >>> net = prepare_network(network_from_arrays([[0, 0], [100, 0]], [0], [1], crs=32651))
        >>> net.snap(np.array([[30.0, 40.0]]), max_snap_m=500).snap_m.tolist()
        [40.0]
        """
        return snap_points(self.network, xy, max_snap_m=max_snap_m, exact_beyond=exact_beyond,
                           index=self.index)


def prepare_network(network: StreetNetwork | PreparedNetwork) -> PreparedNetwork:
    """Build the snapping index (and the adjacency) of ``network`` once.

    Parameters
    ----------
    network
        A loaded network (a prepared one is returned as it is).

    Returns
    -------
    PreparedNetwork
    """
    if isinstance(network, PreparedNetwork):
        return network
    _ = network.csr  # the searches' adjacency, built here rather than in the first search
    return PreparedNetwork(network, SegmentIndex.build(network))
