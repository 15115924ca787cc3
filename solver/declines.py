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


def able_technicians(
    required: npt.ArrayLike, held: npt.ArrayLike, excluded: Collection[int] = ()
) -> npt.NDArray[np.bool_]:
    """Which technician rows (``held``: (m, n_skills) levels) can do a ticket requiring
    ``required`` ((n_skills,) minimum levels, 0 = not required), ``excluded`` rows aside."""
    levels = np.asarray(held, np.int64)
    ok: npt.NDArray[np.bool_] = np.asarray(
        (levels >= np.asarray(required, np.int64)).all(axis=1), np.bool_
    )
    ok[list(excluded)] = False
    return ok


def declined_by_every_able(
    required: npt.ArrayLike,
    held: npt.ArrayLike,
    declined: Collection[int],
    excluded: Collection[int] = (),
) -> bool:
    """Some technician is able to do the ticket and every able one has declined it
    (row indices in ``declined``): nobody is left to take it."""
    able = able_technicians(required, held, excluded)
    if not able.any():
        return False
    left = able.copy()
    left[list(declined)] = False
    return not left.any()
