"""The one travel model: great-circle distance and travel time (vectorized, broadcasting).

The simulator moves technicians with these functions, so the solver's predictions and
the simulated world agree. Do not copy this logic elsewhere.

**No location** (help desks, remote work): a point whose latitude and longitude are NaN has
no location. The distance (and so the travel time) between it and any point is 0, and a
technician who works a ticket without a location stays where it was (:func:`next_location`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from solver.constants import EARTH_RADIUS_KM, ROAD_FACTOR

FloatArray = npt.NDArray[np.float64]
Points = tuple[FloatArray, FloatArray, FloatArray]
"""Points as :func:`leg_time_s` reads them (:func:`point_terms`): latitude in radians,
its cosine, longitude in degrees."""


def distance_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> FloatArray:
    """Great-circle (haversine) distance in kilometres; inputs broadcast like numpy.

    Parameters
    ----------
    lat1, lon1, lat2, lon2
        Coordinates in degrees (scalars or arrays that broadcast together).

    Returns
    -------
    numpy.ndarray
        Distances in km, float64, of the broadcast shape (0-d for scalars).
    """
    return _haversine_km(*latitude_terms(lat1), lon1, *latitude_terms(lat2), lon2)


def latitude_terms(lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """A latitude (degrees) in radians, and its cosine: the part of a distance that
    depends on one end alone. A route computes them once per stop and passes them to
    :func:`leg_time_s` for the legs arriving at and leaving from it."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    return phi, np.cos(phi)


def _haversine_km(
    phi1: FloatArray,
    cos1: FloatArray,
    lon1: npt.ArrayLike,
    phi2: FloatArray,
    cos2: FloatArray,
    lon2: npt.ArrayLike,
) -> FloatArray:
    """:func:`distance_km` from each end's :func:`latitude_terms` and longitude (degrees)."""
    # each step in place where it keeps its shape: the same operations, fewer arrays
    half_dp = np.asarray(np.subtract(phi2, phi1))
    half_dp *= 0.5
    np.square(np.sin(half_dp, out=half_dp), out=half_dp)
    dl = np.asarray(
        np.subtract(
            np.asarray(lon2, dtype=np.float64), np.asarray(lon1, dtype=np.float64)
        )
    )
    np.radians(dl, out=dl)
    dl *= 0.5
    np.square(np.sin(dl, out=dl), out=dl)
    across = np.asarray(np.multiply(cos1, cos2))
    h = np.asarray(np.add(half_dp, _inplace(np.multiply, across, dl)))
    # np.clip(h, 0.0, 1.0) without its Python wrapper (h >= +0 or NaN: the same values)
    np.minimum(np.maximum(h, 0.0, out=h), 1.0, out=h)
    km = np.arcsin(np.sqrt(h, out=h), out=h)
    km *= 2.0 * EARTH_RADIUS_KM
    # NaN: no location, no distance (every other distance is >= 0)
    return np.asarray(np.fmax(km, 0.0, out=km))


def _inplace(op: np.ufunc, a: FloatArray, b: npt.ArrayLike) -> FloatArray:
    """``op(a, b)``, written into ``a`` (a new array of the caller's) when the result
    has ``a``'s shape."""
    try:  # numpy checks the shapes before it writes
        return np.asarray(op(a, b, out=a))
    except ValueError:  # the result is wider than ``a``
        return np.asarray(op(a, b))


def travel_time_s(
    lat1: npt.ArrayLike,
    lon1: npt.ArrayLike,
    lat2: npt.ArrayLike,
    lon2: npt.ArrayLike,
    speed_kmh: npt.ArrayLike,
) -> FloatArray:
    """Travel time in seconds: great-circle distance x ``ROAD_FACTOR`` at ``speed_kmh``.

    Parameters
    ----------
    lat1, lon1, lat2, lon2
        Coordinates in degrees (broadcast together).
    speed_kmh
        Travel speed in km/h, > 0 (broadcast with the coordinates).

    Returns
    -------
    numpy.ndarray
        Seconds, float64, of the broadcast shape.
    """
    return _time_s(distance_km(lat1, lon1, lat2, lon2), speed_kmh)


def pair_travel_time_s(
    start: tuple[FloatArray, FloatArray],
    start_at: npt.NDArray[np.int64],
    end: tuple[FloatArray, FloatArray],
    end_at: npt.NDArray[np.int64],
    speed_kmh: npt.ArrayLike,
) -> FloatArray:
    """:func:`travel_time_s` (the same values) from point ``start_at[i]`` of ``start`` to
    point ``end_at[i]`` of ``end`` (each ``(latitudes, longitudes)`` in degrees), pair by
    pair: each point's latitude terms are computed once, not once per pair it is in."""
    return indexed_travel_time_s(
        point_terms(*start), start_at, point_terms(*end), end_at, speed_kmh
    )


def point_terms(lat: npt.ArrayLike, lon: npt.ArrayLike) -> Points:
    """Points (degrees) as :func:`leg_time_s` reads them: their :func:`latitude_terms`
    and longitude. Computed once for points that many pairs share."""
    phi, cos_phi = latitude_terms(lat)
    return phi, cos_phi, np.asarray(lon, np.float64)


def indexed_travel_time_s(
    start: Points,
    start_at: npt.NDArray[np.int64],
    end: Points,
    end_at: npt.NDArray[np.int64],
    speed_kmh: npt.ArrayLike,
) -> FloatArray:
    """:func:`travel_time_s` (the same values) from point ``start_at[i]`` of ``start`` to
    point ``end_at[i]`` of ``end``, given by their :func:`point_terms`."""
    return leg_time_s(
        (start[0][start_at], start[1][start_at], start[2][start_at]),
        (end[0][end_at], end[1][end_at], end[2][end_at]),
        speed_kmh,
    )


def leg_time_s(
    start: tuple[FloatArray, FloatArray, npt.ArrayLike],
    end: tuple[FloatArray, FloatArray, npt.ArrayLike],
    speed_kmh: npt.ArrayLike,
) -> FloatArray:
    """:func:`travel_time_s` (the same values) between points given as (latitude terms
    (:func:`latitude_terms`), longitude in degrees): ``(phi, cos phi, lon)``."""
    return _time_s(_haversine_km(*start, *end), speed_kmh)


def _time_s(km: FloatArray, speed_kmh: npt.ArrayLike) -> FloatArray:
    """Seconds to drive ``km`` (a new array, overwritten) at ``speed_kmh``."""
    km *= ROAD_FACTOR
    time = _inplace(np.divide, km, np.asarray(speed_kmh, dtype=np.float64))
    time *= 3600.0
    return time


CHORD2_SLACK = 1e-14
"""Margin on a squared chord between unit vectors computed as ``2 - 2 a.b`` (which rounds
to about 1e-15), so that :func:`travel_time_bounds_s` stay bounds."""

BOUND_SLACK = 1e-9
"""Relative widening of :func:`travel_time_bounds_s`, far beyond the rounding (~1e-15)
of either those bounds or :func:`travel_time_s`."""


def travel_time_bounds_s(
    a: FloatArray, b: FloatArray, speed_kmh: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bounds on :func:`travel_time_s` between every point of ``a`` and
    every point of ``b``, without trigonometry (one matrix product): to settle most pairs
    of a test that only gets harder with more travel, and compute the travel of the
    others.

    Parameters
    ----------
    a, b
        ``(p, 3)`` and ``(q, 3)`` unit vectors (:func:`unit_vectors`); the zero vector is a
        point without location (no travel to or from it).
    speed_kmh
        Travel speed, > 0, broadcast to ``(p, q)``.

    Returns
    -------
    tuple
        ``(p, q)`` seconds each, below and above the travel time of each pair as
        :func:`travel_time_s` computes it (both 0 where a point has no location; the
        upper one +inf for nearly antipodal points). From the chord ``c`` between two
        points: their great-circle angle ``2 asin(c / 2)`` is at least ``c`` and at most
        ``c / sqrt(1 - c^2 / 4)`` (``x <= asin x <= tan asin x``); widened by
        ``CHORD2_SLACK`` and ``BOUND_SLACK``.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    c2 = 2.0 - 2.0 * (a @ b.T)
    lo2 = np.maximum(c2 - CHORD2_SLACK, 0.0)
    c2 += CHORD2_SLACK
    np.maximum(c2, CHORD2_SLACK, out=c2)
    den = 1.0 - 0.25 * c2
    with np.errstate(divide="ignore", invalid="ignore"):
        hi = np.where(den > 0.0, np.sqrt(c2 / den), np.inf)
    per_radian = (
        EARTH_RADIUS_KM * ROAD_FACTOR * 3600.0 / np.asarray(speed_kmh, np.float64)
    )
    lower = np.asarray(np.sqrt(lo2) * (per_radian * (1.0 - BOUND_SLACK)), np.float64)
    upper = np.asarray(hi * (per_radian * (1.0 + BOUND_SLACK)), np.float64)
    a_nowhere, b_nowhere = ~np.any(a, axis=1), ~np.any(b, axis=1)
    if a_nowhere.any() or b_nowhere.any():  # (most calls: every point located)
        nowhere = np.broadcast_to(a_nowhere[:, None] | b_nowhere[None, :], upper.shape)
        lower[nowhere] = upper[nowhere] = 0.0
    return lower, upper


def next_location(
    lat: npt.ArrayLike, lon: npt.ArrayLike, to_lat: npt.ArrayLike, to_lon: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Where a technician at (lat, lon) is after working at (to_lat, to_lon): there, or
    where it was when that work has no location (NaN). Broadcasts like numpy."""
    to_lat = np.asarray(to_lat, dtype=np.float64)
    to_lon = np.asarray(to_lon, dtype=np.float64)
    here = np.isnan(to_lat)
    return (
        np.asarray(np.where(here, lat, to_lat), np.float64),
        np.asarray(np.where(here, lon, to_lon), np.float64),
    )


def next_point(at: Points, to: Points) -> Points:
    """:func:`next_location` of points given by their :func:`point_terms` (``at``:
    where each technician is, ``to``: the work it does next, arrays of one shape): the
    latitude terms move with the longitude."""
    here = np.isnan(to[0])  # the radians and cosine of a latitude are NaN where it is
    if not here.any():
        return to
    return (
        np.asarray(np.where(here, at[0], to[0]), np.float64),
        np.asarray(np.where(here, at[1], to[1]), np.float64),
        np.asarray(np.where(here, at[2], to[2]), np.float64),
    )


def unit_vectors(lat: npt.ArrayLike, lon: npt.ArrayLike) -> FloatArray:
    """Points on the unit sphere, shape (n, 3): chord length orders like great-circle distance.

    Parameters
    ----------
    lat, lon
        Degrees, 1-d arrays of equal length.

    Returns
    -------
    numpy.ndarray
        (n, 3) float64, suitable for the Euclidean spatial index (:mod:`solver.spatial`).
    """
    p = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    cp = np.cos(p)
    v = np.stack([cp * np.cos(lam), cp * np.sin(lam), np.sin(p)], axis=-1)
    # no location: the centre of the sphere, equally far (1) from every point on it
    return np.asarray(np.where(np.isnan(v), 0.0, v))
