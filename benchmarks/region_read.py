"""The solve loop's per-cycle read of a region: a snapshot read vs the region model's delta.

    ./dev bench region_read [--tickets 2000] [--technicians 100] [--changes 20] [--rounds 40]

A private valkey-server (AOF off) holds one region with ``--technicians`` technicians and
``--tickets`` open tickets (half of them assigned). Each round applies ``--changes`` changes
through the store's own scripts (half submits, half cancels of assigned tickets, plus one
location ping), then reads the region both ways, on the same state:

- ``snapshot``: the loop's read without the model (``SnapshotReader`` with its parse cache,
  bounded to ``--max-queued`` QUEUED tickets as the loop bounds it, technicians every round,
  as after a technician event or once a second);
- ``model``: ``RegionModel.read`` (the delta script, then the bounded selection).

Also reports the model's full read (all open tickets, not bounded) beside the first,
uncached snapshot read. Reports per read: wall ms, this process's CPU ms (decode + selection) and the Redis server's
CPU ms (script time, from INFO), median over the rounds, and the ratios. Both reads return
the same tickets (checked every round). Writes JSON to benchmarks/results/region_read-<utc>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import machine, write_results

ROOT = Path(__file__).resolve().parent.parent
TENANT, REGION, TOKEN = "bench", "r1", "1"


async def _server_cpu_s(redis: Any) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def _measured(redis: Any, read: Any) -> tuple[float, float, float, Any]:
    """(wall ms, own CPU ms, server CPU ms, result) of one read."""
    s0 = await _server_cpu_s(redis)
    c0, t0 = time.process_time(), time.perf_counter()
    out = await read()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s1 = await _server_cpu_s(redis)
    return 1000 * wall, 1000 * cpu, 1000 * (s1 - s0), out


def _ms(value: float) -> float:
    return round(value, 3)


async def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from dispatcher.domain import (
        Location,
        SkillLevel,
        SubmitTicket,
        Technician,
        TechnicianStatus,
        Ticket,
    )
    from dispatcher.loop.region_model import RegionModel
    from dispatcher.runtime.context import redis_client
    from dispatcher.runtime.metrics import DispatchMetrics
    from dispatcher.store import keys
    from dispatcher.store.feed import RegionFeed
    from dispatcher.store.snapshot import SnapshotReader
    from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore

    redis = redis_client(url)
    store = RedisStateStore(redis, metrics=DispatchMetrics.throwaway())
    await redis.set(keys.lease_key(TENANT, REGION), TOKEN)
    here = Location(42.35, -71.07)
    techs = [f"K{j:04d}" for j in range(args.technicians)]
    for k in techs:
        await store.upsert_technician(
            TENANT,
            Technician(
                k,
                REGION,
                TechnicianStatus.AVAILABLE,
                1_000_000,
                skills=(SkillLevel("hvac", 2),),
                location=here,
            ),
        )
    serial = 0

    async def submit(n: int) -> list[str]:
        nonlocal serial
        ids = [f"T{serial + i:07d}" for i in range(n)]
        serial += n
        for start in range(0, n, 500):
            await store.submit(
                TENANT,
                [
                    SubmitTicket(Ticket(t, REGION, 1 + i % 4, 600, location=here))
                    for i, t in enumerate(ids[start : start + 500])
                ],
            )
        return ids

    async def assign(ids: list[str]) -> None:
        snap = await store.snapshot(TENANT, REGION)
        version = {t.ticket_id: t.version for t in snap.tickets}
        decisions = [Decision(t, techs[i % len(techs)]) for i, t in enumerate(ids)]
        expected = ExpectedVersions(
            {t: version[t] for t in ids},
            {k.technician_id: k.version for k in snap.technicians},
        )
        await store.commit_assignments(TENANT, REGION, TOKEN, decisions, expected)

    held = await submit(args.tickets // 2)
    await assign(held)
    await submit(args.tickets - len(held))
    reader = SnapshotReader(redis)
    model = RegionModel(RegionFeed(redis), TENANT, REGION, float("inf"))
    *first_snapshot, _ = await _measured(
        redis, lambda: reader.read(TENANT, REGION, args.max_queued)
    )
    *first_full, _ = await _measured(redis, lambda: model.read(TOKEN, args.max_queued))
    rows: dict[str, list[tuple[float, float, float]]] = {"snapshot": [], "model": []}
    for r in range(args.rounds):
        new = await submit(args.changes // 2)
        await assign(new[: len(new) // 2])
        for t in held[: args.changes - len(new)]:
            await store.cancel(TENANT, t, "bench")
        held = held[args.changes - len(new) :] + new[: len(new) // 2]
        await store.report_locations(
            TENANT, [(techs[r % len(techs)], Location(42.3, -71.0 - r / 1e4), r + 1)]
        )
        *snap_cost, snap = await _measured(
            redis, lambda: reader.read(TENANT, REGION, args.max_queued)
        )
        *model_cost, got = await _measured(
            redis, lambda: model.read(TOKEN, args.max_queued)
        )
        assert {t.ticket_id: t for t in got.tickets} == {
            t.ticket_id: t for t in snap.tickets
        }, "the model's read differs from the snapshot's"
        rows["snapshot"].append(tuple(snap_cost))  # type: ignore[arg-type]
        rows["model"].append(tuple(model_cost))  # type: ignore[arg-type]
    await redis.aclose()
    out: dict[str, Any] = {"resyncs": model.resyncs, "deltas": model.deltas}
    names = ("wall_ms", "client_cpu_ms", "server_cpu_ms")
    out["first_snapshot"] = dict(zip(names, map(_ms, first_snapshot), strict=True))
    out["model_full_read"] = dict(zip(names, map(_ms, first_full), strict=True))
    for name, values in rows.items():
        out[name] = {
            what: round(statistics.median(v[i] for v in values), 3)
            for i, what in enumerate(("wall_ms", "client_cpu_ms", "server_cpu_ms"))
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--technicians", type=int, default=100)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument(
        "--max-queued",
        type=int,
        default=1000,
        help="QUEUED tickets a bounded read returns (the loop: 2 per free place)",
    )
    args = parser.parse_args()

    from dispatcher.backend.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="region-read-") as tmp:
        server = EmbeddedRedis(Path(tmp), durability="no").start()
        try:
            result = asyncio.run(_run(args, server.url))
        finally:
            server.stop()
    snap, model = result["snapshot"], result["model"]
    print(
        f"region: {args.tickets} open tickets, {args.technicians} technicians; "
        f"{args.changes} changes per round, {args.rounds} rounds; bounded to "
        f"{args.max_queued} QUEUED; model: {result['resyncs']} full reads, "
        f"{result['deltas']} deltas"
    )
    print(f"{'read':>9}  {'wall ms':>8}  {'client CPU ms':>13}  {'server CPU ms':>13}")
    for name, r in (("snapshot", snap), ("model", model)):
        print(
            f"{name:>9}  {r['wall_ms']:8.2f}  {r['client_cpu_ms']:13.2f}  "
            f"{r['server_cpu_ms']:13.2f}"
        )
    ratios = {
        k: round(snap[k] / model[k], 1) if model[k] else float("inf") for k in snap
    }
    print("snapshot / model (medians):", ratios)
    full, first = result["model_full_read"], result["first_snapshot"]
    print(
        f"the model's full read (lease taken, gap, every region_model_resync_s): "
        f"{full['wall_ms']:.1f} ms wall, {full['client_cpu_ms']:.1f} ms client CPU, "
        f"{full['server_cpu_ms']:.1f} ms Redis CPU (a first, uncached snapshot read: "
        f"{first['wall_ms']:.1f} / {first['client_cpu_ms']:.1f} / "
        f"{first['server_cpu_ms']:.1f})"
    )
    print("load (uptime):", os.getloadavg())
    write_results(
        "region_read",
        {
            "benchmark": "region_read",
            "args": vars(args),
            "machine": machine(),
            "result": result,
            "ratios": ratios,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
