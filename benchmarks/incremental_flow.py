"""Incremental re-solve vs cold, one new ticket at a time (``IncrementalSolver``).

Usage::

    .venv/bin/python -m benchmarks.incremental_flow [--tickets 10000 --technicians 1000]
        [--steps 20] [--warmup 3] [--no-commit] [--cpu-split]

The instance of ``benchmarks/solver_scaling`` (10k x 1k, capacity 3, 10% held). A cold
solve, then per step: one new ticket appended, ``IncrementalSolver.solve`` timed (wall and
process CPU, with its phases: ``incremental`` = re-pricing changed rows, new arcs and the
shortest augmenting paths; ``certificate`` = the local pricing; ``assignment`` = the plan
step; ``finalize``), then in the same run a cold ``solve`` of the same problem and the cold
certified flow optimum from scratch. The decision is committed before the next step
(unless ``--no-commit``). Prints per step: flow optimum equal to cold's (must be), plan
objective vs cold's, status and gap to the bound; and medians over the steps after
``--warmup`` (the first calls after a cold solve absorb the commit of its plan).

The solver's phases are wall time: on a loaded machine they include waiting for a core.
``--cpu-split`` also measures process CPU per phase by wrapping the incremental step's
parts (a measurement hook; nested parts count once, in the outer one): ``check`` (is the
call incremental), ``flow`` (re-pricing, new arcs, shortest paths, local certificate),
``plan``, ``finalize`` and ``rest``.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import os
import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

import solver.incremental as incremental_module
from solver import Problem, SolveParams, solve
from solver.candidates import build_candidates
from solver.core import Core, certified_flow
from solver.finalize_cache import FinalizeCache
from solver.incremental import IncrementalSolver
from solver.solve import tech_state
from solver.synthetic import random_problem

if TYPE_CHECKING:
    from collections.abc import Callable


def cold_flow(p: Problem, params: SolveParams) -> tuple[int, float]:
    """The cold solve's certified flow optimum (scaled) and the CPU it took."""
    c0 = time.process_time()
    state = tech_state(p, params.weights)
    cands = build_candidates(p, params, state, np.flatnonzero(~p.tickets.pinned))
    res = certified_flow(Core.build(p, params, state, cands))
    return res.cost, time.process_time() - c0


class CpuSplit:
    """Process CPU per phase of the incremental calls (see the module doc)."""

    def __init__(self) -> None:
        self.cpu: collections.Counter[str] = collections.Counter()
        self._depth = 0
        for owner, name, phase in (
            (IncrementalSolver, "_compatible", "check"),
            (IncrementalSolver, "_reprice_rows", "flow"),
            (incremental_module, "build_candidates", "flow"),
            (IncrementalSolver, "_route", "flow"),
            (IncrementalSolver, "_certify", "flow"),
            (incremental_module, "plan_step", "plan"),
            (FinalizeCache, "finalize", "finalize"),
        ):
            setattr(owner, name, self._timed(getattr(owner, name), phase))

    def _timed(self, f: Callable[..., Any], phase: str) -> Callable[..., Any]:
        @functools.wraps(f)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            c0 = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.cpu[phase] += time.process_time() - c0

        return timed


def _append(p: Problem, src: Problem, i: int) -> Problem:
    t, s = p.tickets, src.tickets
    skip = ("excluded", "preferred")
    cols = {
        f.name: np.concatenate([getattr(t, f.name), getattr(s, f.name)[i : i + 1]])
        for f in dataclasses.fields(t)
        if f.name not in skip
    }
    cols["current_technician"][-1], cols["pinned"][-1] = -1, False
    return dataclasses.replace(p, tickets=dataclasses.replace(t, **cols))


def _commit(p: Problem, tech: np.ndarray) -> Problem:
    cur = np.where(p.tickets.pinned, p.tickets.current_technician, tech)
    return dataclasses.replace(
        p, tickets=dataclasses.replace(p.tickets, current_technician=cur)
    )


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The steps; one row each."""
    n, m = args.tickets, args.technicians
    p = random_problem(n, m, seed=1, capacity=3, assigned_frac=0.1)
    extra = random_problem(args.steps, m, seed=2, capacity=3)
    params = SolveParams()
    split = CpuSplit() if args.cpu_split else None
    inc = IncrementalSolver(params, cold_every=args.steps + 2)
    c0 = time.process_time()
    sol = inc.solve(p)
    print(
        f"cold (incremental solver's first call): CPU {time.process_time() - c0:.2f} s"
    )
    if not args.no_commit:
        p = _commit(p, sol.technician)
    rows = []
    for i in range(args.steps):
        p = _append(p, extra, i)
        if split is not None:
            split.cpu.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        new = inc.solve(p)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        parts = {} if split is None else dict(split.cpu)
        c1 = time.process_time()
        cold = solve(p, params)
        cold_cpu = time.process_time() - c1
        flow, _ = cold_flow(p, params)
        ph = new.stats.phases_s
        row = {
            "step": i, "mode": inc.last_mode, "wall_ms": 1000 * wall, "cpu_ms": 1000 * cpu,
            "flow_update_ms": 1000 * (ph.get("incremental", 0) + ph.get("certificate", 0)),
            "plan_ms": 1000 * ph.get("assignment", 0), "finalize_ms": 1000 * ph.get("finalize", 0),
            "cold_cpu_ms": 1000 * cold_cpu, "flow_equal": inc.flow_cost == flow,
            "objective": new.objective, "cold_objective": cold.objective,
            "vs_cold_pct": 100 * (new.objective - cold.objective) / abs(cold.objective),
            "status": new.stats.status.name, "gap_pct": new.stats.model_gap_pct,
            "cold_status": cold.stats.status.name, "cold_gap_pct": cold.stats.model_gap_pct,
        }  # fmt: skip
        if split is not None:
            for phase in ("check", "flow", "plan", "finalize"):
                row[f"cpu_{phase}_ms"] = 1000 * parts.get(phase, 0.0)
            row["cpu_rest_ms"] = 1000 * (cpu - sum(parts.values()))
        rows.append(row)
        print(
            f"{i:3d} {row['mode']:11s} wall {row['wall_ms']:8.1f} ms  CPU {row['cpu_ms']:8.1f}"
            f"  (flow {row['flow_update_ms']:7.1f}, plan {row['plan_ms']:7.1f}, finalize"
            f" {row['finalize_ms']:6.1f})  cold CPU {row['cold_cpu_ms']:7.0f} ms  flow = cold:"
            f" {row['flow_equal']}  objective vs cold {row['vs_cold_pct']:+.3f}%"
            f"  {row['status']} model gap {row['gap_pct']:.3f}% (cold {row['cold_status']}"
            f" {row['cold_gap_pct']:.3f}%)",
            flush=True,
        )
        if split is not None:
            print(
                "      CPU split ms: "
                + ", ".join(
                    f"{k[4:-3]} {row[k]:.1f}"
                    for k in row
                    if k.startswith("cpu_") and k != "cpu_ms"
                ),
                flush=True,
            )
        if not args.no_commit:
            p = _commit(p, new.technician)
    return rows


def main() -> int:
    """Run, print per step and the medians after the warm-up."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--technicians", type=int, default=1_000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-commit", action="store_true")
    ap.add_argument("--cpu-split", action="store_true", help="process CPU per phase")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}")
    rows = run(args)
    late = rows[args.warmup :] or rows
    keys = [
        "wall_ms",
        "cpu_ms",
        "flow_update_ms",
        "plan_ms",
        "finalize_ms",
        "cold_cpu_ms",
    ]
    keys += [k for k in late[0] if k.startswith("cpu_") and k != "cpu_ms"]
    for key in keys:
        values = [r[key] for r in late]
        print(f"median {key} {statistics.median(values):.1f} (max {max(values):.1f})")
    print(
        f"flow optimum equal to cold's in {sum(r['flow_equal'] for r in rows)}/{len(rows)}"
        f" steps; objective vs cold median {statistics.median(r['vs_cold_pct'] for r in late):+.3f}%;"
        f" cold fallbacks {sum(r['mode'] == 'cold' for r in rows)}; load average {os.getloadavg()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
