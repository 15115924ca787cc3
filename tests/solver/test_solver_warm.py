"""Warm re-solves (solver.warm) return an optimum of the whole network, from any hint.

Random capacitated assignment networks; the hint is the potentials of an optimum of a
*different* network (arcs dropped, costs changed, capacities changed: as the
certification, the polish re-solves and the position rounds change it), or random
numbers. The warm result must cost what the cold solve costs, be a valid assignment, and
its potentials (when returned) must be the ones the certificate computes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.certify import potentials
from solver.constants import COST_SCALE
from solver.flow import FlowResult, assign_slots
from solver.local import places
from solver.model import SolveStatus
from solver.warm import WARM_SLACK, warm_assign

BALANCE = 0.5 * COST_SCALE


def _network(rng: np.random.Generator, n: int, m: int, density: float) -> dict:
    arcs = rng.random((n, m)) < density
    tix, tech = np.nonzero(arcs)
    scale = int(rng.choice([10, 1_000, 10 * WARM_SLACK]))
    return {
        "n": n,
        "tix": tix.astype(np.int64),
        "tech": tech.astype(np.int64),
        "cost": rng.integers(0, scale, tix.size).astype(np.int64),
        "penalty": rng.integers(0, scale, n).astype(np.int64),
        "free": rng.integers(0, 4, m).astype(np.int64),
        "load": rng.integers(0, 2, m).astype(np.int64),
    }


def _cold(net: dict) -> FlowResult:
    slot_tech, slot_cost = places(net["free"], net["load"], BALANCE)
    m = net["free"].size
    return assign_slots(
        net["n"], net["tix"], net["tech"], net["cost"], net["penalty"],
        slot_tech, slot_cost, m,
    )  # fmt: skip


def _potentials(net: dict, used: np.ndarray) -> tuple | None:
    return potentials(
        net["n"], net["tix"], net["tech"], net["cost"], used, net["penalty"],
        net["free"], net["load"], BALANCE,
    )  # fmt: skip


def _changed(rng: np.random.Generator, net: dict) -> dict:
    """The network a re-solve meets: some arcs dropped, some added, costs and
    capacities moved."""
    n, m = net["n"], net["free"].size
    keep = rng.random(net["tix"].size) < 0.9
    extra = int(rng.integers(0, 1 + n))
    tix = np.concatenate([net["tix"][keep], rng.integers(0, n, extra)])
    tech = np.concatenate([net["tech"][keep], rng.integers(0, m, extra)])
    _, first = np.unique(tix * m + tech, return_index=True)  # one arc per pair
    hi = int(max(net["cost"].max(initial=1), 1))
    cost = np.concatenate(
        [net["cost"][keep], rng.integers(-hi // 2, hi, extra)]
    ).astype(np.int64)
    moved = rng.random(cost.size) < 0.2
    cost = np.where(moved, cost + rng.integers(-hi, hi, cost.size), cost)
    free = np.maximum(net["free"] + rng.integers(-1, 2, m), 0)
    return {**net, "tix": tix[first], "tech": tech[first], "cost": cost[first],
            "free": free}  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 60),
    m=st.integers(1, 12),
    density=st.floats(0.05, 0.9),
    random_hint=st.booleans(),
)
def test_warm_solve_is_an_optimum_of_the_whole_network(
    seed: int, n: int, m: int, density: float, random_hint: bool
) -> None:
    rng = np.random.default_rng(seed)
    before = _network(rng, n, m, density)
    if random_hint:
        scale = float(max(before["penalty"].max(initial=1), 1))
        hint = (rng.uniform(-scale, scale, n), rng.uniform(-scale, scale, m))
    else:
        old = _cold(before)
        assert old.status is SolveStatus.OPTIMAL
        pot = _potentials(before, old.arc_used)
        assert pot is not None
        hint = pot
    net = _changed(rng, before)
    cold = _cold(net)
    warm, pot = warm_assign(
        net["n"], net["tix"], net["tech"], net["cost"], net["penalty"], net["free"],
        net["load"], BALANCE, hint,
    )  # fmt: skip
    assert warm.status is cold.status is SolveStatus.OPTIMAL
    assert warm.cost == cold.cost
    # a valid assignment that costs what it says
    used = warm.arc_used
    tix, tech = net["tix"][used], net["tech"][used]
    assert np.unique(tix).size == tix.size
    count = np.bincount(tech, minlength=m)
    assert np.all(count <= net["free"])
    _, place_cost = places(count, net["load"], BALANCE)
    unassigned = np.ones(n, np.bool_)
    unassigned[tix] = False
    total = (
        net["cost"][used].sum() + place_cost.sum() + net["penalty"][unassigned].sum()
    )
    assert total == warm.cost
    if pot is not None:
        full = _potentials(net, used)
        assert full is not None
        np.testing.assert_array_equal(pot[0], full[0])
        np.testing.assert_array_equal(pot[1], full[1])
