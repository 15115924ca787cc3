"""The GAP's Lagrangian bound (``solver.gap_lagrange.lagrangian_bound``): pricing rounds
and CPU time to converge, shipped smoothing against a baseline smoothing in the same run.

Usage::

    ./dev bench gap_bound [--seeds 1,2] [--baseline-smoothing 0.5] [--time-limit-s 120]

For each seed, Chu & Beasley type (C, D) and size (10-20 agents x 100-200 jobs) it runs
the column generation to convergence twice, with ``SMOOTHING`` (shipped) and with
``--baseline-smoothing``, and prints the bound, rounds, whether it converged, the
process CPU time (the solver runs on this thread alone: CPU time, unlike wall time, does
not depend on the machine's load) and the CPU ratio shipped / baseline. ``uptime`` before
and after.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from benchmarks.gap_chu_beasley import SIZES
from benchmarks.results import uptime
from solver.gap import CHU_BEASLEY_TYPES, chu_beasley
from solver.gap_lagrange import SMOOTHING, LagrangianBound, lagrangian_bound


def _run(
    cost: np.ndarray,
    weight: np.ndarray,
    capacity: np.ndarray,
    smoothing: float,
    limit: float,
) -> tuple[LagrangianBound, float]:
    cpu = time.process_time()
    found = lagrangian_bound(cost, weight, capacity, limit, smoothing=smoothing)
    assert found is not None
    return found, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", type=lambda text: [int(p) for p in text.split(",")], default=[1]
    )
    parser.add_argument("--baseline-smoothing", type=float, default=0.5)
    parser.add_argument("--time-limit-s", type=float, default=120.0)
    args = parser.parse_args()
    print(f"uptime before: {uptime()}")
    print(
        f"{'seed':>4} {'type':<4} {'m x n':>8} {'bound':>7}"
        f" {'rounds':>7} {'base':>6} {'cpu s':>7} {'base':>7} {'ratio':>6} conv"
    )
    for seed, kind, (m, n) in itertools.product(args.seeds, CHU_BEASLEY_TYPES, SIZES):
        inst = chu_beasley(kind, m, n, np.random.default_rng(seed))
        arrays = (inst.cost, inst.weight, inst.capacity)
        shipped, cpu = _run(*arrays, SMOOTHING, args.time_limit_s)
        base, base_cpu = _run(*arrays, args.baseline_smoothing, args.time_limit_s)
        print(
            f"{seed:>4} {kind:<4} {f'{m}x{n}':>8} {shipped.bound:>7}"
            f" {shipped.iterations:>7} {base.iterations:>6} {cpu:>7.2f} {base_cpu:>7.2f}"
            f" {cpu / base_cpu:>6.2f} {shipped.converged}/{base.converged}"
            + (
                "" if shipped.bound == base.bound else f" (baseline bound {base.bound})"
            ),
            flush=True,
        )
    print(f"uptime after: {uptime()}")


if __name__ == "__main__":
    main()
