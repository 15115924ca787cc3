"""Baseline policies' solve time against the optimizer's, same instances, same run.

Usage::

    ./dev bench baselines_speed [--repeat 3] [--with-loop]

Instances (``solver.synthetic.random_problem``, capacity 3, 500 technicians):

- ``fresh``: 5,000 tickets, 10% held, 5% accepted: ~1,300 placements in one solve;
- ``backlog``: 5,000 tickets, 20% held, 25% accepted: few free places, most tickets cannot
  be placed (what the simulator sees at 85% load);
- ``small``: 1,000 tickets x 100 technicians.

For each: the optimizer (``solver.solve``) and each baseline (``solver.baselines``), best
CPU and wall time of ``--repeat`` calls, and the ratio to the optimizer. ``--with-loop``
also times the obvious ticket-by-ticket loop of the test suite (the pre-vectorisation cost
model) once per instance. Writes ``benchmarks/results/baselines_speed-<utc>.json``. The machine
is shared: read the ratios.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchmarks.results import write_results
from solver import SolveParams, solve
from solver.baselines import BASELINES, baseline_solve
from solver.synthetic import random_problem

INSTANCES: dict[str, dict[str, Any]] = {  # n x m, seed, held / accepted fractions
    "fresh": {
        "n": 5000,
        "m": 500,
        "seed": 0,
        "assigned_frac": 0.1,
        "pinned_frac": 0.05,
    },
    "backlog": {
        "n": 5000,
        "m": 500,
        "seed": 1,
        "assigned_frac": 0.2,
        "pinned_frac": 0.25,
    },
    "small": {
        "n": 1000,
        "m": 100,
        "seed": 2,
        "assigned_frac": 0.1,
        "pinned_frac": 0.05,
    },
}


def _best(fn: Any, repeat: int) -> tuple[float, float, Any]:
    cpu, wall, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    return cpu, wall, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--with-loop", action="store_true", help="also time the ticket-by-ticket loop"
    )
    args = ap.parse_args()
    params = SolveParams()
    rows: list[dict[str, Any]] = []
    print(
        f"{'instance':<9} {'policy':<14} {'cpu s':>8} {'wall s':>8} {'x optimizer':>12}"
        f" {'assigned':>9} {'objective':>11}"
    )
    for label, spec in INSTANCES.items():
        p = random_problem(
            spec["n"],
            spec["m"],
            spec["seed"],
            assigned_frac=spec["assigned_frac"],
            pinned_frac=spec["pinned_frac"],
        )
        runs: list[tuple[str, Any]] = [("optimizer", lambda p=p: solve(p, params))]
        runs += [
            (name, lambda p=p, name=name: baseline_solve(p, params, name)[0])
            for name in BASELINES
        ]
        if args.with_loop:
            from tests.solver.test_solver_baselines import reference_baseline

            runs.append(
                (
                    "nearest (loop)",
                    lambda p=p: reference_baseline(p, params, "nearest", 0),
                )
            )
        base_cpu = None
        for name, fn in runs:
            cpu, wall, sol = _best(fn, 1 if "loop" in name else args.repeat)
            base_cpu = cpu if base_cpu is None else base_cpu
            assigned = obj = None
            if hasattr(sol, "technician"):
                assigned = int((sol.technician >= 0).sum())
                obj = float(sol.objective)
            rows.append(
                {
                    "instance": label,
                    **spec,
                    "policy": name,
                    "cpu_s": cpu,
                    "wall_s": wall,
                    "ratio_cpu": cpu / base_cpu,
                    "assigned": assigned,
                    "objective": obj,
                }
            )
            print(
                f"{label:<9} {name:<14} {cpu:8.3f} {wall:8.3f} {cpu / base_cpu:12.2f}"
                f" {assigned if assigned is not None else '-':>9}"
                f" {f'{obj:.4g}' if obj is not None else '-':>11}",
                flush=True,
            )
    write_results("baselines_speed", rows)


if __name__ == "__main__":
    main()
