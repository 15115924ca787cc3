"""Three `dispatcher serve` processes on a real Redis Cluster; two SIGKILLed in turn under load.

Issue 7, item 2: every ticket is assigned exactly once and every event is delivered.

* Load: unary submits at ~20 tickets/s over 4 regions, round-robin over the live processes;
  a submit that fails because its process died is retried with the same request id on
  another process (submits are idempotent by request id).
* An event subscriber reads WatchEvents from one process and, when that process dies,
  resumes on another with its last event id per region.
* After 4 s the process holding the most region leases is SIGKILLed, 4 s later another
  one; the load goes on 4 s more on the survivor.

Checks: each submitted ticket exists once, got exactly one TICKET_ASSIGNED event and is held
by a technician of its region; no technician holds more than its capacity; and the events
the subscriber received are, region by region, exactly the region's stream in Redis (no
gap, no duplicate).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import pytest

from dispatcher.backend.cluster import connect_cluster
from dispatcher.backend.serve_process import ServeProcess, start_serve
from dispatcher.store import keys

from .serve_procs import (
    TENANT,
    region_names,
    stubs,
    technician,
    ticket_request,
)

if TYPE_CHECKING:
    from pathlib import Path

    from dispatcher.backend.embedded_cluster import EmbeddedCluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300)]

REGIONS = region_names(4)
TECHS_PER_REGION = 20
CAPACITY = 5


class Subscriber:
    """All events of the tenant, resumed on another process when its process dies."""

    def __init__(self, procs: list[ServeProcess]) -> None:
        self.procs = procs
        self.events: list[Any] = []
        self.last: dict[str, str] = {}
        self.reconnects = 0
        self.current: ServeProcess | None = None

    async def run(self) -> None:
        from dispatcher.pb import dispatch_pb2 as pb

        while True:
            alive = [p for p in self.procs if p.alive]
            if not alive:
                return
            request = pb.WatchEventsRequest(
                after_event_ids=dict(self.last), start=pb.START_POSITION_EARLIEST
            )
            try:
                self.current = alive[-1]
                async with grpc.aio.insecure_channel(self.current.target) as channel:
                    async for response in stubs(channel)["events"].WatchEvents(request):
                        self.events.append(response.event)
                        self.last[response.event.region] = response.event.event_id
            except grpc.aio.AioRpcError:
                self.reconnects += 1
                await asyncio.sleep(0.1)


async def _submit(procs: list[ServeProcess], request: Any) -> None:
    """Submit through a live process; on failure retry (same request id) on another."""
    deadline = time.monotonic() + 30
    attempt = 0
    while True:
        alive = [p for p in procs if p.alive]
        target = alive[attempt % len(alive)]
        attempt += 1
        try:
            async with grpc.aio.insecure_channel(target.target) as channel:
                await stubs(channel)["tickets"].SubmitTicket(request, timeout=5)
            return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_three_processes_two_killed_under_load(
    healthy_cluster: EmbeddedCluster, tmp_path: Path
) -> None:
    """Every ticket assigned exactly once, every event delivered, across two SIGKILLs."""
    from redis.asyncio.cluster import RedisCluster

    from dispatcher.pb import dispatch_pb2 as pb

    admin = connect_cluster(healthy_cluster.url, decode_responses=True)
    await admin.flushall(target_nodes=RedisCluster.PRIMARIES)
    procs = [
        start_serve(healthy_cluster.url, tmp_path, f"p{i}", lease_ttl_ms=2000)
        for i in range(3)
    ]
    subscriber = Subscriber(procs)
    watch = None
    try:
        async with grpc.aio.insecure_channel(procs[0].target) as channel:
            tech = stubs(channel)["tech"]
            for r, region in enumerate(REGIONS):
                for k in range(TECHS_PER_REGION):
                    await tech.UpsertTechnician(
                        pb.UpsertTechnicianRequest(
                            technician=technician(pb, r, region, k, capacity=CAPACITY)
                        )
                    )
        watch = asyncio.create_task(subscriber.run())
        await asyncio.sleep(2.0)  # leases spread over the three processes

        submitted: dict[str, str] = {}
        sends: list[asyncio.Task[None]] = []

        async def load(seconds: float, start: int) -> int:
            i = start
            stop_at = time.monotonic() + seconds
            while time.monotonic() < stop_at:
                r = i % len(REGIONS)
                tid = f"T{i:05d}"
                submitted[tid] = REGIONS[r]
                sends.append(
                    asyncio.create_task(
                        _submit(procs, ticket_request(pb, r, REGIONS[r], tid))
                    )
                )
                i += 1
                await asyncio.sleep(0.05)
            return i

        n = await load(4.0, 0)
        killed = []
        for turn in range(2):
            holdings = [
                p.metrics().get("dispatch_leases_held", 0.0) if p.alive else -1.0
                for p in procs
            ]
            # first the subscriber's process (its stream must resume on another one), then
            # the process holding the most region leases
            victim = procs[max(range(3), key=lambda i: holdings[i])]
            if turn == 0 and subscriber.current is not None:
                victim = subscriber.current
            victim.kill()
            killed.append((victim.name, holdings))
            n = await load(4.0, n)
        assert sum(p.alive for p in procs) == 1
        assert max(max(h) for _, h in killed) >= 1, "no killed process held a lease"
        await asyncio.gather(*sends)

        def assigned_counts() -> Counter[str]:
            return Counter(
                e.ticket_id
                for e in subscriber.events
                if e.type == pb.EVENT_TYPE_TICKET_ASSIGNED
            )

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            t in assigned_counts() for t in submitted
        ):
            await asyncio.sleep(0.2)
        await asyncio.sleep(
            1.0
        )  # anything late (a duplicate assignment) would show now

        counts = assigned_counts()
        missing = [t for t in submitted if t not in counts]
        assert not missing, f"{len(missing)} tickets never assigned (kills: {killed})"
        twice = {t: c for t, c in counts.items() if c != 1}
        assert not twice, f"tickets assigned more than once: {twice}"

        # the store agrees: each ticket once, held in its region, capacities respected
        survivor = next(p for p in procs if p.alive)
        async with grpc.aio.insecure_channel(survivor.target) as channel:
            tickets = stubs(channel)["tickets"]
            holders: Counter[str] = Counter()
            for tid, region in submitted.items():
                ticket = await tickets.GetTicket(pb.GetTicketRequest(ticket_id=tid))
                assert ticket.region == region
                holder = ticket.assignment.technician_id
                assert holder.startswith(region + "-"), (tid, holder)
                holders[holder] += 1
            assert max(holders.values()) <= CAPACITY
        for region in REGIONS:
            all_ids = await admin.zrange(
                keys.region_prefix(TENANT, region) + keys.TICKETS_ALL, 0, -1
            )
            assert sorted(all_ids) == sorted(
                t for t, r in submitted.items() if r == region
            )

        # every event delivered: what the subscriber got == each region's stream, in order
        # (wait until it caught up with the stream's current end; later events may follow)
        streams = {
            region: [
                str(i) for i, _ in await admin.xrange(keys.events_key(TENANT, region))
            ]
            for region in REGIONS
        }
        got: dict[str, list[str]] = defaultdict(list)
        deadline = time.monotonic() + 15
        while True:
            got.clear()
            for event in subscriber.events:
                got[event.region].append(event.event_id)
            if (
                all(len(got[r]) >= len(streams[r]) for r in REGIONS)
                or time.monotonic() > deadline
            ):
                break
            await asyncio.sleep(0.2)
        for region in REGIONS:
            assert got[region][: len(streams[region])] == streams[region], (
                f"{region}: delivered events differ from the stream "
                f"({len(got[region])} delivered, {len(streams[region])} in the stream)"
            )
        assert subscriber.reconnects >= 1, (
            "the subscriber's process was killed: it must have resumed"
        )
    finally:
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        for p in procs:
            p.stop()
        await admin.aclose()
