"""Site selection on the demo county, held to what a new run measures: the sites chosen for
walk_1500m, appended to the facility table as they are read back from sites.csv, give the
promised coverage; each candidate's reach is the field's own (FacilityReach with that
candidate alone); a scenario that closes a facility loses exactly what a run without it
loses; a GCJ-02 candidate file is converted."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eldercare_coverage import run
from eldercare_coverage.candidates import read_candidates
from eldercare_coverage.chinese_crs import wgs84_to_gcj02
from eldercare_coverage.demo import write_demo_inputs
from eldercare_coverage.field import FacilityReach
from eldercare_coverage.site_models import SiteSelectionError
from eldercare_coverage.site_outputs import sites_to_facilities, write_sites
from eldercare_coverage.siting import select_sites

CIRCLE = "walk_1500m"
LIMIT_M = 1500.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_demo_inputs(tmp_path_factory.mktemp("demo-inputs"))


def _run(inputs, facilities):
    result = run(inputs.network, facilities, inputs.population, inputs.boundaries,
                 circles=[CIRCLE], progress=False)
    return next(c for c in result.summary["circles"] if c["name"] == CIRCLE), result


@pytest.fixture(scope="module")
def demo(inputs):
    return _run(inputs, inputs.facilities)[1]


@pytest.fixture(scope="module")
def chosen(demo):
    return select_sites(demo, 5, circle=CIRCLE)


def _with_rows(inputs, tmp_path, rows: pd.DataFrame, drop: tuple[str, ...] = ()) -> str:
    """The demo facility CSV with ``rows`` appended and the ids ``drop`` left out."""
    table = pd.read_csv(inputs.facilities, dtype=str)
    table = pd.concat([table[~table["id"].isin(drop)], rows.astype(str)], ignore_index=True)
    path = tmp_path / "facilities.csv"
    table.to_csv(path, index=False)
    return str(path)


def _read_back(selection, tmp_path) -> pd.DataFrame:
    """The chosen sites as facility CSV rows, with lon/lat as written in sites.csv."""
    paths = write_sites(selection, tmp_path / "sites")
    sites = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype={"candidate_id": str})
    rows = pd.DataFrame(sites_to_facilities(selection))
    rows = rows.rename(columns={"facility_id": "id"})[["id", "name", "type"]]
    rows["lon"], rows["lat"] = sites["lon"].to_numpy(), sites["lat"].to_numpy()
    return rows


def test_chosen_sites_give_the_promised_coverage_in_a_new_run(inputs, chosen, tmp_path):
    assert len(chosen.sites) == 5
    assert chosen.gap <= 1e-4
    assert chosen.rate_after > chosen.rate_before
    measured, _ = _run(inputs, _with_rows(inputs, tmp_path, _read_back(chosen, tmp_path)))
    assert measured["coverage_rate"] == pytest.approx(chosen.rate_after, rel=1e-9)
    assert measured["elderly_covered"] == pytest.approx(chosen.elderly_after, rel=1e-9)


def test_sites_are_ranked_by_what_they_add(chosen):
    sites = chosen.sites
    gains = sites["elderly_newly_covered"].to_numpy()
    assert sites["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (np.diff(gains) <= 1e-9).all()
    assert gains.sum() == pytest.approx(chosen.objective, rel=1e-12)
    assert sites["coverage_rate_cumulative"].iat[-1] == pytest.approx(chosen.rate_after)
    assert (sites["town"] != "").all() and (sites["village"] != "").all()
    assert sites.crs.to_epsg() == 4326


def test_candidate_reach_is_the_field_of_that_candidate_alone(demo, chosen):
    state = demo.meta["state"]
    pixels = state.population.pixels
    problem = chosen.problem
    cands = problem.candidates
    rng = np.random.default_rng(7)
    sample = np.concatenate([chosen.solution.chosen[:2],
                             rng.choice(len(cands), size=6, replace=False)])
    universe = np.zeros(len(pixels.cell_of), dtype=bool)
    universe[problem.pixels] = True
    for j in sample:
        cost, _ = FacilityReach(state.prepared.network, cands.locations, np.array([j])).at(
            pixels.locations)
        mine = np.zeros(len(pixels.cell_of), dtype=bool)
        mine[problem.pixels[problem._columns("c", np.array([j]))[0]]] = True
        assert np.array_equal(mine, universe & (cost <= LIMIT_M)), j
        # no pixel within a micrometre of the limit, where rounding could decide
        assert not (universe & (np.abs(cost - LIMIT_M) < 1e-6)).any()
        # the model's matrix is the same on the unserved pixels
        unserved = problem.unserved_cover[:, j].toarray().ravel()
        assert np.array_equal(unserved, mine[problem.pixels[~problem.served]])


def test_evaluator_without_changes_is_the_run(demo, chosen):
    row = next(c for c in demo.summary["circles"] if c["name"] == CIRCLE)
    now = chosen.problem.evaluate()
    assert now["coverage_rate"] == pytest.approx(row["coverage_rate"], rel=1e-12)
    assert now["elderly_covered"] == pytest.approx(row["elderly_covered"], rel=1e-12)
    added = chosen.problem.evaluate(open_candidates=chosen.sites["candidate_id"])
    assert added["coverage_rate"] == pytest.approx(chosen.rate_after, rel=1e-12)
    assert added["seconds"] < 0.5


def test_closing_a_facility_loses_what_a_run_without_it_loses(inputs, demo, chosen, tmp_path):
    catch = demo.catchments[demo.catchments["circle"] == CIRCLE]
    busiest = str(catch.sort_values("elderly_covered")["facility_id"].iat[-1])
    scenario = chosen.problem.evaluate(closed_facilities=[busiest])
    measured, _ = _run(inputs, _with_rows(inputs, tmp_path, pd.DataFrame(), drop=(busiest,)))
    assert scenario["coverage_rate"] < chosen.rate_before
    assert scenario["elderly_covered"] == pytest.approx(measured["elderly_covered"], rel=1e-9)
    # closed, and the chosen sites built: the same as a run with both changes
    both = chosen.problem.evaluate(open_candidates=chosen.sites["candidate_id"],
                                   closed_facilities=[busiest])
    rows = _read_back(chosen, tmp_path)
    measured, _ = _run(inputs, _with_rows(inputs, tmp_path, rows, drop=(busiest,)))
    assert both["elderly_covered"] == pytest.approx(measured["elderly_covered"], rel=1e-9)
    assert both["seconds"] < 0.5


def test_a_gcj02_candidate_file_is_converted(demo, chosen, tmp_path):
    best = chosen.sites.iloc[0]
    lon, lat = wgs84_to_gcj02(float(best["lon"]), float(best["lat"]))
    assert abs(lon - best["lon"]) + abs(lat - best["lat"]) > 1e-3  # GCJ-02 is hundreds of m off
    path = tmp_path / "plots.csv"
    pd.DataFrame({"编号": ["P1", "P2"], "名称": ["闲置校舍", "规划地块"],
                  "经度": [lon, float(chosen.sites.iloc[1]["lon"])],
                  "纬度": [lat, float(chosen.sites.iloc[1]["lat"])], "容量": [300, 80]}
                 ).to_csv(path, index=False, encoding="utf-8-sig")
    table = read_candidates(path, crs="gcj02")
    assert table["candidate_id"].tolist() == ["P1", "P2"]
    assert table["lon"].iat[0] == pytest.approx(best["lon"], abs=2e-6)
    assert table["lat"].iat[0] == pytest.approx(best["lat"], abs=2e-6)
    assert table["capacity"].tolist() == [300.0, 80.0]
    one = select_sites(demo, 1, circle=CIRCLE, candidates=path, candidates_crs="gcj02")
    assert one.sites["candidate_id"].tolist() == ["P1"]  # the best street site, read back
    assert one.objective == pytest.approx(chosen.sites["elderly_newly_covered"].iat[0],
                                          rel=1e-3)
    capped = select_sites(demo, 1, circle=CIRCLE, model="capacity", candidates=path,
                          candidates_crs="gcj02", problem=one.problem)
    assert capped.objective == pytest.approx(300.0)


def test_set_covering_reaches_its_target(demo, chosen):
    target = chosen.rate_before + 0.5 * (chosen.rate_after - chosen.rate_before)
    lscp = select_sites(demo, circle=CIRCLE, model="lscp", target=target,
                        problem=chosen.problem)
    assert lscp.rate_after >= target
    assert 1 <= len(lscp.sites) <= 5  # five sites reach the whole way, so fewer reach half
    assert lscp.gap <= 1e-4
    with pytest.raises(SiteSelectionError, match="cannot be reached"):
        select_sites(demo, circle=CIRCLE, model="lscp", target=1.0, problem=chosen.problem)


def test_write_sites(chosen, tmp_path):
    paths = write_sites(chosen, tmp_path)
    assert paths["csv"].read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    sites = pd.read_csv(paths["csv"], encoding="utf-8-sig")
    for column in ("rank", "candidate_id", "lon", "lat", "lon_gcj02", "lat_gcj02", "town",
                   "village", "elderly_newly_covered", "coverage_rate_cumulative"):
        assert column in sites.columns
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    assert summary["model"] == "mclp" and summary["circle"] == CIRCLE and summary["k"] == 5
    assert summary["coverage_rate_after"] == pytest.approx(chosen.rate_after)
    assert summary["candidates"]["by_origin"]["streets"] == len(chosen.problem.candidates)
    assert summary["candidates"]["spacing_m"] == 200.0
    geo = json.loads(paths["geojson"].read_text(encoding="utf-8"))
    assert len(geo["features"]) == 5


def test_delivery_circle_sites_are_measured_on_the_delivery_network(inputs, tmp_path):
    """A class-bound delivery circle (seconds on the directed network, urban cells only):
    the candidates' reach is the delivery field's, and a new run measures the promise."""
    circle = "meal_urban_15min"
    result = run(inputs.network, inputs.facilities, inputs.population, inputs.boundaries,
                 circles=[circle], progress=False)
    sel = select_sites(result, 2, circle=circle, spacing_m=400.0)
    problem = sel.problem
    mode = result.meta["state"].modes["delivery"]
    pixels = result.meta["state"].population.located("delivery")[1]
    for j in np.random.default_rng(3).choice(len(problem.candidates), size=4, replace=False):
        cost, _ = FacilityReach(mode.prepared.network, problem.candidates.locations,
                                np.array([j]), costs=mode.costs).at(pixels.locations)
        mine = np.zeros(len(cost), dtype=bool)
        mine[problem.pixels[problem._columns("c", np.array([j]))[0]]] = True
        universe = np.zeros(len(cost), dtype=bool)
        universe[problem.pixels] = True
        assert np.array_equal(mine, universe & (cost <= problem.limit_cost)), j
    rows = _read_back(sel, tmp_path)
    after = run(inputs.network, _with_rows(inputs, tmp_path, rows), inputs.population,
                inputs.boundaries, circles=[circle], progress=False)
    measured = next(c for c in after.summary["circles"] if c["name"] == circle)
    assert measured["coverage_rate"] == pytest.approx(sel.rate_after, rel=1e-9)


def test_a_gcj02_geojson_candidate_file_is_converted(tmp_path):
    import geopandas as gpd

    from eldercare_coverage.chinese_crs import gcj02_to_wgs84

    lon, lat = np.array([121.3712, 121.3801]), np.array([28.3731, 28.3655])
    path = tmp_path / "plots.geojson"
    gpd.GeoDataFrame({"name": ["闲置校舍", "规划地块"], "beds": [30, 12]},
                     geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_file(path)
    table = read_candidates(path, crs="gcj02")
    want_lon, want_lat = gcj02_to_wgs84(lon, lat)
    assert np.allclose(table["lon"], want_lon, atol=1e-9)
    assert np.allclose(table["lat"], want_lat, atol=1e-9)
    assert table["beds"].tolist() == [30.0, 12.0]
    assert table["candidate_id"].tolist() == ["C1", "C2"]


def test_capacity_promises_coverage_and_serves_within_capacity(demo, chosen):
    """The capacity model's objective is the people served; its promise is coverage:
    everyone the ranked sites reach, as the evaluator (and a new run) counts them."""
    sel = select_sites(demo, 3, circle=CIRCLE, model="capacity", capacity=200.0,
                       problem=chosen.problem)
    served = sel.sites["elderly_served"].to_numpy(float)
    assert (served <= 200.0 + 1e-6).all() and sel.objective == pytest.approx(served.sum())
    ids = sel.sites["candidate_id"].tolist()
    for r in range(1, len(ids) + 1):
        want = chosen.problem.evaluate(open_candidates=ids[:r])
        assert sel.sites["coverage_rate_cumulative"].iat[r - 1] == pytest.approx(
            want["coverage_rate"], rel=1e-12)
    assert sel.elderly_after == pytest.approx(
        chosen.problem.evaluate(open_candidates=ids)["elderly_covered"], rel=1e-12)
    assert sel.elderly_after - sel.elderly_before >= served.sum() - 1e-6
    assert sel.summary()["elderly_served"] == pytest.approx(served.sum())


def test_towns_are_found_when_the_run_writes_a_projected_crs(demo, chosen):
    from types import SimpleNamespace

    from eldercare_coverage.siting import _units_at

    lon, lat = chosen.sites["lon"].to_numpy(float), chosen.sites["lat"].to_numpy(float)
    want = _units_at(SimpleNamespace(units=demo.units.to_crs(4326)), lon, lat)
    assert all(want[0]) and all(want[1])  # every demo site lies in a town and a village
    got = _units_at(SimpleNamespace(units=demo.units.to_crs("EPSG:32651")), lon, lat)
    assert got == want


def test_a_candidate_file_of_bare_points_is_read(demo, chosen, tmp_path):
    import geopandas as gpd

    lon, lat = chosen.sites["lon"].to_numpy(float)[:2], chosen.sites["lat"].to_numpy(float)[:2]
    bare = tmp_path / "bare.geojson"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_file(bare)
    nameless = tmp_path / "nameless.gpkg"
    gpd.GeoDataFrame({"name": [None, "规划地块"]}, geometry=gpd.points_from_xy(lon, lat),
                     crs="EPSG:4326").to_file(nameless)
    for path, names in ((bare, ["", ""]), (nameless, ["", "规划地块"])):
        table = read_candidates(path)
        assert table["candidate_id"].tolist() == ["C1", "C2"]
        assert table["name"].tolist() == names
        np.testing.assert_allclose(table["lon"], lon, atol=1e-9)
        np.testing.assert_allclose(table["lat"], lat, atol=1e-9)
    one = select_sites(demo, 1, circle=CIRCLE, candidates=bare)
    assert one.sites["candidate_id"].tolist() == ["C1"]  # the best street site, read back


def test_an_empty_candidate_file_names_the_file_and_the_counts(tmp_path):
    from eldercare_coverage._errors import InputFileError

    header_only = tmp_path / "header_only.csv"
    header_only.write_text("name,lon,lat\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"header_only\.csv: no candidate sites: 0 data"):
        read_candidates(header_only)
    invalid = tmp_path / "invalid.csv"
    invalid.write_text("name,lon,lat\na,x,28.3\nb,121.3,200\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"invalid\.csv: no candidate sites: 2 data rows, "
                                             r"2 of them without valid coordinates"):
        read_candidates(invalid)


def test_a_circle_without_a_gap_says_so(demo, monkeypatch):
    from types import SimpleNamespace

    from eldercare_coverage.siting import siting_problem

    kind = type(demo.meta["state"].fields)
    of = kind.of

    def everyone_covered(self, sources, mode="walk"):  # every pixel within the limit
        reach, fld = of(self, sources, mode)
        return reach, SimpleNamespace(pixel_cost=np.zeros_like(fld.pixel_cost))

    monkeypatch.setattr(kind, "of", everyone_covered)
    with pytest.raises(SiteSelectionError, match="already covers every counted elderly"):
        siting_problem(demo, CIRCLE)


def test_a_facility_type_that_does_not_serve_the_circle_is_refused(demo, chosen):
    with pytest.raises(SiteSelectionError, match=r"'canteen' does not serve.*community_center"):
        select_sites(demo, 1, circle=CIRCLE, facility_type="canteen", problem=chosen.problem)
    ok = select_sites(demo, 1, circle=CIRCLE, facility_type="nursing_home",
                      problem=chosen.problem)
    assert ok.facility_type == "nursing_home"
