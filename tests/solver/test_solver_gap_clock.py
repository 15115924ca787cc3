"""GAP race clocks (``solver.gap_clock``) and HiGHS's plans as it finds them
(``solver.gap_highs``): on the CPU clock the race spends its CPU budget and no more;
HiGHS's improving-solution file is read record by record, a record still being written
left for later."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from solver.gap import POLISH_SHARE, chu_beasley, plan_fits, solve_gap
from solver.gap_clock import cpu_clock, race_clock
from solver.gap_highs import ImprovingPlans, highs_plan
from solver.model import SolveStatus

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("workers", [1, 2])
def test_cpu_clock_race_spends_its_budget(workers: int) -> None:
    """Type D 20 x 100 (no proof in 1.5 s), CP-SAT searching to the end: the race
    stops when the process has spent ``time_limit_s x workers`` CPU seconds (less the
    polish share at the end), whatever the wall time, and not much later."""
    inst = chu_beasley("D", 20, 100, np.random.default_rng(3))
    limit_s = 1.5
    cpu0 = time.process_time()
    res = solve_gap(
        inst,
        time_limit_s=limit_s,
        num_workers=workers,
        clock="cpu",
        highs=False,
        yield_cp_sat=False,
    )
    spent = time.process_time() - cpu0
    assert res.status is SolveStatus.FEASIBLE
    assert plan_fits(inst, res.agent)
    assert spent >= (1 - POLISH_SHARE) * limit_s * workers
    assert spent <= limit_s * workers + 1.0  # a poll and the joins after the end


def test_clock_names_and_cores_are_checked() -> None:
    inst = chu_beasley("C", 2, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^clock: must be one of \('wall', 'cpu'\)"):
        solve_gap(inst, clock="gpu")
    with pytest.raises(ValueError, match=r"^cores: must be >= 1, got 0"):
        cpu_clock(0)
    assert race_clock("wall", 2).stretch == 1.0
    assert race_clock("cpu", 2).name == "cpu/2"


def test_highs_tells_each_improving_plan() -> None:
    """Every plan HiGHS tells fits and is cheaper than the one before; the last is
    the plan it returns."""
    inst = chu_beasley("D", 10, 100, np.random.default_rng(2))
    told: list[np.ndarray] = []
    plan = highs_plan(
        inst.cost,
        inst.weight,
        inst.capacity,
        deadline=time.perf_counter() + 3.0,
        seed=0,
        on_plan=told.append,
    )
    assert plan is not None
    assert told
    costs = [int(inst.cost[p, np.arange(100)].sum()) for p in told]
    assert all(plan_fits(inst, p) for p in told)
    assert costs == sorted(set(costs), reverse=True)
    assert np.array_equal(told[-1], plan)


def _record(objective: int, agent: list[int], m: int) -> str:
    values = [int(agent[j] == i) for i in range(m) for j in range(len(agent))]
    return f"Objective {objective}\n# Columns {len(values)}\n" + "".join(
        f" {v}\n" for v in values
    )


def test_improving_plans_reads_whole_records_only(tmp_path: Path) -> None:
    """The newest complete record is read; one cut short (even inside a value) waits
    until the rest is written; nothing new reads None; no file yet reads None."""
    path = tmp_path / "improving.sol"
    reader = ImprovingPlans(str(path), (2, 3))
    assert reader.latest() is None
    first, second, third = [0, 0, 1], [1, 0, 1], [1, 1, 0]
    text = _record(9, first, 2) + _record(8, second, 2) + _record(7, third, 2)
    cut = len(text) - 2  # inside the last value of the third record
    path.write_text(text[:cut])
    assert reader.latest().tolist() == second  # type: ignore[union-attr]
    assert reader.latest() is None
    with path.open("a") as out:
        out.write(text[cut:])
    assert reader.latest().tolist() == third  # type: ignore[union-attr]
    assert reader.latest() is None
    reader.close()
