"""Bad input: INVALID_ARGUMENT naming the field, nothing written, server keeps serving."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import redis.asyncio
import redis.exceptions

from dispatcher.pb import dispatch_pb2 as pb
from tests.redis_control import pause, unpause
from tests.service.conftest import Stubs, technician, ticket

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def loc(lat: float, lon: float) -> pb.Location:
    return pb.Location(latitude_deg=lat, longitude_deg=lon)


BAD_TICKETS: list[tuple[dict[str, Any], str]] = [
    ({"ticket_id": ""}, "ticket.ticket_id"),
    ({"ticket_id": "has space"}, "ticket.ticket_id"),
    ({"ticket_id": "x" * 129}, "ticket.ticket_id"),
    ({"region": "bad{tag}"}, "ticket.region"),
    ({"priority": 0}, "ticket.priority"),
    ({"priority": 12}, "ticket.priority"),
    ({"work_duration_s": 0}, "ticket.work_duration_s"),
    ({"work_duration_s": 10**9}, "ticket.work_duration_s"),
    ({"location": loc(math.nan, 0)}, "ticket.location.latitude_deg"),
    ({"location": loc(0, math.inf)}, "ticket.location.longitude_deg"),
    ({"location": loc(95, 0)}, "ticket.location.latitude_deg"),
    ({"location": loc(0, -181)}, "ticket.location.longitude_deg"),
    ({"customer_tier": -1}, "ticket.customer_tier"),
    ({"title": "t" * 300}, "ticket.title"),
    (
        {
            "time_window": pb.TimeWindow(
                start_ms=1_800_000_600_000, end_ms=1_800_000_000_000
            )
        },
        "ticket.time_window.end_ms",
    ),
    ({"time_window": pb.TimeWindow(start_ms=1_800_000)}, "ticket.time_window.start_ms"),
    (
        {"required_skills": [pb.SkillRequirement(skill="hvac", min_level=11)]},
        "ticket.required_skills[0].min_level",
    ),
    (
        {"required_skills": [pb.SkillRequirement(skill="a", min_level=1)] * 2},
        "ticket.required_skills[1].skill",
    ),
    ({"excluded_technician_ids": ["A", "A"]}, "ticket.excluded_technician_ids[1]"),
    ({"attributes": {"k": "v" * 2000}}, "ticket.attributes"),
]


@pytest.mark.parametrize(("fields", "field_name"), BAD_TICKETS)
async def test_bad_ticket_is_invalid_and_writes_nothing(
    stubs: Stubs,
    redis_client: redis.asyncio.Redis,
    fields: dict[str, Any],
    field_name: str,
) -> None:
    """Each invalid ticket field is named in INVALID_ARGUMENT and leaves Redis empty."""
    kw: dict[str, Any] = {"ticket_id": "T1", "region": "north", "priority": 3}
    kw.update(fields)
    msg = ticket(kw.pop("ticket_id"), kw.pop("region"), kw.pop("priority"), **kw)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=msg))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_name in (err.value.details() or "")
    assert [k async for k in redis_client.scan_iter(match="dispatch:{default:*")] == []


async def test_missing_location_is_remote_unless_the_asset_is_known(
    stubs: Stubs,
) -> None:
    """No location and an unknown asset: accepted as remote work (no location); a known
    asset supplies the location."""
    bare = pb.Ticket(
        ticket_id="T1",
        region="north",
        priority=2,
        work_duration_s=60,
        asset_id="pump-1",
    )
    remote = await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=bare))
    assert not remote.ticket.HasField("location")
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(
            ticket=ticket("T0", asset_id="pump-1", location=loc(42.1, -71.1))
        )
    )
    bare.ticket_id = "T2"
    req = pb.SubmitTicketRequest(ticket=bare, request_id="r-T2")
    ok = await stubs.tickets.SubmitTicket(req)
    assert ok.ticket.location.latitude_deg == pytest.approx(42.1)
    stored = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T2"))
    assert stored.location.latitude_deg == pytest.approx(42.1)
    # The request digest is of the request as sent (no location): its retry is a replay
    # of the original answer, whatever the asset's location is by then.
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(
            ticket=ticket("T3", asset_id="pump-1", location=loc(42.9, -71.9))
        )
    )
    again = await stubs.tickets.SubmitTicket(req)
    assert again.ticket == ok.ticket


async def test_batch_error_names_the_item(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """One bad item in a batch names requests[i] and no item of the batch is written."""
    reqs = [pb.SubmitTicketRequest(ticket=ticket(f"B{i}")) for i in range(5)]
    reqs[3].ticket.location.latitude_deg = math.nan
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.tickets.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(requests=reqs)
        )
    assert "requests[3].ticket.location.latitude_deg" in (err.value.details() or "")
    assert [k async for k in redis_client.scan_iter(match="dispatch:{default:*")] == []


@pytest.mark.parametrize(
    ("tech", "field_name"),
    [
        (technician("X", capacity=0), "technician.capacity"),
        (technician("X", capacity=1000), "technician.capacity"),
        (technician("X", travel_speed_kmh=math.nan), "technician.travel_speed_kmh"),
        (technician("X", status=0), "technician.status"),
        (technician("X", status=42), "technician.status"),
        (
            technician("X", skills=[pb.Skill(skill="hvac", level=0)]),
            "technician.skills[0].level",
        ),
        (
            technician(
                "X",
                shifts=[pb.Shift(start_ms=1_800_000_600_000, end_ms=1_800_000_000_000)],
            ),
            "technician.shifts[0].end_ms",
        ),
    ],
)
async def test_bad_technician_is_invalid(
    stubs: Stubs, tech: pb.Technician, field_name: str
) -> None:
    """Invalid technician fields are named; nothing is created."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=tech)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_name in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.technicians.GetTechnician(
            pb.GetTechnicianRequest(technician_id="X")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_expired_deadline_and_oversized_message(
    stubs: Stubs, grpc_channel: grpc.aio.Channel, redis_client: redis.asyncio.Redis
) -> None:
    """A deadline that cannot be met gives DEADLINE_EXCEEDED; an oversized message RESOURCE_EXHAUSTED."""
    # Redis held (CLIENT PAUSE) far past the client's deadline: the call cannot make it. (A
    # 1 us deadline on an idle server was not enough: grpc's deadline timer can fire after
    # a fast call has already been answered, and the call then succeeds.)
    await pause(redis_client, 2000, "ALL")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as expired:
            await stubs.tickets.ListTickets(pb.ListTicketsRequest(), timeout=0.1)
    finally:
        await unpause(redis_client)
    assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    huge = pb.SubmitTicketRequest(
        ticket=ticket("T1", description="x" * (8 * 1024 * 1024))
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.tickets.SubmitTicket(huge)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # still serving
    await stubs.tickets.ListTickets(pb.ListTicketsRequest())


async def test_overload_is_resource_exhausted(stubs: Stubs, grpc_server: Any) -> None:
    """With the in-flight bound reached, new calls are shed with RESOURCE_EXHAUSTED."""
    admission = grpc_server.services.admission
    admission.limit = 0
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stubs.tickets.ListTickets(pb.ListTicketsRequest())
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (
            grpc_server.ctx.registry.get_sample_value(
                "dispatch_rejected_requests_total", {"reason": "overload"}
            )
            == 1
        )
    finally:
        admission.limit = 512
    await stubs.tickets.ListTickets(pb.ListTicketsRequest())


async def _error(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    return err.value


async def test_missing_ticket_and_empty_mask_errors_name_the_real_field(
    stubs: Stubs,
) -> None:
    err = await _error(
        stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(request_id="x"))
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("ticket: is required")
    err = await _error(
        stubs.tickets.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(
                requests=[
                    pb.SubmitTicketRequest(ticket=ticket("A")),
                    pb.SubmitTicketRequest(),
                ]
            )
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("requests[1].ticket: is required")
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("U1")))
    err = await _error(
        stubs.tickets.UpdateTicket(
            pb.UpdateTicketRequest(ticket=pb.Ticket(ticket_id="U1", title="new"))
        )
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("update_mask: is empty")
    got = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="U1"))
    assert got.title == ""
