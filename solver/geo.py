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
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(
        np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64)
    )
    h = np.sin(dp * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    km = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return np.asarray(np.where(np.isnan(km), 0.0, km))  # NaN: no location, no distance


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
    km = distance_km(lat1, lon1, lat2, lon2) * ROAD_FACTOR
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
