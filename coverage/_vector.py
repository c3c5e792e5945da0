"""Reading one layer of a vector file (GeoPackage, GeoJSON, Shapefile) the same way everywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd

from ._errors import InputFileError

log = logging.getLogger(__name__)


def first_layer(path: Path, layer: str | None) -> str | None:
    """``layer``, or the file's first layer (with a warning when there are several)."""
    import pyogrio

    if layer is not None:
        return layer
    layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    if len(layers) > 1:
        log.warning("%s: %d layers %s; reading the first (pass layer=...)", path, len(layers),
                    layers)
    return layers[0] if layers else None


def read_layer(path: Path, layer: str | None) -> gpd.GeoDataFrame:
    """One layer of ``path`` (see :func:`first_layer`); unreadable files raise InputFileError."""
    try:
        layer = first_layer(path, layer)
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several error types
        raise InputFileError(f"{path}: cannot read layer {layer!r} ({exc})") from exc
