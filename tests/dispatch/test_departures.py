"""A ticket leaving a region (cancelled, completed) only frees a place: it wakes the
region's solve when a ticket may wait for one, and otherwise the next cycle takes it in.
docs/DESIGN.md §6 (``loop.solve_loop.DEPARTURE_EVENT_TYPES``)."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher.loop.leases import RegionRef
from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import (
    TENANT,
    Stubs,
    eventually,
    is_assignment,
    slow_cadence,
    technician,
    ticket,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REGION = RegionRef(TENANT, "north")
QUIET_S = 1.5
"""How long the tests watch for a cycle that must not come (a cycle starts within
milliseconds of its wake: debounce 5 ms)."""


async def settled(dispatch: Stubs) -> int:
    """The region's solve count once its worker waits for a change (no cycle running)."""

    async def idle() -> object:
        worker = dispatch.loop.region_workers.get(REGION)
        if worker is None or worker.wake.is_set():
            return None
        before = worker.solves
        await asyncio.sleep(0.3)
        return (
            (worker,) if worker.solves == before and not worker.wake.is_set() else None
        )

    (worker,) = await eventually(idle)
    return int(worker.solves)


async def test_a_departure_with_no_ticket_waiting_starts_no_cycle(
    dispatch: Stubs,
) -> None:
    await slow_cadence(dispatch)
    for k in ("A", "B"):
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=technician(k, capacity=3))
        )
    for tid in ("T1", "T2"):
        await dispatch.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(tid, work_duration_s=600))
        )
    await dispatch.wait_events(is_assignment, 2)
    solves = await settled(dispatch)
    worker = dispatch.loop.region_workers[REGION]
    assert not worker.waiting

    await dispatch.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="T1"))
    await dispatch.wait_event(
        lambda e: e.type == pb.EVENT_TYPE_TICKET_CANCELLED and e.ticket_id == "T1"
    )
    await asyncio.sleep(QUIET_S)
    assert worker.solves == solves  # T2 is still open: a cycle would have solved it

    # the next change's cycle takes the departure in: T3 gets the freed place's region
    # model without T1 (the model is read from the stream position, not the watch's)
    await dispatch.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T3", work_duration_s=600))
    )
    await dispatch.wait_event(lambda e: is_assignment(e) and e.ticket_id == "T3")
    assert worker.solves > solves
    assert worker.model is not None
    assert "T1" not in worker.model.tickets
    assert {"T2", "T3"} <= set(worker.model.tickets)


async def test_a_departure_wakes_the_solve_when_a_ticket_waits_for_a_place(
    dispatch: Stubs,
) -> None:
    await slow_cadence(dispatch)
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("A", capacity=1))
    )
    for tid in ("T1", "T2"):
        await dispatch.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(tid, work_duration_s=600))
        )
    first = await dispatch.wait_event(is_assignment)
    await settled(dispatch)
    worker = dispatch.loop.region_workers[REGION]
    assert worker.waiting  # one place, two tickets

    await dispatch.tickets.CancelTicket(
        pb.CancelTicketRequest(ticket_id=first.ticket_id)
    )
    other = "T2" if first.ticket_id == "T1" else "T1"
    # well before the cadence tick (120 s): the departure itself started the cycle
    await dispatch.wait_event(
        lambda e: is_assignment(e) and e.ticket_id == other, timeout_s=30.0
    )
