"""Exact optima on published instances: OR-Library LAP (min-cost-flow core) and GAP (CP-SAT)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from solver.gap import read_orlib_gap, read_orlib_lap, solve_gap
from solver.lap import solve_lap
from solver.model import SolveStatus

DATA = Path(__file__).resolve().parent.parent / "data" / "orlib"


def _lap_optima() -> dict[str, int]:
    rows = (
        line.split() for line in (DATA / "assignopt.txt").read_text().splitlines()[1:]
    )
    return {r[0]: int(r[1]) for r in rows if r}


def _gap_optima() -> dict[tuple[str, int], int]:
    with (DATA / "gap_optima.csv").open() as f:
        return {
            (r["file"], int(r["index_in_file"])): int(r["optimal_value"])
            for r in csv.DictReader(f)
        }


@pytest.mark.parametrize("n", [100, 200, 300, 400])
def test_lap_optimum(n: int) -> None:
    """The flow core reproduces the OR-Library optimum of assign100..400."""
    cost = read_orlib_lap(
        gzip.decompress((DATA / f"assign{n}.txt.gz").read_bytes()).decode()
    )
    col, total = solve_lap(cost)
    assert sorted(col.tolist()) == list(range(n))
    assert total == _lap_optima()[f"assign{n}"]


PROOF_LIMIT_S = 300.0
"""Wall limit of the optimality proofs below (they stop at the proof)."""


@pytest.mark.parametrize("f", range(1, 13))
def test_gap_first_instance_optimum(f: int) -> None:
    """CP-SAT reproduces the known optimum (maximisation) of the first problem of gap1..gap12.

    What is tested is the proof, not its speed (``bench gap_bound`` times it): the wall
    limit is far above the few seconds a quiet machine needs, since on a loaded one
    (several test runs on 2 cores) gap8's proof outlasted the default 10 s."""
    inst = read_orlib_gap((DATA / f"gap{f}.txt").read_text())[0]
    res = solve_gap(inst, maximize=True, time_limit_s=PROOF_LIMIT_S)
    assert res.status is SolveStatus.OPTIMAL
    assert res.objective == _gap_optima()[(f"gap{f}.txt", 1)]
    assert res.bound == res.objective
    assert res.gap_pct == 0
    for i in range(inst.capacity.size):
        assert inst.weight[i, res.agent == i].sum() <= inst.capacity[i]


@pytest.mark.slow
@pytest.mark.parametrize("f", range(1, 13))
def test_gap_all_instances_optimum(f: int) -> None:
    """All 60 gap1..gap12 problems reach their known optimum."""
    optima = _gap_optima()
    for i, inst in enumerate(read_orlib_gap((DATA / f"gap{f}.txt").read_text()), 1):
        res = solve_gap(inst, maximize=True, time_limit_s=PROOF_LIMIT_S)
        assert res.status is SolveStatus.OPTIMAL
        assert res.objective == optima[(f"gap{f}.txt", i)]


def test_lap_rejects_bad_matrix() -> None:
    """A non-integer or tall matrix is a ValueError."""
    with pytest.raises(ValueError, match="integer matrix"):
        solve_lap([[1.5, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="rows <= columns"):
        solve_lap([[1], [2]])
