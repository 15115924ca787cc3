"""A held region's solve cycles replayed in-process: cold every cycle vs incremental.

    ./dev bench loop_cycles [--technicians 100] [--per-cycle 13] [--hold-cycles 3]
        [--cycles 60] [--cold-every 20] [--seed 1]

The solver worker's job of the live loop (``dispatcher.loop.pool._solve_region_job``), on
problems the loop's own conversion builds (``dispatcher.loop.problem``), without Redis or
processes, so its CPU is measured alone (``time.process_time``: robust to the machine's
load). The region of ``./dev bench e2e_latency`` (one of its 10 regions: ``--technicians``
around Boston, capacity 3, 4 skills, tickets needing one skill, 60 s of declared work):
each cycle ``--per-cycle`` new tickets arrive, the clock moves by the time they took to
arrive (``--rate`` per second), the plan is committed, and an assigned ticket leaves its
queue ``--hold-cycles`` cycles after its assignment. The same arrivals are replayed twice:
with ``cold_every`` 1 (every cycle a cold ``solver.solve``: the loop before incremental
cycles) and with ``--cold-every``. Prints, per mode, the job's CPU per cycle and per new
ticket (median and mean over the cycles after the first), the cycles by mode, and the plan
quality of each incremental cycle against a cold solve of the same problem (objective
ratio, tickets assigned), computed outside the timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np

from dispatcher.domain import TicketStatus
from dispatcher.loop import pool as pool_module
from dispatcher.loop.problem import TechnicianView, TicketView, build_problem_parts
from dispatcher.loop.region_solver import IncrementalSettings
from solver.model import NO_TECHNICIAN, SolveParams
from solver.solve import solve

SKILLS = ("electrical", "plumbing", "hvac", "general")
CENTER = (42.35, -71.07)
T0 = 1_700_000_000.0


def technicians(n: int, rng: np.random.Generator) -> list[TechnicianView]:
    return [
        TechnicianView(
            technician_id=f"k{j:04d}",
            version=1,
            available=True,
            lat_deg=CENTER[0] + rng.normal(0, 0.05),
            lon_deg=CENTER[1] + rng.normal(0, 0.07),
            capacity=3,
            skills=tuple(
                (s, 3) for s in SKILLS if s == "general" or rng.random() < 0.5
            ),
        )
        for j in range(n)
    ]


def arrivals(
    n: int, now_s: float, first: int, rng: np.random.Generator
) -> list[TicketView]:
    return [
        TicketView(
            ticket_id=f"t{first + i:07d}",
            version=1,
            status=TicketStatus.QUEUED,
            priority=int(rng.integers(1, 5)),
            lat_deg=CENTER[0] + rng.normal(0, 0.05),
            lon_deg=CENTER[1] + rng.normal(0, 0.07),
            duration_s=60.0,
            created_s=now_s,
            response_due_s=now_s + 3600.0,
            resolution_due_s=now_s + 4 * 3600.0,
            skills=((SKILLS[int(rng.integers(0, 4))], 1),),
        )
        for i in range(n)
    ]


def replay(args: argparse.Namespace, cold_every: int) -> dict[str, object]:
    rng = np.random.default_rng(args.seed)
    techs = technicians(args.technicians, rng)
    inc = IncrementalSettings(cold_every=cold_every, max_changes=args.max_changes)
    params = SolveParams()
    key = f"bench/{cold_every}"
    tickets: dict[str, TicketView] = {}
    assigned_at: dict[str, int] = {}
    now = T0
    cpu: list[float] = []
    modes: dict[str, int] = {}
    ratios: list[float] = []
    fewer: list[int] = []
    for c in range(args.cycles):
        for t in arrivals(args.per_cycle, now, c * args.per_cycle, rng):
            tickets[t.ticket_id] = t
        for tid, at in list(assigned_at.items()):
            if c - at >= args.hold_cycles:  # the technician's work is done: it leaves
                del tickets[tid], assigned_at[tid]
        parts, maps, _ = build_problem_parts(list(tickets.values()), techs, now)
        force = "lease taken" if c == 0 else ""
        c0 = time.process_time()
        out = pool_module._solve_region_job(
            key, parts, maps.ticket_ids, maps.technician_ids, params, inc, force
        )
        if c > 0:
            cpu.append(time.process_time() - c0)
        label = out.mode if out.mode == "incremental" else f"cold ({out.reason})"
        modes[label] = modes.get(label, 0) + 1
        sol = out.solution
        if out.mode == "incremental":
            cold = solve(parts.build(), params)
            ratios.append(sol.objective / cold.objective if cold.objective else 1.0)
            fewer.append(
                int(np.count_nonzero(cold.technician >= 0))
                - int(np.count_nonzero(sol.technician >= 0))
            )
        for i, tid in enumerate(maps.ticket_ids):  # the commit
            r = int(sol.technician[i])
            new = maps.technician_ids[r] if r != NO_TECHNICIAN else ""
            view = tickets[tid]
            if new and not view.technician_id:
                assigned_at[tid] = c
            tickets[tid] = dataclasses.replace(
                view,
                status=TicketStatus.ASSIGNED if new else TicketStatus.QUEUED,
                technician_id=new,
                version=view.version + 1,
            )
        now += args.per_cycle / args.rate
    return {
        "cpu_ms_per_cycle_median": 1000 * statistics.median(cpu),
        "cpu_ms_per_cycle_mean": 1000 * statistics.fmean(cpu),
        "cpu_ms_per_ticket": 1000 * sum(cpu) / (len(cpu) * args.per_cycle),
        "modes": modes,
        "objective_vs_cold_mean": statistics.fmean(ratios) if ratios else None,
        "objective_vs_cold_max": max(ratios) if ratios else None,
        "fewer_assigned_than_cold_max": max(fewer) if fewer else None,
        "rows_last_cycle": len(tickets),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--per-cycle", type=int, default=13)
    parser.add_argument("--rate", type=float, default=100.0, help="tickets/s (region)")
    parser.add_argument("--hold-cycles", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--cold-every", type=int, default=20)
    parser.add_argument("--max-changes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{args.technicians} technicians (capacity 3), {args.per_cycle} new tickets per "
        f"cycle at {args.rate:g}/s, held {args.hold_cycles} cycles, {args.cycles} cycles"
    )
    base = replay(args, 1)
    inc = replay(args, args.cold_every)
    for name, r in (("cold every cycle", base), (f"cold every {args.cold_every}", inc)):
        print(
            f"{name:>18}: CPU per cycle median {r['cpu_ms_per_cycle_median']:.2f} ms, "
            f"mean {r['cpu_ms_per_cycle_mean']:.2f} ms; per new ticket "
            f"{r['cpu_ms_per_ticket']:.3f} ms; rows at the end {r['rows_last_cycle']}; "
            f"cycles {r['modes']}"
        )
    if inc["objective_vs_cold_mean"] is not None:
        print(
            f"incremental plans vs a cold solve of the same problem: objective ratio "
            f"mean {inc['objective_vs_cold_mean']:.5f}, max "
            f"{inc['objective_vs_cold_max']:.5f}; at most "
            f"{inc['fewer_assigned_than_cold_max']} fewer tickets assigned"
        )
    ratio = float(base["cpu_ms_per_ticket"]) / float(inc["cpu_ms_per_ticket"])  # type: ignore[arg-type]
    print(f"CPU per ticket, cold every cycle / incremental: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
