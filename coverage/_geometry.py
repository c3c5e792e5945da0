"""Small geometry helpers shared by the engine modules."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


def polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of ``geom`` (a Polygon or MultiPolygon); lines and points dropped.

    Clipping, unions and ``make_valid`` can leave zero-area slivers as lines in a
    GeometryCollection; outputs (GeoPackage layers, GeoJSON) want one polygonal type.
    """
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def dissolve(tiles: np.ndarray) -> shapely.Geometry:
    """Union of polygons that tile without overlap and share their boundaries exactly.

    GEOS's coverage union only drops the shared edges (linear time); it is checked
    by area (a coverage's union has the summed area) and validity (overlapping tiles
    give an invalid result of the summed area), and falls back to the general union.
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
    return polygonal(shapely.union_all(tiles))


def robust_difference(a: np.ndarray, b: np.ndarray, *, grid_size: float = 1e-3) -> np.ndarray:
    """``a[k] - b[k]`` for every k, even where GEOS cannot overlay a pair as given.

    GEOS throws a TopologyException for the whole array when one pair is invalid (a
    bow-tie, a hole outside its shell). Such a pair is repaired (``make_valid``) and
    subtracted again; if that still throws, it is subtracted snapped to ``grid_size``
    (metres in a projected CRS). Every other pair keeps its exact difference.
    """
    try:
        return shapely.difference(a, b)
    except shapely.errors.GEOSException:
        pass
    out = np.empty(len(a), dtype=object)
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        try:
            out[k] = shapely.difference(x, y)
        except shapely.errors.GEOSException:
            x, y = shapely.make_valid(x), shapely.make_valid(y)
            try:
                out[k] = shapely.difference(x, y)
            except shapely.errors.GEOSException:
                out[k] = shapely.difference(x, y, grid_size=grid_size)
    return out


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
