"""Declines that leave nobody: the one rule the service's solve loop and the simulator both
apply ("a ticket declined by every technician able to do it is escalated, never stranded").

A technician is *able* to do a ticket when it holds every required skill at the required
level and the ticket does not exclude it; its shift, status and queue do not matter (a
technician off shift now may take the ticket later, so the ticket is not stranded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Collection

    import numpy.typing as npt


def able_matrix(
    required: npt.ArrayLike, held: npt.ArrayLike, excluded: npt.ArrayLike | None = None
) -> npt.NDArray[np.bool_]:
    """(n, m): technician row j (``held``: (m, n_skills) levels) can do ticket i
    (``required``: (n, n_skills) minimum levels, 0 = not required) and ``excluded`` ((n, m)
    bool) does not bar it. One skill column at a time: memory n x m."""
    req = np.asarray(required, np.int64)
    levels = np.asarray(held, np.int64)
    able = np.ones((req.shape[0], levels.shape[0]), np.bool_)
    for c in range(req.shape[1]):
        able &= levels[None, :, c] >= req[:, None, c]
    if excluded is not None:
        able &= ~np.asarray(excluded, np.bool_)
    return able


def stranded(
    required: npt.ArrayLike,
    held: npt.ArrayLike,
    declined: npt.ArrayLike,
    excluded: npt.ArrayLike | None = None,
) -> npt.NDArray[np.bool_]:
    """(n,): some technician is able to do ticket i and every able one has declined it
    (``declined``: (n, m) bool): nobody is left to take it."""
    able = able_matrix(required, held, excluded)
    left = able & ~np.asarray(declined, np.bool_)
    return np.asarray(able.any(axis=1) & ~left.any(axis=1), np.bool_)


def able_technicians(
    required: npt.ArrayLike, held: npt.ArrayLike, excluded: Collection[int] = ()
) -> npt.NDArray[np.bool_]:
    """Which technician rows can do one ticket requiring ``required`` ((n_skills,)),
    ``excluded`` rows aside (``able_matrix`` for one ticket)."""
    m = np.asarray(held).shape[0]
    one = np.asarray(required, np.int64)[None, :]
    able: npt.NDArray[np.bool_] = able_matrix(one, held, _mask(m, excluded)[None, :])[0]
    return able


def declined_by_every_able(
    required: npt.ArrayLike,
    held: npt.ArrayLike,
    declined: Collection[int],
    excluded: Collection[int] = (),
) -> bool:
    """``stranded`` for one ticket (row indices in ``declined`` and ``excluded``)."""
    m = np.asarray(held).shape[0]
    one = np.asarray(required, np.int64)[None, :]
    return bool(
        stranded(one, held, _mask(m, declined)[None, :], _mask(m, excluded)[None, :])[0]
    )


def _mask(m: int, rows: Collection[int]) -> npt.NDArray[np.bool_]:
    out = np.zeros(m, np.bool_)
    out[list(rows)] = True
    return out
