"""``eldercare-coverage sites`` on the demo county, read back from its files: sites.csv
holds the contract's columns, ranked, with GCJ-02 coordinates that a separate conversion
gives again; the promised rate is the one a new run measures; sites.geojson holds the
same points; sites_map.html needs no internet, defines every layer before the layer
control names it, names the new sites, and draws them in a browser without an error.
The models' options: ``lscp`` reaches its target with the fewest sites, ``mclp`` without
``--k`` is a usage error (and so is a number of another model), and a GCJ-02 candidate
file is chosen from (and drawn in GCJ-02 on AMap)."""

from __future__ import annotations

import json
import os
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from eldercare_coverage.chinese_crs import wgs84_to_gcj02
from eldercare_coverage.cli import main
from eldercare_coverage.demo import write_demo_inputs
from eldercare_coverage.site_models import PROVEN_BY_BOUND

pytestmark = pytest.mark.slow

CIRCLE = "walk_1500m"
SITE_COLUMNS = ["rank", "candidate_id", "lon", "lat", "lon_gcj02", "lat_gcj02", "town",
                "village", "elderly_newly_covered", "coverage_rate_cumulative"]
CLAIM_TOLERANCE = 0.005  # relative: the command's own limit between promised and measured
TARGET = 0.85


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("demo-inputs"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("network-cache")


def _sites(inputs, cache_dir, out, *options: str) -> int:
    """``eldercare-coverage sites`` on the demo inputs, quiet, into ``out``."""
    return main(["sites", "--network", str(inputs.network),
                 "--facilities", str(inputs.facilities),
                 "--population", str(inputs.population),
                 "--boundaries", str(inputs.boundaries),
                 "--cache-dir", str(cache_dir), "--out", str(out), "-q", *options])


def _read(out):
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig", dtype={"candidate_id": str})
    summary = json.loads((out / "sites_summary.json").read_text(encoding="utf-8"))
    return sites, summary


@pytest.fixture(scope="module")
def three(inputs, cache_dir, tmp_path_factory):
    """The default model (mclp) with three sites: its folder, sites.csv and summary."""
    out = tmp_path_factory.mktemp("sites-k3")
    assert _sites(inputs, cache_dir, out, "--k", "3") == 0
    return (out, *_read(out))


def test_sites_csv_holds_the_ranked_sites(three):
    _, sites, summary = three
    assert [c for c in SITE_COLUMNS if c not in sites.columns] == []
    assert len(sites) == 3 and sites["rank"].tolist() == [1, 2, 3]
    gains = sites["elderly_newly_covered"].to_numpy()
    assert (gains > 0).all() and (np.diff(gains) <= 1e-9).all()
    # the cumulative rate climbs from the rate before by what each site adds
    counted = summary["elderly_counted"]
    expected = summary["coverage_rate_before"] + np.cumsum(gains) / counted
    np.testing.assert_allclose(sites["coverage_rate_cumulative"], expected, rtol=1e-9)
    assert summary["model"] == "mclp" and summary["circle"] == CIRCLE and summary["k"] == 3
    assert sites["town"].notna().all() and sites["village"].notna().all()  # boundaries given


def test_gcj02_columns_are_the_conversion_of_lon_lat(three):
    _, sites, _ = three
    lon, lat = wgs84_to_gcj02(sites["lon"].to_numpy(float), sites["lat"].to_numpy(float))
    np.testing.assert_allclose(sites["lon_gcj02"], lon, atol=2e-7)
    np.testing.assert_allclose(sites["lat_gcj02"], lat, atol=2e-7)
    # GCJ-02 is some hundreds of metres off WGS-84 here: the columns are not a copy
    assert (np.abs(sites["lon_gcj02"] - sites["lon"]) > 1e-3).all()


def test_the_promised_rate_is_the_measured_one(three, capsys):
    _, sites, summary = three
    promised = summary["coverage_rate_after"]
    assert sites["coverage_rate_cumulative"].iat[-1] == pytest.approx(promised, rel=1e-12)
    assert summary["coverage_rate_measured_after"] == pytest.approx(
        promised, rel=CLAIM_TOLERANCE)
    assert promised > summary["coverage_rate_before"]
    assert summary["elderly_covered_measured_after"] == pytest.approx(
        summary["elderly_covered_after"], rel=CLAIM_TOLERANCE)


def test_sites_geojson_holds_the_same_points(three):
    out, sites, _ = three
    geo = gpd.read_file(out / "sites.geojson")
    assert geo.crs.to_epsg() == 4326
    assert len(geo) == 3 and (geo.geom_type == "Point").all()
    np.testing.assert_allclose(geo.geometry.x, sites["lon"], atol=1e-7)
    np.testing.assert_allclose(geo.geometry.y, sites["lat"], atol=1e-7)
    assert geo["candidate_id"].astype(str).tolist() == sites["candidate_id"].tolist()


def _external_addresses(html: str) -> list[str]:
    """http(s) addresses the page's script and link elements would load."""
    return re.findall(r"<script[^>]*\ssrc=[\"']?(https?:[^\"'\s>]+)", html, flags=re.I) + \
        re.findall(r"<link[^>]*\shref=[\"']?(https?:[^\"'\s>]+)", html, flags=re.I)


def _in_page(text: str, html: str) -> bool:
    """Whether ``text`` is in the page, as it is or as a JSON string (``\\uXXXX``)."""
    return text in html or json.dumps(text)[1:-1] in html


def test_sites_map_is_offline_and_names_the_new_sites(three):
    out, sites, summary = three
    html = (out / "sites_map.html").read_text(encoding="utf-8")
    assert _external_addresses(html) == []
    assert _in_page("新址 3 处（按新增覆盖排序）", html)  # the layer, Chinese by default
    assert _in_page("新址之前的服务圈（虚线）", html)
    # the legend: the rates before and after, and the measured one
    before, after = summary["coverage_rate_before"], summary["coverage_rate_after"]
    assert f"{100 * before:.1f} % → {100 * after:.1f} %" in html
    # every layer the control names is defined before the control's script runs
    control = re.search(r"var (layer_control_\w+)_layers = \{(.*?)\};", html, flags=re.S)
    assert control is not None
    layers = re.findall(r":\s*(\w+),", control.group(2))
    assert len(layers) >= 3
    for name in layers:
        defined = re.search(rf"\b(?:var|let|const) {name}\b", html)
        assert defined is not None and defined.start() < control.start(), name


def test_lscp_reaches_the_target_with_the_fewest_sites(inputs, cache_dir, tmp_path):
    out = tmp_path / "lscp"
    assert _sites(inputs, cache_dir, out, "--model", "lscp", "--target", str(TARGET),
                  "--no-map") == 0
    sites, summary = _read(out)
    assert summary["model"] == "lscp" and summary["target"] == TARGET
    assert summary["coverage_rate_after"] >= TARGET
    assert summary["coverage_rate_measured_after"] >= TARGET * (1 - CLAIM_TOLERANCE)
    assert len(sites) == summary["sites"] >= 1
    # the count is proven least: by HiGHS, or by the greedy count meeting the simple bound
    # (the fewest candidates whose reach, added up without overlap, meets the target)
    assert summary["solver"] == "highs" or summary["status"] == PROVEN_BY_BOUND
    assert summary["gap"] is not None and summary["gap"] <= 1e-4
    # without the last-ranked site the rest fall short: its people, from the summary
    counted = summary["elderly_counted"]
    without_last = (summary["elderly_covered_after"]
                    - sites["elderly_newly_covered"].iat[-1]) / counted
    assert without_last < TARGET
    if len(sites) > 1:
        assert sites["coverage_rate_cumulative"].iat[-2] == pytest.approx(without_last)


CAPACITY = 200.0


def test_capacity_promises_the_coverage_a_new_run_measures(inputs, cache_dir, tmp_path):
    """The capacity model's objective is people served within capacity; what it promises
    is the coverage rate, everyone the sites reach, which the new run measures."""
    out = tmp_path / "capacity"
    assert _sites(inputs, cache_dir, out, "--model", "capacity", "--k", "3",
                  "--capacity", str(CAPACITY), "--no-map") == 0
    sites, summary = _read(out)
    assert summary["model"] == "capacity" and len(sites) == 3
    assert summary["coverage_rate_measured_after"] == pytest.approx(
        summary["coverage_rate_after"], rel=CLAIM_TOLERANCE)
    served = sites["elderly_served"].to_numpy(float)
    assert (served <= CAPACITY + 1e-6).all() and (served >= 0).all()
    assert summary["objective"] == pytest.approx(served.sum())
    assert summary["elderly_served"] == pytest.approx(served.sum())
    # the cumulative rate is coverage: the rate before plus what each site newly reaches
    counted = summary["elderly_counted"]
    expected = summary["coverage_rate_before"] \
        + np.cumsum(sites["elderly_newly_covered"].to_numpy(float)) / counted
    np.testing.assert_allclose(sites["coverage_rate_cumulative"], expected, rtol=1e-9)
    assert sites["coverage_rate_cumulative"].iat[-1] == pytest.approx(
        summary["coverage_rate_after"], rel=1e-12)
    assert summary["gap"] is not None and summary["gap"] <= 1e-4


@pytest.mark.parametrize(("options", "named"), [
    (["--model", "mclp"], "--k"),
    (["--model", "capacity", "--capacity", "300"], "--k"),
    (["--model", "lscp", "--k", "2"], "--target"),
    (["--k", "2", "--target", "0.9"], "--target"),
    (["--k", "2", "--capacity", "300"], "--capacity"),
], ids=["mclp-without-k", "capacity-without-k", "lscp-with-k", "mclp-with-target",
        "mclp-with-capacity"])
def test_a_model_without_its_numbers_is_a_usage_error(inputs, cache_dir, tmp_path, capsys,
                                                      options, named):
    with pytest.raises(SystemExit) as stopped:
        _sites(inputs, cache_dir, tmp_path / "out", *options)
    assert stopped.value.code == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_gcj02_candidate_file_is_chosen_from(inputs, cache_dir, three, tmp_path):
    """Two candidates given in GCJ-02 at the first and the third site of the street
    candidates: with one site to place, the first is chosen, converted back to WGS-84,
    adding what it added there; on AMap its marker is drawn at its GCJ-02 point."""
    _, street, _ = three
    path = tmp_path / "plots.csv"
    name = "闲置校舍 <b>{{ 7*7 }}</b>"  # shown as written: neither HTML nor a template
    pd.DataFrame({"id": ["third", "first"], "name": ["规划地块", name],
                  "lon": [street["lon_gcj02"].iat[2], street["lon_gcj02"].iat[0]],
                  "lat": [street["lat_gcj02"].iat[2], street["lat_gcj02"].iat[0]]}
                 ).to_csv(path, index=False, encoding="utf-8-sig")
    out = tmp_path / "plots"
    assert _sites(inputs, cache_dir, out, "--k", "1", "--candidates", str(path),
                  "--candidates-crs", "gcj02", "--basemap", "amap") == 0
    sites, summary = _read(out)
    assert summary["candidates"]["total"] == 2
    assert summary["candidates"]["by_origin"] == {"file": 2}
    assert sites["candidate_id"].tolist() == ["first"]
    assert sites["lon"].iat[0] == pytest.approx(street["lon"].iat[0], abs=2e-6)
    assert sites["lat"].iat[0] == pytest.approx(street["lat"].iat[0], abs=2e-6)
    assert sites["elderly_newly_covered"].iat[0] == pytest.approx(
        street["elderly_newly_covered"].iat[0], rel=1e-3)
    assert sites["name"].tolist() == [name]
    html = (out / "sites_map.html").read_text(encoding="utf-8")
    assert "<b>{{" not in html and "7*7" in html  # escaped, and no template ran it
    marker = re.search(r'"points":\[\[([\d.]+),([\d.]+)\]\],"labels":\["1"\]', html)
    assert marker is not None
    assert float(marker.group(1)) == pytest.approx(sites["lat_gcj02"].iat[0], abs=2e-6)
    assert float(marker.group(2)) == pytest.approx(sites["lon_gcj02"].iat[0], abs=2e-6)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium of the browser tests (offline: outside host names fail)."""
    from tests.test_browser import Chromium, find_chromium

    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: in CI the browser checks must run")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI runs this test")
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


_SITES_PROBE = r"""
(() => {
  const labels = [...document.querySelectorAll('.leaflet-control-layers-overlays label')]
    .map(label => label.textContent.trim());
  const sites = [...document.querySelectorAll('.ec-label-marker')].map(icon => icon.textContent.trim());
  return {labels: labels, sites: sites,
          legend: document.getElementById('ec-legend').textContent};
})()
"""


def test_sites_map_draws_in_a_browser(three, browser):
    """The page runs without an error, draws the numbered sites and lists both new
    layers in the layer control (a layer defined after the control breaks it)."""
    from tests.test_browser import problems

    out, _, summary = three
    since = len(browser.events)
    browser.open(out / "sites_map.html")
    assert problems(browser.page_events(since)) == []
    drawn = browser.evaluate(_SITES_PROBE)
    assert drawn["sites"] == ["1", "2", "3"]
    assert "新址 3 处（按新增覆盖排序）" in drawn["labels"]
    assert any(label.startswith("新址之前的服务圈（虚线）") for label in drawn["labels"])
    assert f"{100 * summary['coverage_rate_measured_after']:.1f} %" in drawn["legend"]
