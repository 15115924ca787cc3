"""GAP large-neighbourhood search (``solver.gap_lns``): its neighbourhoods at equal CPU,
from the same plan: random jobs freed per round (``jobs``), every job of a few random
agents (``agents``: ``by_agents``), or of a few agents drawn by their Lagrangian slack
(``slack``: ``by_slack``).

Usage::

    ./dev bench gap_lns_neighbourhood [--seeds 1,2,3] [--cpu-s 6] [--start-s 10]
                                      [--pairs 2] [--modes agents,slack]

Per seed and Chu & Beasley type D size (20x200, 20x100, 10x100), the start plan is
``solve_gap``'s after ``--start-s`` seconds of wall time and the multipliers the
converged Lagrangian bound's (with the pairs Lagrangian fixing allows against the start
plan's cost); then ``--pairs`` times, alternating, ``lns_improve`` in each of
``--modes`` (default ``agents,slack``), each until ``--cpu-s`` seconds of this process's CPU time
(``clock=time.process_time``; CP-SAT's per-round limit stays in wall seconds). Prints
each one's objective and gap to the Lagrangian bound, rounds and improvements, the
count of pairs each side won, and ``uptime`` before and after. Run with
``OMP_NUM_THREADS=1``. Writes ``benchmarks/results/gap_lns_neighbourhood-<utc>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

import numpy as np

from benchmarks.results import uptime, write_results
from solver.gap import chu_beasley, solve_gap
from solver.gap_fixing import allowed_pairs
from solver.gap_lagrange import lagrangian_bound
from solver.gap_lns import lns_improve

SIZES = ((20, 200), (20, 100), (10, 100))  # agents x jobs, type D
MODES = ("jobs", "agents", "slack")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 2, 3],
    )
    parser.add_argument("--cpu-s", type=float, default=6.0)
    parser.add_argument("--start-s", type=float, default=10.0)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument(
        "--modes",
        type=lambda text: [part for part in text.split(",") if part in MODES],
        default=["agents", "slack"],
    )
    args = parser.parse_args()
    modes = args.modes
    print(f"uptime before: {uptime()}")
    print(f"{args.cpu_s:g} CPU s per search, start plan after {args.start_s:g} s")
    rows: list[dict[str, Any]] = []
    wins = dict.fromkeys((*modes, "tie"), 0)
    for seed, (m, n) in itertools.product(args.seeds, SIZES):
        inst = chu_beasley("D", m, n, np.random.default_rng(seed))
        start = solve_gap(inst, time_limit_s=args.start_s, seed=seed)
        lag = lagrangian_bound(inst.cost, inst.weight, inst.capacity, 120.0)
        if lag is None:
            continue
        allowed = allowed_pairs(
            inst.cost, inst.weight, inst.capacity, lag.scaled_u, start.objective
        )
        row: dict[str, Any] = {
            "seed": seed,
            "m": m,
            "n": n,
            "start": start.objective,
            "bound": lag.bound,
            "runs": [],
        }
        line = f"D {m}x{n} seed {seed}: start {start.objective}, bound {lag.bound} |"
        for pair in range(args.pairs):
            found = {}
            for mode in modes:
                res = lns_improve(
                    inst.cost,
                    inst.weight,
                    inst.capacity,
                    start.agent,
                    deadline=time.process_time() + args.cpu_s,
                    seed=seed + pair,
                    scaled_u=lag.scaled_u,
                    allowed=allowed,
                    by_agents=mode != "jobs",
                    by_slack=mode == "slack",
                    clock=time.process_time,
                )
                objective = int(inst.cost[res.agent, np.arange(n)].sum())
                gap = 100 * (objective - lag.bound) / objective
                found[mode] = objective
                row["runs"].append(
                    {
                        "mode": mode,
                        "pair": pair,
                        "objective": objective,
                        "gap_pct": gap,
                        "rounds": res.rounds,
                        "improvements": res.improvements,
                    }
                )
                line += f" {mode} {objective} ({gap:.3f}%, {res.rounds} rounds)"
            best = min(found.values())
            winners = [mode for mode in modes if found[mode] == best]
            wins[winners[0] if len(winners) == 1 else "tie"] += 1
        print(line, flush=True)
        rows.append(row)
    print(f"pairs won: {wins}")
    print(f"uptime after: {uptime()}")
    write_results("gap_lns_neighbourhood", rows)


if __name__ == "__main__":
    main()
