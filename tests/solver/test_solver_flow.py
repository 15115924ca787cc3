"""The exact core's flow (solver.flow.assign_slots) against an independent reference.

Random capacitated assignment networks, negative costs included. The reference is
scipy's dense assignment solver on the places spelled out: one column per queue place of each
technician (an arc's cost plus that place's), one column per ticket for leaving it
unassigned (its penalty), every other cell forbidden. Places of one technician cost more
the later they are, so any k of them cost at least its first k: the optimum is the
flow's.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from solver.constants import COST_SCALE
from solver.flow import assign_slots
from solver.local import places
from solver.model import SolveStatus

BALANCE = 0.5 * COST_SCALE


def _reference_cost(
    n: int, tix: np.ndarray, tech: np.ndarray, cost: np.ndarray, penalty: np.ndarray,
    slot_tech: np.ndarray, slot_cost: np.ndarray,
) -> int:  # fmt: skip
    s = slot_tech.size
    forbidden = float(np.abs(cost).sum() + np.abs(penalty).sum() + slot_cost.sum() + 1)
    table = np.full((n, s + n), forbidden)
    for t, k, c in zip(tix, tech, cost, strict=True):
        at = np.flatnonzero(slot_tech == k)
        table[t, at] = c + slot_cost[at]
    table[np.arange(n), s + np.arange(n)] = penalty
    rows, cols = linear_sum_assignment(table)
    total = table[rows, cols].sum()
    assert total < forbidden
    return int(total)


@settings(max_examples=120, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    m=st.integers(1, 10),
    density=st.floats(0.05, 1.0),
    negative=st.booleans(),
)
def test_flow_cost_is_the_assignment_optimum(
    seed: int, n: int, m: int, density: float, negative: bool
) -> None:
    rng = np.random.default_rng(seed)
    tix, tech = np.nonzero(rng.random((n, m)) < density)
    scale = int(rng.choice([10, 1_000, 100_000]))
    low = -scale if negative else 0
    cost = rng.integers(low, scale, tix.size).astype(np.int64)
    penalty = rng.integers(low, scale, n).astype(np.int64)
    free = rng.integers(0, 4, m).astype(np.int64)
    load = rng.integers(0, 3, m).astype(np.int64)
    slot_tech, slot_cost = places(free, load, BALANCE)
    res = assign_slots(n, tix, tech, cost, penalty, slot_tech, slot_cost, m)
    assert res.status is SolveStatus.OPTIMAL
    want = _reference_cost(n, tix, tech, cost, penalty, slot_tech, slot_cost)
    assert res.cost == want
    # the arcs used make a valid assignment that costs what the result says
    used = res.arc_used
    assert np.unique(tix[used]).size == int(used.sum())
    count = np.bincount(tech[used], minlength=m)
    assert np.all(count <= free)
    _, place_cost = places(count, load, BALANCE)
    left = np.ones(n, np.bool_)
    left[tix[used]] = False
    assert cost[used].sum() + place_cost.sum() + penalty[left].sum() == res.cost
