"""Checks of a run's inputs against each other: warnings a planner must see, or a stop.

* :func:`check_population_overlap`: the population grid and the streets are for the same
  place (stop when no person lives near a street, warn when many do not);
* :func:`check_coordinate_system`: the facilities fit the streets in the datum they were
  declared in (warn, naming the better reading, when another fits far better).
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from ._errors import InputFileError
from .network import StreetNetwork
from .prepared import PreparedNetwork

log = logging.getLogger(__name__)


class CoordinateSystemWarning(UserWarning):
    """Facilities look offset from the streets by a Chinese datum shift."""


class PopulationOverlapWarning(UserWarning):
    """Many elderly people live farther from every street than the access limit."""


def check_population_overlap(elderly: np.ndarray, on_network: np.ndarray, pop: gpd.GeoDataFrame,
                              net: StreetNetwork, max_snap_m: float) -> None:
    """Stop when no person is near a street; warn when a large share is not."""
    total = float(elderly.sum())
    off = float(elderly[~on_network].sum())
    if total <= 0:
        return
    where = pop.attrs.get("source") or "the population grid"
    bounds = ", ".join(f"{v:.4f}" for v in gpd.GeoSeries(pop.geometry).total_bounds)
    net_bounds = ", ".join(f"{v:.4f}" for v in gpd.GeoSeries(
        [shapely.box(*net.bounds())], crs=net.crs).to_crs(pop.crs).total_bounds)
    if off >= total:
        raise InputFileError(
            f"{where}: no populated cell lies within {max_snap_m:g} m of a walkable street: "
            f"the grid (bounds {bounds}) does not cover the street network (bounds "
            f"{net_bounds}). Check that both files are for the same place")
    if off > 0.2 * total:
        msg = (f"{where}: {100 * off / total:.0f} % of the elderly live farther than "
               f"{max_snap_m:g} m from any walkable street (they count as unserved); is the "
               "network complete for the grid's area?")
        log.debug(msg)  # the warning itself reaches the user, once (run() records it)
        warnings.warn(msg, PopulationOverlapWarning, stacklevel=3)


def check_coordinate_system(fac: gpd.GeoDataFrame, net: PreparedNetwork) -> None:
    """Warn when the facilities fit the streets far better read in another datum."""
    from .facilities import format_crs_suggestion, suggest_coordinate_system

    if "crs" not in fac.attrs:
        return  # not from read_facilities: nothing is known of the file's datum
    to_net = pyproj.Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)

    def nearest_street_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        x, y = to_net.transform(lon, lat)
        return net.snap(np.column_stack([x, y]), max_snap_m=np.inf).snap_m

    suggestion, medians = suggest_coordinate_system(fac, nearest_street_m)
    if suggestion:
        msg = format_crs_suggestion(suggestion, medians, given=fac.attrs["crs"])
        log.debug(msg)  # the warning itself reaches the user, once (run() records it)
        warnings.warn(msg, CoordinateSystemWarning, stacklevel=3)
