"""The pixel overlay against areas computed by hand and against exact GEOS clipping."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from eldercare_coverage.analysis import covered_share, elderly_in_regions
from eldercare_coverage.raster_overlay import OverlayGrid


def _grid_cells(n: int = 10, size: float = 100.0, x0: float = 500_000.0,
                y0: float = 3_100_000.0) -> np.ndarray:
    i, j = np.meshgrid(np.arange(n), np.arange(n))
    x, y = x0 + i.ravel() * size, y0 + j.ravel() * size
    return shapely.box(x, y, x + size, y + size)


def test_half_covered_cells_and_overlapping_polygons_count_once():
    cells = _grid_cells(2)
    x0, y0 = 500_000.0, 3_100_000.0
    grid = OverlayGrid(cells, np.array([10.0, 20.0, 30.0, 40.0]), pixel_m=10)
    # a band over the left half of the left column, given twice (overlap counts once)
    band = shapely.box(x0, y0, x0 + 50, y0 + 200)
    share = grid.covered_share([band, band])
    order = np.argsort([c.bounds[0] * 1e7 + c.bounds[1] for c in cells])
    assert share[order].tolist() == [0.5, 0.5, 0.0, 0.0]
    assert grid.elderly_in([band, shapely.Polygon()]).tolist() == [
        pytest.approx(0.5 * 10 + 0.5 * 30), 0.0]


def test_disc_shares_match_exact_clipping():
    cells = _grid_cells(20)
    rng = np.random.default_rng(3)
    elderly = rng.integers(0, 50, len(cells)).astype(float)
    c = shapely.centroid(shapely.union_all(cells))
    discs = [shapely.buffer(c, 600.0, quad_segs=32),
             shapely.buffer(shapely.Point(c.x - 700, c.y + 300), 350.0, quad_segs=32)]
    grid = OverlayGrid(cells, elderly, pixel_m=5)
    exact = covered_share(cells, shapely.union_all(discs))
    got = grid.covered_share(discs)
    assert np.abs(got - exact).max() < 0.06
    assert (elderly * got).sum() == pytest.approx((elderly * exact).sum(), rel=2e-3)
    np.testing.assert_allclose(grid.elderly_in(discs), elderly_in_regions(cells, elderly,
                                                                           np.array(discs)),
                               rtol=5e-3)


def test_cells_smaller_than_a_pixel_are_clipped_exactly():
    tiny = shapely.box([0.0, 3.0], [0.0, 0.0], [3.0, 6.0], [3.0, 3.0])  # 3 m cells
    big = shapely.box(0.0, 3.0, 100.0, 103.0)
    cells = np.concatenate([tiny, [big]])
    grid = OverlayGrid(cells, np.array([9.0, 9.0, 100.0]), pixel_m=10)
    assert grid.small.tolist() == [0, 1]
    poly = shapely.box(0.0, 0.0, 4.5, 3.0)  # all of cell 0, half of cell 1, none of the big
    share = grid.covered_share([poly])
    assert share.tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert grid.elderly_in([poly])[0] == pytest.approx(9 + 4.5)


def test_totals_are_conserved_whatever_the_polygons():
    cells = _grid_cells(8, size=90.0)
    elderly = np.arange(len(cells), dtype=float)
    grid = OverlayGrid(cells, elderly, pixel_m=10)
    everything = shapely.box(0, 0, 1e7, 1e7)
    assert grid.covered_share([everything]).tolist() == [1.0] * len(cells)
    assert grid.elderly_in([everything])[0] == pytest.approx(elderly.sum(), rel=1e-12)
    assert grid.covered_share([]).sum() == 0.0


def test_threads_raise_no_rasterio_warnings():
    """GDAL in worker threads once warned 'no geotransform' now and then."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    cells = _grid_cells(3)
    grid = OverlayGrid(cells, np.ones(len(cells)), pixel_m=10)
    band = shapely.box(500_000.0, 3_100_000.0, 500_150.0, 3_100_300.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ThreadPoolExecutor(2) as pool:
            shares = list(pool.map(lambda _: grid.covered_share([band]).sum(), range(300)))
    assert shares == [pytest.approx(4.5)] * 300


def _random_polygons(rng: np.random.Generator, n: int, x0: float, y0: float) -> list:
    """Star-shaped rings with holes, multipolygons, some reaching past the raster."""
    out = []
    for _ in range(n):
        c = np.array([x0, y0]) + rng.uniform(-100, 1100, 2)
        k = int(rng.integers(5, 40))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(20, 300, k)
        shell = shapely.Polygon(c + np.column_stack([np.cos(ang), np.sin(ang)]) * rad[:, None])
        g = shapely.difference(shell, shapely.buffer(shapely.Point(c), rad.min() / 2))
        if rng.random() < 0.3:
            g = shapely.union(g, shapely.box(*(c + 350), *(c + 420)))
        out.append(g)
    return out


def test_pixels_are_those_gdal_burns_and_people_are_summed_over_them():
    from affine import Affine
    from rasterio import features

    x0, y0 = 500_000.0, 3_100_000.0
    cells = _grid_cells(10, x0=x0, y0=y0)  # 1 km square of 100 m cells, 7 m pixels
    rng = np.random.default_rng(11)
    elderly = rng.uniform(0, 40, len(cells))
    grid = OverlayGrid(cells, elderly, pixel_m=7)
    polys = _random_polygons(rng, 40, x0, y0)
    tr = Affine(7, 0, grid.x0, 0, -7, grid.y1)
    people = []
    for g in polys:
        # GDAL's own rasterisation of the polygon simplified as the overlay does
        ref = features.rasterize([(shapely.simplify(g, 0.7), 1)], out_shape=(grid.height,
                                 grid.width), transform=tr, fill=0, dtype="uint8").astype(bool)
        inside, r0, c0 = grid._burn(grid._spans([g]))
        ours = np.zeros_like(ref)
        ours[r0:r0 + inside.shape[0], c0:c0 + inside.shape[1]] = inside
        assert (ours != ref).sum() == 0
        per_pixel = elderly / grid.n_pixels
        lab = grid.label[ref]
        people.append(per_pixel[lab[lab >= 0]].sum())
    assert grid.elderly_in(polys) == pytest.approx(np.array(people), rel=1e-9, abs=1e-9)
    # the union of all: the pixels GDAL burns for any of them
    ref = features.rasterize([(shapely.simplify(g, 0.7), 1) for g in polys],
                             out_shape=(grid.height, grid.width), transform=tr, fill=0,
                             dtype="uint8").astype(bool)
    hit = grid.label[ref]
    expected = np.bincount(hit[hit >= 0], minlength=len(cells)) / grid.n_pixels
    assert grid.covered_share(polys) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("overlap", [False, True])
def test_cell_labels_are_those_gdal_burns(overlap):
    import pyproj
    from rasterio import features

    # WorldPop-like cells: 3 arc-second squares in degrees, moved to UTM (quadrilaterals)
    lon, lat = np.meshgrid(121.30 + np.arange(12) / 1200, 28.30 + np.arange(9) / 1200)
    boxes = shapely.box(lon.ravel(), lat.ravel(), lon.ravel() + 1 / 1200, lat.ravel() + 1 / 1200)
    to_utm = pyproj.Transformer.from_crs(4326, 32651, always_xy=True)
    cells = shapely.transform(shapely.segmentize(boxes, 1e-4),
                              lambda c: np.column_stack(to_utm.transform(*c.T)))
    if overlap:  # a malformed grid: one cell drawn twice as large over its neighbours
        cells[40] = shapely.buffer(cells[40], 60.0)
    grid = OverlayGrid(cells, np.ones(len(cells)), pixel_m=9)
    ref = features.rasterize(zip(cells, range(len(cells)), strict=True),
                             out_shape=(grid.height, grid.width), transform=grid.transform,
                             fill=-1, dtype="int32")
    assert (grid.label != ref).sum() == 0
    assert (grid.label >= 0).sum() > 0.9 * grid.label.size
