"""The declines rule shared by the service and the simulator (``solver.declines``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from solver.declines import able_technicians, declined_by_every_able


@st.composite
def rosters(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, set[int], set[int]]:
    n_skills = draw(st.integers(1, 3))
    m = draw(st.integers(0, 6))
    levels = st.integers(0, 3)
    held = np.array(
        draw(st.lists(st.lists(levels, min_size=n_skills, max_size=n_skills),
                      min_size=m, max_size=m)),
        np.int64,
    ).reshape(m, n_skills)  # fmt: skip
    required = np.array(
        draw(st.lists(levels, min_size=n_skills, max_size=n_skills)), np.int64
    )
    rows = st.sets(st.integers(0, max(0, m - 1)), max_size=m) if m else st.just(set())
    return held, required, draw(rows), draw(rows)


@given(rosters())
def test_stranded_exactly_when_every_able_technician_declined(
    case: tuple[np.ndarray, np.ndarray, set[int], set[int]],
) -> None:
    """Able = every required level held and not excluded; stranded = someone is able and
    every able one declined (checked row by row against the definition)."""
    held, required, declined, excluded = case
    able = {
        j
        for j in range(len(held))
        if all(held[j, s] >= required[s] for s in range(len(required)))
        and j not in excluded
    }
    assert set(np.flatnonzero(able_technicians(required, held, excluded))) == able
    assert declined_by_every_able(required, held, declined, excluded) == (
        bool(able) and able <= declined
    )


def test_a_decline_by_a_technician_unable_anyway_strands_nobody() -> None:
    held = np.array([[1, 0], [0, 2]])
    need_first = np.array([1, 0])
    assert not declined_by_every_able(need_first, held, {1})
    assert declined_by_every_able(need_first, held, {0})
    assert not declined_by_every_able(np.array([3, 0]), held, {0, 1})  # nobody able
