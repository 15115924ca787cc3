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
    half_dp = np.subtract(phi2, phi1)
    half_dp *= 0.5
    dl = np.radians(
        np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64)
    )
    dl *= 0.5
    h = np.asarray(np.square(np.sin(half_dp)) + cos1 * cos2 * np.square(np.sin(dl)))
    np.clip(h, 0.0, 1.0, out=h)
    km = np.arcsin(np.sqrt(h, out=h), out=h)
    km *= 2.0 * EARTH_RADIUS_KM
    km[np.isnan(km)] = 0.0  # NaN: no location, no distance
    return km


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
    phi1, cos1 = latitude_terms(start[0])
    phi2, cos2 = latitude_terms(end[0])
    return leg_time_s(
        (phi1[start_at], cos1[start_at], np.asarray(start[1])[start_at]),
        (phi2[end_at], cos2[end_at], np.asarray(end[1])[end_at]),
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
    km = km * ROAD_FACTOR
    return np.asarray(km / np.asarray(speed_kmh, dtype=np.float64) * 3600.0)


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
