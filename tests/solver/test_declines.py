"""The declines rule shared by the service and the simulator (``solver.declines``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from solver.declines import able_technicians, declined_by_every_able, stranded


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


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, list[tuple[Any, set[int], set[int]]]]:
    """One roster and up to 6 tickets on it (required levels, declined and excluded rows)."""
    held, _, _, _ = draw(rosters())
    m, n_skills = held.shape
    levels = st.lists(st.integers(0, 3), min_size=n_skills, max_size=n_skills)
    rows = st.sets(st.integers(0, m - 1), max_size=m) if m else st.just(set())
    tickets = draw(st.lists(st.tuples(levels, rows, rows), min_size=1, max_size=6))
    return held, tickets


@given(batches())
def test_many_tickets_at_once_is_each_ticket_alone(
    case: tuple[np.ndarray, list[tuple[Any, set[int], set[int]]]],
) -> None:
    """``stranded`` over a batch (the service's call) equals ``declined_by_every_able``
    per ticket (the simulator's call) on the same roster."""
    held, tickets = case
    m = len(held)
    required = np.array([r for r, _, _ in tickets], np.int64)
    declined = np.zeros((len(tickets), m), bool)
    excluded = np.zeros((len(tickets), m), bool)
    for i, (_, d, x) in enumerate(tickets):
        declined[i, list(d)] = True
        excluded[i, list(x)] = True
    assert stranded(required, held, declined, excluded).tolist() == [
        declined_by_every_able(r, held, d, x) for r, d, x in tickets
    ]
