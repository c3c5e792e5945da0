"""Population cells: hand-made GeoTIFFs and grids with known values, and Wenling for real."""

from __future__ import annotations

import csv
import time

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from eldercare_coverage._errors import InputFileError, NoCrsError
from eldercare_coverage.population import (
    read_population_raster,
    read_population_vector,
    spread_counts,
    worldpop_age_files,
)

from ._shared_data import ADMIN_WGS84, CENSUS_COUNTIES, WENLING_ADCODE, shared_file

UTM = "EPSG:32651"  # UTM zone 51N: Wenling, Taizhou
X0, Y0 = 500_000.0, 3_150_000.0  # metres: north-west corner of the test grids


def from_origin(west, north, xres, yres):
    """North-up transform (rasterio's own from_origin warns with affine >= 3.1)."""
    return Affine(xres, 0.0, west, 0.0, -yres, north)


def write_tif(path, values, *, crs=UTM, transform=None, nodata=None, dtype="float32"):
    """Write a small GeoTIFF: ``values`` is (rows, cols) or (bands, rows, cols)."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 2:
        arr = arr[None]
    transform = transform or from_origin(X0, Y0, 100.0, 100.0)
    profile = {"driver": "GTiff", "height": arr.shape[1], "width": arr.shape[2],
               "count": arr.shape[0], "dtype": dtype, "transform": transform}
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)
    return path


# --------------------------------------------------------------------------- rasters
def test_single_raster_cells_totals_and_polygons(tmp_path):
    # 2 x 3 grid of 100 m cells; one nodata (-1), one zero
    values = [[1.5, 0.0, 2.0],
              [-1.0, 4.0, 3.0]]
    cells = read_population_raster(write_tif(tmp_path / "p.tif", values, nodata=-1))
    assert list(cells.columns) == ["cell_id", "row", "col", "elderly", "geometry"]
    assert cells["elderly"].sum() == pytest.approx(10.5)
    assert cells.attrs["elderly_total"] == pytest.approx(10.5)
    assert cells.attrs["dropped"] == 1 and cells.attrs["zero_cells"] == 1
    assert "p.tif" in cells.attrs["source"]
    assert cells.crs == UTM
    assert cells[["row", "col"]].to_numpy().tolist() == [[0, 0], [0, 2], [1, 1], [1, 2]]
    assert cells["cell_id"].tolist() == [0, 2, 4, 5]  # row * width + col
    # cell (row 1, col 2) covers x 500200..500300, y 3149800..3149900
    poly = cells.geometry[cells["cell_id"] == 5].iloc[0]
    assert poly.bounds == (X0 + 200, Y0 - 200, X0 + 300, Y0 - 100)
    assert poly.area == pytest.approx(10_000.0)
    assert shapely.is_valid(cells.geometry.to_numpy()).all()


def test_nan_and_worldpop_nodata_are_dropped(tmp_path):
    values = [[np.nan, -99999.0, 2.0],
              [1.0, 0.0, -99999.0]]
    # -99999 declared as nodata (WorldPop) and also when undeclared
    for nodata in (-99999.0, None):
        cells = read_population_raster(write_tif(tmp_path / f"w{nodata}.tif", values,
                                                 nodata=nodata))
        assert cells["elderly"].tolist() == [2.0, 1.0]
        assert cells.attrs["dropped"] == 3


def test_negative_counts_are_an_error_naming_file_and_count(tmp_path):
    path = write_tif(tmp_path / "neg.tif", [[1.0, -2.0], [-0.5, 3.0]], nodata=-9999)
    with pytest.raises(InputFileError, match=r"neg\.tif: 2 cell\(s\) hold negative") as err:
        read_population_raster(path)
    assert "nodata" in str(err.value)


def test_several_band_files_on_one_grid_are_summed(tmp_path):
    f = write_tif(tmp_path / "chn_f_60_2020.tif", [[1.0, 2.0], [0.0, -99999.0]], nodata=-99999)
    m = write_tif(tmp_path / "chn_m_60_2020.tif", [[0.5, 0.0], [0.0, -99999.0]], nodata=-99999)
    cells = read_population_raster([f, m])
    assert cells["elderly"].tolist() == [1.5, 2.0]
    assert cells.attrs["dropped"] == 1
    assert cells.attrs["source"].startswith("sum of 2 rasters")


def test_rasters_on_different_grids_are_an_error(tmp_path):
    a = write_tif(tmp_path / "a.tif", np.ones((2, 2)))
    b = write_tif(tmp_path / "b.tif", np.ones((2, 3)))
    with pytest.raises(InputFileError, match=r"a\.tif has shape \(2, 2\).*b\.tif has shape \(2, 3\)"):
        read_population_raster([a, b])
    c = write_tif(tmp_path / "c.tif", np.ones((2, 2)), transform=from_origin(X0 + 50, Y0, 100, 100))
    with pytest.raises(InputFileError, match=r"a\.tif .*transform.*c\.tif .*transform"):
        read_population_raster([a, c])


def test_raster_in_wgs84_keeps_degree_cells_and_counts(tmp_path):
    res = 0.000833333  # WorldPop's 3 arc-seconds
    lon0, lat0 = 121.3, 28.4
    path = write_tif(tmp_path / "g.tif", [[1.0, 2.0], [3.0, 4.0]], crs="EPSG:4326",
                     transform=from_origin(lon0, lat0, res, res))
    cells = read_population_raster(path)
    assert cells.crs.to_epsg() == 4326
    b = cells.geometry.iloc[3].bounds  # row 1, col 1
    assert b == pytest.approx((lon0 + res, lat0 - 2 * res, lon0 + 2 * res, lat0 - res))
    projected = cells.to_crs(UTM)
    assert projected["elderly"].sum() == 10.0
    # about 81 m x 92 m at 28.4 N
    assert projected.area.mean() == pytest.approx(81.6 * 92.3, rel=0.01)


def test_raster_without_crs_is_an_error(tmp_path):
    path = write_tif(tmp_path / "nocrs.tif", [[1.0]], crs=None)
    with pytest.raises(NoCrsError, match=r"nocrs\.tif: the raster has no CRS"):
        read_population_raster(path)


def test_total_population_times_share_and_band(tmp_path):
    path = write_tif(tmp_path / "total.tif", [[[100.0, 0.0]], [[10.0, 20.0]]])
    cells = read_population_raster(path, share=0.2)
    assert cells["elderly"].tolist() == [20.0]
    assert "share 0.2" in cells.attrs["source"]
    assert read_population_raster(path, band=2, share=0.5)["elderly"].tolist() == [5.0, 10.0]
    with pytest.raises(InputFileError, match="band 3 requested but the raster has 2 band"):
        read_population_raster(path, band=3)
    with pytest.raises(ValueError, match="`share` was 1.5"):
        read_population_raster(path, share=1.5)


def test_missing_raster_is_an_error(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_population_raster(tmp_path / "nothing.tif")


# --------------------------------------------------------------------------- WorldPop names
def test_worldpop_age_files_pick_bands_and_sum(tmp_path):
    for sex in "fm":
        for age in (0, 1, *range(5, 81, 5)):
            write_tif(tmp_path / f"chn_{sex}_{age}_2020.tif", [[float(age)]])
    (tmp_path / "readme.txt").write_text("not a raster")
    files = worldpop_age_files(tmp_path)
    assert [p.name for p in files] == sorted(
        f"chn_{s}_{a}_2020.tif" for s in "fm" for a in (60, 65, 70, 75, 80))
    cells = read_population_raster(files)
    assert cells["elderly"].tolist() == [2.0 * (60 + 65 + 70 + 75 + 80)]
    assert len(worldpop_age_files(tmp_path, min_age=65, sexes=("f",))) == 4


def test_worldpop_age_files_errors(tmp_path):
    with pytest.raises(InputFileError, match="no WorldPop age-sex rasters"):
        worldpop_age_files(tmp_path)
    with pytest.raises(ValueError, match="`min_age` was 62"):
        worldpop_age_files(tmp_path, min_age=62)
    for age in (60, 65, 70, 80):
        (tmp_path / f"chn_f_{age}_2020.tif").touch()
    with pytest.raises(InputFileError, match="bands missing .*f_75"):
        worldpop_age_files(tmp_path, sexes=("f",))
    (tmp_path / "chn_f_75_2020.tif").touch()
    assert len(worldpop_age_files(tmp_path, sexes=("f",))) == 5
    for age in (60, 65, 70, 75, 80):
        (tmp_path / f"chn_f_{age}_2019.tif").touch()
    with pytest.raises(InputFileError, match=r"several years \['2019', '2020'\]"):
        worldpop_age_files(tmp_path, sexes=("f",))
    assert all("2019" in p.name for p in worldpop_age_files(tmp_path, sexes=("f",), year=2019))


# --------------------------------------------------------------------------- vector grids
def test_vector_grid(tmp_path):
    boxes = [shapely.box(X0 + 100 * i, Y0, X0 + 100 * (i + 1), Y0 + 100) for i in range(4)]
    gdf = gpd.GeoDataFrame({"old_60": [5.0, 0.0, np.nan, 7.0], "name": list("abcd")},
                           geometry=boxes, crs=UTM)
    path = tmp_path / "grid.gpkg"
    gdf.to_file(path, layer="grid")
    cells = read_population_vector(path, column="old_60")
    assert cells["elderly"].tolist() == [5.0, 7.0]
    assert cells["cell_id"].tolist() == [0, 3]
    assert (cells["row"] == -1).all() and (cells["col"] == -1).all()
    assert cells.attrs["elderly_total"] == 12.0 and cells.attrs["dropped"] == 1
    with pytest.raises(InputFileError, match=r"no column 'elderly'.*columns found: \['old_60', 'name'\]"):
        read_population_vector(path, column="elderly")
    gdf.loc[1, "old_60"] = -3
    gdf.to_file(tmp_path / "neg.geojson")
    with pytest.raises(InputFileError, match="1 polygon.* negative counts"):
        read_population_vector(tmp_path / "neg.geojson", column="old_60")


# --------------------------------------------------------------------------- spreading
def square_units(*boxes, counts, crs=UTM, names=None):
    names = names or [f"u{i}" for i in range(len(boxes))]
    return gpd.GeoDataFrame({"name": names, "pop": counts},
                            geometry=[shapely.box(*b) for b in boxes], crs=crs)


def test_spread_counts_area_weighted_by_hand():
    # unit 300 m x 200 m, offset by 50 m against the 100 m grid:
    #   x: |50..100|100..200|200..300|300..350|  -> areas 5000, 10000, 10000, 5000 per row
    unit = square_units((X0 + 50, Y0, X0 + 350, Y0 + 200), counts=[61])
    floats = spread_counts(unit, column="pop", integer=False)
    assert len(floats) == 8
    expected = {5000.0: 61 * 5000 / 60000, 10000.0: 61 * 10000 / 60000}
    for area, value in zip(floats.area, floats["elderly"], strict=True):
        assert value == pytest.approx(expected[round(area)], rel=1e-12)
    assert floats["elderly"].sum() == pytest.approx(61, rel=1e-12)
    # whole people: floors 5, 10, 10, 5 per row = 60; the 1 left goes to the largest remainder
    ints = spread_counts(unit, column="pop")
    assert ints["elderly"].sum() == 61
    assert sorted(ints["elderly"].tolist()) == [5, 5, 5, 5, 10, 10, 10, 11]
    assert ints.attrs["elderly_total"] == 61
    # geometry: the cell square clipped to the unit; rows count from the north
    west = ints[ints["col"] == 0].sort_values("row")
    assert west.geometry.iloc[0].bounds == (X0 + 50, Y0 + 100, X0 + 100, Y0 + 200)
    assert west["row"].tolist() == [0, 1]


def test_spread_counts_cells_straddling_units_sum_their_parts():
    # A: 0..150 m (30 people), B: 150..300 m (15 people); cell 100..200 m holds
    # 50 m of A (30 * 5000 / 15000 = 10) and 50 m of B (15 * 5000 / 15000 = 5)
    units = square_units((X0, Y0, X0 + 150, Y0 + 100), (X0 + 150, Y0, X0 + 300, Y0 + 100),
                         counts=[30, 15])
    cells = spread_counts(units, column="pop").sort_values("col")
    assert cells["elderly"].tolist() == [20, 15, 10]
    assert cells.geometry.iloc[1].equals(shapely.box(X0 + 100, Y0, X0 + 200, Y0 + 100))


def test_spread_counts_geographic_units_go_to_utm():
    unit = square_units((121.30, 28.30, 121.32, 28.32), counts=[1000], crs="EPSG:4326")
    cells = spread_counts(unit, column="pop", cell_size_m=250)
    assert cells.crs.to_epsg() == 32651
    assert cells["elderly"].sum() == 1000
    assert (cells["elderly"] == np.round(cells["elderly"])).all()


def test_spread_counts_dasymetric_buildings_and_area_fallback():
    # unit "a" 0..200 m: cell 0 holds 400 m2 of building + half of a straddling one
    # (200 m2) = 600 m2, cell 1 the other half (200 m2) -> 75 % / 25 %
    # unit "b" 300..400 m has no building: spread by area, recorded in attrs
    units = square_units((X0, Y0, X0 + 200, Y0 + 100), (X0 + 300, Y0, X0 + 400, Y0 + 100),
                         counts=[100, 7], names=["a", "b"])
    buildings = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 10, Y0 + 10, X0 + 30, Y0 + 30),
                                           shapely.box(X0 + 90, Y0 + 40, X0 + 110, Y0 + 60)],
                                 crs=UTM)
    cells = spread_counts(units, column="pop", weights=buildings).sort_values("col")
    assert cells["elderly"].tolist() == [75, 25, 7]
    assert cells.attrs["method"] == "buildings"
    assert cells.attrs["area_fallback"] == ["b"]


def test_spread_counts_dasymetric_roads():
    unit = square_units((X0, Y0, X0 + 200, Y0 + 100), counts=[90])
    roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(X0, Y0 + 50), (X0 + 150, Y0 + 50)])],
                             crs=UTM).to_crs(4326)  # any CRS
    cells = spread_counts(unit, column="pop", weights=roads).sort_values("col")
    assert cells["elderly"].tolist() == [60, 30]  # 100 m and 50 m of road
    assert cells.attrs["method"] == "roads"


def test_spread_counts_input_errors():
    unit = square_units((X0, Y0, X0 + 100, Y0 + 100), counts=[10.5])
    with pytest.raises(InputFileError, match="fractional count.*integer=False"):
        spread_counts(unit, column="pop")
    assert spread_counts(unit, column="pop", integer=False)["elderly"].sum() == 10.5
    with pytest.raises(InputFileError, match=r"no column 'old'.*columns found: \['name', 'pop'\]"):
        spread_counts(unit, column="old")
    with pytest.raises(InputFileError, match="counts >= 0"):
        spread_counts(square_units((X0, Y0, X0 + 100, Y0 + 100), counts=[-1]), column="pop")
    with pytest.raises(NoCrsError):
        spread_counts(unit.set_crs(None, allow_override=True), column="pop", integer=False)


# --------------------------------------------------------------------------- real data
def area_inside(cells, poly):
    """Area of each cell inside ``poly`` (only the cells on its edge are intersected)."""
    geoms = cells.geometry.to_numpy()
    shapely.prepare(poly)
    area = shapely.area(geoms)
    edge = ~shapely.contains_properly(poly, geoms)
    area[edge] = shapely.area(shapely.intersection(geoms[edge], poly))
    return area


@pytest.fixture(scope="module")
def wenling():
    admin = gpd.read_file(shared_file(ADMIN_WGS84))
    unit = admin[admin["adcode"].astype(str) == WENLING_ADCODE].copy()
    with shared_file(CENSUS_COUNTIES).open(encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["adcode"] == WENLING_ADCODE)
    unit["pop_60plus"] = int(row["pop_60plus"])
    return unit


def test_wenling_census_says_276870_people_aged_60_plus(wenling):
    assert wenling["name"].iloc[0] == "温岭市"
    assert wenling["pop_60plus"].iloc[0] == 276_870


def test_wenling_spread_at_100m_conserves_the_census_total(wenling):
    t = time.perf_counter()
    cells = spread_counts(wenling, column="pop_60plus", cell_size_m=100.0)
    seconds = time.perf_counter() - t
    assert seconds < 30, f"spread_counts took {seconds:.1f} s"
    assert cells["elderly"].sum() == 276_870
    assert cells.attrs["elderly_total"] == 276_870
    assert (cells["elderly"] == np.round(cells["elderly"])).all()
    assert 100_000 < len(cells) < 115_000  # ~1,098 km2 of 1 ha cells
    # area-weighted: every cell holds its area's share, within one whole person
    poly = wenling.to_crs(cells.crs).geometry.iloc[0]
    inside = area_inside(cells, poly)
    expected = 276_870 * inside / poly.area
    assert np.abs(cells["elderly"].to_numpy() - expected).max() < 1.0


def test_wenling_float_spread_has_uniform_density(wenling):
    cells = spread_counts(wenling, column="pop_60plus", cell_size_m=100.0, integer=False)
    assert cells["elderly"].sum() == pytest.approx(276_870, rel=1e-9)
    poly = wenling.to_crs(cells.crs).geometry.iloc[0]
    inside = area_inside(cells, poly)
    density = cells["elderly"].to_numpy() / inside * 1e6  # people per km2
    assert density == pytest.approx(np.full(len(cells), 276_870 / poly.area * 1e6), rel=1e-6)
    assert 276_870 / poly.area * 1e6 == pytest.approx(252, abs=1)
