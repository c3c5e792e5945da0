"""Units: Chinese and English columns, urban-rural codes, the density rule, Wenling for real."""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from eldercare_coverage._errors import InputFileError, NoCrsError
from eldercare_coverage.boundaries import classify_urban_rural, read_boundaries

from ._shared_data import ADMIN_WGS84, WENLING_ADCODE, shared_file

UTM = "EPSG:32651"
X0, Y0 = 500_000.0, 3_150_000.0  # metres


def chinese_units(crs="EPSG:4326"):
    """One town (街道) and its two villages (村, 社区), 1 km squares, with Chinese columns.

    ::

        +--------+--------+
        | 东村    | 西社区  |     town 太平街道 = both squares
        | 220    | 111    |
        +--------+--------+
    """
    west = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    east = shapely.box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)
    gdf = gpd.GeoDataFrame(
        {"区划代码": ["331081001000", "331081001201", "331081001001"],
         "名称": ["太平街道", "东村", "西社区"],
         "级别": ["街道", "村", "社区"],
         "上级代码": ["331081", "331081001000", "331081001000"],
         "城乡分类代码": [111, 220, 111],
         "人口": [3000, 1000, 2000]},
        geometry=[shapely.union_all([west, east]), west, east], crs=UTM)
    return gdf.to_crs(crs)


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "shp"])
def test_round_trip_with_chinese_columns(tmp_path, suffix):
    path = tmp_path / f"units.{suffix}"
    if suffix == "shp":
        # Chinese Shapefiles are GBK; dBase cuts 城乡分类代码 (12 bytes) to 城乡分类代,
        # and GDAL says so in a message pyogrio cannot decode: expected, not our warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chinese_units().to_file(path, encoding="gbk")
    else:
        chinese_units().to_file(path)
    units = read_boundaries(path)
    assert list(units.columns[:7]) == ["unit_id", "name", "level", "parent_id",
                                       "urban_rural_code", "urban_rural", "urban_rural_source"]
    assert units["unit_id"].tolist() == ["331081001000", "331081001201", "331081001001"]
    assert units["name"].tolist() == ["太平街道", "东村", "西社区"]
    assert units["level"].tolist() == ["town", "village", "village"]
    assert units["parent_id"].tolist() == ["331081", "331081001000", "331081001000"]
    assert str(units["urban_rural_code"].dtype) == "Int64"
    assert units["urban_rural_code"].tolist() == [111, 220, 111]
    assert units["urban_rural"].tolist() == ["urban", "rural", "urban"]
    assert units["urban_rural_source"].tolist() == ["code"] * 3
    assert units["人口"].tolist() == [3000, 1000, 2000]  # other columns kept
    assert units.attrs["column_mapping"] == {
        "unit_id": "区划代码", "name": "名称", "level": "级别", "parent_id": "上级代码",
        "urban_rural_code": "城乡分类代" if suffix == "shp" else "城乡分类代码"}
    assert units.crs.to_epsg() == 4326
    assert units.to_crs(UTM).area.round().tolist() == [2e6, 1e6, 1e6]


def test_utf8_shapefile_with_cut_chinese_names_is_explained(tmp_path):
    path = tmp_path / "utf8.shp"
    with warnings.catch_warnings():  # GDAL's message about the cut names (see above)
        warnings.simplefilter("ignore")
        chinese_units().to_file(path, encoding="utf-8")
    with pytest.raises(InputFileError, match="at most 10 bytes.*GeoPackage"):
        read_boundaries(path)


def test_english_columns_overrides_and_level_from_codes(tmp_path):
    gdf = chinese_units().rename(columns={"区划代码": "adcode", "名称": "NAME"})
    gdf = gdf.drop(columns=["级别", "城乡分类代码"])
    gdf["town_code"] = ["331081001000", "331081001000", "331081001000"]
    path = tmp_path / "u.gpkg"
    gdf.to_file(path)
    units = read_boundaries(path, parent_col="town_code")
    assert units["name"].tolist() == ["太平街道", "东村", "西社区"]  # "NAME" matched
    assert units["level"].tolist() == ["town", "village", "village"]  # 12-digit codes
    assert units["parent_id"].tolist() == ["331081001000"] * 3
    assert units["urban_rural"].isna().all() and units["urban_rural_source"].isna().all()
    assert units["urban_rural_code"].isna().all()
    with pytest.raises(InputFileError, match=r"column 'nope' \(given for name\) not found"):
        read_boundaries(path, name_col="nope")


def test_invalid_urban_rural_code_names_row_and_value(tmp_path):
    gdf = chinese_units()
    gdf["城乡分类代码"] = ["111", "320", "12a"]
    gdf.to_file(tmp_path / "bad.geojson")
    with pytest.raises(InputFileError) as err:
        read_boundaries(tmp_path / "bad.geojson")
    msg = str(err.value)
    assert "bad.geojson" in msg and "城乡分类代码" in msg
    assert "row 2 (unit_id '331081001201'): '320'" in msg
    assert "row 3 (unit_id '331081001001'): '12a'" in msg
    assert "1xx urban" in msg and "2xx rural" in msg


def test_no_crs_is_an_error(tmp_path):
    path = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        chinese_units(UTM).set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(NoCrsError, match=r"nocrs\.gpkg: the boundaries have no CRS"):
        read_boundaries(path)


def test_invalid_polygon_is_repaired_and_reported(tmp_path, caplog):
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    assert not bowtie.is_valid
    gdf = gpd.GeoDataFrame({"code": ["a", "b"], "name": ["bow", "ok"]},
                           geometry=[bowtie, shapely.box(X0, Y0, X0 + 10, Y0 + 10)], crs=UTM)
    with caplog.at_level(logging.WARNING, logger="eldercare_coverage.boundaries"):
        units = read_boundaries(gdf)
    assert units.attrs["repaired"] == ["a"]
    assert units.geometry.is_valid.all()
    assert units.geometry.iloc[0].area == pytest.approx(5000.0)  # two triangles
    assert "repaired the invalid polygon of unit 'a'" in caplog.text
    assert units["level"].tolist() == ["unit", "unit"]


def test_points_are_not_units():
    gdf = gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.Point(0, 0)], crs=UTM)
    with pytest.raises(InputFileError, match=r"units must be polygons, found \['Point'\]"):
        read_boundaries(gdf)


def test_density_rule_by_hand(caplog):
    # two 1 km2 units; cells of 500 m x 500 m (0.25 km2):
    #   west: cells of 100 + 100 + 60 + 60 elderly = 320 /km2  -> urban (>= 300)
    #   east: one cell of 200 plus half of a cell of 180 straddling the east edge
    #         (90 inside) = 290 /km2 -> rural
    units = read_boundaries(chinese_units(UTM).drop(columns=["城乡分类代码"]).iloc[1:])
    xs = [X0, X0 + 500, X0, X0 + 500, X0 + 1000, X0 + 1750]
    ys = [Y0, Y0, Y0 + 500, Y0 + 500, Y0, Y0 + 500]
    cells = gpd.GeoDataFrame({"elderly": [100.0, 100.0, 60.0, 60.0, 200.0, 180.0]},
                             geometry=[shapely.box(x, y, x + 500, y + 500)
                                       for x, y in zip(xs, ys, strict=True)],
                             crs=UTM).to_crs(4326)  # any CRS: both go to UTM
    with caplog.at_level(logging.INFO, logger="eldercare_coverage.boundaries"):
        out = classify_urban_rural(units.to_crs(4326), cells)
    assert out["elderly_per_km2"].to_numpy() == pytest.approx([320.0, 290.0], rel=1e-6)
    assert out["urban_rural"].tolist() == ["urban", "rural"]
    assert out["urban_rural_source"].tolist() == ["density rule"] * 2
    assert out["urban_rural_code"].isna().all()
    assert "东村" in caplog.text and "-> urban" in caplog.text and "-> rural" in caplog.text
    # a higher threshold makes both rural; a unit with a code keeps it
    assert classify_urban_rural(units, cells, min_elderly_per_km2=321)["urban_rural"].tolist() \
        == ["rural", "rural"]
    coded = read_boundaries(chinese_units(UTM).iloc[1:])
    kept = classify_urban_rural(coded, cells, min_elderly_per_km2=1e9)
    assert kept["urban_rural"].tolist() == ["rural", "urban"]
    assert kept["urban_rural_source"].tolist() == ["code", "code"]


def test_density_rule_needs_crs_and_elderly():
    units = read_boundaries(chinese_units(UTM))
    cells = gpd.GeoDataFrame({"people": [1.0]}, geometry=[shapely.box(X0, Y0, X0 + 1, Y0 + 1)],
                             crs=UTM)
    with pytest.raises(InputFileError, match="no 'elderly' column"):
        classify_urban_rural(units, cells)
    with pytest.raises(NoCrsError):
        classify_urban_rural(units, cells.rename(columns={"people": "elderly"})
                             .set_crs(None, allow_override=True))


def test_wenling_polygon_reads_as_a_unit():
    units = read_boundaries(shared_file(ADMIN_WGS84))
    assert units.attrs["column_mapping"]["unit_id"] == "adcode"
    wenling = units[units["unit_id"] == WENLING_ADCODE]
    assert len(wenling) == 1
    assert wenling["name"].iloc[0] == "温岭市"
    assert wenling["level"].iloc[0] == "区县"  # county: kept as given
    assert pd.isna(wenling["urban_rural"].iloc[0])
    area_km2 = float(wenling.to_crs(wenling.estimate_utm_crs()).area.iloc[0]) / 1e6
    assert area_km2 == pytest.approx(1098, rel=0.02)
    assert wenling.geometry.is_valid.all()
    assert np.isin(wenling.geom_type, ["Polygon", "MultiPolygon"]).all()
