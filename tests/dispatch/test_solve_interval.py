"""A held region starts a solve cycle at most once per ``solve_min_interval_s``: changes that
arrive meanwhile are solved together (a cycle's fixed work dominates a small solve, so one
solve per change costs several times the CPU per ticket), and every ticket is still
assigned. docs/DESIGN.md §6."""

from __future__ import annotations

import asyncio
import time

import pytest

from dispatcher.loop.leases import RegionRef
from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import (
    TENANT,
    Stubs,
    eventually,
    is_assignment,
    technician,
    ticket,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

INTERVAL_S = 1.0
SPACING_S = 0.1
TICKETS = 25


async def test_a_region_solves_at_most_once_per_interval(dispatch: Stubs) -> None:
    loop = dispatch.loop
    loop.min_interval_s = INTERVAL_S
    for k in range(5):
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=technician(f"k{k}", capacity=6))
        )
    region = RegionRef(TENANT, "north")

    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("t0", work_duration_s=60))
    )
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "t0")

    async def held() -> object:
        return loop.region_workers.get(region)

    worker = await eventually(held)
    solves_before = worker.solves
    started = time.monotonic()
    for i in range(
        1, TICKETS + 1
    ):  # one change every 0.1 s: a solve each without the interval
        await dispatch.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(f"t{i}", work_duration_s=60))
        )
        await asyncio.sleep(SPACING_S)
    events = await dispatch.wait_events(is_assignment, TICKETS + 1, timeout_s=30.0)
    elapsed = time.monotonic() - started
    assert {e.ticket_id for e in events} == {f"t{i}" for i in range(TICKETS + 1)}
    solves = worker.solves - solves_before
    # cycles start >= INTERVAL_S apart: at most one per interval of the run, plus the first
    assert solves <= elapsed / INTERVAL_S + 1, (solves, elapsed)
