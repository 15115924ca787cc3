"""GAP (``solver.gap``) on Chu & Beasley's type C and D instances: gap to the proven bound.

Usage::

    ./dev bench gap_chu_beasley [--time-limit-s 30 | --cpu-budget-s 30] [--workers N]
                                [--seeds 1[,2,...]] [--types C,D]
                                [--sizes 10x100,...] [--no-before]
                                [--no-baseline] [--nolns] [--nodive] [--noyield]

Solves one seeded instance (``solver.gap.chu_beasley``, minimised) per seed (``--seeds``,
default 1; ``--seed N`` is ``--seeds N``), type (``--types``, default C and D) and size
(``--sizes``, default 10x100, 20x100, 10x200, 20x200 agents x jobs) under a time limit
(wall, or CPU with ``--cpu-budget-s``: below), using the machine's cores unless
``--workers`` says otherwise, twice in the same run:

- ``before``: CP-SAT alone (``solve_gap(lagrangian=False, highs=False,
  local_search=False)``, the solver until this change), its bound CP-SAT's;
- ``after``: ``solve_gap`` as shipped (CP-SAT, HiGHS and the Lagrangian bound at once,
  then local search). ``win`` says whose bound was the tighter (``cp-sat`` / ``lagr``),
  ``plan`` who found the plan, ``moves`` how many local-search moves improved it;
  ``lagr`` is the Lagrangian bound alone;
- ``nolns`` (with ``--nolns``): the same with ``lns=False`` (no large-neighbourhood
  search from the best plan in the race's last ``LNS_SHARE``; the dive runs to the
  end: the race before it);
- ``nodive`` (with ``--nodive``): the same with ``dive=False`` (no LP dive over the
  pool of near-optimal job sets after the Lagrangian converges: the race before it);
- ``noyield`` (with ``--noyield``): the same with ``yield_cp_sat=False`` (CP-SAT keeps
  searching to the end even where it yields to the converged Lagrangian bound; the
  ``yield`` column says when it did, ``-``: it did not).

``--cpu-budget-s S`` runs every race on the CPU clock (``solve_gap(clock="cpu")``,
:mod:`solver.gap_clock`): S seconds of CPU time per worker, i.e. the process may use
S x workers CPU seconds, about what S seconds of wall time give on that many free
cores: on a loaded, shared machine it emulates the quiet one. Every race runs in a
process of its own (spawned; also on the wall clock), so that HiGHS, left running when
a CPU-clock race ends, dies with it. The header says which clock was used; the HiGHS
MIP baseline is wall-clock only and is skipped with ``--cpu-budget-s``.

Prints objective, bound, gap in % (``solver.model.relative_gap_pct``), wall time, status,
the process CPU time the solve got (all its threads: at most 2 x the limit on 2 free
cores; far less on a loaded machine) and the load average after each solve; ``uptime``
before and after. The issue 14 target is a gap <= 0.5% within 30 s; the count that meet it is printed for each. Writes
``benchmarks/results/gap_chu_beasley-<utc>.json``. The machine is shared: the load average says
how much of it the solvers had.

Baseline in the same run (skip with ``--no-baseline``): the same instance as a 0-1 MIP in
HiGHS (``scipy.optimize.milp``, one thread: scipy exposes no thread option) under the same
limit, its primal value, dual bound (floating point, HiGHS's own), time and status
(optimal: within HiGHS's default relative MIP gap 1e-4).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from benchmarks.results import uptime, write_results
from solver.gap import (
    CHU_BEASLEY_TYPES,
    GapInstance,
    GapResult,
    available_cores,
    chu_beasley,
    solve_gap,
)
from solver.model import relative_gap_pct

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

SIZES = ((10, 100), (20, 100), (10, 200), (20, 200))  # agents x jobs
TARGET_GAP_PCT = 0.5


def constraint_matrices(inst: GapInstance) -> tuple[coo_matrix, coo_matrix]:
    """The instance's rows over x_ij (column i * n + j): one agent per job (n rows, = 1)
    and each agent's load (m rows, <= capacity)."""
    m, n = inst.cost.shape
    pairs = np.arange(m * n)
    one_agent = coo_matrix(
        (np.ones(m * n), (np.tile(np.arange(n), m), pairs)), (n, m * n)
    )
    load = coo_matrix(
        (inst.weight.ravel().astype(float), (np.repeat(np.arange(m), n), pairs)),
        (m, m * n),
    )
    return one_agent, load


def highs(inst: GapInstance, time_limit_s: float) -> dict[str, Any]:
    """The instance as a 0-1 MIP in HiGHS (:func:`constraint_matrices`): value, dual
    bound, gap %."""
    m, n = inst.cost.shape
    one_agent, load = constraint_matrices(inst)
    t0 = time.perf_counter()
    res = milp(
        inst.cost.ravel().astype(float),
        constraints=[
            LinearConstraint(one_agent, 1, 1),
            LinearConstraint(load, -np.inf, inst.capacity.astype(float)),
        ],
        integrality=np.ones(m * n),
        bounds=Bounds(0, 1),
        options={"time_limit": time_limit_s},
    )
    wall = time.perf_counter() - t0
    objective = None if res.x is None else round(float(res.fun))
    bound = getattr(res, "mip_dual_bound", None)
    gap = None
    if objective is not None and bound is not None:
        gap = relative_gap_pct(objective, float(bound))
    return {
        "objective": objective,
        "bound": bound,
        "gap_pct": gap,
        "wall_s": wall,
        "status": "optimal"
        if res.status == 0
        else "limit",  # optimal: mip_rel_gap 1e-4
        "message": res.message,
    }


def _summary(res: GapResult, load: float, cpu_s: float) -> dict[str, Any]:
    return {
        "cpu_s": cpu_s,
        "objective": res.objective,
        "bound": res.bound,
        "gap_pct": res.gap_pct,
        "wall_s": res.wall_time_s,
        "status": res.status.value,
        "bound_source": res.bound_source,
        "plan_source": res.plan_source,
        "local_moves": res.local_moves,
        "cp_sat_bound": res.cp_sat_bound,
        "lagrangian_bound": res.lagrangian_bound,
        "workers": res.num_workers,
        "cp_sat_yielded_s": res.cp_sat_yielded_s,
        "load_1m": load,
    }


def _race(
    kind: str, m: int, n: int, seed: int, knobs: dict[str, Any]
) -> dict[str, Any]:
    """One ``solve_gap`` on a seeded instance in a spawned process of its own: its
    :func:`_summary` (CPU time: that process's during the solve)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_race_child, args=(send, kind, m, n, seed, knobs))
    child.start()
    send.close()
    try:
        summary: dict[str, Any] = receive.recv()
    finally:
        child.join()
    return summary


def _race_child(
    send: Connection, kind: str, m: int, n: int, seed: int, knobs: dict[str, Any]
) -> None:
    """:func:`_race`'s process: solve, send the summary, and exit at once (a HiGHS
    thread left running on the CPU clock goes with it)."""
    inst = chu_beasley(kind, m, n, np.random.default_rng(seed))
    tempfile.tempdir = tempfile.mkdtemp(prefix="gap-race-")  # HiGHS's files, removed
    cpu = time.process_time()  # below even when HiGHS is still running
    res = solve_gap(inst, seed=seed, **knobs)
    send.send(_summary(res, os.getloadavg()[0], time.process_time() - cpu))
    send.close()
    shutil.rmtree(tempfile.tempdir, ignore_errors=True)
    os._exit(0)


def _line(seed: int, kind: str, m: int, n: int, name: str, r: dict[str, Any]) -> str:
    gap = "-" if r["gap_pct"] is None else f"{r['gap_pct']:.3f}"
    win = {"cp-sat": "cp-sat", "lagrangian": "lagr", "cheapest": "cheap", None: "-"}[
        r["bound_source"]
    ]
    lagr = "-" if r["lagrangian_bound"] is None else str(r["lagrangian_bound"])
    yielded = r.get("cp_sat_yielded_s")
    yield_s = "-" if yielded is None else f"{yielded:.1f}"
    return (
        f"{seed:>4} {kind:<4} {f'{m}x{n}':>8} {name:<6} {r['objective']:>9}"
        f" {'-' if r['bound'] is None else r['bound']:>9} {gap:>7}"
        f" {r['wall_s']:>7.2f} {r['status']:<9} {win:<6} {r['plan_source'] or '-':<6}"
        f" {r['local_moves']:>5}"
        f" {lagr:>7} {yield_s:>5} {r['cpu_s']:>6.1f} {r['load_1m']:>7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--time-limit-s", type=float, default=None)
    limit.add_argument(
        "--cpu-budget-s",
        type=float,
        default=None,
        help="CPU seconds per worker for each race (solve_gap clock='cpu')",
    )
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(part) for part in text.split(",")],
        default=None,
        help="comma-separated generator seeds (default: --seed)",
    )
    parser.add_argument(
        "--types",
        type=lambda text: [part for part in text.split(",") if part],
        default=list(CHU_BEASLEY_TYPES),
        help="comma-separated Chu & Beasley types (default C,D)",
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [
            tuple(int(k) for k in part.split("x")) for part in text.split(",") if part
        ],
        default=list(SIZES),
        help="comma-separated agents x jobs (default 10x100,20x100,10x200,20x200)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the HiGHS MIP baseline"
    )
    parser.add_argument(
        "--no-before", action="store_true", help="skip CP-SAT alone (before)"
    )
    parser.add_argument(
        "--nolns", action="store_true", help="also run the race with lns=False"
    )
    parser.add_argument(
        "--nodive", action="store_true", help="also run the race with dive=False"
    )
    parser.add_argument(
        "--noyield",
        action="store_true",
        help="also run the race with yield_cp_sat=False",
    )
    args = parser.parse_args()
    workers = args.workers or available_cores()
    clock = "wall" if args.cpu_budget_s is None else "cpu"
    limit_s = args.cpu_budget_s or args.time_limit_s or 30.0
    print(f"uptime before: {uptime()}")
    seeds = args.seeds or [args.seed]
    print(
        f"limit {limit_s:g} s on the {clock} clock"
        + (
            f" (process CPU time / {workers}: {limit_s * workers:g} CPU s per race)"
            if clock == "cpu"
            else ""
        )
        + f", {workers} workers, seeds {seeds}, each race in its own process"
    )
    print(
        f"{'seed':>4} {'type':<4} {'m x n':>8} {'solver':<6} {'objective':>9} {'bound':>9}"
        f" {'gap %':>7} {'time s':>7} {'status':<9} {'win':<6} {'plan':<6} {'moves':>5}"
        f" {'lagr':>7} {'yield':>5} {'cpu s':>6} {'load 1m':>7}"
    )
    runs = (
        ("before", False),
        ("after", True),
        ("nolns", True),
        ("nodive", True),
        ("noyield", True),
    )
    skip = {
        "before": args.no_before,
        "after": False,
        "nolns": not args.nolns,
        "nodive": not args.nodive,
        "noyield": not args.noyield,
    }
    rows: list[dict[str, Any]] = []
    for seed, kind, (m, n) in itertools.product(seeds, args.types, args.sizes):
        row: dict[str, Any] = {
            "type": kind,
            "m": m,
            "n": n,
            "seed": seed,
            "clock": clock,
            "limit_s": limit_s,
        }
        for name, full in runs:
            if skip[name]:
                continue
            row[name] = _race(
                kind,
                m,
                n,
                seed,
                {
                    "time_limit_s": limit_s,
                    "clock": clock,
                    "num_workers": workers,
                    "lagrangian": full,
                    "highs": full,
                    "local_search": full,
                    "lns": name != "nolns",
                    "dive": name != "nodive",
                    "yield_cp_sat": name != "noyield",
                },
            )
            print(_line(seed, kind, m, n, name, row[name]), flush=True)
        if not args.no_baseline and clock == "wall":
            inst = chu_beasley(kind, m, n, np.random.default_rng(seed))
            base = highs(inst, limit_s)
            row["highs"] = base
            print(
                f"{seed:>4} {kind:<4} {f'{m}x{n}':>8} {'HiGHS':<6}"
                f" {base['objective'] or '-':>9}"
                f" {base['bound'] or 0:>9.0f} {base['gap_pct'] or 0:>7.3f}"
                f" {base['wall_s']:>7.2f} {base['status']:<9}"
                f" {'':<6} {'':<6} {'':>5} {'':>7} {'':>5} {'':>6}"
                f" {os.getloadavg()[0]:>7.2f}",
                flush=True,
            )
        rows.append(row)
    for name, _ in runs:
        done = [r[name] for r in rows if name in r]
        if done:
            met = sum(
                r["gap_pct"] is not None and r["gap_pct"] <= TARGET_GAP_PCT
                for r in done
            )
            print(f"{name}: gap <= {TARGET_GAP_PCT}%: {met} of {len(done)} instances")
            for seed in seeds:
                mine = [r[name] for r in rows if name in r and r["seed"] == seed]
                met = sum(
                    r["gap_pct"] is not None and r["gap_pct"] <= TARGET_GAP_PCT
                    for r in mine
                )
                print(f"  seed {seed}: {met} of {len(mine)}")
    print(f"uptime after: {uptime()}")
    write_results("gap_chu_beasley", rows)


if __name__ == "__main__":
    main()
