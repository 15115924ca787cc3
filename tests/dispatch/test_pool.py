"""The solver worker processes run one OpenMP thread each (``pool.WORKER_ENVIRONMENT``):
the workers are the parallelism, threads inside them only oversubscribe the cores. A
region's cycle that runs off its home worker takes the region's last plan along."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dispatcher.loop.pool import SolverPool
from dispatcher.loop.region_solver import IncrementalSettings
from solver.model import SolveParams

if TYPE_CHECKING:
    from dispatcher.loop.pool import SolveOutput


def _worker_setting() -> str | None:
    pool = SolverPool(1)
    pool.start()
    try:
        return pool.submit(os.getenv, "OMP_NUM_THREADS").result(timeout=60)
    finally:
        pool.shutdown()


def test_workers_run_one_openmp_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # restored (or removed) after the test
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert _worker_setting() == "1"


def test_an_operator_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _worker_setting() == "3"


@pytest.mark.slow  # ~1.2 s: the shutdown waits for the workers' imports
def test_worker_pids_are_the_workers_own() -> None:
    pool = SolverPool(2)
    assert pool.worker_pids() == []  # none started yet
    pool.start()
    try:
        pids = pool.worker_pids()
        assert len(set(pids)) == 2
        for pid in pids:  # a process this one started
            stat = Path(f"/proc/{pid}/stat").read_text()
            assert int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()
    finally:
        pool.shutdown()
    assert pool.worker_pids() == []


def test_a_region_stays_home_unless_its_worker_is_busy_and_another_idle() -> None:
    """Affinity (``pool.home_worker``): a new region goes to the worker with the fewest
    regions; it stays there while that worker is idle or every worker is busy, and moves
    to an idle worker instead of waiting behind another region's solve."""
    from dispatcher.loop.pool import home_worker

    homes = {"a": 0, "b": 0, "c": 1}
    assert home_worker(None, [0, 0], homes) == 1
    assert home_worker(0, [0, 0], homes) == 0
    assert home_worker(0, [1, 1], homes) == 0
    assert home_worker(0, [2, 0], homes) == 1
    assert home_worker(1, [0, 1, 1], homes) == 0


@pytest.mark.slow  # starts two worker processes (~2 s on a quiet machine, more loaded)
async def test_a_cycle_moved_off_its_busy_home_takes_the_last_plan_along() -> None:
    """The region's home is busy and the other worker idle, so its cycle runs there
    (``home_worker``): the region's last plan goes along (``KeptAt``), and the cycle is
    incremental as at home. It was cold before ('first cycle': that worker had no plan of
    the region; under load about a quarter of the e2e benchmark's cycles at 600/s)."""
    from tests.dispatch.test_incremental_solve import Region

    params, inc = SolveParams(), IncrementalSettings(cold_every=20, max_changes=50)
    region = Region.random(7, n_techs=14, n_tickets=8)
    pool = SolverPool(2)
    await asyncio.to_thread(pool.wait_ready)
    try:

        async def solve_now(force: str = "") -> tuple[SolveOutput, tuple[str, ...]]:
            problem, ids, tech_ids = region.problem()
            out = await pool.solve_region(
                region.key, problem, ids, tech_ids, params, inc, force
            )
            return out, ids

        out, ids = await solve_now("lease taken")
        home = pool._home[region.key]
        region.commit(out, ids, lose=0.0)
        region.add(2)
        region.now_s += 60
        # the home worker busy with a cold solve (the least busy worker: the first)
        busy = asyncio.ensure_future(pool.solve(region.problem()[0], params))
        await asyncio.sleep(0)
        assert home == 0
        assert pool._busy == [1, 0]
        out, ids = await solve_now()
        assert pool._home[region.key] == 1
        assert (out.mode, out.reason) == ("incremental", "")
        assert any(out.solution.technician >= 0)
        await busy
        # and back home: the plan kept there is stale, the one from worker 1 goes along
        region.commit(out, ids, lose=0.0)
        region.add(1)
        region.now_s += 30
        busy = asyncio.ensure_future(pool._run(1, time.sleep, 0.5))
        await asyncio.sleep(0)
        out, _ = await solve_now()
        assert pool._home[region.key] == 0
        assert (out.mode, out.reason) == ("incremental", "")
        await busy
    finally:
        pool.shutdown()
