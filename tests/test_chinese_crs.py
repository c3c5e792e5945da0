"""WGS-84 / GCJ-02 / BD-09 conversions against published test vectors and round trips."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest

from eldercare_coverage._errors import CoverageError
from eldercare_coverage.chinese_crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalize_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2):
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# (wgs_lon, wgs_lat, gcj_lon, gcj_lat)
GCJ_VECTORS = [
    # googollee/eviltransform, python/test.py and go/transform_test.go, "shanghai"
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    # googollee/eviltransform, same files, "shenzhen"
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    # googollee/eviltransform, same files, "beijing"
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915)
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
    # Glatzel/pyxis, rust crypto module constants WGS84_LON/LAT -> GCJ02_LON/LAT (Jiaxing)
    (121.0917077, 30.6107779, 121.09626927850977, 30.608604368560773),
]

# (gcj_lon, gcj_lat, bd_lon, bd_lat)
BD_FROM_GCJ_VECTORS = [
    # wandergis/coordtransform, test/app.js: gcj02tobd09(116.404, 39.915)
    (116.404, 39.915, 116.41036949371029, 39.92133699351021),
    # Glatzel/pyxis, rust crypto module constants GCJ02_LON/LAT -> BD09_LON/LAT
    (121.09626927850977, 30.608604368560773, 121.10271724622564, 30.61484575976839),
]

# (wgs_lon, wgs_lat, bd_lon, bd_lat)
BD_FROM_WGS_VECTORS = [
    # athxx/coordtransform-rs, tests: wgs84_to_bd09(116.404, 39.915)
    (116.404, 39.915, 116.41662724378733, 39.922699552216216),
    # Glatzel/pyxis, rust crypto module constants WGS84_LON/LAT -> BD09_LON/LAT
    (121.0917077, 30.6107779, 121.10271724622564, 30.61484575976839),
]


@pytest.mark.parametrize("wlon, wlat, glon, glat", GCJ_VECTORS)
def test_wgs84_to_gcj02_published_vectors(wlon, wlat, glon, glat):
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize("wlon, wlat, glon, glat", GCJ_VECTORS)
def test_gcj02_to_wgs84_is_exact_inverse_of_published_vectors(wlon, wlat, glon, glat):
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert abs(lon - wlon) < 1e-7 and abs(lat - wlat) < 1e-7
    assert metres(lon, lat, wlon, wlat) < 0.01


def test_gcj02_to_wgs84_near_the_one_step_approximation_but_exact():
    # wandergis/coordtransform, test/app.js: the one-step gcj02towgs84(116.404, 39.915)
    # gives (116.39775550083061, 39.91359571849836), centimetres to metres off the true
    # inverse; the exact inverse maps back onto the input.
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert metres(lon, lat, 116.39775550083061, 39.91359571849836) < 5
    back = wgs84_to_gcj02(lon, lat)
    assert back[0] == pytest.approx(116.404, abs=1e-9)
    assert back[1] == pytest.approx(39.915, abs=1e-9)


@pytest.mark.parametrize("glon, glat, blon, blat", BD_FROM_GCJ_VECTORS)
def test_gcj02_to_bd09_published_vectors(glon, glat, blon, blat):
    lon, lat = gcj02_to_bd09(glon, glat)
    assert lon == pytest.approx(blon, abs=1e-9)
    assert lat == pytest.approx(blat, abs=1e-9)
    # and back, exactly
    lon, lat = bd09_to_gcj02(blon, blat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


def test_bd09_to_gcj02_close_to_published_backward_formula():
    # wandergis/coordtransform, test/app.js: bd09togcj02(116.404, 39.915) with Baidu's
    # approximate backward formula; the exact inverse is within 1e-6 degree (about 10 cm).
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.39762729119315, abs=1e-6)
    assert lat == pytest.approx(39.90865673957631, abs=1e-6)


@pytest.mark.parametrize("wlon, wlat, blon, blat", BD_FROM_WGS_VECTORS)
def test_wgs84_bd09_published_vectors(wlon, wlat, blon, blat):
    lon, lat = wgs84_to_bd09(wlon, wlat)
    assert lon == pytest.approx(blon, abs=1e-9)
    assert lat == pytest.approx(blat, abs=1e-9)
    lon, lat = bd09_to_wgs84(blon, blat)
    assert metres(lon, lat, wlon, wlat) < 0.01


def china_grid():
    lon, lat = np.meshgrid(np.linspace(75.0, 135.0, 31), np.linspace(18.0, 53.0, 36))
    return lon.ravel(), lat.ravel()


@pytest.mark.parametrize(
    "forward, backward",
    [(wgs84_to_gcj02, gcj02_to_wgs84), (gcj02_to_bd09, bd09_to_gcj02),
     (wgs84_to_bd09, bd09_to_wgs84)],
    ids=["gcj02", "bd09-from-gcj02", "bd09"],
)
def test_round_trips_within_1_m_over_china(forward, backward):
    lon, lat = china_grid()
    there = forward(lon, lat)
    assert metres(lon, lat, *there).min() > 10  # the conversions really move points
    lon2, lat2 = backward(*there)
    assert metres(lon, lat, lon2, lat2).max() < 1.0
    assert np.abs(lon2 - lon).max() < 1e-7 and np.abs(lat2 - lat).max() < 1e-7
    # and the other way round
    lon3, lat3 = forward(*backward(lon, lat))
    assert metres(lon, lat, lon3, lat3).max() < 1.0


def test_offset_near_wenling_is_a_few_hundred_metres():
    lon, lat = 121.37, 28.37
    d_gcj = metres(lon, lat, *wgs84_to_gcj02(lon, lat))
    d_bd = metres(lon, lat, *wgs84_to_bd09(lon, lat))
    assert 300 < d_gcj < 700
    assert 700 < d_bd < 1500


@pytest.mark.parametrize(
    "func",
    [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84],
)
def test_outside_china_unchanged_and_nan_passes(func):
    lon = np.array([2.3522, -74.006, 139.6917, 121.37, np.nan, 121.37])
    lat = np.array([48.8566, 40.7128, 35.6895, -28.37, 28.37, np.nan])
    out_lon, out_lat = func(lon, lat)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)
    x, y = func(np.nan, np.nan)
    assert np.isnan(x) and np.isnan(y)


def test_scalars_give_floats_and_arrays_keep_shape():
    x, y = wgs84_to_gcj02(121.37, 28.37)
    assert type(x) is float and type(y) is float
    lon = np.full((2, 3), 121.37)
    x, y = gcj02_to_wgs84(lon, 28.37)  # broadcast
    assert x.shape == y.shape == (2, 3)
    assert lon[0, 0] == 121.37  # the input is not modified


@pytest.mark.parametrize(
    "name, canonical",
    [("wgs84", "wgs84"), ("WGS-84", "wgs84"), ("epsg:4326", "wgs84"), ("EPSG:4326", "wgs84"),
     ("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("amap", "gcj02"), ("Gaode", "gcj02"),
     ("tencent", "gcj02"), ("bd09", "bd09"), ("BD-09", "bd09"), ("Baidu", "bd09")],
)
def test_crs_names(name, canonical):
    assert normalize_crs(name) == canonical
    lon, lat = to_wgs84(121.4, 28.4, name)
    expected = {"wgs84": (121.4, 28.4), "gcj02": gcj02_to_wgs84(121.4, 28.4),
                "bd09": bd09_to_wgs84(121.4, 28.4)}[canonical]
    assert (lon, lat) == expected
    assert from_wgs84(lon, lat, name)[0] == pytest.approx(121.4, abs=1e-9)


def test_unknown_crs_name_names_the_allowed_values():
    with pytest.raises(ValueError, match="wgs84") as info:
        to_wgs84(121.4, 28.4, "cgcs2000")
    assert isinstance(info.value, CoverageError)
    assert str(info.value).startswith(
        "coordinate system was 'cgcs2000' but is expected to be one of ['wgs84', 'gcj02', 'bd09']"
    )

