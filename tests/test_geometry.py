"""Geometry helpers: ring bands survive pairs GEOS cannot subtract as given; gap groups;
unions that lose an input are done again."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely


def test_gap_groups_union_and_mode_equal_per_group_pandas_and_geos():
    # random 8-connected groups on a 100 m grid: each group's union must be what
    # shapely.union_all gives for its cells, its town what pandas' mode() gives
    from scipy import ndimage

    from eldercare_coverage.analysis import mode_by_label, union_by_label

    rng = np.random.default_rng(5)
    mask = rng.random((40, 50)) < 0.45
    lab, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
    r, c = np.nonzero(lab)
    labels = lab[r, c]
    cells = shapely.box(c * 100.0, -r * 100.0, c * 100.0 + 100, -r * 100.0 + 100)
    towns = rng.choice(np.array(["东镇", "西镇", "南镇", None], dtype=object), len(labels),
                       p=[0.3, 0.3, 0.2, 0.2])
    got_labels, unions = union_by_label(cells, labels)
    np.testing.assert_array_equal(got_labels, np.unique(labels))
    assert (np.bincount(labels)[got_labels] > 1).sum() > 10  # many groups of several cells
    for k, g in zip(got_labels, unions, strict=True):
        expected = shapely.union_all(cells[labels == k])
        assert shapely.symmetric_difference(g, expected).area < 1e-6
        assert g.area == pytest.approx(expected.area, rel=1e-12)
    mode = mode_by_label(labels, towns)
    s = pd.Series(towns).groupby(labels)
    expected = s.agg(lambda v: v.mode().iat[0] if v.notna().any() else None).dropna()
    assert mode.sort_index().to_dict() == expected.to_dict()


def test_dissolve_of_overlapping_tiles_is_their_valid_union():
    # cells of a user's vector grid may overlap (10 m here): the coverage union then
    # returns an invalid polygon of the summed area; dissolve must give the true union
    from eldercare_coverage._geometry import dissolve

    tiles = np.array([shapely.box(0, 0, 100, 100), shapely.box(90, 0, 200, 100)], dtype=object)
    out = dissolve(tiles)
    assert out.is_valid
    assert out.area == pytest.approx(200 * 100)
    grid = np.array([shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], dtype=object)
    assert dissolve(grid).area == pytest.approx(200 * 100) and dissolve(grid).is_valid


def test_a_union_that_loses_an_input_is_done_again():
    # four valid polygons of a service area: GEOS 3.14.1's union_all (and its pairwise
    # union) dropped the smallest, 29 m2, without raising (libgeos/geos#965); ours must
    # hold all four, whatever GEOS does
    from pathlib import Path

    from eldercare_coverage._geometry import checked_union
    from eldercare_coverage.isochrones import _union_groups

    text = (Path(__file__).parent / "data" / "geos_union_loses_a_piece.wkb.hex").read_text()
    geoms = np.array([shapely.from_wkb(h) for h in text.split()], dtype=object)
    assert [round(g.area, 2) for g in geoms] == [236448.54, 4707.86, 2510.67, 29.12]
    for u in (checked_union(geoms), _union_groups(geoms, np.zeros(4, dtype=np.int64))[0][0]):
        assert shapely.covers(shapely.buffer(u, 1e-3), geoms).all()
        assert u.area >= 243524.0  # the four less their overlaps (243,495 without the last)


def test_lost_inputs_are_found_and_united_again(monkeypatch):
    # a union that drops an input (as GEOS's bug does) is noticed and redone snap-rounded
    import eldercare_coverage.isochrones as iso
    from eldercare_coverage._geometry import checked_union, dissolve

    discs = shapely.buffer(shapely.points([[0, 0], [15, 0], [100, 0], [115, 0]]), 10.0)
    exact = shapely.union_all(discs).area
    real_union_all = shapely.union_all

    def drops_last(geoms, grid_size=None, **kw):
        geoms = np.asarray(geoms, dtype=object)
        return real_union_all(geoms if grid_size else geoms[:-1], grid_size=grid_size, **kw)

    def keeps_first(a, b, **kw):  # a pairwise union that loses its second input
        return np.asarray(a, dtype=object).copy()

    monkeypatch.setattr(iso.shapely, "union_all", drops_last)
    assert checked_union(discs).area == pytest.approx(exact, rel=1e-3)  # mm grid; a disc is 25 %
    # dissolve's fallback (tiles that are no coverage: these discs overlap) is checked too
    assert dissolve(discs).area == pytest.approx(exact, rel=1e-3)
    monkeypatch.setattr(iso.shapely, "union", keeps_first)
    united, codes = iso._union_groups(discs, np.array([5, 5, 9, 9]))
    assert codes.tolist() == [5, 9]
    assert [g.area for g in united] == pytest.approx([exact / 2, exact / 2], rel=1e-3)


def test_polygonal_keeps_polygons_only_and_unwraps_single_parts():
    from eldercare_coverage._geometry import polygonal

    square, far = shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)
    assert polygonal(shapely.MultiPolygon([square])).geom_type == "Polygon"
    assert polygonal(shapely.MultiPolygon([square])).equals(square)
    both = polygonal(shapely.GeometryCollection([square, shapely.LineString([(0, 0), (9, 9)]),
                                                 shapely.MultiPolygon([far])]))
    assert both.geom_type == "MultiPolygon" and both.area == pytest.approx(2.0)
    assert polygonal(shapely.LineString([(0, 0), (1, 1)])).is_empty
