"""What a researcher would run instead of eldercare-coverage: two whole processes.

Usage::

    python benchmarks/baselines.py osmnx --dir /tmp/dense-county
    python benchmarks/baselines.py pandana --dir /tmp/dense-county

``--dir`` is a folder written by ``benchmarks/make_dense_county.py`` (``county.osm``,
``facilities.csv``, ``elderly_60plus.tif``). Each subcommand is the whole process a
researcher would write, from reading the files to the coverage rates, and prints one JSON
line: seconds per stage, the total (from the start of the process, imports included),
the peak RSS (``ru_maxrss``) and the share of elderly people covered for the walking
circles of the project's policy table with the care facility types:

``osmnx``
    osmnx's isochrone recipe. The ways that osmnx's ``network_type="walk"`` filter keeps
    are copied with pyosmium into a temporary OSM file (with only their nodes, since
    ``graph_from_xml`` keeps nodes without ways), which is loaded by
    ``ox.graph_from_xml(..., bidirectional=True, simplify=True, retain_all=True)`` and
    projected (``ox.project_graph``, UTM); each care facility goes to its nearest node
    (``ox.distance.nearest_nodes``); per circle and facility ``nx.ego_graph(G, node,
    radius=limit, distance="length")`` and the convex hull of the reached nodes; a cell
    is covered when its centre lies in the union of the hulls.
``pandana``
    pyosmium reads the node locations and the walkable ways (the same filter), each pair
    of consecutive nodes is an edge of its length in UTM metres (parallel pairs once, the
    shortest); a ``pandana.Network`` of all those nodes (no simplification), then
    ``precompute(1500)``, ``set_pois`` of the care facilities (pandana maps them to
    their nearest nodes), ``nearest_pois`` per circle and ``get_node_ids`` for the cell
    centres: a cell is covered when its node's distance is below the limit.
    ``--no-precompute`` leaves ``precompute`` out: pandana's examples call it, but it
    only serves ``aggregate`` queries, and it holds every node's range in memory.

Neither has access legs nor partial edges: both measure from and to nodes (the osmnx
recipe's hulls also cover whatever lies between reached nodes), so their rates differ
from the project's by definition; they are here for the time and memory a researcher's
pipeline takes on the same county.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402 - the clock starts before the imports
import json  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# the county generator's copy of osmnx's walk filter (its module imports only numpy and the
# standard library, so the timed process carries nothing it would not otherwise)
from make_dense_county import is_walkable  # noqa: E402

#: circle name -> limit in metres (walk_15min and walk_20min at 0.9 m/s)
CIRCLES_M = {"walk_1500m": 1500.0, "walk_15min": 810.0, "home_500m": 500.0,
             "walk_20min": 1080.0}
#: the facility types of kind ``care`` (coverage/data/facility_types.csv)
CARE = ("county_center", "town_center", "community_center", "nursing_home")


class Stages:
    """Seconds per named stage, measured one after the other."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()
        self.seconds["start_and_imports"] = round(self._t - _T0, 3)

    def __call__(self, name: str) -> None:
        """Close the stage ``name`` (the time since the previous one)."""
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._t, 3)
        self._t = now


def utm_crs(lon: float, lat: float) -> str:
    """The EPSG code of the UTM zone of a point (what ``ox.project_graph`` picks)."""
    zone = int((lon + 180.0) // 6.0) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def read_care(path: Path) -> tuple[Any, Any]:
    """Longitudes and latitudes of the care facilities of ``facilities.csv``."""
    import pandas as pd

    fac = pd.read_csv(path)
    fac = fac[fac["type"].isin(CARE)]
    return fac["lon"].to_numpy(float), fac["lat"].to_numpy(float)


def read_cells(path: Path) -> tuple[Any, Any, Any]:
    """Centres (lon, lat) and elderly people of the populated cells of the GeoTIFF."""
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        a = src.read(1)
        ok = np.isfinite(a) & (a > 0)
        if src.nodata is not None:
            ok &= a != src.nodata
        rows, cols = np.nonzero(ok)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        if not src.crs.is_geographic:
            from pyproj import Transformer

            xs, ys = Transformer.from_crs(src.crs, 4326, always_xy=True).transform(xs, ys)
    return np.asarray(xs, float), np.asarray(ys, float), a[rows, cols].astype(float)


def coverage(elderly: Any, covered: dict[str, Any]) -> dict[str, float]:
    """Share of the elderly in the cells marked covered, per circle."""
    total = float(elderly.sum())
    return {k: round(float(elderly[m].sum()) / total, 6) for k, m in covered.items()}


def filter_walk_osm(src: Path, dst: Path) -> dict[str, int]:
    """Copy the walkable ways of ``src`` and only their nodes into ``dst`` (OSM XML).

    Returns
    -------
    dict
        ``ways`` and ``nodes`` written.
    """
    import osmium

    keep_nodes: set[int] = set()
    ways = 0
    w: Any
    for w in osmium.FileProcessor(str(src), osmium.osm.WAY):
        if is_walkable(w.tags):
            keep_nodes.update(n.ref for n in w.nodes)
            ways += 1
    dst.unlink(missing_ok=True)
    o: Any  # osmium's objects: nodes and ways
    with osmium.SimpleWriter(str(dst)) as out:
        for o in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if o.is_node():
                if o.id in keep_nodes:
                    out.add_node(o)
            elif is_walkable(o.tags):
                out.add_way(o)
    return {"ways": ways, "nodes": len(keep_nodes)}


def run_osmnx(folder: Path, stage: Stages) -> dict[str, Any]:
    """osmnx's isochrone recipe on the county (see the module docstring).

    Parameters
    ----------
    folder
        The county's folder.
    stage
        The stage clock.

    Returns
    -------
    dict
        ``coverage`` per circle, graph size and counts.
    """
    import networkx as nx
    import numpy as np
    import osmnx as ox
    import shapely
    from pyproj import Transformer

    stage("import_osmnx")
    with tempfile.TemporaryDirectory() as tmp:
        walk_osm = Path(tmp) / "walk.osm"
        kept = filter_walk_osm(folder / "county.osm", walk_osm)
        stage("filter_ways")
        G = ox.graph_from_xml(walk_osm, bidirectional=True, simplify=True, retain_all=True)
        stage("graph_from_xml")
    G = ox.project_graph(G)
    crs = G.graph["crs"]
    stage("project_graph")
    flon, flat = read_care(folder / "facilities.csv")
    to_g = Transformer.from_crs(4326, crs, always_xy=True)
    fx, fy = to_g.transform(flon, flat)
    fnode = ox.distance.nearest_nodes(G, fx, fy)
    stage("nearest_nodes")
    clon, clat, elderly = read_cells(folder / "elderly_60plus.tif")
    cx, cy = to_g.transform(clon, clat)
    stage("read_cells")
    covered: dict[str, Any] = {}
    reached: dict[str, int] = {}
    for name, limit in CIRCLES_M.items():
        hulls = []
        n_reached = 0
        for node in fnode:
            sub = nx.ego_graph(G, node, radius=limit, distance="length")
            xy = np.array([(d["x"], d["y"]) for _, d in sub.nodes(data=True)])
            n_reached += len(xy)
            hulls.append(shapely.multipoints(xy).convex_hull)
        stage(f"ego_graph_hulls_{name}")
        area = shapely.union_all(hulls)
        shapely.prepare(area)
        covered[name] = shapely.contains_xy(area, cx, cy)
        reached[name] = n_reached
        stage(f"union_overlay_{name}")
    return {"coverage": coverage(elderly, covered), "graph_nodes": len(G),
            "graph_edges_directed": G.number_of_edges(), "walk_ways": kept["ways"],
            "care_facilities": len(fnode), "cells": len(elderly),
            "nodes_reached_per_facility": {k: round(v / len(fnode), 1)
                                           for k, v in reached.items()}}


def read_walk_network(path: Path) -> tuple[Any, Any, Any, Any]:
    """Node ids and locations, and the consecutive node pairs of the walkable ways.

    Returns
    -------
    (ids, lon, lat, pairs)
        Node ids (sorted), their coordinates, and ``(m, 2)`` indices into them.
    """
    import numpy as np
    import osmium

    node_id: list[int] = []
    lon: list[float] = []
    lat: list[float] = []
    a: list[int] = []
    b: list[int] = []
    o: Any  # osmium's objects: nodes and ways
    for o in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        if o.is_node():
            node_id.append(o.id)
            lon.append(o.location.lon)
            lat.append(o.location.lat)
        elif is_walkable(o.tags):
            refs = [n.ref for n in o.nodes]
            a.extend(refs[:-1])
            b.extend(refs[1:])
    ids = np.array(node_id, dtype=np.int64)
    order = np.argsort(ids)
    ids = ids[order]
    lon_a, lat_a = np.array(lon)[order], np.array(lat)[order]
    pairs = np.searchsorted(ids, np.c_[np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)])
    used = np.unique(pairs)
    remap = np.full(len(ids), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return ids[used], lon_a[used], lat_a[used], remap[pairs]


def run_pandana(folder: Path, stage: Stages, precompute: bool = True) -> dict[str, Any]:
    """pandana on the raw walkable nodes of the county (see the module docstring).

    Parameters
    ----------
    folder
        The county's folder.
    stage
        The stage clock.
    precompute
        Call ``precompute(1500)`` as pandana's examples do (it caches the range
        queries of ``aggregate``; ``nearest_pois`` does not use it).

    Returns
    -------
    dict
        ``coverage`` per circle, network size and counts.
    """
    import numpy as np
    import pandana
    import pandas as pd
    from pyproj import Transformer

    stage("import_pandana")
    ids, lon, lat, pairs = read_walk_network(folder / "county.osm")
    stage("parse_osm")
    crs = utm_crs(float(np.median(lon)), float(np.median(lat)))
    to_m = Transformer.from_crs(4326, crs, always_xy=True)
    x, y = to_m.transform(lon, lat)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    length = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]])
    edges = pd.DataFrame({"from": pairs.min(1), "to": pairs.max(1), "length": length})
    edges = edges.sort_values("length").drop_duplicates(["from", "to"]).sort_index()
    nodes = pd.DataFrame({"x": x, "y": y}, index=ids)
    stage("build_edges")
    net = pandana.Network(nodes["x"], nodes["y"], ids[edges["from"].to_numpy()],
                          ids[edges["to"].to_numpy()], edges[["length"]], twoway=True)
    stage("network")
    cap = max(CIRCLES_M.values())
    if precompute:
        net.precompute(cap)
        stage("precompute")
    flon, flat = read_care(folder / "facilities.csv")
    fx, fy = to_m.transform(flon, flat)
    net.set_pois("care", cap, 1, pd.Series(fx), pd.Series(fy))
    stage("set_pois")
    clon, clat, elderly = read_cells(folder / "elderly_60plus.tif")
    cx, cy = to_m.transform(clon, clat)
    cnode = net.get_node_ids(pd.Series(cx), pd.Series(cy)).to_numpy()
    stage("cells_get_node_ids")
    covered: dict[str, Any] = {}
    for name, limit in CIRCLES_M.items():
        near = net.nearest_pois(limit, "care", num_pois=1)[1]
        d = near.reindex(cnode).to_numpy()  # pandana gives the limit where none is found
        covered[name] = d < limit
        stage(f"nearest_pois_{name}")
    return {"coverage": coverage(elderly, covered), "network_nodes": len(ids),
            "network_edges": len(edges), "care_facilities": len(fx), "cells": len(elderly)}


METHODS: dict[str, Callable[..., dict[str, Any]]] = {"osmnx": run_osmnx,
                                                     "pandana": run_pandana}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run one baseline on ``--dir`` and print its JSON line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", choices=sorted(METHODS))
    p.add_argument("--dir", required=True, help="a folder written by make_dense_county.py")
    p.add_argument("--no-precompute", action="store_true",
                   help="pandana: skip precompute() (nearest_pois does not need it)")
    args = p.parse_args(argv)
    stage = Stages()
    kwargs = {"precompute": False} if args.method == "pandana" and args.no_precompute else {}
    res = METHODS[args.method](Path(args.dir), stage, **kwargs)
    out = {"method": args.method + ("_no_precompute" if kwargs else ""), "dir": str(args.dir),
           "stages_s": stage.seconds,
           "seconds": round(time.perf_counter() - _T0, 2),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           **res}
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
