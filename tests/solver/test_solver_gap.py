"""GAP (``solver.gap``): bad instances are refused naming the field; CP-SAT's answer is the
brute-force optimum on every small instance Hypothesis can build."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.gap import GapInstance, solve_gap
from solver.incremental import IncrementalSolver
from solver.model import SolveParams, SolveStatus
from solver.validate import validate_incremental


def _ints(shape: tuple[int, ...], lo: int, hi: int) -> st.SearchStrategy[Any]:
    size = int(np.prod(shape))
    return st.lists(st.integers(lo, hi), min_size=size, max_size=size).map(
        lambda v: np.array(v, np.int64).reshape(shape)
    )


@st.composite
def gap_instances(draw: st.DrawFn, capacity_lo: int = 0) -> tuple[Any, Any, Any]:
    """Raw (cost, weight, capacity) arrays of a small GAP (m <= 3 agents, n <= 6 jobs)."""
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    cost = draw(_ints((m, n), -50, 50))
    weight = draw(_ints((m, n), 0, 20))
    capacity = draw(_ints((m,), capacity_lo, 60))
    return cost, weight, capacity


def _brute_force(inst: GapInstance) -> int | None:
    """Least total cost over every assignment that fits; None when none fits."""
    m, n = inst.cost.shape
    best = None
    jobs = np.arange(n)
    for agents in itertools.product(range(m), repeat=n):
        a = np.array(agents, np.int64)
        load = np.bincount(a, weights=inst.weight[a, jobs], minlength=m)
        if np.all(load <= inst.capacity):
            total = int(inst.cost[a, jobs].sum())
            best = total if best is None else min(best, total)
    return best


@settings(max_examples=60, deadline=None)
@given(gap_instances())
def test_solve_gap_matches_brute_force(arrays: tuple[Any, Any, Any]) -> None:
    """OPTIMAL with the brute-force optimum, capacities kept, or INFEASIBLE when nothing fits."""
    inst = GapInstance(*arrays)
    res = solve_gap(inst, num_workers=1)
    best = _brute_force(inst)
    if best is None:
        assert res.status is SolveStatus.INFEASIBLE
        return
    assert res.status is SolveStatus.OPTIMAL
    assert res.objective == best
    n = inst.cost.shape[1]
    assert np.all((res.agent >= 0) & (res.agent < inst.capacity.size))
    load = np.bincount(
        res.agent,
        weights=inst.weight[res.agent, np.arange(n)],
        minlength=inst.capacity.size,
    )
    assert np.all(load <= inst.capacity)
    assert res.objective == int(inst.cost[res.agent, np.arange(n)].sum())


@given(gap_instances(capacity_lo=-60), st.data())
def test_negative_capacity_is_refused(
    arrays: tuple[Any, Any, Any], data: st.DataObject
) -> None:
    """Any negative capacity raises a ValueError naming ``capacity``; none negative builds."""
    cost, weight, capacity = arrays
    agent = data.draw(st.integers(0, capacity.size - 1))
    capacity[agent] = data.draw(st.integers(-(10**6), -1))
    with pytest.raises(ValueError, match=r"^capacity: must be >= 0"):
        GapInstance(cost, weight, capacity)
    GapInstance(cost, weight, np.abs(capacity))


@pytest.mark.parametrize(
    ("cost", "weight", "capacity", "match"),
    [
        ([[1, 2]], [[1, -1]], [3], r"^weight: must be >= 0, got -1 at index \(0, 1\)"),
        ([[1.0, 2.0]], [[1, 1]], [3], r"^cost: integer array required"),
        ([[1, 2]], [[1, 1]], [[3]], r"shapes"),
        ([[1, 2]], [[1, 1], [1, 1]], [3], r"shapes"),
        ([[2**62, 0]], [[1, 1]], [3], r"^cost: values too large"),
        ([[1, 2]], [[2**61, 0]], [3], r"^weight: values too large"),
    ],
)
def test_bad_gap_instance_raises(
    cost: Any, weight: Any, capacity: Any, match: str
) -> None:
    """Malformed GAP arrays raise ValueError naming the field."""
    with pytest.raises(ValueError, match=match):
        GapInstance(np.array(cost), np.array(weight), np.array(capacity))


def test_gap_arrays_must_be_numpy() -> None:
    with pytest.raises(ValueError, match="capacity: expected a numpy array"):
        GapInstance(np.ones((1, 2), np.int64), np.ones((1, 2), np.int64), [3])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("knobs", "match"),
    [
        ({"max_new": -1}, r"^max_new: must be >= 0, got -1"),
        ({"max_new": 2.0}, r"^max_new: must be an integer, got float"),
        ({"max_new": True}, r"^max_new: must be an integer, got bool"),
        ({"cold_every": 0}, r"^cold_every: must be >= 1"),
    ],
)
def test_bad_incremental_knobs_raise(knobs: dict[str, Any], match: str) -> None:
    """The incremental solver's knobs: integers in range, else ValueError naming the knob
    (the constructor checks them)."""
    values = {"max_new": 64, "cold_every": 50} | knobs
    with pytest.raises(ValueError, match=match):
        IncrementalSolver(SolveParams(), **values)


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_valid_incremental_knobs_pass(max_new: int, cold_every: int) -> None:
    validate_incremental(max_new, cold_every)
    IncrementalSolver(SolveParams(), max_new=max_new, cold_every=cold_every)
