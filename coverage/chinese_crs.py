"""WGS-84, GCJ-02 and BD-09: the coordinate systems of Chinese web maps.

Chinese map providers publish coordinates that are deliberately offset from
WGS-84 (and so from OpenStreetMap) by 100-700 m:

- **GCJ-02** ("Mars coordinates", 国测局坐标): AMap/Gaode, Tencent, Google Maps in
  mainland China. WGS-84 plus a smooth, non-linear offset computed on the
  Krasovsky 1940 ellipsoid.
- **BD-09** (百度坐标): Baidu. GCJ-02 plus a further rotation and shift.

The forward formulas (WGS-84 to GCJ-02, GCJ-02 to BD-09) are the published
algorithms reproduced by every public converter (e.g. ``wandergis/coordTransform``,
``googollee/eviltransform``). The backward conversions here are *exact* inverses of
them, found by fixed-point iteration to better than 1e-9 degree (about 0.1 mm),
not the usual one-step approximations that are off by up to a few metres.

As in the published algorithms, points outside the rough rectangle of China
(72.004-137.8347 E, 0.8293-55.8271 N) are returned unchanged, and so are NaN
coordinates. Every function takes scalars or array-likes (broadcast together)
and returns two floats or two arrays.

Examples
--------
>>> lon, lat = wgs84_to_gcj02(121.37, 28.37)  # Wenling, Zhejiang
>>> round(lon, 6), round(lat, 6)
(121.374391, 28.366928)
>>> lon2, lat2 = gcj02_to_wgs84(lon, lat)
>>> abs(lon2 - 121.37) < 1e-9 and abs(lat2 - 28.37) < 1e-9
True
>>> to_wgs84([121.37, 2.35], [28.37, 48.85], "Gaode")[1].round(6).tolist()
[28.373077, 48.85]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._errors import UnknownCrsError

__all__ = [
    "CHINA_BBOX",
    "CRS_NAMES",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "normalize_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

_A = 6378245.0  # metres, semi-major axis of the Krasovsky 1940 ellipsoid (GCJ-02)
_EE = 0.00669342162296594323  # squared first eccentricity of the Krasovsky ellipsoid
_X_PI = np.pi * 3000.0 / 180.0  # BD-09 constant
_BD_DLON = 0.0065  # degrees, BD-09 shift in longitude
_BD_DLAT = 0.006  # degrees, BD-09 shift in latitude
_TOL_DEG = 1e-9  # degrees, convergence of the inverse iterations (about 0.1 mm)
_MAX_ITER = 50

#: (west, south, east, north) of the rectangle inside which the offsets apply, degrees.
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)

#: Canonical names of the supported coordinate systems.
CRS_NAMES = ("wgs84", "gcj02", "bd09")

_ALIASES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs 84": "wgs84",
    "epsg:4326": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}

FloatOrArray = Any  # float for scalar input, NDArray[np.float64] otherwise


def normalize_crs(crs: str) -> str:
    """The canonical name (``"wgs84"``, ``"gcj02"`` or ``"bd09"``) of a CRS name.

    Names are case-insensitive; ``"gcj-02"``, ``"amap"``, ``"gaode"`` and
    ``"tencent"`` mean GCJ-02, ``"baidu"`` and ``"bd-09"`` mean BD-09,
    ``"epsg:4326"`` and ``"wgs-84"`` mean WGS-84.

    Raises
    ------
    UnknownCrsError
        (a ``ValueError``) when the name is none of these.

    Examples
    --------
    >>> normalize_crs("AMap"), normalize_crs(" BD-09 "), normalize_crs("EPSG:4326")
    ('gcj02', 'bd09', 'wgs84')
    """
    key = str(crs).strip().lower()
    if key not in _ALIASES:
        raise UnknownCrsError(
            f"coordinate system was {crs!r} but is expected to be one of {list(CRS_NAMES)} "
            f"(aliases: {', '.join(k for k in _ALIASES if k not in CRS_NAMES)})"
        )
    return _ALIASES[key]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64], bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return x.astype(float, copy=True), y.astype(float, copy=True), scalar


def _out(x: NDArray[np.float64], y: NDArray[np.float64], scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(x), float(y)
    return x, y


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Whether points lie in :data:`CHINA_BBOX`, where the offsets apply (NaN: False).

    Examples
    --------
    >>> in_china([121.37, 2.35, np.nan], [28.37, 48.85, 28.0]).tolist()
    [True, False, False]
    """
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    w, s, e, n = CHINA_BBOX
    with np.errstate(invalid="ignore"):
        return np.asarray((x >= w) & (x <= e) & (y >= s) & (y <= n))


def _gcj_offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The GCJ-02 offset (degrees) at WGS-84 points, as in the published algorithm."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _wgs_to_gcj(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlon, dlat = _gcj_offset(x, y)
    return x + dlon, y + dlat


def _gcj_to_bd(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_to_gcj_published(
    x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = x - _BD_DLON
    y = y - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Any,
    tx: NDArray[np.float64],
    ty: NDArray[np.float64],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Solve ``forward(x, y) == (tx, ty)`` by fixed-point iteration from a first guess.

    The offsets change by far less than a degree per degree, so the iteration
    ``p <- p - (forward(p) - target)`` contracts quickly (3-5 steps).
    """
    todo = np.arange(x.size)
    x, y, tx, ty = x.ravel(), y.ravel(), tx.ravel(), ty.ravel()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x[todo], y[todo])
        ex, ey = fx - tx[todo], fy - ty[todo]
        x[todo] -= ex
        y[todo] -= ey
        todo = todo[(np.abs(ex) > _TOL_DEG) | (np.abs(ey) > _TOL_DEG)]
        if todo.size == 0:
            break
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS-84 longitude/latitude (degrees) to GCJ-02 (AMap/Gaode, Tencent).

    Examples
    --------
    >>> [round(v, 8) for v in wgs84_to_gcj02(116.404, 39.915)]  # Beijing
    [116.4102445, 39.91640428]
    """
    x, y, scalar = _arrays(lon, lat)
    inside = in_china(x, y)
    x[inside], y[inside] = _wgs_to_gcj(x[inside], y[inside])
    return _out(x, y, scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert GCJ-02 longitude/latitude (degrees) to WGS-84, exactly.

    The exact inverse of :func:`wgs84_to_gcj02` (to 1e-9 degree), by fixed-point
    iteration from the one-step approximation.

    Examples
    --------
    >>> [round(v, 6) for v in gcj02_to_wgs84(121.531541859215, 31.17530398364597)]
    [121.527211, 31.177428]
    """
    x, y, scalar = _arrays(lon, lat)
    inside = in_china(x, y)
    tx, ty = x[inside], y[inside]
    dlon, dlat = _gcj_offset(tx, ty)
    x[inside], y[inside] = _invert(_wgs_to_gcj, tx, ty, tx - dlon, ty - dlat)
    return _out(x, y, scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert GCJ-02 longitude/latitude (degrees) to BD-09 (Baidu).

    Examples
    --------
    >>> [round(v, 8) for v in gcj02_to_bd09(116.404, 39.915)]
    [116.41036949, 39.92133699]
    """
    x, y, scalar = _arrays(lon, lat)
    inside = in_china(x, y)
    x[inside], y[inside] = _gcj_to_bd(x[inside], y[inside])
    return _out(x, y, scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert BD-09 longitude/latitude (degrees) to GCJ-02, exactly.

    Starts from Baidu's published backward formula (itself off by up to about
    2e-6 degree, 20 cm) and refines it to the exact inverse of :func:`gcj02_to_bd09`.

    Examples
    --------
    >>> [round(v, 6) for v in bd09_to_gcj02(116.404, 39.915)]
    [116.397627, 39.908656]
    """
    x, y, scalar = _arrays(lon, lat)
    inside = in_china(x, y)
    tx, ty = x[inside], y[inside]
    gx, gy = _bd_to_gcj_published(tx, ty)
    x[inside], y[inside] = _invert(_gcj_to_bd, tx, ty, gx, gy)
    return _out(x, y, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS-84 longitude/latitude (degrees) to BD-09 (via GCJ-02).

    Examples
    --------
    >>> [round(v, 6) for v in wgs84_to_bd09(121.37, 28.37)]
    [121.380985, 28.372582]
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert BD-09 longitude/latitude (degrees) to WGS-84 (via GCJ-02), exactly.

    Examples
    --------
    >>> [round(v, 6) for v in bd09_to_wgs84(121.380985, 28.372582)]
    [121.37, 28.37]
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert coordinates given in ``crs`` (a name of :func:`normalize_crs`) to WGS-84.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees, scalars or array-likes.
    crs
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` or one of their aliases.

    Returns
    -------
    tuple
        WGS-84 longitudes and latitudes (floats for scalar input, else arrays).

    Raises
    ------
    UnknownCrsError
        (a ``ValueError``) when ``crs`` is not a known name.

    Examples
    --------
    >>> [round(v, 6) for v in to_wgs84(121.374391, 28.366928, "GCJ-02")]
    [121.37, 28.37]
    >>> to_wgs84(1.0, 2.0, "wgs84")
    (1.0, 2.0)
    """
    name = normalize_crs(crs)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if name == "bd09":
        return bd09_to_wgs84(lon, lat)
    x, y, scalar = _arrays(lon, lat)
    return _out(x, y, scalar)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert WGS-84 coordinates to ``crs``: the inverse of :func:`to_wgs84`.

    Examples
    --------
    >>> [round(v, 6) for v in from_wgs84(121.37, 28.37, "amap")]
    [121.374391, 28.366928]
    """
    name = normalize_crs(crs)
    if name == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if name == "bd09":
        return wgs84_to_bd09(lon, lat)
    x, y, scalar = _arrays(lon, lat)
    return _out(x, y, scalar)
