"""The solve loop applies the server's retention settings: it sweeps closed tickets of the
regions it holds (``closed_ticket_retention_days``) and trims streams to ``events_maxlen``."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest

from dispatcher.bootstrap import Services
from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import Stubs, eventually, technician, ticket

if TYPE_CHECKING:
    from dispatcher.runtime.context import AppContext

pytestmark = pytest.mark.integration


async def _exists(stubs: Stubs, ticket_id: str) -> bool:
    """Whether GetTicket finds the ticket (NOT_FOUND: False; any other error is raised)."""
    try:
        await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id=ticket_id))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return False
    return True


async def test_closed_tickets_are_deleted_after_the_retention(dispatch: Stubs) -> None:
    """A cancelled ticket is readable, then gone once older than the retention; the open
    ticket beside it stays, and the deletions are counted."""
    dispatch.loop.closed_retention_s = 0.5
    dispatch.loop.sweep_interval_s = 0.1
    await dispatch.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    for tid in ("keep", "drop"):
        await dispatch.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket(tid)))
    await dispatch.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="drop"))
    assert await _exists(dispatch, "drop")

    async def dropped() -> bool:
        # a change wakes the region's worker, whose cycle ends with the sweep when due
        await dispatch.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=technician("X"))
        )
        return not await _exists(dispatch, "drop")

    await eventually(dropped, timeout_s=15)
    assert await _exists(dispatch, "keep")
    assert dispatch.loop.metrics is not None
    assert dispatch.loop.metrics.tickets_purged_total._value.get() == 1


async def test_services_pass_the_retention_settings(app_context: AppContext) -> None:
    """``events_maxlen`` reaches every event the solve loop writes (its store and its
    mover), and the closed-ticket retention is converted from days."""
    ctx = dataclasses.replace(
        app_context,
        settings=dataclasses.replace(
            app_context.settings, events_maxlen=500, closed_ticket_retention_days=2
        ),
        background=[],
        cleanups=[],
    )
    loop = Services.build(ctx, solver=True, solver_workers=1).solve_loop
    assert loop is not None
    try:
        assert loop.store.events_maxlen == 500
        assert loop.mover.maxlen == 500
        assert loop.closed_retention_s == 2 * 86_400
    finally:
        await loop.aclose()
