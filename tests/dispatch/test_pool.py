"""The solver worker processes run one OpenMP thread each (``pool.WORKER_ENVIRONMENT``):
the workers are the parallelism, threads inside them only oversubscribe the cores."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dispatcher.loop.pool import SolverPool

if TYPE_CHECKING:
    import pytest


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
