"""The pixel overlay against areas computed by hand and against exact GEOS clipping."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from coverage.analysis import covered_share, elderly_in_regions
from coverage.raster_overlay import OverlayGrid


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
