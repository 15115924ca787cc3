"""Technician and policy RPCs over a real server: happy paths and error codes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from dispatcher.pb import dispatch_pb2 as pb
from tests.service.conftest import Stubs, technician
from tests.service.test_api_tickets import assign, code_of, ticket

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NOW_MS = int(time.time() * 1000)


async def test_upsert_get_list_remove(stubs: Stubs) -> None:
    """Create, replace (version 2), list by status, remove; then NOT_FOUND."""
    created = await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(
            technician=technician("X", skills=[pb.Skill(skill="hvac", level=3)])
        )
    )
    assert created.version == 1
    assert created.travel_speed_kmh == 40
    again = await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(
            technician=technician("X", capacity=5), expected_version=1
        )
    )
    assert (again.version, again.capacity) == (2, 5)
    stale = pb.UpsertTechnicianRequest(technician=technician("X"), expected_version=1)
    assert (
        await code_of(stubs.technicians.UpsertTechnician(stale))
        == grpc.StatusCode.ABORTED
    )
    moved = pb.UpsertTechnicianRequest(technician=technician("X", region="south"))
    assert (
        await code_of(stubs.technicians.UpsertTechnician(moved))
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(
            technician=technician("Y", status=pb.TECHNICIAN_STATUS_OFF_SHIFT)
        )
    )
    got = await stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="X")
    )
    assert got.capacity == 5
    off = await stubs.technicians.ListTechnicians(
        pb.ListTechniciansRequest(statuses=[pb.TECHNICIAN_STATUS_OFF_SHIFT])
    )
    assert [t.technician_id for t in off.technicians] == ["Y"]
    page = await stubs.technicians.ListTechnicians(
        pb.ListTechniciansRequest(page_size=1)
    )
    rest = await stubs.technicians.ListTechnicians(
        pb.ListTechniciansRequest(page_size=1, page_token=page.next_page_token)
    )
    assert [t.technician_id for t in [*page.technicians, *rest.technicians]] == [
        "X",
        "Y",
    ]
    await stubs.technicians.RemoveTechnician(
        pb.RemoveTechnicianRequest(technician_id="X")
    )
    assert (
        await code_of(
            stubs.technicians.GetTechnician(pb.GetTechnicianRequest(technician_id="X"))
        )
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        await code_of(
            stubs.technicians.RemoveTechnician(
                pb.RemoveTechnicianRequest(technician_id="X")
            )
        )
        == grpc.StatusCode.NOT_FOUND
    )
    # after removal the id may be re-created elsewhere
    south = await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X", region="south"))
    )
    assert south.region == "south"


async def test_capacity_below_held_and_remove_busy_fail(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Capacity cannot drop below held tickets; a technician with an accepted ticket cannot go."""
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X", capacity=1))
    )
    await assign(redis_client, "T1", "X")
    await stubs.tickets.AcceptTicket(
        pb.AcceptTicketRequest(ticket_id="T1", technician_id="X")
    )
    got = await stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="X")
    )
    assert list(got.queue_ticket_ids) == ["T1"]
    remove = pb.RemoveTechnicianRequest(technician_id="X")
    assert (
        await code_of(stubs.technicians.RemoveTechnician(remove))
        == grpc.StatusCode.FAILED_PRECONDITION
    )


async def test_locations_unary_and_stream(stubs: Stubs) -> None:
    """Pings update the location without a version bump; older pings are ignored."""
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    now_ms = int(time.time() * 1000) + 5
    loc = pb.Location(latitude_deg=42.5, longitude_deg=-71.5)
    r = await stubs.technicians.ReportLocation(
        pb.ReportLocationRequest(technician_id="X", location=loc, reported_at_ms=now_ms)
    )
    assert r.applied
    old = await stubs.technicians.ReportLocation(
        pb.ReportLocationRequest(
            technician_id="X", location=loc, reported_at_ms=now_ms - 10_000
        )
    )
    assert not old.applied

    async def pings():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield pb.ReportLocationRequest(
                technician_id="X",
                location=pb.Location(latitude_deg=42.6 + i / 100, longitude_deg=-71.0),
                reported_at_ms=now_ms + i + 1,
            )

    summary = await stubs.technicians.StreamLocations(pings())
    assert (summary.received, summary.applied) == (5, 5)
    got = await stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="X")
    )
    assert got.location.latitude_deg == pytest.approx(42.64)
    assert got.version == 1
    bad = pb.ReportLocationRequest(
        technician_id="X", location=pb.Location(latitude_deg=91, longitude_deg=0)
    )
    assert (
        await code_of(stubs.technicians.ReportLocation(bad))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    unknown = pb.ReportLocationRequest(technician_id="nobody", location=loc)
    assert (
        await code_of(stubs.technicians.ReportLocation(unknown))
        == grpc.StatusCode.NOT_FOUND
    )


async def test_set_availability(stubs: Stubs) -> None:
    """Status and shifts change by mask; overlapping shifts and UNSPECIFIED status are invalid."""
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    t = await stubs.technicians.SetAvailability(
        pb.SetAvailabilityRequest(
            technician_id="X",
            status=pb.TECHNICIAN_STATUS_ON_BREAK,
            update_mask=FieldMask(paths=["status"]),
        )
    )
    assert (t.status, t.version) == (pb.TECHNICIAN_STATUS_ON_BREAK, 2)
    shifts = [
        pb.Shift(start_ms=NOW_MS, end_ms=NOW_MS + 3_600_000),
        pb.Shift(start_ms=NOW_MS + 7_200_000, end_ms=NOW_MS + 9_000_000),
    ]
    t = await stubs.technicians.SetAvailability(
        pb.SetAvailabilityRequest(
            technician_id="X", shifts=shifts, update_mask=FieldMask(paths=["shifts"])
        )
    )
    assert len(t.shifts) == 2
    assert t.status == pb.TECHNICIAN_STATUS_ON_BREAK
    overlap = [
        pb.Shift(start_ms=NOW_MS, end_ms=NOW_MS + 3_600_000),
        pb.Shift(start_ms=NOW_MS + 60_000, end_ms=NOW_MS + 90_000),
    ]
    bad = pb.SetAvailabilityRequest(
        technician_id="X", shifts=overlap, update_mask=FieldMask(paths=["shifts"])
    )
    assert (
        await code_of(stubs.technicians.SetAvailability(bad))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    unspecified = pb.SetAvailabilityRequest(
        technician_id="X", update_mask=FieldMask(paths=["status"])
    )
    assert (
        await code_of(stubs.technicians.SetAvailability(unspecified))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_policy_get_update_history(stubs: Stubs) -> None:
    """Defaults at version 0; a masked update bumps the version and is in the history."""
    p0 = await stubs.policy.GetPolicy(pb.GetPolicyRequest())
    assert p0.version == 0
    p0.weights.travel = 2.5
    p1 = await stubs.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=p0, update_mask=FieldMask(paths=["weights"]), expected_version=0
        )
    )
    assert (p1.version, p1.weights.travel) == (1, 2.5)
    assert p1.updated_by == "dev-mode"
    stale = pb.UpdatePolicyRequest(
        policy=p0, update_mask=FieldMask(paths=["weights"]), expected_version=7
    )
    assert await code_of(stubs.policy.UpdatePolicy(stale)) == grpc.StatusCode.ABORTED
    p0.weights.travel = -1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.policy.UpdatePolicy(
            pb.UpdatePolicyRequest(policy=p0, update_mask=FieldMask(paths=["weights"]))
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "policy.weights.travel" in (err.value.details() or "")
    hist = await stubs.policy.ListPolicyHistory(pb.ListPolicyHistoryRequest())
    assert [p.version for p in hist.policies] == [1]
    region = await stubs.policy.GetPolicy(pb.GetPolicyRequest(region="north"))
    assert region.weights.travel == 2.5  # falls back to the tenant policy


async def test_remaining_error_paths(stubs: Stubs) -> None:
    """Unknown ids, bad names and bad tokens on the insight, policy and availability RPCs."""
    cases = [
        stubs.insight.ExplainAssignment(pb.ExplainAssignmentRequest(ticket_id="nope")),
        stubs.technicians.SetAvailability(
            pb.SetAvailabilityRequest(
                technician_id="nope", status=pb.TECHNICIAN_STATUS_BUSY
            )
        ),
    ]
    for call in cases:
        assert await code_of(call) == grpc.StatusCode.NOT_FOUND
    invalid = [
        stubs.insight.ExplainAssignment(
            pb.ExplainAssignmentRequest(ticket_id="T", max_alternatives=99)
        ),
        stubs.insight.GetQueueStats(pb.GetQueueStatsRequest(regions=["bad:region"])),
        stubs.policy.ListPolicyHistory(pb.ListPolicyHistoryRequest(page_token="x")),
        stubs.policy.GetPolicy(pb.GetPolicyRequest(region="{x}")),
        stubs.tickets.ListTickets(pb.ListTicketsRequest(statuses=[99])),
    ]
    for call in invalid:
        assert await code_of(call) == grpc.StatusCode.INVALID_ARGUMENT


async def test_location_stream_longer_than_one_chunk(stubs: Stubs) -> None:
    """A stream of several hundred pings is stored in chunks; the newest one wins."""
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    start = int(time.time() * 1000) + 10

    async def pings():  # type: ignore[no-untyped-def]
        for i in range(450):
            loc = pb.Location(latitude_deg=40 + i / 1000, longitude_deg=-70.0)
            yield pb.ReportLocationRequest(
                technician_id="X", location=loc, reported_at_ms=start + i
            )

    summary = await stubs.technicians.StreamLocations(pings())
    assert (summary.received, summary.applied) == (450, 450)
    got = await stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(technician_id="X")
    )
    assert got.location.latitude_deg == pytest.approx(40.449)
    assert got.location_updated_at_ms == start + 449
