"""Downloads by place name and box, tested offline: a local server on 127.0.0.1 answers
as Nominatim and Overpass do, with the demo county's OSM data in Overpass JSON. No test
touches the internet: osmnx is pointed at the local server, and any other URL fails."""

from __future__ import annotations

import json
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import osmnx as ox
import pytest
import shapely

from eldercare_coverage._errors import NetworkError
from eldercare_coverage.cli import main
from eldercare_coverage.download import download_graph, download_network
from eldercare_coverage.network import load_network
from eldercare_coverage.osm_graph import graph_from_file

DATA = Path(__file__).resolve().parents[1] / "data"
OSM = DATA / "network" / "demo_county.osm"
PLACE = "温岭市, 台州市, 浙江省"


def _overpass_json(path: Path) -> dict:
    root = ET.parse(path).getroot()
    elements = []
    for n in root.iter("node"):
        e = {"type": "node", "id": int(n.get("id")), "lat": float(n.get("lat")),
             "lon": float(n.get("lon"))}
        tags = {t.get("k"): t.get("v") for t in n.iter("tag")}
        if tags:
            e["tags"] = tags
        elements.append(e)
    for w in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in w.iter("tag")}
        if "highway" not in tags:
            continue  # Overpass answers the highway query only
        elements.append({"type": "way", "id": int(w.get("id")),
                         "nodes": [int(nd.get("ref")) for nd in w.iter("nd")], "tags": tags})
    return {"version": 0.6, "generator": "recorded for tests", "elements": elements}


class _Service(BaseHTTPRequestHandler):
    overpass: dict = {}
    polygon: dict = {}
    hits: list[str] = []
    fail: int = 0
    busy: int = 0  # answer this many Overpass queries with 429 Too Many Requests first
    busy_search: int = 0  # the same for Nominatim searches
    status_code: int = 200  # of Overpass's status page

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, code: int, body: str, ctype: str = "application/json") -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.hits.append("GET " + self.path)
        url = urllib.parse.urlparse(self.path)
        if url.path.endswith("/status") and type(self).status_code != 200:
            self._send(type(self).status_code, "<html>busy</html>", "text/html")
        elif url.path.endswith("/search") and type(self).busy_search > 0:
            type(self).busy_search -= 1
            self._send(429, "[]")
        elif url.path.endswith("/status"):
            self._send(200, "Connected as: 1\nCurrent time: 2026-11-25T00:00:00Z\n"
                            "Rate limit: 2\n2 slots available now.\nCurrently running queries:\n",
                       "text/plain")
        elif url.path.endswith("/search"):
            q = urllib.parse.parse_qs(url.query).get("q", [""])[0]
            if q != PLACE:
                self._send(200, "[]")
                return
            x0, y0, x1, y1 = shapely.geometry.shape(self.polygon).bounds
            self._send(200, json.dumps([{
                "place_id": 1, "licence": "test", "osm_type": "relation", "osm_id": 4389473,
                "lat": str((y0 + y1) / 2), "lon": str((x0 + x1) / 2),
                "boundingbox": [str(y0), str(y1), str(x0), str(x1)], "class": "boundary",
                "type": "administrative", "place_rank": 12, "importance": 0.6,
                "addresstype": "city", "name": "温岭市", "display_name": PLACE,
                "geojson": self.polygon}], ensure_ascii=False))
        else:
            self._send(404, "{}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = urllib.parse.unquote_plus(self.rfile.read(length).decode("utf-8"))
        self.hits.append("POST " + self.path + " " + body[:200])
        if type(self).fail:
            self._send(type(self).fail, json.dumps({"remark": "runtime error: test failure"}))
        elif type(self).busy > 0:
            type(self).busy -= 1
            self._send(429, json.dumps({"remark": "rate limited"}))
        elif self.path.endswith("/interpreter"):
            self._send(200, json.dumps(self.overpass))
        else:
            self._send(404, "{}")


@pytest.fixture(scope="module")
def service():
    data = _overpass_json(OSM)
    lon = [e["lon"] for e in data["elements"] if e["type"] == "node"]
    lat = [e["lat"] for e in data["elements"] if e["type"] == "node"]
    box = shapely.box(min(lon) - 0.01, min(lat) - 0.01, max(lon) + 0.01, max(lat) + 0.01)
    _Service.overpass, _Service.polygon = data, shapely.geometry.mapping(box)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", box
    server.shutdown()
    server.server_close()


@pytest.fixture
def osmnx_offline(service, monkeypatch):
    """Point osmnx at the local server; any request elsewhere fails the test."""
    url, box = service
    monkeypatch.setattr(ox.settings, "overpass_url", url + "/api")
    monkeypatch.setattr(ox.settings, "nominatim_url", url + "/")
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", False)
    monkeypatch.setattr(ox.settings, "requests_timeout", 10)
    import requests

    real = requests.Session.request

    def only_local(self, method, url, *args, **kwargs):
        assert str(url).startswith("http://127.0.0.1"), f"network access to {url}"
        return real(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", only_local)
    _Service.hits.clear()
    _Service.fail = _Service.busy = _Service.busy_search = 0
    _Service.status_code = 200
    return url, box


def _same_graph(a, b):
    assert set(a.nodes) == set(b.nodes)
    assert set(a.edges(keys=True)) == set(b.edges(keys=True))
    for u, v, k, d in a.edges(keys=True, data=True):
        assert b.edges[u, v, k]["length"] == pytest.approx(d["length"], abs=1e-6)


def test_place_download_equals_the_file_and_is_cached(osmnx_offline, tmp_path):
    G = download_graph(place=PLACE, cache_dir=tmp_path)
    _same_graph(G, graph_from_file(OSM))
    searches = [h for h in _Service.hits if "/search" in h]
    assert searches and urllib.parse.quote("温岭市") in searches[0]
    assert any(h.startswith("POST /api/interpreter") for h in _Service.hits)
    n = len(_Service.hits)
    download_graph(place=PLACE, cache_dir=tmp_path)  # osmnx's HTTP cache: no new request
    assert len(_Service.hits) == n


def test_network_download_is_cached_as_arrays(osmnx_offline, tmp_path):
    net = download_network(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path)
    ref = load_network(OSM)
    assert net.n_edges == ref.n_edges
    assert np.isclose(np.sort(net.edge_length_m), np.sort(ref.edge_length_m)).all()
    _Service.hits.clear()
    again = download_network(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path)
    assert _Service.hits == [] and again.n_edges == net.n_edges


def test_service_errors_become_clear_network_errors(osmnx_offline, tmp_path):
    _Service.fail = 500
    with pytest.raises(NetworkError, match="could not download the streets.*Offline"):
        download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path)
    with pytest.raises(NetworkError, match="Nominatim"):
        download_graph(place="no such place", cache_dir=tmp_path)


def test_a_busy_service_is_retried_a_bounded_number_of_times(osmnx_offline, monkeypatch,
                                                            tmp_path):
    # osmnx waits 55 s after a 429 and asks again, without limit; we stop after
    # settings.download_busy_retries (3) retries. The waits are recorded, not slept.
    import types

    from eldercare_coverage import settings

    waits: list[float] = []
    monkeypatch.setattr(ox._overpass, "time", types.SimpleNamespace(sleep=waits.append))
    kwargs_before = dict(ox.settings.requests_kwargs)
    _Service.busy = 3  # busy three times, then an answer: retried, the same graph
    _same_graph(download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path / "a"),
                graph_from_file(OSM))
    assert waits.count(55) == 3
    posts = [h for h in _Service.hits if h.startswith("POST /api/interpreter")]
    assert len(posts) == 4
    _Service.hits.clear()
    waits.clear()
    _Service.busy = 100  # busy for good: four questions, three waits, a clear error
    with pytest.raises(NetworkError, match=r"429 Too Many Requests.*busy.*3 retries.*"
                                           r"Try again later.*--network"):
        download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path / "b")
    assert len([h for h in _Service.hits if h.startswith("POST /api/interpreter")]) == 4
    assert waits.count(55) == 3
    assert ox.settings.requests_kwargs == kwargs_before  # the hook is gone again
    monkeypatch.setattr(settings, "download_busy_retries", 0)
    _Service.hits.clear()
    with pytest.raises(NetworkError, match="busy"):
        download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path / "c")
    assert len([h for h in _Service.hits if h.startswith("POST /api/interpreter")]) == 1


def test_busy_answers_are_counted_per_request_and_not_on_the_status_page(
        osmnx_offline, monkeypatch, tmp_path):
    # one retry allowed: a place download whose Nominatim search and Overpass query are
    # each busy once goes through (two requests, one retry each); a busy status page,
    # which osmnx only reads to pace itself, is no busy answer even with no retries
    import types

    from eldercare_coverage import settings

    waits: list[float] = []
    monkeypatch.setattr(ox._overpass, "time", types.SimpleNamespace(sleep=waits.append))
    monkeypatch.setattr(ox._nominatim, "time", types.SimpleNamespace(sleep=waits.append))
    monkeypatch.setattr(settings, "download_busy_retries", 1)
    _Service.busy_search, _Service.busy = 1, 1
    _same_graph(download_graph(place=PLACE, cache_dir=tmp_path / "a"), graph_from_file(OSM))
    assert len([h for h in _Service.hits if "/search" in h]) == 2
    assert len([h for h in _Service.hits if h.startswith("POST /api/interpreter")]) == 2
    monkeypatch.setattr(settings, "download_busy_retries", 0)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", True)
    _Service.status_code = 504
    _same_graph(download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path / "b"),
                graph_from_file(OSM))
    assert any(h.startswith("GET /api/status") for h in _Service.hits)


def test_a_users_own_response_hooks_keep_running(osmnx_offline, monkeypatch, tmp_path):
    seen: list[int] = []

    def mine(response, *args, **kwargs):
        seen.append(response.status_code)

    monkeypatch.setattr(ox.settings, "requests_kwargs", {"hooks": {"response": (mine,)}})
    download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path)
    assert seen == [200]  # the Overpass query (rate limiting is off in these tests)
    assert ox.settings.requests_kwargs == {"hooks": {"response": (mine,)}}


def test_unreachable_service_says_offline(osmnx_offline, monkeypatch, tmp_path):
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")  # discard port
    with pytest.raises(NetworkError, match="Offline\\? Download an extract"):
        download_graph(bbox=(121.2, 28.2, 121.6, 28.6), cache_dir=tmp_path)


def test_bad_queries_are_explained():
    with pytest.raises(NetworkError, match="exactly one of place, polygon, bbox"):
        download_graph(place=PLACE, bbox=(1, 2, 3, 4))
    with pytest.raises(NetworkError, match="west,south,east,north"):
        download_graph(bbox=(121.6, 28.2, 121.2, 28.6))


def test_cli_run_with_place(osmnx_offline, tmp_path, capsys):
    argv = ["run", "--place", PLACE, "--facilities", str(DATA / "facilities" /
            "demo_facilities.csv"), "--population", str(DATA / "population" /
            "demo_elderly_60plus.tif"), "--out", str(tmp_path / "out"), "--no-progress",
            "--no-map", "--no-rings", "--circles", "home_500m", "--cache-dir", str(tmp_path)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["network"]["source"].startswith("OpenStreetMap")
    assert summary["circles"][0]["name"] == "home_500m"
    assert main([*argv[:1], "--bbox", "1,2,3", *argv[3:]]) == 2
    assert "expected four numbers" in capsys.readouterr().err
