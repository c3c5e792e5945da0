"""Reading facility tables: formats, column mapping, coordinate systems, per-row validation."""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import numpy as np
import openpyxl
import pyproj
import pytest
import shapely

from eldercare_coverage._errors import InputFileError, InputRowError, NoCrsError
from eldercare_coverage.chinese_crs import (
    bd09_to_wgs84,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from eldercare_coverage.facilities import (
    FacilityRowWarning,
    format_crs_suggestion,
    match_facility_type,
    read_facilities,
    suggest_coordinate_system,
)

HEADER = ["id", "name", "type", "lon", "lat", "beds", "meals_per_day"]
GOOD = ["A", "城东街道居家养老服务中心", "town_center", "121.37", "28.37", "30", "120"]
ALLOWED = ("county_center, town_center, community_center, nursing_home, central_kitchen, "
           "canteen, meal_point")


def write_csv(path, rows, header=HEADER, encoding="utf-8"):
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def read_quiet(path, **kwargs):
    """Read a table whose rows are all valid (any warning would fail the test)."""
    return read_facilities(path, **kwargs)


# --------------------------------------------------------------------------- formats
CHINESE_HEADER = ["机构编号", "机构名称", "机构类型", "经度", "纬度", "床位数（张）", "日均供餐"]
CHINESE_ROWS = [
    ["F01", "温岭市城东街道居家养老服务中心", "镇街居家养老服务中心", "121.37", "28.37", "30", "200"],
    ["F02", "太平街道敬老院", "敬老院", "121.3812", "28.3755", "120", ""],
    ["F03", "东门社区日间照料中心", "照料中心", "121.365", "28.361", "", "50"],
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_with_chinese_headers_in_any_common_encoding(tmp_path, encoding):
    path = write_csv(tmp_path / "设施.csv", CHINESE_ROWS, CHINESE_HEADER, encoding=encoding)
    fac = read_quiet(path)
    assert fac["facility_id"].tolist() == ["F01", "F02", "F03"]
    assert fac["name"].tolist()[1] == "太平街道敬老院"
    assert fac["type"].tolist() == ["town_center", "nursing_home", "community_center"]
    np.testing.assert_array_equal(fac["beds"], [30.0, 120.0, np.nan])
    np.testing.assert_array_equal(fac["meals_per_day"], [200.0, np.nan, 50.0])
    assert fac["source_row"].tolist() == [2, 3, 4]
    assert fac.attrs["column_mapping"] == {
        "机构编号": "id", "机构名称": "name", "机构类型": "type", "经度": "lon", "纬度": "lat",
        "床位数（张）": "beds", "日均供餐": "meals_per_day",
    }


def test_explicit_encoding_and_undecodable_file(tmp_path):
    path = write_csv(tmp_path / "f.csv", CHINESE_ROWS, CHINESE_HEADER, encoding="gbk")
    assert len(read_quiet(path, encoding="gbk")) == 3
    with pytest.raises(InputFileError, match=r"cannot decode the file as utf-8"):
        read_facilities(path, encoding="utf-8")


def test_output_schema_order_and_blank_ids(tmp_path):
    rows = [GOOD, ["", "b", "nursing_home", "121.38", "28.38", "", ""], ["C", "c", "canteen",
                                                                         "121.39", "28.39", "", ""]]
    fac = read_quiet(write_csv(tmp_path / "f.csv", rows))
    assert list(fac.columns) == ["facility_id", "name", "type", "beds", "meals_per_day", "lon",
                                 "lat", "source_row", "status", "reason", "geometry"]
    assert fac.crs.to_epsg() == 4326
    assert fac["facility_id"].tolist() == ["A", "row3", "C"]
    assert fac["status"].tolist() == ["ok"] * 3 and fac["reason"].tolist() == [""] * 3
    assert str(fac["source_row"].dtype) == "int64"
    assert fac["beds"].dtype == float and fac["lon"].dtype == float
    assert fac.geometry.iloc[0].equals(shapely.Point(121.37, 28.37))


def test_xlsx_with_title_row_and_sheet_name(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active["A1"] = "this sheet is not the table"
    ws = wb.create_sheet("设施")
    ws["A1"] = "温岭市养老服务设施名录（2024）"
    ws.append(["序号", "设施名称", "设施类型", "经度", "纬度", "核定床位", "供餐能力"])
    ws.append([1, "城东街道居家养老服务中心", "town_center", 121.37, 28.37, 30, 200])
    ws.append([])
    ws.append([2, "太平敬老院", "敬老院", 121.38, 28.38, 55.0, None])
    path = tmp_path / "facilities.xlsx"
    wb.save(path)
    fac = read_quiet(path, sheet="设施")
    assert fac["facility_id"].tolist() == ["1", "2"]  # integral numbers as ids, blank row skipped
    assert fac["source_row"].tolist() == [3, 5]  # rows as Excel shows them
    assert fac.attrs["header_row"] == 2
    assert fac["lon"].tolist() == [121.37, 121.38]
    np.testing.assert_array_equal(fac["beds"], [30.0, 55.0])
    assert fac.attrs["column_mapping"]["核定床位"] == "beds"
    assert fac.attrs["column_mapping"]["供餐能力"] == "meals_per_day"
    by_index = read_quiet(path, sheet=1)
    assert by_index["name"].tolist() == fac["name"].tolist()
    with pytest.raises(InputFileError, match=r"sheets in the file: \['说明', '设施'\]"):
        read_facilities(path, sheet="nope")


def test_geojson_points_supply_coordinates(tmp_path):
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.37, 28.37]},
         "properties": {"编号": "G1", "名称": "城东照料中心", "类型": "照料中心", "床位": 12}},
        {"type": "Feature", "geometry": None,
         "properties": {"编号": "G2", "名称": "无坐标", "类型": "敬老院", "床位": None}},
        {"type": "Feature",
         "geometry": {"type": "Polygon",
                      "coordinates": [[[121.3, 28.3], [121.31, 28.3], [121.31, 28.31],
                                       [121.3, 28.3]]]},
         "properties": {"编号": "G3", "名称": "院区", "类型": "敬老院", "床位": 5}},
    ]
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features},
                               ensure_ascii=False), encoding="utf-8")
    with pytest.warns(FacilityRowWarning, match="2 of 3 facility rows excluded"):
        fac = read_facilities(path)
    assert fac["facility_id"].tolist() == ["G1", "G2", "G3"]
    assert fac["type"].tolist() == ["community_center", "nursing_home", "nursing_home"]
    assert (fac["lon"].iloc[0], fac["lat"].iloc[0]) == (121.37, 28.37)
    assert fac["reason"].tolist() == ["", "missing coordinates",
                                      "geometry is a Polygon, not a point"]
    assert fac["source_row"].tolist() == [2, 3, 4]
    assert fac["beds"].iloc[0] == 12.0


def test_gpkg_layers(tmp_path):
    path = tmp_path / "f.gpkg"
    care = gpd.GeoDataFrame({"id": ["P1", "P2"], "name": ["a", "b"],
                             "type": ["nursing_home", "老年食堂"]},
                            geometry=[shapely.Point(121.37, 28.37), shapely.Point(121.38, 28.38)],
                            crs=4326)
    other = care.iloc[:1].assign(id=["Q1"])
    care.to_file(path, layer="care", engine="pyogrio")
    other.to_file(path, layer="other", engine="pyogrio")
    fac = read_quiet(path, layer="care")
    assert fac["facility_id"].tolist() == ["P1", "P2"]
    assert fac["type"].tolist() == ["nursing_home", "canteen"]
    assert fac["lat"].tolist() == [28.37, 28.38]
    assert read_quiet(path, layer="other")["facility_id"].tolist() == ["Q1"]
    # projected layers are converted to WGS-84
    utm = tmp_path / "utm.gpkg"
    care.to_crs(32651).to_file(utm, engine="pyogrio")
    assert read_quiet(utm)["lon"].to_numpy() == pytest.approx([121.37, 121.38], abs=1e-9)
    with pytest.raises(InputFileError, match="projected CRS"):
        read_facilities(utm, crs="gcj02")


def test_vector_without_crs_is_an_error(tmp_path):
    path = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):  # pyogrio, when writing
        gpd.GeoDataFrame({"name": ["a"], "type": ["canteen"]},
                         geometry=[shapely.Point(121.37, 28.37)]).to_file(path, engine="pyogrio")
    with pytest.raises(NoCrsError, match="has no CRS"):
        read_facilities(path)


# --------------------------------------------------------------------------- columns
def test_column_mapping_is_logged_and_overridable(tmp_path, caplog):
    header = ["单位全称", "Type", " LNG ", "Latitude", "备注"]
    rows = [["甲", "canteen", "121.37", "28.37", "x"]]
    path = write_csv(tmp_path / "f.csv", rows, header)
    with pytest.raises(InputFileError) as info:
        read_facilities(path)
    assert str(info.value) == (
        f"{path}: no column for name; columns found: ['单位全称', 'Type', 'LNG', 'Latitude', "
        "'备注']; accepted names: name (name, 名称, 机构名称, 设施名称); "
        "or pass columns={'name': '<column in your file>'}"
    )
    with caplog.at_level(logging.INFO, logger="eldercare_coverage.facilities"):
        fac = read_quiet(path, columns={"name": "单位全称"})
    mapping = {"单位全称": "name", "Type": "type", "LNG": "lon", "Latitude": "lat"}
    assert fac.attrs["column_mapping"] == mapping
    assert f"columns mapped {mapping}" in caplog.text
    assert fac["name"].tolist() == ["甲"]


def test_bad_column_overrides(tmp_path):
    path = write_csv(tmp_path / "f.csv", [GOOD])
    with pytest.raises(InputFileError, match=r"columns=\{'name': 'nope'\} names columns that"):
        read_facilities(path, columns={"name": "nope"})
    with pytest.raises(InputFileError, match=r"unknown canonical columns \['title'\]"):
        read_facilities(path, columns={"title": "name"})


def test_missing_coordinate_columns(tmp_path):
    path = write_csv(tmp_path / "f.csv", [["a", "canteen"]], ["name", "type"])
    with pytest.raises(InputFileError, match=r"no column for lon, lat; columns found: "
                                             r"\['name', 'type'\]; accepted names: lon \("):
        read_facilities(path)


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("f.csv", b"", "the facility file is empty"),
        ("f.csv", b"id,name,type,lon,lat\n", "no facility rows"),
        ("f.csv", b"\n\n", "no facility rows"),
        ("f.txt", b"a", "unknown facility file format '.txt'; allowed: .csv, .xlsx, .xlsm, "
                        ".geojson, .json, .gpkg"),
        ("f.xls", b"a", "(save .xls workbooks as .xlsx)"),
        ("f.xlsx", b"not a zip", "not a readable XLSX workbook"),
        ("f.geojson", b"{not json", "cannot read layer"),
    ],
)
def test_unreadable_files(tmp_path, filename, content, message):
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=None) as info:
        read_facilities(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="facility file not found"):
        read_facilities(tmp_path / "nope.csv")


def test_unknown_crs_name(tmp_path):
    path = write_csv(tmp_path / "f.csv", [GOOD])
    with pytest.raises(ValueError, match=r"expected to be one of \['wgs84', 'gcj02', 'bd09'\]"):
        read_facilities(path, crs="utm")


# --------------------------------------------------------------------------- types
@pytest.mark.parametrize(
    "value, code",
    [
        ("town_center", "town_center"),
        (" Nursing_Home ", "nursing_home"),
        ("镇街居家养老服务中心", "town_center"),
        ("养老机构（养老院）", "nursing_home"),
        ("养老机构(养老院)", "nursing_home"),
        ("nursing home", "nursing_home"),
        ("温岭市城东街道居家养老服务中心", "town_center"),
        ("箬横镇居家养老服务中心", "town_center"),
        ("东门村居家养老服务照料中心", "community_center"),
        ("县级居家养老服务指导中心", "county_center"),
        ("新河镇中心敬老院", "nursing_home"),
        ("生活服务;养老服务;老年食堂", "canteen"),
        ("城西中央厨房", "central_kitchen"),
        ("助餐服务点", "meal_point"),
        ("超市", None),
        ("", None),
    ],
)
def test_type_matching(value, code):
    assert match_facility_type(value) == code


# --------------------------------------------------------------------------- coordinates
@pytest.mark.parametrize("crs, forward, backward", [
    ("gcj02", wgs84_to_gcj02, gcj02_to_wgs84),
    ("amap", wgs84_to_gcj02, gcj02_to_wgs84),
    ("bd09", wgs84_to_bd09, bd09_to_wgs84),
])
def test_chinese_coordinates_are_converted(tmp_path, crs, forward, backward):
    wgs = np.array([[121.37, 28.37], [121.3812, 28.3755]])
    given = np.column_stack(forward(wgs[:, 0], wgs[:, 1]))
    rows = [[f"F{i}", "n", "canteen", repr(float(x)), repr(float(y)), "", ""] for i, (x, y) in enumerate(given)]
    fac = read_quiet(write_csv(tmp_path / "f.csv", rows), crs=crs)
    expected = backward(given[:, 0], given[:, 1])
    np.testing.assert_allclose(fac["lon"], expected[0], atol=1e-12)
    np.testing.assert_allclose(fac["lon"], wgs[:, 0], atol=1e-7)
    np.testing.assert_allclose(fac["lat"], wgs[:, 1], atol=1e-7)
    np.testing.assert_allclose(shapely.get_coordinates(fac.geometry.to_numpy()), wgs, atol=1e-7)
    assert fac.attrs["crs"] == crs.replace("amap", "gcj02")


STUDY_AREA = shapely.box(121.35, 28.35, 121.40, 28.40)

BAD_ROWS = {
    # kind: (column overrides of the bad row, expected reason)
    "missing coordinates": ({"lon": "", "lat": ""}, "missing coordinates"),
    "missing latitude": ({"lat": ""}, "missing latitude"),
    "non-numeric lon": ({"lon": "121.3x"},
                        "non-numeric coordinates (lon='121.3x', lat='28.37')"),
    "not yet known": ({"lon": "待定", "lat": "待定"},
                      "non-numeric coordinates (lon='待定', lat='待定')"),
    "out of range": ({"lon": "221.37"}, "lon/lat out of range (221.37, 28.37); lon must be "
                                        "within -180..180 and lat within -90..90"),
    "swapped": ({"lon": "28.37", "lat": "121.37"},
                "lon/lat look swapped (28.37, 121.37); did you mean lon=121.37, lat=28.37?"),
    "null island": ({"lon": "0", "lat": "0"},
                    "coordinates are (0, 0), a placeholder for missing coordinates"),
    "outside study area": ({"lon": "121.5"}, "outside the study area (9.8 km away)"),
    "duplicate id": ({"id": "A"}, "duplicate facility_id 'A' (first at row 2)"),
    "unknown type": ({"type": "超市"},
                     f"unknown type '超市'; allowed: {ALLOWED} (or their Chinese labels/aliases)"),
    "missing type": ({"type": ""}, f"missing type; allowed: {ALLOWED}"),
    "negative beds": ({"beds": "-5"}, "negative beds (-5)"),
    "non-numeric beds": ({"beds": "三十"}, "non-numeric beds '三十'"),
    "negative meals": ({"meals_per_day": "-1.5"}, "negative meals_per_day (-1.5)"),
    "non-numeric meals": ({"meals_per_day": "n/a"}, "non-numeric meals_per_day 'n/a'"),
    "several at once": ({"id": "A", "type": "超市", "lat": "", "beds": "-1"},
                        "duplicate facility_id 'A' (first at row 2); unknown type '超市'; "
                        f"allowed: {ALLOWED} (or their Chinese labels/aliases); "
                        "missing latitude; negative beds (-1)"),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_bad_row_matrix(tmp_path, kind):
    override, reason = BAD_ROWS[kind]
    bad = dict(zip(HEADER, ["B", "某设施", "canteen", "121.38", "28.37", "10", "100"],
                   strict=True))
    bad.update(override)
    rows = [GOOD, [bad[c] for c in HEADER], ["C", "c", "canteen", "121.39", "28.38", "", ""]]
    path = write_csv(tmp_path / "f.csv", rows)
    with pytest.warns(FacilityRowWarning) as record:
        fac = read_facilities(path, study_area=STUDY_AREA)
    assert len(record) == 1
    assert str(record[0].message) == f"{path}: 1 of 3 facility rows excluded:\n  row 3: {reason}"
    assert fac["status"].tolist() == ["ok", "excluded", "ok"]
    assert fac["reason"].tolist() == ["", reason, ""]
    assert fac["source_row"].tolist() == [2, 3, 4]
    assert len(fac) == 3  # nothing dropped
    coordinates_bad = kind in {"missing coordinates", "missing latitude", "non-numeric lon",
                               "not yet known", "out of range", "swapped", "null island",
                               "several at once"}
    assert fac.geometry.iloc[1] is None if coordinates_bad else fac.geometry.iloc[1] is not None
    assert np.isnan(fac["lon"].iloc[1]) == coordinates_bad
    with pytest.raises(InputRowError) as info:
        read_facilities(path, study_area=STUDY_AREA, strict=True)
    assert str(info.value) == f"{path}: 1 of 3 facility rows are invalid:\n  row 3: {reason}"


def test_unknown_type_keeps_raw_value(tmp_path):
    rows = [GOOD, ["B", "x", "超市", "121.38", "28.37", "", ""]]
    with pytest.warns(FacilityRowWarning):
        fac = read_facilities(write_csv(tmp_path / "f.csv", rows))
    assert fac["type"].tolist() == ["town_center", "超市"]


def test_strict_lists_every_bad_row_and_warning_is_capped(tmp_path):
    rows = [GOOD] + [[f"X{i}", "x", "canteen", "28.37", "121.37", "", ""] for i in range(25)]
    path = write_csv(tmp_path / "f.csv", rows)
    with pytest.raises(InputRowError) as info:
        read_facilities(path, strict=True)
    text = str(info.value)
    assert text.startswith(f"{path}: 25 of 26 facility rows are invalid:\n  row 3: lon/lat look")
    assert all(f"  row {r}: lon/lat look swapped" in text for r in range(3, 28))
    with pytest.warns(FacilityRowWarning) as record:
        fac = read_facilities(path)
    message = str(record[0].message)
    assert "  row 22: " in message and "  row 23: " not in message
    assert message.endswith("  ... and 5 more (see the 'reason' column)")
    assert (fac["status"] == "excluded").sum() == 25


def test_study_area_as_geodataframe(tmp_path):
    rows = [GOOD, ["B", "x", "canteen", "121.5", "28.37", "", ""]]
    area = gpd.GeoDataFrame(geometry=[STUDY_AREA], crs=4326).to_crs(32651)
    with pytest.warns(FacilityRowWarning, match=r"outside the study area \(9.8 km away\)"):
        read_facilities(write_csv(tmp_path / "f.csv", rows), study_area=area)


# --------------------------------------------------------------------------- crs check
UTM = "EPSG:32651"
X0, Y0 = 330000.0, 3140000.0  # UTM 51N, near Wenling


def street_grid():
    """Five north-south streets 1 km apart, 3 km long, and a facility every 250 m on them.

    ::

        |    |    |    |    |     x = X0, X0+1000, ... X0+4000
        *    *    *    *    *     facilities on the streets
        |    |    |    |    |
    """
    lines = shapely.MultiLineString([[(X0 + 1000 * i, Y0), (X0 + 1000 * i, Y0 + 3000)]
                                     for i in range(5)])
    xs, ys = np.meshgrid(X0 + 1000 * np.arange(5), Y0 + 250 + 250 * np.arange(10))
    to_wgs = pyproj.Transformer.from_crs(UTM, 4326, always_xy=True)
    lon, lat = to_wgs.transform(xs.ravel(), ys.ravel())
    to_utm = pyproj.Transformer.from_crs(4326, UTM, always_xy=True)

    def nearest_street_m(lon, lat):
        x, y = to_utm.transform(lon, lat)
        return shapely.distance(shapely.points(x, y), lines)

    return np.asarray(lon), np.asarray(lat), nearest_street_m


def facility_csv(path, lon, lat):
    rows = [[f"F{i}", "n", "canteen", repr(float(x)), repr(float(y)), "", ""]
            for i, (x, y) in enumerate(zip(lon, lat, strict=True))]
    return write_csv(path, rows)


def test_suggest_gcj02_when_points_were_shifted(tmp_path):
    lon, lat, nearest = street_grid()
    path = facility_csv(tmp_path / "amap.csv", *wgs84_to_gcj02(lon, lat))
    suggestion, medians = suggest_coordinate_system(read_quiet(path), nearest)
    assert suggestion == "gcj02"
    assert medians["gcj02"] < 1.0 < 300 < medians["wgs84"]
    assert set(medians) == {"wgs84", "gcj02", "bd09"}
    message = format_crs_suggestion(suggestion, medians)
    assert message == (f"facilities look like GCJ-02 (median distance to streets "
                       f"{medians['wgs84']:.0f} m as given, {medians['gcj02']:.0f} m if read as "
                       "GCJ-02); pass --facilities-crs gcj02")
    # read as declared GCJ-02, the same file fits the streets: no suggestion
    again, medians2 = suggest_coordinate_system(read_quiet(path, crs="gcj02"), nearest)
    assert again is None
    assert medians2 == pytest.approx(medians, abs=1e-3)


def test_suggest_bd09_and_nothing_for_true_wgs84(tmp_path):
    lon, lat, nearest = street_grid()
    bd = facility_csv(tmp_path / "baidu.csv", *wgs84_to_bd09(lon, lat))
    assert suggest_coordinate_system(read_quiet(bd), nearest)[0] == "bd09"
    wgs = facility_csv(tmp_path / "osm.csv", lon, lat)
    suggestion, medians = suggest_coordinate_system(read_quiet(wgs), nearest)
    assert suggestion is None
    assert medians["wgs84"] < 1.0
    # declared GCJ-02 but really WGS-84: suggest reading it as given
    suggestion, medians = suggest_coordinate_system(read_quiet(wgs, crs="gcj02"), nearest)
    assert suggestion == "wgs84"
    assert format_crs_suggestion(suggestion, medians, given="gcj02").startswith(
        "facilities look like WGS-84 (median distance to streets ")
    assert "m as read (GCJ-02), 0 m if read as WGS-84); pass --facilities-crs wgs84" in (
        format_crs_suggestion(suggestion, medians, given="gcj02"))


def test_suggest_needs_enough_facilities(tmp_path):
    lon, lat, nearest = street_grid()
    path = facility_csv(tmp_path / "few.csv", *wgs84_to_gcj02(lon[:2], lat[:2]))
    suggestion, medians = suggest_coordinate_system(read_quiet(path), nearest)
    assert suggestion is None and medians["gcj02"] < 1.0
    empty = read_quiet(path).iloc[:0]
    assert suggest_coordinate_system(empty, nearest)[0] is None


def test_override_names_help_find_the_header_below_a_title(tmp_path):
    rows = [["养老设施一览", "", "", ""], ["单位全称", "类别", "东经", "北纬"],
            ["甲", "老年食堂", "121.37", "28.37"]]
    path = write_csv(tmp_path / "f.csv", rows[1:], rows[0])
    fac = read_quiet(path, columns={"name": "单位全称", "type": "类别", "lon": "东经",
                                    "lat": "北纬"})
    assert fac["source_row"].tolist() == [3]
    assert fac["type"].tolist() == ["canteen"]
    assert fac.attrs["header_row"] == 2


def test_doctests():
    import doctest

    import eldercare_coverage.facilities

    result = doctest.testmod(eldercare_coverage.facilities)
    assert result.attempted >= 4 and result.failed == 0
