"""The solve loop's event-loop CPU per cycle and per ticket, at a fixed number of tickets
per cycle (the batching that makes ``./dev bench e2e_latency``'s CPU per ticket move).

    ./dev bench cycle_cpu [--per-cycle 20] [--cycles 60] [--technicians 100] [--hold 3]
        [--rate 200] [--profile FILE]

A private valkey-server (AOF off), one region of ``--technicians`` (capacity 3, 4 skills,
around Boston as in ``e2e_latency``), the solve loop's own ``RegionWorker`` with its region
model and one solver worker process. Each cycle: ``--per-cycle`` tickets are submitted
through the store (the API's script) and the tickets assigned ``--hold`` cycles ago are
cancelled (as ``e2e_latency``'s load generator does), outside the measurement; then one
``RegionWorker.cycle`` runs, measured: this process's CPU (every thread: the event loop and
any other), the solver worker process's (its threads' time on a core, Linux schedstat) and
the Redis server's CPU (``INFO cpu``) during it, and their sum: the whole cycle's CPU. Cycles are paced ``--per-cycle / --rate`` seconds
apart (the SLA clock rules run on wall time). Prints the median and mean per cycle and per
new ticket over the cycles after the first ``--warm-up``; ``--profile`` writes a cProfile of
the measured cycles (event loop only).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import machine, sched_s, write_results

ROOT = Path(__file__).resolve().parent.parent
TENANT = "default"
REGION = "region-00"
SKILLS = ("electrical", "plumbing", "hvac", "general")
CENTER = (42.35, -71.07)


def _cpu_self_s() -> tuple[float, float]:
    """User and system CPU seconds of this process (every thread, no child)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


async def _redis_cpu_s(redis: Any) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    import numpy as np

    from dispatcher.domain import (
        Location,
        SkillLevel,
        SubmitTicket,
        Technician,
        TechnicianStatus,
        Ticket,
    )
    from dispatcher.loop.leases import RegionRef
    from dispatcher.loop.pool import SolverPool
    from dispatcher.loop.region_model import RegionModel
    from dispatcher.loop.solve_loop import RegionWorker, SolveLoop
    from dispatcher.runtime.context import redis_client
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store import keys
    from dispatcher.store.leases import LeaseStore

    rng = np.random.default_rng(args.seed)
    redis = redis_client(url)
    pool = SolverPool(1)
    pool.wait_ready()
    (worker_pid,) = pool.worker_pids()
    loop = SolveLoop(redis, DispatchMetrics.throwaway(), pool=pool)
    store = loop.store

    def point() -> Location:
        return Location(
            float(CENTER[0] + rng.normal(0, 0.01)),
            float(CENTER[1] + rng.normal(0, 0.013)),
        )

    for k in range(args.technicians):
        await store.upsert_technician(
            TENANT,
            Technician(
                technician_id=f"k{k:04d}",
                region=REGION,
                status=TechnicianStatus.AVAILABLE,
                capacity=args.capacity,
                skills=tuple(SkillLevel(s, int(rng.integers(1, 4))) for s in SKILLS),
                location=point(),
            ),
        )
    token = await LeaseStore(redis, on_replication_timeout=lambda: None).acquire(
        TENANT, REGION, 3_600_000, "bench"
    )
    worker = RegionWorker(loop, RegionRef(TENANT, REGION))
    worker.model = RegionModel(loop.feed, TENANT, REGION, loop.model_resync_s)
    await worker.cycle(str(token))  # the first (full) read and an empty solve

    assigned_at: list[list[str]] = []
    open_tickets: set[str] = set()
    rows: list[tuple[float, float, float, int, float, float]] = []
    # CPU time of the event loop thread (a wall-time profile charges it for waiting on
    # the GIL, e.g. after waking the pool's threads)
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    interval = args.per_cycle / args.rate
    next_at = time.monotonic()
    for c in range(args.cycles + args.warm_up):
        batch = [
            SubmitTicket(
                Ticket(
                    ticket_id=f"t{c:05d}-{j:03d}",
                    region=REGION,
                    priority=int(rng.integers(1, 5)),
                    work_duration_s=60,
                    required_skills=(
                        SkillLevel(SKILLS[int(rng.integers(len(SKILLS)))], 1),
                    ),
                    location=point(),
                )
            )
            for j in range(args.per_cycle)
        ]
        await store.submit(TENANT, batch)
        open_tickets.update(item.ticket.ticket_id for item in batch)
        if len(assigned_at) >= args.hold:
            for ticket_id in assigned_at.pop(0):
                await store.cancel(TENANT, ticket_id)
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        redis0, cpu0, wall0 = (
            await _redis_cpu_s(redis),
            _cpu_self_s(),
            time.perf_counter(),
        )
        worker0 = sched_s(worker_pid, descendants=False)[0]
        if profiler is not None and c >= args.warm_up:
            profiler.enable()
        await worker.cycle(str(token))
        if profiler is not None:
            profiler.disable()
        wall1, cpu1 = time.perf_counter(), _cpu_self_s()
        worker1 = sched_s(worker_pid, descendants=False)[0]
        redis1 = await _redis_cpu_s(redis)
        # which of the open tickets the commit assigned (read outside the measurement, not
        # through the model: its next read, inside the next cycle, must still see them)
        pipe = redis.pipeline(transaction=False)
        open_ids = sorted(open_tickets)
        for ticket_id in open_ids:
            pipe.hget(keys.ticket_key(TENANT, REGION, ticket_id), "status")
        statuses = await pipe.execute()
        now_assigned = [
            t for t, s in zip(open_ids, statuses, strict=True) if s == "ASSIGNED"
        ]
        open_tickets.difference_update(now_assigned)
        assigned_at.append(now_assigned)
        if c >= args.warm_up:
            rows.append(
                (
                    sum(cpu1) - sum(cpu0),
                    redis1 - redis0,
                    wall1 - wall0,
                    len(now_assigned),
                    cpu1[1] - cpu0[1],
                    worker1 - worker0,
                )
            )
    pool.shutdown()
    await redis.aclose()
    if profiler is not None:
        profiler.dump_stats(args.profile)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "median": round(1000 * statistics.median(values), 3),
            "mean": round(1000 * statistics.fmean(values), 3),
        }

    per = args.per_cycle
    return {
        "cycles": len(rows),
        "assigned_per_cycle_mean": round(statistics.fmean(r[3] for r in rows), 2),
        "event_loop_cpu_ms_per_cycle": stats([r[0] for r in rows]),
        "of_which_system_ms_per_cycle": stats([r[4] for r in rows]),
        "redis_cpu_ms_per_cycle": stats([r[1] for r in rows]),
        "worker_cpu_ms_per_cycle": stats([r[5] for r in rows]),
        "cycle_cpu_ms_per_cycle": stats([r[0] + r[1] + r[5] for r in rows]),
        "wall_ms_per_cycle": stats([r[2] for r in rows]),
        "event_loop_cpu_ms_per_ticket": stats([r[0] / per for r in rows]),
        "redis_cpu_ms_per_ticket": stats([r[1] / per for r in rows]),
        "worker_cpu_ms_per_ticket": stats([r[5] / per for r in rows]),
        "cycle_cpu_ms_per_ticket": stats([(r[0] + r[1] + r[5]) / per for r in rows]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-cycle", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--warm-up", type=int, default=5)
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=3)
    parser.add_argument("--hold", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()

    from dispatcher.backend.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="cycle-cpu-") as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis", durability="no").start()
        try:
            result = asyncio.run(_run(args, redis.url))
        finally:
            redis.stop()
    print(json.dumps(result, indent=2))
    print("load average:", os.getloadavg())
    out = {
        "benchmark": "cycle_cpu",
        "args": vars(args),
        "machine": machine(),
        "result": result,
    }
    write_results("cycle_cpu", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
