"""Polish on and off in the simulator: same code, same seeds, run by run.

Usage::

    .venv/bin/python -m benchmarks.polish_sim [--scenario city] [--seeds 1,2,3] [--horizon-s S]

For each seed the scenario runs with the optimizer, ``SolveParams.polish`` False then True
(:func:`simulations.runner.run_once`), and once with the ``regret`` baseline; prints SLA
breaches, travel per ticket, reassignments per ticket and the CPU seconds of each run, and
the paired ratios. The polish's cost is the CPU ratio on/off, measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from simulations.runner import run_once
from simulations.scenario import load_run_scenario


def _row(
    scenario: str, horizon_s: float | None, seed: int, policy: str, polish: bool
) -> dict[str, float]:
    sc = load_run_scenario(scenario, horizon_s=horizon_s)
    params = dataclasses.replace(sc.policy.solve_params(), polish=polish)
    c0 = time.process_time()
    k = run_once(sc, policy, seed, params=params).kpis
    resolved = max(float(k["resolved"]), 1.0)
    return {
        "breaches": float(k["sla_breaches"]),
        "travel_km_per_ticket": float(k["travel_km_per_ticket"]),
        "reassignments_per_ticket": float(k["reassignments"]) / resolved,
        "cpu_s": time.process_time() - c0,
    }


def main() -> int:
    """Run every seed three ways and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="city")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--horizon-s", type=float, default=None)  # default: the scenario's
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    keys = ("breaches", "travel_km_per_ticket", "reassignments_per_ticket", "cpu_s")
    print("seed | run | " + " | ".join(keys))
    for seed in (int(s) for s in args.seeds.split(",")):
        runs = {
            "polish off": _row(args.scenario, args.horizon_s, seed, "optimizer", False),
            "polish on": _row(args.scenario, args.horizon_s, seed, "optimizer", True),
            "regret": _row(args.scenario, args.horizon_s, seed, "regret", True),
        }
        for name, r in runs.items():
            print(f"{seed} | {name} | " + " | ".join(f"{r[x]:.4g}" for x in keys))
        off, on, reg = runs["polish off"], runs["polish on"], runs["regret"]
        print(
            f"{seed} | ratios | travel vs regret off x{off['travel_km_per_ticket'] / reg['travel_km_per_ticket']:.3f}"
            f" on x{on['travel_km_per_ticket'] / reg['travel_km_per_ticket']:.3f}; polish CPU x{on['cpu_s'] / off['cpu_s']:.2f}"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
