"""Leases across processes: a killed solver's regions are taken over, nothing lost or held
twice; a stale commit (old lease token, changed version) is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from typing import IO, TYPE_CHECKING

import pytest

from dispatcher.domain import (
    SubmitTicket,
    Technician,
)
from dispatcher.loop.leases import LeaseManager, RegionRef
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.keys import lease_owner_key
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.dispatch.conftest import stored_technician, submitted_ticket

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import redis.asyncio

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TENANT = "acme"
REGIONS = ("r0", "r1", "r2", "r3")
START_TIMEOUT_S = 60.0


def _tech(tid: str, region: str) -> Technician:
    return stored_technician(tid, region, capacity=4)


def _ticket(tid: str, region: str) -> SubmitTicket:
    return submitted_ticket(tid, region, work_duration_s=1800)


def _popen(
    redis_url: str, tmp_path: Path, name: str, ready: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dispatcher",
            "serve",
            "--redis-url",
            redis_url,
            "--grpc-port",
            "0",
            "--metrics-port",
            "0",
            "--role",
            "solver",
            "--lease-ttl-ms",
            "1000",
            "--solver-workers",
            "1",
            "--state-dir",
            str(tmp_path / name),
            "--ready-file",
            str(ready),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _start(
    redis_url: str, tmp_path: Path, name: str
) -> tuple[subprocess.Popen[bytes], int]:
    ready = tmp_path / f"{name}.json"
    with (tmp_path / f"{name}.log").open("wb") as log:
        proc = _popen(redis_url, tmp_path, name, ready, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError((tmp_path / f"{name}.log").read_text())
        time.sleep(0.05)
    return proc, int(json.loads(ready.read_text())["pid"])


@pytest.fixture
def two_solvers(
    redis_server: str, tmp_path: Path
) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    procs = [_start(redis_server, tmp_path, name) for name in ("a", "b")]
    try:
        yield procs
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _owners(redis: redis.asyncio.Redis) -> dict[str, str]:
    out = {}
    for region in REGIONS:
        owner = await redis.get(lease_owner_key(TENANT, region))
        out[region] = str(owner or "")
    return out


async def _until(check, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_killed_solver_regions_are_taken_over(
    redis_client: redis.asyncio.Redis,
    two_solvers: list[tuple[subprocess.Popen[bytes], int]],
) -> None:
    """kill -9 one of two solvers: the other takes its regions over within the lease TTL;
    every ticket ends assigned exactly once, no technician over capacity."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    for region in REGIONS:
        for i in range(3):
            await store.upsert_technician(TENANT, _tech(f"{region}-k{i}", region))
    pids = {pid for _, pid in two_solvers}

    async def split() -> dict[str, str] | None:
        owners = await _owners(redis_client)
        holders = {o.split("-")[-2] for o in owners.values() if o}
        return owners if len(holders) == 2 and all(owners.values()) else None

    owners = await _until(split)
    assert {int(p) for p in {o.split("-")[-2] for o in owners.values()}} == pids
    first = [_ticket(f"{region}-t{i}", region) for region in REGIONS for i in range(3)]
    assert all(r.error is None for r in await store.submit(TENANT, first))

    victim, victim_pid = two_solvers[0]
    survivor_pid = two_solvers[1][1]
    os.kill(victim_pid, signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    second = [_ticket(f"{region}-u{i}", region) for region in REGIONS for i in range(3)]
    assert all(r.error is None for r in await store.submit(TENANT, second))

    async def all_to_survivor() -> bool:
        owners = await _owners(redis_client)
        return all(o and o.split("-")[-2] == str(survivor_pid) for o in owners.values())

    await _until(all_to_survivor)
    took_s = time.monotonic() - killed_at
    assert took_s < 5.0  # TTL 1 s + a renew tick + acquisition

    every = [s.ticket.ticket_id for s in first + second]

    async def all_assigned() -> bool:
        tickets = [await store.get_ticket(TENANT, t) for t in every]
        return all(t.status.value == "ASSIGNED" for t in tickets)

    await _until(all_assigned)
    # no ticket held twice, none lost, capacity respected
    holders: dict[str, list[str]] = {}
    for region in REGIONS:
        for i in range(3):
            tech = f"{region}-k{i}"
            queue = await redis_client.zrange(
                keys.technician_queue_key(TENANT, region, tech), 0, -1
            )
            assert len(queue) <= 4
            for tid in queue:
                holders.setdefault(str(tid), []).append(tech)
    assert sorted(holders) == sorted(every)
    assert all(len(h) == 1 for h in holders.values())
    for tid in every:
        t = await store.get_ticket(TENANT, tid)
        assert t.assignment is not None
        assert holders[tid] == [t.assignment.technician_id]


async def test_stale_commit_is_refused(redis_client: redis.asyncio.Redis) -> None:
    """A commit with a superseded lease token, or on a changed ticket, applies nothing."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await store.upsert_technician(TENANT, _tech("k0", "north"))
    await store.submit(TENANT, [_ticket("t1", "north"), _ticket("t2", "north")])
    region = RegionRef(TENANT, "north")

    async def regions() -> list[RegionRef]:
        return [region]

    a = LeaseManager(
        redis_client,
        regions,
        ttl_ms=300,
        owner_id="a",
        metrics=DispatchMetrics.throwaway(),
    )
    b = LeaseManager(
        redis_client,
        regions,
        ttl_ms=300,
        owner_id="b",
        metrics=DispatchMetrics.throwaway(),
    )
    await a.tick()
    old_token = str(a.held[region].token)
    snap = await store.snapshot(TENANT, "north")
    expected = ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {k.technician_id: k.version for k in snap.technicians},
    )
    decision = [Decision("t1", "k0")]
    await asyncio.sleep(0.4)  # a pauses past its TTL; b takes the region over
    await b.tick()
    assert region in b.held
    assert a.token(region) is None  # a knows locally that it may not act
    stale = await store.commit_assignments(
        TENANT, "north", old_token, decision, expected
    )
    assert stale.lease_lost
    assert (await store.get_ticket(TENANT, "t1")).status.value == "QUEUED"

    token = str(b.held[region].token)
    await store.cancel(TENANT, "t2")  # t2 changes after the snapshot
    result = await store.commit_assignments(
        TENANT, "north", token, [Decision("t2", "k0"), *decision], expected
    )
    codes = {o.ticket_id: o.code for o in result.outcomes}
    assert codes["t2"] in ("STALE_TICKET", "PINNED")
    assert codes["t1"] == "ASSIGNED"
    assert (await store.get_ticket(TENANT, "t2")).status.value == "CANCELLED"


async def test_bounded_snapshot_reads_the_most_urgent_queued(
    redis_client: redis.asyncio.Redis,
) -> None:
    """Under a backlog a solve reads only the most urgent QUEUED tickets (P1 first, then
    oldest), every held ticket, and knows that it left some out."""
    from dispatcher.store.snapshot import SnapshotReader

    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await store.upsert_technician(TENANT, _tech("k0", "north"))
    items = [_ticket(f"t{i:02d}", "north") for i in range(30)]
    items = [
        SubmitTicket(
            dataclasses.replace(s.ticket, priority=1 if i % 10 == 9 else 4),
            s.request_id,
        )
        for i, s in enumerate(items)
    ]
    await store.submit(TENANT, items)
    reader = SnapshotReader(redis_client)
    snap = await reader.read(TENANT, "north", max_queued=5)
    assert reader.truncated
    assert [t.ticket_id for t in snap.tickets] == ["t09", "t19", "t29", "t00", "t01"]
    assert [k.technician_id for k in snap.technicians] == ["k0"]
    full = await reader.read(TENANT, "north")
    assert not reader.truncated
    assert len(full.tickets) == 30
