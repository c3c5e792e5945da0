"""Small geometry helpers shared by the engine modules."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

GRID_M = 1e-3  # metres: the grid a union falls back to (and service areas are snapped to)
MIN_CHECKED_M2 = 1e-4  # square metres: smaller inputs of a union are not checked for loss


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``geom`` (a Polygon or MultiPolygon); lines and points dropped.

    Clipping, unions and ``make_valid`` can leave zero-area slivers as lines in a
    GeometryCollection; outputs (GeoPackage layers, GeoJSON) want one polygonal type.
    A MultiPolygon of a single part becomes that Polygon.
    """
    if geom.geom_type == "Polygon":
        return geom
    if geom.geom_type == "MultiPolygon":  # of one part (a hairline gap closed on a grid):
        return geom.geoms[0] if len(geom.geoms) == 1 else geom  # the Polygon
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def dissolve(tiles: np.ndarray) -> shapely.Geometry:
    """Union of polygons that tile without overlap and share their boundaries exactly.

    GEOS's coverage union only drops the shared edges (linear time); it is checked
    by area (a coverage's union has the summed area) and validity (overlapping tiles
    give an invalid result of the summed area), and falls back to the general union,
    itself checked for lost tiles (:func:`checked_union`).
    """
    tiles = tiles[~shapely.is_empty(tiles)]
    if len(tiles) == 0:
        return shapely.Polygon()
    if len(tiles) == 1:
        return polygonal(tiles[0])
    total = float(shapely.area(tiles).sum())
    try:
        out = shapely.coverage_union_all(tiles)
        if abs(out.area - total) <= 1e-9 * max(total, 1.0) and out.is_valid:
            return polygonal(out)
    except shapely.errors.GEOSException:
        pass
    return polygonal(checked_union(tiles))


def checked_union(geoms: np.ndarray, *, grid_size: float = GRID_M) -> shapely.Geometry:
    """``union_all`` of ``geoms``, snap-rounded to ``grid_size`` (metres) where GEOS
    cannot do it as given, or where it lost one of them (see :func:`lost_inputs`)."""
    try:
        out = shapely.union_all(geoms)
        if not lost_inputs(np.array([out], dtype=object), geoms,
                           np.zeros(len(geoms), np.int64)).any():
            return out
    except shapely.errors.GEOSException:  # nearly coincident edges
        pass
    return shapely.union_all(geoms, grid_size=grid_size)


def lost_inputs(unions: np.ndarray, geoms: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Which of ``unions`` lost one of its inputs (``geoms[i]`` went into ``unions[of[i]]``).

    GEOS 3.14 can drop an input of a union without raising (libgeos/geos#965: a piece
    of 29 m2 vanished from a service area). A point inside every input of some area
    must lie in its union; tiny slivers (``MIN_CHECKED_M2``) are not checked (their
    point may sit on the union's boundary by rounding).
    """
    bad = np.zeros(len(unions), dtype=bool)
    check = np.flatnonzero(shapely.area(geoms) > MIN_CHECKED_M2)
    if len(check) == 0:
        return bad
    pts = shapely.point_on_surface(geoms[check])
    inside = shapely.intersects_xy(unions[of[check]], shapely.get_x(pts), shapely.get_y(pts))
    bad[of[check][~inside]] = True
    return bad


def repaired(geoms: np.ndarray, present: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """``geoms`` with the invalid ones made valid (a copy when any is), and how many were.

    Examples
    --------
    >>> bow_tie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    >>> out, n = repaired(np.array([bow_tie, shapely.box(0, 0, 1, 1)], dtype=object))
    >>> n, bool(shapely.is_valid(out).all()), round(float(out[0].area), 6)
    (1, True, 2.0)
    """
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if present is not None:
        bad &= present
    if not bad.any():
        return geoms, 0
    out = np.array(geoms, dtype=object, copy=True)
    out[bad] = shapely.make_valid(out[bad])
    return out, int(bad.sum())


def valid(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with its invalid polygons repaired (``make_valid``, polygon parts kept).

    Reprojecting moves every vertex by its own rounding: two edges nanometres apart
    can cross afterwards. Outputs must open cleanly in QGIS and overlay in GEOS.
    """
    geoms = gdf.geometry.to_numpy()
    bad = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if not bad.any():
        return gdf
    out = gdf.copy()
    fixed = np.array([polygonal(g) if shapely.get_type_id(g) in (3, 6, 7) else g
                      for g in shapely.make_valid(geoms[bad])], dtype=object)
    out.loc[bad, out.geometry.name] = fixed
    return out
