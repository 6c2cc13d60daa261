"""Chinese web-map coordinates to WGS-84 (domain.md §9).

Amap and Tencent give GCJ-02, Baidu gives BD-09; we store WGS-84. The forward formulas are the
published ones (as in eviltransform / coordtransform). Their inverses have no closed form, so we
iterate the forward formula until the round trip is within about a millimetre; the one-step
inverse found in most libraries is off by up to a few metres.

Outside mainland China GCJ-02 equals WGS-84 (the standard algorithm leaves such points alone);
whether a point lies in the street is for grid lookup to decide, not for this module.
"""

from __future__ import annotations

import math
from enum import StrEnum

AXIS = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses
ECCENTRICITY_SQ = 0.00669342162296594323
X_PI = math.pi * 3000.0 / 180.0
# About 1 mm in degrees: where the iterative inverses stop.
TOLERANCE_DEG = 1e-8
MAX_ITERATIONS = 30


class CRS(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


def out_of_china(lng: float, lat: float) -> bool:
    """The rough box the standard algorithm uses: outside it, GCJ-02 is WGS-84."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _lat_offset(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _lng_offset(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    if out_of_china(lng, lat):
        return lng, lat
    d_lat = _lat_offset(lng - 105.0, lat - 35.0)
    d_lng = _lng_offset(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - ECCENTRICITY_SQ * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((AXIS * (1 - ECCENTRICITY_SQ)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (AXIS / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lng + d_lng, lat + d_lat


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02_approx(lng: float, lat: float) -> tuple[float, float]:
    """The published one-step inverse: the starting point of ``bd09_to_gcj02``."""
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def _invert(forward, target: tuple[float, float], guess: tuple[float, float]):
    """Fixed-point iteration: move the guess by the round trip's error until it vanishes."""
    lng, lat = guess
    for _ in range(MAX_ITERATIONS):
        f_lng, f_lat = forward(lng, lat)
        err_lng, err_lat = f_lng - target[0], f_lat - target[1]
        if abs(err_lng) < TOLERANCE_DEG and abs(err_lat) < TOLERANCE_DEG:
            break
        lng, lat = lng - err_lng, lat - err_lat
    return lng, lat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    if out_of_china(lng, lat):
        return lng, lat
    return _invert(wgs84_to_gcj02, (lng, lat), (lng, lat))


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    return _invert(gcj02_to_bd09, (lng, lat), bd09_to_gcj02_approx(lng, lat))


def bd09_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


def to_wgs84(lng: float, lat: float, crs: str = CRS.WGS84) -> tuple[float, float]:
    """The WGS-84 position of a point given in ``crs`` (ValueError for an unknown system or a
    point that is not a longitude/latitude at all)."""
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        raise ValueError("not a longitude/latitude pair")
    converters = {
        CRS.WGS84: lambda x, y: (x, y),
        CRS.GCJ02: gcj02_to_wgs84,
        CRS.BD09: bd09_to_wgs84,
    }
    return converters[CRS(crs)](lng, lat)
