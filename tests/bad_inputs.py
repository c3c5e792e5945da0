"""The table of bad inputs: what a user gives, and the exact message the CLI prints.

Used by ``tests/test_bad_inputs.py`` (each case is run through ``eldercare-coverage
run``) and by ``scripts/bad_inputs_table.py`` (which writes ``docs/bad_inputs.md``).
Messages are written with ``{tmp}`` for the test's temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

DATA = Path(__file__).resolve().parents[1] / "data"
NET = DATA / "network" / "demo_county.osm"
FAC = DATA / "facilities" / "demo_facilities.csv"
POP = DATA / "population" / "demo_elderly_60plus.tif"
BND = DATA / "boundaries" / "demo_units.geojson"


@dataclass(frozen=True)
class Case:
    """One bad input: ``make(tmp)`` writes it and returns the argument overrides."""

    id: str
    kind: str
    given: str
    make: Callable[[Path], dict[str, str]]
    code: int
    lines: tuple[str, ...]
    extra: tuple[str, ...] = field(default=())


def _fac_lines() -> list[str]:
    return FAC.read_text(encoding="utf-8").splitlines()


def _csv(name: str, rows: list[str]) -> Callable[[Path], dict[str, str]]:
    def make(tmp: Path) -> dict[str, str]:
        (tmp / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
        return {"--facilities": str(tmp / name)}
    return make


def _text(option: str, name: str, content: str | bytes) -> Callable[[Path], dict[str, str]]:
    def make(tmp: Path) -> dict[str, str]:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return {option: str(path)}
    return make


def _missing(option: str, name: str) -> Callable[[Path], dict[str, str]]:
    return lambda tmp: {option: str(tmp / name)}


def _gbk(tmp: Path) -> dict[str, str]:
    path = tmp / "gbk.csv"
    path.write_bytes(FAC.read_text(encoding="utf-8").encode("gb18030"))
    return {"--facilities": str(path)}


def _raster(name: str, values: float, west: float, north: float, crs: str | None):
    def make(tmp: Path) -> dict[str, str]:
        path = tmp / name
        with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1,
                           dtype="float32", crs=crs,
                           transform=Affine(1 / 1200, 0, west, 0, -1 / 1200, north)) as dst:
            dst.write(np.full((1, 2, 2), values, dtype="float32"))
        return {"--population": str(path)}
    return make


def _boundaries(name: str, edit: Callable[[dict], dict]) -> Callable[[Path], dict[str, str]]:
    def make(tmp: Path) -> dict[str, str]:
        g = json.loads(BND.read_text(encoding="utf-8"))
        (tmp / name).write_text(json.dumps(edit(g), ensure_ascii=False), encoding="utf-8")
        return {"--boundaries": str(tmp / name)}
    return make


def _bad_code(g: dict) -> dict:
    g["features"][1]["properties"]["urban_rural_code"] = 999
    return g


def _points(g: dict) -> dict:
    g["features"] = [dict(f, geometry={"type": "Point", "coordinates": [121.37, 28.37]})
                     for f in g["features"][:3]]
    return g


L = _fac_lines()
HEAD, ROW = L[0], L[1]
REST = L[2:5]
NOWALK = ("<?xml version='1.0'?><osm version='0.6'>"
          "<node id='1' lat='28.37' lon='121.37'/><node id='2' lat='28.38' lon='121.37'/>"
          "<way id='1'><nd ref='1'/><nd ref='2'/><tag k='highway' v='motorway'/></way></osm>")
POLICY = ("name,mode,limit,unit,facility_kinds,unit_classes,target_rate,label_zh,label_en,"
          "source\nwalk_x,walk,-5,m,care,all,,,,\n")
EXCLUDED_ONE = "warning: {tmp}/%s: 1 of 4 facility rows excluded:"

CASES: tuple[Case, ...] = (
    # --- facilities -------------------------------------------------------------------
    Case("fac-missing", "facilities", "a facility file that does not exist",
         _missing("--facilities", "missing.csv"), 2,
         ("error: {tmp}/missing.csv: facility file not found",)),
    Case("fac-empty", "facilities", "an empty CSV", _text("--facilities", "empty.csv", ""), 2,
         ("error: {tmp}/empty.csv: the facility file is empty",)),
    Case("fac-no-coords", "facilities", "a CSV without coordinate columns",
         _text("--facilities", "nocoords.csv", "id,name,type\nA,甲,nursing_home\n"), 2,
         ("error: {tmp}/nocoords.csv: no column for lon, lat; columns found: ['id', 'name', "
          "'type']; accepted names: lon (lon, lng, longitude, 经度, x); lat (lat, latitude, 纬度,"
          " y); or pass columns={'lon': '<column in your file>'}",)),
    Case("fac-non-numeric", "facilities", "a letter l for a digit 1 in a longitude",
         _csv("badnum.csv", [HEAD, ROW.replace("121.371396", "12l.371396"), *REST]), 0,
         (EXCLUDED_ONE % "badnum.csv",
          "  row 2: non-numeric coordinates (lon='12l.371396', lat='28.372997')")),
    Case("fac-missing-coords", "facilities", "a planned facility with blank lon/lat",
         _csv("blank.csv", [HEAD, "F001,规划中心,county_center,,,,", *REST]), 0,
         (EXCLUDED_ONE % "blank.csv", "  row 2: missing coordinates")),
    Case("fac-swapped", "facilities", "latitude in the lon column and longitude in the lat "
         "column", _csv("swapped.csv",
                        [HEAD, "F001,县级中心,county_center,28.372997,121.371396,,", *REST]), 0,
         (EXCLUDED_ONE % "swapped.csv",
          "  row 2: lon/lat look swapped (28.372997, 121.371396); did you mean lon=121.371396, "
          "lat=28.372997?")),
    Case("fac-duplicate-id", "facilities", "the same id twice",
         _csv("dupid.csv", [HEAD, ROW, ROW, *REST]), 0,
         ("warning: {tmp}/dupid.csv: 1 of 5 facility rows excluded:",
          "  row 3: duplicate facility_id 'F001' (first at row 2)")),
    Case("fac-unknown-type", "facilities", "a type the policy does not know ('hospital')",
         _csv("type.csv", [HEAD, ROW.replace("county_center", "hospital"), *REST]), 0,
         (EXCLUDED_ONE % "type.csv",
          "  row 2: unknown type 'hospital'; allowed: county_center, town_center, "
          "community_center, nursing_home, central_kitchen, canteen, meal_point (or their "
          "Chinese labels/aliases)")),
    Case("fac-strict", "facilities", "a bad row with --strict",
         _csv("strict.csv", [HEAD, ROW.replace("121.371396", "12l.371396"), *REST]), 2,
         ("error: {tmp}/strict.csv: 1 of 4 facility rows are invalid:",
          "  row 2: non-numeric coordinates (lon='12l.371396', lat='28.372997')"),
         extra=("--strict",)),
    Case("fac-gbk", "facilities", "a GBK-encoded CSV, as Chinese offices export (read fine)",
         _gbk, 0, ("warning: {tmp}/gbk.csv: 1 of 65 facility rows excluded:",
                   "  row 66: missing coordinates")),
    Case("fac-undecodable", "facilities", "a binary file named .csv",
         _text("--facilities", "binary.csv", bytes(range(256)) * 4), 2,
         ("error: {tmp}/binary.csv: cannot decode the file as utf-8-sig or gb18030; save it "
          "as UTF-8 or pass encoding=... (the --encoding option)",)),
    # --- network ----------------------------------------------------------------------
    Case("net-missing", "network", "a network file that does not exist",
         _missing("--network", "missing.osm"), 2,
         ("error: {tmp}/missing.osm: network file does not exist",)),
    Case("net-format", "network", "a shapefile as the network",
         _text("--network", "roads.shp", "x"), 2,
         ("error: {tmp}/roads.shp: unknown network format '.shp'; expected one of .osm, .xml, "
          ".osm.bz2, .osm.gz, .xml.bz2, .xml.gz, .osm.pbf, .pbf, .graphml",)),
    Case("net-corrupt-xml", "network", "a truncated OSM XML download",
         _text("--network", "cut.osm", "<osm><node id='1' lat='28' lon='121'></osm"), 2,
         ("error: {tmp}/cut.osm: cannot read OSM XML (ParseError: unclosed token: line 1, "
          "column 37)",)),
    Case("net-corrupt-pbf", "network", "a damaged PBF",
         _text("--network", "bad.osm.pbf", b"\x00\x00\x00\x0dgarbage" * 10), 2,
         ("error: {tmp}/bad.osm.pbf: cannot read OSM PBF (unknown pbf field type exception); "
          "is the file complete? Download it again or check it with `osmium fileinfo`",)),
    Case("net-no-walk", "network", "an OSM file with only a motorway",
         _text("--network", "motorway.osm", NOWALK), 2,
         ("error: {tmp}/motorway.osm: no street in the file can be used for 'walk'",)),
    # --- population -------------------------------------------------------------------
    Case("pop-missing", "population", "a raster that does not exist",
         _missing("--population", "missing.tif"), 2,
         ("error: {tmp}/missing.tif: population raster not found",)),
    Case("pop-no-crs", "population", "a GeoTIFF without a CRS",
         _raster("nocrs.tif", 1.0, 121.37, 28.37, None), 2,
         ("error: {tmp}/nocrs.tif: the raster has no CRS; set one (WorldPop grids are "
          "EPSG:4326), e.g. with `gdal_edit.py -a_srs EPSG:4326`",)),
    Case("pop-negative", "population", "-1 used as 'no data' without declaring it",
         _raster("neg.tif", -1.0, 121.37, 28.37, "EPSG:4326"), 2,
         ("error: {tmp}/neg.tif: 4 cell(s) hold negative people counts (lowest -1); counts "
          "cannot be negative. If they mark missing data, declare that value as the raster's "
          "nodata (`gdal_edit.py -a_nodata VALUE`)",)),
    Case("pop-elsewhere", "population", "a grid of another place (Beijing)",
         _raster("beijing.tif", 1.0, 116.4, 39.9, "EPSG:4326"), 2,
         ("error: beijing.tif (band 1): no populated cell lies within 500 m of a walkable "
          "street: the grid (bounds 116.4000, 39.8983, 116.4017, 39.9000) does not cover the "
          "street network (bounds 121.2663, 28.3067, 121.4665, 28.4503). Check that both files "
          "are for the same place",)),
    # --- boundaries -------------------------------------------------------------------
    Case("bnd-missing", "boundaries", "a boundary file that does not exist",
         _missing("--boundaries", "missing.geojson"), 2,
         ("error: {tmp}/missing.geojson: boundary file not found",)),
    Case("bnd-code", "boundaries", "urban-rural code 999",
         _boundaries("code.geojson", _bad_code), 2,
         ("error: {tmp}/code.geojson: invalid urban-rural code(s) in column 'urban_rural_code':"
          " row 2 (unit_id '331099001001'): 999. Expected the official 3-digit code: 1xx urban "
          "(111, 112, 121, 122, 123) or 2xx rural (210, 220)",)),
    Case("bnd-points", "boundaries", "village points instead of polygons",
         _boundaries("points.geojson", _points), 2,
         ("error: {tmp}/points.geojson: units must be polygons, found ['Point']",)),
    # --- policy -----------------------------------------------------------------------
    Case("policy-unknown-circle", "policy", "--circles walk_2km (no such circle)",
         lambda tmp: {}, 2,
         ("error: no circle 'walk_2km'; circles are ['walk_1500m', 'walk_15min', 'walk_20min', "
          "'home_500m', 'meal_urban_15min', 'meal_rural_30min', 'meal_walk_15min']",),
         extra=("--circles", "walk_2km")),
    Case("policy-bad-limit", "policy", "a circles table with a negative limit",
         lambda tmp: (tmp / "circles.csv").write_text(POLICY, encoding="utf-8") and {}, 2,
         ("error: {tmp}/circles.csv row 2: circle 'walk_x': limit was -5.0 but must be a "
          "positive number",), extra=("--policy", "{tmp}/circles.csv")),
)
