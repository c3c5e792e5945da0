"""Street networks downloaded from OpenStreetMap (Overpass) by place name, polygon or box.

**These functions need the internet** (osmnx's Nominatim geocoder and Overpass API, at
the URLs of ``osmnx.settings``); everything else in the package reads local files. A
download is cached twice, in ``cache_dir`` (default ``settings.cache_dir``, see
:mod:`eldercare_coverage.network_cache`): osmnx's HTTP responses under ``http/`` (a repeated query
is answered from disk) and the projected network as ``.npz`` (reloads in milliseconds).

The ways are filtered for walking exactly as files are (:func:`eldercare_coverage.osm_rules.walkable`,
the same extra tags, every way both ways), so a download and an OSM file of the same data
give the same graph.

Examples
--------
>>> net = download_network(place="温岭市, 台州市, 浙江省")  # doctest: +SKIP
>>> net = download_network(bbox=(121.30, 28.30, 121.45, 28.42))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import osmnx as ox
import shapely

from ._errors import NetworkError
from .network import StreetNetwork, network_from_graph
from .network_cache import default_cache_dir, read_network, store
from .osm_graph import _EXTRA_WAY_TAGS, _keep_mode_edges, _osmnx_way_tags
from .osm_rules import WalkRule
from .settings import settings as _settings

log = logging.getLogger(__name__)


class _ServiceBusy(RuntimeError):
    """Nominatim or Overpass answered "busy" (429, 504) more often than we retry."""


@contextlib.contextmanager
def _bounded_retries(retries: int) -> Iterator[None]:
    """Stop a download when one request got a busy answer (HTTP 429 or 504) ``retries``
    times and is busy again.

    osmnx answers a busy server by waiting 55 s and asking the same request again, with
    no limit: a congested Overpass server would hold a download for hours. A requests
    response hook (passed through ``osmnx.settings.requests_kwargs``, restored after)
    counts the busy answers per request (method, URL and body; the Overpass status
    page, which osmnx only reads to pace itself, is not counted). Like the other
    osmnx settings changed here, it is process-wide: downloads do not run in parallel.
    """
    before = ox.settings.requests_kwargs
    busy: dict[tuple[str, str, str], list[str]] = {}

    def count(response: Any, *args: Any, **kwargs: Any) -> Any:
        request = response.request
        url = str(request.url or response.url)
        if response.status_code in (429, 504) and \
                not urllib.parse.urlsplit(url).path.endswith("/status"):
            body = request.body.decode(errors="replace") if isinstance(request.body, bytes) \
                else str(request.body or "")
            answers = busy.setdefault((str(request.method), url, body), [])
            answers.append(f"{response.status_code} {response.reason}")
            if len(answers) > retries:
                waited = (f"osmnx waited 55 s before each of {retries} retries" if retries
                          else "settings.download_busy_retries is 0")
                raise _ServiceBusy(f"{url.split('?')[0]} answered {', '.join(answers)} to "
                                   f"the same request: the service is busy ({waited})")
        return response

    hooks = dict(before.get("hooks") or {})
    previous = hooks.get("response") or []
    hooks["response"] = [*([previous] if callable(previous) else previous), count]
    ox.settings.requests_kwargs = {**before, "hooks": hooks}
    try:
        yield
    finally:
        ox.settings.requests_kwargs = before


@contextlib.contextmanager
def _both_ways(mode: str) -> Iterator[None]:
    """For walking, osmnx adds every way in both directions (as graph_from_file reads files).

    The query is osmnx's network type ``all`` (our own filter runs after), which osmnx
    builds one-way; network types listed in ``bidirectional_network_types`` are built both
    ways, so ``all`` is listed there while a walking download runs (restored after).
    """
    before = list(ox.settings.bidirectional_network_types)
    if mode == "walk":
        ox.settings.bidirectional_network_types = [*before, "all"]
    try:
        yield
    finally:
        ox.settings.bidirectional_network_types = before


@contextlib.contextmanager
def _http_cache(folder: Path) -> Iterator[None]:
    """osmnx's HTTP cache in ``folder`` for the duration of a download (restored after)."""
    before = (ox.settings.cache_folder, ox.settings.use_cache)
    folder.mkdir(parents=True, exist_ok=True)
    ox.settings.cache_folder, ox.settings.use_cache = str(folder), True
    try:
        yield
    finally:
        ox.settings.cache_folder, ox.settings.use_cache = before


def _query(place: str | None, polygon: Any, bbox: tuple[float, float, float, float] | None
           ) -> dict[str, Any]:
    given = [k for k, v in (("place", place), ("polygon", polygon), ("bbox", bbox))
             if v is not None]
    if len(given) != 1:
        raise NetworkError(f"give exactly one of place, polygon, bbox (got {given or 'none'})")
    if bbox is not None:
        west, south, east, north = (float(v) for v in bbox)
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise NetworkError(f"bbox {bbox!r} is not west,south,east,north in degrees "
                               "(west < east, south < north)")
        return {"bbox": [west, south, east, north]}
    if polygon is not None:
        geom = shapely.geometry.shape(polygon) if isinstance(polygon, dict) else polygon
        return {"polygon": shapely.to_wkt(geom, rounding_precision=7)}
    return {"place": str(place)}


def download_graph(*, place: str | None = None, polygon: Any = None,
                   bbox: tuple[float, float, float, float] | None = None, mode: str = "walk",
                   cache_dir: str | Path | None = None) -> nx.MultiDiGraph:
    """Download the streets of a place, polygon (WGS-84) or box from OpenStreetMap.

    Needs the internet on the first call for a query; repeated calls are answered from
    the HTTP cache in ``cache_dir``.

    Parameters
    ----------
    place
        A place name Nominatim knows, e.g. ``"温岭市, 台州市, 浙江省"``.
    polygon
        A shapely (Multi)Polygon or GeoJSON-like dict in WGS-84.
    bbox
        ``(west, south, east, north)`` in degrees.
    mode
        Travel mode (``walk``).
    cache_dir
        Cache folder (default :func:`eldercare_coverage.network_cache.default_cache_dir`).

    Returns
    -------
    networkx.MultiDiGraph
        Simplified, unprojected osmnx graph, filtered as files are.

    Raises
    ------
    NetworkError
        When the services cannot be reached, answer with an error, or stay busy (HTTP
        429 or 504) after ``settings.download_busy_retries`` retries.
    """
    q = _query(place, polygon, bbox)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    kw: dict[str, Any] = {"network_type": "all", "simplify": False, "retain_all": True}
    try:
        with (_http_cache(folder / "http"), _osmnx_way_tags(_EXTRA_WAY_TAGS), _both_ways(mode),
              _bounded_retries(_settings.download_busy_retries)):
            if "place" in q:
                G = ox.graph_from_place(q["place"], **kw)
            elif "polygon" in q:
                G = ox.graph_from_polygon(shapely.from_wkt(q["polygon"]), **kw)
            else:
                G = ox.graph_from_bbox(tuple(q["bbox"]), **kw)
    except _ServiceBusy as exc:
        raise NetworkError(
            f"could not download the streets of {json.dumps(q, ensure_ascii=False)}: {exc}. "
            "Try again later, raise settings.download_busy_retries, point "
            "osmnx.settings.overpass_url at another Overpass server, or download an "
            "extract (e.g. Geofabrik's .osm.pbf) and pass it with --network") from exc
    except Exception as exc:  # requests' and osmnx's errors: the service side failed
        raise NetworkError(
            f"could not download the streets of {json.dumps(q, ensure_ascii=False)} "
            f"({type(exc).__name__}: {exc}). Nominatim: {ox.settings.nominatim_url}, "
            f"Overpass: {ox.settings.overpass_url}. Offline? Download an extract (e.g. "
            "Geofabrik's .osm.pbf) and pass it with --network") from exc
    G = _keep_mode_edges(G, mode)
    if G.number_of_edges() == 0:
        raise NetworkError(f"{q}: no street there can be used for {mode!r}")
    return ox.simplify_graph(G)


def download_network(*, place: str | None = None, polygon: Any = None,
                     bbox: tuple[float, float, float, float] | None = None, mode: str = "walk",
                     cache_dir: str | Path | None = None) -> StreetNetwork:
    """:func:`download_graph` as a projected :class:`eldercare_coverage.network.StreetNetwork`, cached.

    The second call for the same query, mode and walking filter loads the cached
    network without any request.
    """
    q = _query(place, polygon, bbox)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = json.dumps({**q, "mode": mode, "walk_rule": WalkRule.from_settings().as_dict(),
                      "both_ways": True}, sort_keys=True, ensure_ascii=False)
    entry = folder / f"download-{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"
    if entry.exists():
        try:
            return read_network(entry)
        except Exception as exc:
            log.warning("download cache %s is unreadable (%s); downloading again", entry, exc)
    G = download_graph(place=place, polygon=polygon, bbox=bbox, mode=mode, cache_dir=folder)
    source = "OpenStreetMap " + json.dumps(q, ensure_ascii=False)
    return store(network_from_graph(G, mode=mode, source=source), entry)
