"""The solve loop's event watch (``RegionWorker._watch``): it wakes a region's solve on a
change, and reads on after that cycle from where the cycle's region model read ended, so
the events the cycle read are not read again. docs/DESIGN.md §6."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dispatcher.loop.leases import RegionRef
from dispatcher.loop.solve_loop import later_event_id
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.store import keys
from tests.dispatch.conftest import TENANT, Stubs, is_assignment, technician, ticket

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REGION = RegionRef(TENANT, "north")
DEBOUNCE_MS = 500
"""Long enough for a burst of submits to arrive between a wake and its cycle's read."""


def test_later_event_id() -> None:
    assert later_event_id("$", "5-1") == "5-1"
    assert later_event_id("5-1", "5-2") == "5-2"
    assert later_event_id("6-0", "5-9") == "6-0"
    assert later_event_id("10-0", "9-99") == "10-0"
    assert later_event_id("5-3", "5-3") == "5-3"


async def test_the_watch_does_not_read_again_what_the_cycle_read(
    dispatch: Stubs,
) -> None:
    """A burst arrives between the wake and the cycle's read (a long debounce): the cycle
    reads it all, and the watch, reading on after the cycle from the model's position,
    sees none of the burst's submits after the one that woke it (before: every one)."""
    await dispatch.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(
                solver=pb.SolverSettings(
                    cadence_s=120.0,
                    debounce_ms=DEBOUNCE_MS,
                    time_limit_s=2,
                    candidates_k=16,
                )
            ),
            update_mask={"paths": ["solver"]},
        )
    )
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A", capacity=20))
    )
    await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("W0")))
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "W0")
    await asyncio.sleep(DEBOUNCE_MS / 1000)  # the policy's debounce is in force
    stream = keys.events_key(TENANT, REGION.region)
    submits_read: list[str] = []
    entries_read: list[str] = []
    redis: Any = dispatch.loop.redis
    xread = redis.xread

    async def spy(streams: Any, *args: Any, **kwargs: Any) -> Any:
        reply = await xread(streams, *args, **kwargs)
        for key, entries in reply or ():
            if str(key) == stream:
                entries_read.extend(str(i) for i, _ in entries)
                submits_read.extend(
                    f["tk"] for _, f in entries if f.get("type") == "TICKET_SUBMITTED"
                )
        return reply

    redis.xread = spy
    try:
        burst = [f"B{i}" for i in range(8)]
        await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("B0")))
        await asyncio.sleep(0.1)  # the watch has woken the worker, which debounces
        # one batch: its submits land in one step, all of them in the cycle's read (one
        # by one, under load the last ones could land after that read and be read once)
        await dispatch.tickets.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(
                requests=[pb.SubmitTicketRequest(ticket=ticket(t)) for t in burst[1:]]
            )
        )
        assigned = await dispatch.wait_events(
            lambda e: is_assignment(e) and e.ticket_id in burst, len(burst)
        )
        assert {e.ticket_id for e in assigned} == set(burst)
        # the watch reads on after the cycle (at least the assignments it wrote): wait
        # for that read before taking the spy away
        async with asyncio.timeout(10):
            while not entries_read:
                await asyncio.sleep(0.01)
    finally:
        del redis.xread
    assert not set(burst[1:]) & set(submits_read), submits_read
