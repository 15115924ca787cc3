"""Sparse linear assignment (``solve_lap_sparse``): OR-Library optimum, brute force, validation."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import LapResult, SolveStatus, solve_lap_sparse
from solver.lap import read_orlib_lap_sparse

DATA = Path(__file__).resolve().parent.parent / "data" / "orlib"


def _optimum(name: str) -> int:
    lines = (DATA / "assignopt.txt").read_text().splitlines()[1:]
    return {r[0]: int(r[1]) for r in (line.split() for line in lines) if r}[name]


def test_assignp800_optimum() -> None:
    """The OR-Library sparse instance assignp800 (100,057 arcs) reaches its optimum 2239."""
    text = gzip.decompress((DATA / "assignp800.txt.gz").read_bytes()).decode()
    n, rows, cols, costs = read_orlib_lap_sparse(text)
    assert (n, rows.size) == (800, 100_057)
    res = solve_lap_sparse(rows, cols, costs, n_rows=n, n_cols=n)
    assert res.status is SolveStatus.OPTIMAL
    assert res.objective == _optimum("assignp800")
    assert sorted(res.col.tolist()) == list(range(n))
    arc_cost = dict(
        zip(zip(rows.tolist(), cols.tolist(), strict=True), costs.tolist(), strict=True)
    )
    assert sum(arc_cost[(i, int(j))] for i, j in enumerate(res.col)) == res.objective


def _brute_force(
    arcs: dict[tuple[int, int], int], n_rows: int, n_cols: int
) -> int | None:
    """Cheapest full assignment over the arcs by enumerating every injection; None if none."""
    best: int | None = None
    for perm in itertools.permutations(range(n_cols), n_rows):
        pairs = list(enumerate(perm))
        if all(p in arcs for p in pairs):
            total = sum(arcs[p] for p in pairs)
            best = total if best is None else min(best, total)
    return best


@st.composite
def _instances(draw: st.DrawFn) -> tuple[int, int, dict[tuple[int, int], int]]:
    n_rows = draw(st.integers(0, 5))
    n_cols = draw(st.integers(0, 6))
    pairs = list(itertools.product(range(n_rows), range(n_cols)))
    keep = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    costs = draw(
        st.lists(st.integers(-50, 100), min_size=len(pairs), max_size=len(pairs))
    )
    arcs = {p: c for p, k, c in zip(pairs, keep, costs, strict=True) if k}
    return n_rows, n_cols, arcs


def _solve(n_rows: int, n_cols: int, arcs: dict[tuple[int, int], int]) -> LapResult:
    keys = list(arcs)
    order = np.random.default_rng(len(keys)).permutation(len(keys))  # arc order is free
    return solve_lap_sparse(
        np.array([keys[i][0] for i in order], np.int64),
        np.array([keys[i][1] for i in order], np.int64),
        np.array([arcs[keys[i]] for i in order], np.int64),
        n_rows=n_rows,
        n_cols=n_cols,
    )


@settings(max_examples=300, deadline=None)
@given(_instances())
def test_matches_brute_force(
    instance: tuple[int, int, dict[tuple[int, int], int]],
) -> None:
    """Optimal objective = cheapest full assignment by enumeration; INFEASIBLE when none."""
    n_rows, n_cols, arcs = instance
    best = _brute_force(arcs, n_rows, n_cols)
    res = _solve(n_rows, n_cols, arcs)
    assert res.col.shape == (n_rows,)
    if best is None:
        assert res.status is SolveStatus.INFEASIBLE
        assert res.objective == 0
        assert np.all(res.col == -1)
        return
    assert res.status is SolveStatus.OPTIMAL
    assert res.objective == best
    assert len(set(res.col.tolist())) == n_rows
    assert sum(arcs[(i, int(j))] for i, j in enumerate(res.col)) == best


def test_row_without_arc_is_infeasible() -> None:
    """A full assignment is required: one row with no arc makes the instance INFEASIBLE."""
    res = solve_lap_sparse([0, 0, 2], [0, 1, 1], [1, 2, 3], n_rows=3, n_cols=3)
    assert res.status is SolveStatus.INFEASIBLE
    assert res.col.tolist() == [-1, -1, -1]


def test_two_rows_sharing_one_column_is_infeasible() -> None:
    """Every row has an arc, but to the same single column: no full assignment."""
    res = solve_lap_sparse([0, 1], [1, 1], [5, 7], n_rows=2, n_cols=3)
    assert res.status is SolveStatus.INFEASIBLE


def test_expensive_arc_beats_leaving_a_row_out() -> None:
    """A full assignment is taken however costly its arcs, over any partial one."""
    res = solve_lap_sparse([0, 0, 1], [0, 1, 1], [10**9, 0, 0], n_rows=2, n_cols=2)
    assert res.status is SolveStatus.OPTIMAL
    assert (res.col.tolist(), res.objective) == ([0, 1], 10**9)


def test_whole_float_costs_are_accepted() -> None:
    """Whole-number float costs give the same answer as the integer ones."""
    as_int = solve_lap_sparse([0, 0, 1], [0, 1, 0], [3, 1, 2], n_rows=2, n_cols=2)
    as_float = solve_lap_sparse(
        [0, 0, 1], [0, 1, 0], [3.0, 1.0, 2.0], n_rows=2, n_cols=2
    )
    assert (as_float.col.tolist(), as_float.objective) == (as_int.col.tolist(), 3)


@pytest.mark.parametrize(
    ("rows", "cols", "costs", "shape", "field"),
    [
        ([0, 1], [0], [1, 1], (2, 2), "cols: length 1 differs"),
        ([0, 1], [0, 1], [1], (2, 2), "costs: length 1 differs"),
        ([0, -1], [0, 1], [1, 1], (2, 2), "rows: negative index"),
        ([0, 1], [0, -3], [1, 1], (2, 2), "cols: negative index"),
        ([0, 2], [0, 1], [1, 1], (2, 2), r"rows: index 2 out of range \[0, n_rows=2\)"),
        ([0, 1], [0, 5], [1, 1], (2, 2), r"cols: index 5 out of range \[0, n_cols=2\)"),
        ([0.0, 1.0], [0, 1], [1, 1], (2, 2), "rows: integer indices required"),
        ([0, 1], [0, 1], [1.0, np.nan], (2, 2), "costs: must be finite"),
        ([0, 1], [0, 1], [1.0, np.inf], (2, 2), "costs: must be finite"),
        ([0, 1], [0, 1], [1.0, 2.5], (2, 2), "costs: must be whole numbers"),
        ([0, 1], [0, 1], ["a", "b"], (2, 2), "costs: numbers required"),
        (
            [0, 1, 0],
            [1, 0, 1],
            [1, 2, 3],
            (2, 2),
            r"rows, cols: duplicate arc \(0, 1\)",
        ),
        (
            [2**40, 7, 2**40],
            [2**30, 0, 2**30],
            [1, 1, 1],
            (2**40 + 1, 2**31),  # rows x cols beyond int64: the other duplicate check
            r"rows, cols: duplicate arc \(1099511627776, 1073741824\)",
        ),
        ([[0]], [[0]], [[1]], (1, 1), "rows: expected a 1-d array"),
        ([0], [0], [1], (-1, 1), "n_rows: must be >= 0"),
        ([0], [0], [1], (1, 1.5), "n_cols: must be an integer"),
        ([0, 1], [0, 1], [0, 2**61], (2, 2), "costs: values too large"),
    ],
)
def test_bad_input_names_the_field(
    rows: object, cols: object, costs: object, shape: tuple[object, object], field: str
) -> None:
    """Malformed arc lists are a ValueError naming the field at fault."""
    with pytest.raises(ValueError, match=field):
        solve_lap_sparse(rows, cols, costs, n_rows=shape[0], n_cols=shape[1])  # type: ignore[arg-type]
