"""A disk cache of loaded street networks: a county reloads in a fraction of a second.

Reading a county's OSM file takes a second or two (GraphML and downloads through osmnx,
tens of seconds); the engine only needs the projected arrays of a
:class:`eldercare_coverage.network.StreetNetwork`. They are saved as
one uncompressed ``.npz`` (node ids and coordinates, edge ends, lengths, highway values
and the edge geometries as one flat coordinate array with offsets), and loaded with
numpy and one vectorised ``shapely.linestrings`` call.

The cache key is the source file's resolved path, size and modification time, the
mode, the walking rule (``settings.walk_*``, :class:`eldercare_coverage.osm_rules.WalkRule`;
for delivery networks also ``settings.delivery_profile`` and ``DELIVERY_RULE_VERSION``),
the target CRS and the cache format version: change any of them and the network is read
again. A corrupt or
unreadable entry is read again from the source (and logged), never trusted. Writes go
to a temporary file that is renamed into place, so concurrent runs never see half a
file. The folder is ``settings.cache_dir`` (``$ELDERCARE_CACHE`` or
``~/.cache/eldercare-coverage``) unless given.

Examples
--------
>>> net = cached_network("data/network/demo_county.osm")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely

from .network import StreetNetwork, load_network
from .osm_rules import DELIVERY_RULE_VERSION, WalkRule
from .settings import settings as _settings

log = logging.getLogger(__name__)

# 2: OSM files read by osm_reader (every way both ways, the walking rule with foot=* and
# sidewalk=separate, nodes by OSM id); entries of version 1 are read again
FORMAT_VERSION = 2


def default_cache_dir() -> Path:
    """``settings.cache_dir``, else ``$ELDERCARE_CACHE``, else ``~/.cache/eldercare-coverage``."""
    if _settings.cache_dir:
        return Path(_settings.cache_dir)
    env = os.environ.get("ELDERCARE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "eldercare-coverage"


def cache_key(source: str | Path, *, mode: str = "walk", to_crs: Any = None) -> str:
    """The cache key of a network file read for ``mode`` (hex digest)."""
    path = Path(source).resolve()
    st = path.stat()
    parts = {
        "path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "mode": mode,
        "walk_rule": WalkRule.from_settings().as_dict(),
        **({"delivery_profile": _settings.delivery_profile,
            "delivery_rule": DELIVERY_RULE_VERSION} if mode == "delivery" else {}),
        "crs": None if to_crs is None else pyproj.CRS.from_user_input(to_crs).to_wkt(),
        "version": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def savez_atomic(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` to a temporary file renamed into place: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy stubs: **kwds may hit allow_pickle
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def save_network(net: StreetNetwork, path: str | Path) -> Path:
    """Write ``net`` to ``path`` (``.npz``) atomically; returns the path."""
    coords, index = shapely.get_coordinates(net.edge_geometry, return_index=True)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(index, minlength=net.n_edges))])
    meta = {"crs": net.crs.to_wkt(), "mode": net.mode, "directed": net.directed,
            "source": net.source, "meta": net.meta, "version": FORMAT_VERSION}
    directions = {k: v for k, v in (("edge_oneway", net.edge_oneway),
                                    ("edge_maxspeed_kph", net.edge_maxspeed_kph),
                                    ("edge_dismount", net.edge_dismount)) if v is not None}
    return savez_atomic(path, node_id=net.node_id, node_xy=net.node_xy, edge_u=net.edge_u,
                        edge_v=net.edge_v, edge_length_m=net.edge_length_m,
                        edge_highway=np.asarray(net.edge_highway, dtype=str),
                        coords=coords, offsets=offsets,
                        meta=np.array(json.dumps(meta, default=str)), **directions)


def read_network(path: str | Path) -> StreetNetwork:
    """Read a network written by :func:`save_network`.

    Raises
    ------
    ValueError
        When the file is not a network cache of this format version.
    """
    with np.load(Path(path), allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: cache format {meta.get('version')}, "
                             f"expected {FORMAT_VERSION}")
        offsets = z["offsets"]
        lengths = np.diff(offsets)
        geoms = shapely.linestrings(z["coords"], indices=np.repeat(np.arange(len(lengths)),
                                                                   lengths))
        return StreetNetwork(
            crs=pyproj.CRS.from_wkt(meta["crs"]), node_id=z["node_id"], node_xy=z["node_xy"],
            edge_u=z["edge_u"], edge_v=z["edge_v"], edge_length_m=z["edge_length_m"],
            edge_geometry=np.asarray(geoms, dtype=object),
            edge_highway=z["edge_highway"].astype(object), mode=meta["mode"],
            directed=bool(meta["directed"]), source=meta["source"], meta=meta["meta"],
            edge_oneway=z["edge_oneway"] if "edge_oneway" in z else None,
            edge_maxspeed_kph=z["edge_maxspeed_kph"] if "edge_maxspeed_kph" in z else None,
            edge_dismount=z["edge_dismount"] if "edge_dismount" in z else None)


def cached_network(source: str | Path, *, mode: str = "walk", to_crs: Any = None,
                   cache_dir: str | Path | None = None) -> StreetNetwork:
    """Load a network file through the cache (read and cached on the first call).

    Parameters
    ----------
    source
        A network file :func:`eldercare_coverage.network.load_network` reads.
    mode, to_crs
        As for :func:`eldercare_coverage.network.load_network`.
    cache_dir
        Cache folder (default :func:`default_cache_dir`).

    Returns
    -------
    StreetNetwork
    """
    if not Path(source).is_file():  # the reader explains what is wrong with the path
        return load_network(source, mode=mode, to_crs=to_crs)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = folder / f"network-{cache_key(source, mode=mode, to_crs=to_crs)}.npz"
    if entry.exists():
        t0 = time.perf_counter()
        try:
            net = read_network(entry)
        except Exception as exc:
            log.warning("network cache %s is unreadable (%s); reading %s again", entry, exc,
                        source)
        else:
            log.info("network from cache %s in %.2f s", entry, time.perf_counter() - t0)
            return net
    net = load_network(source, mode=mode, to_crs=to_crs)
    return store(net, entry)


def store(net: StreetNetwork, entry: Path) -> StreetNetwork:
    """Save ``net`` as cache ``entry`` (a failed write is logged, never fatal); returns it."""
    try:
        save_network(net, entry)
    except OSError as exc:
        log.warning("could not write the network cache %s (%s); continuing without", entry, exc)
    return net
