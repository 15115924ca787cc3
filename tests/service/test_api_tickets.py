"""Ticket RPCs over a real gRPC server and Redis: happy paths and error codes."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import grpc
import pytest
import redis.asyncio
import redis.exceptions
from google.protobuf.field_mask_pb2 import FieldMask

from dispatcher.domain import Assignment
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.redis_control import pause
from tests.service.conftest import Stubs, technician, ticket

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def code_of(coro: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    return err.value.code()


async def assign(
    redis_client: redis.asyncio.Redis,
    ticket_id: str,
    tech_id: str,
    region: str = "north",
) -> None:
    """Play the solve loop: commit ``ticket_id`` -> ``tech_id`` under a lease."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await redis_client.set(keys.lease_key("default", region), "tok")
    snap = await store.snapshot("default", region)
    ev = ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {t.technician_id: t.version for t in snap.technicians},
    )
    res = await store.commit_assignments(
        "default",
        region,
        "tok",
        [Decision(ticket_id, tech_id, Assignment(tech_id))],
        ev,
    )
    assert res.outcomes[0].code in ("ASSIGNED", "REASSIGNED")


async def test_submit_and_get(stubs: Stubs) -> None:
    """A submitted ticket reads back QUEUED, version 1, SLA derived from the policy."""
    resp = await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", priority=1), request_id="r1")
    )
    assert not resp.replayed
    got = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.status == pb.TICKET_STATUS_QUEUED
    assert got.version == 1
    assert got.sla.response_due_ms - got.created_at_ms == pytest.approx(
        3600_000, abs=2000
    )
    assert got.unassigned_reason == pb.UNASSIGNED_REASON_NOT_YET_SOLVED


async def test_given_resolution_due_is_kept_and_bounds_the_derived_response(
    stubs: Stubs,
) -> None:
    """A client's own resolution due time is never moved: a derived response due (submit +
    the policy's 1 h P1 target) is capped by it instead."""
    soon_ms = int(time.time() * 1000) + 600_000
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(
            ticket=ticket("T1", priority=1, sla=pb.SlaDue(resolution_due_ms=soon_ms)),
            request_id="r1",
        )
    )
    got = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1"))
    assert got.sla.resolution_due_ms == soon_ms
    assert got.sla.response_due_ms == soon_ms


async def test_submit_retry_replays_and_duplicate_id_is_already_exists(
    stubs: Stubs,
) -> None:
    """Same request id -> replayed original; same ticket id, new request -> ALREADY_EXISTS."""
    req = pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    first, *again = await asyncio.gather(
        *(stubs.tickets.SubmitTicket(req) for _ in range(5))
    )
    assert sum(1 for r in [first, *again] if not r.replayed) == 1
    assert {r.ticket.ticket_id for r in again} == {"T1"}
    other = pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r2")
    assert (
        await code_of(stubs.tickets.SubmitTicket(other))
        == grpc.StatusCode.ALREADY_EXISTS
    )


async def test_batch_submit_results_per_item(stubs: Stubs) -> None:
    """A batch over two regions stores everything; an existing id gets ALREADY_EXISTS in its slot."""
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("old")))
    reqs = [
        pb.SubmitTicketRequest(
            ticket=ticket(f"B{i}", region="north" if i % 2 else "south"),
            request_id=f"q{i}",
        )
        for i in range(50)
    ]
    reqs.append(pb.SubmitTicketRequest(ticket=ticket("old")))
    resp = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(requests=reqs)
    )
    assert [r.ticket_id for r in resp.results] == [f"B{i}" for i in range(50)] + ["old"]
    assert [r.code for r in resp.results[:50]] == [0] * 50
    assert resp.results[50].code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    replay = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(requests=reqs[:3])
    )
    assert all(r.replayed for r in replay.results)


async def test_batch_limits_and_duplicates_write_nothing(stubs: Stubs) -> None:
    """> 1000 items, an empty batch, or a repeated ticket id: INVALID_ARGUMENT and nothing stored."""
    too_many = [pb.SubmitTicketRequest(ticket=ticket(f"X{i}")) for i in range(1001)]
    assert (
        await code_of(
            stubs.tickets.BatchSubmitTickets(
                pb.BatchSubmitTicketsRequest(requests=too_many)
            )
        )
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        await code_of(stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest()))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    dup = [
        pb.SubmitTicketRequest(ticket=ticket("D1")),
        pb.SubmitTicketRequest(ticket=ticket("D2")),
        pb.SubmitTicketRequest(ticket=ticket("D1")),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stubs.tickets.BatchSubmitTickets(
            pb.BatchSubmitTicketsRequest(requests=dup)
        )
    assert "requests[2].ticket.ticket_id" in (err.value.details() or "")
    listed = await stubs.tickets.ListTickets(pb.ListTicketsRequest())
    assert list(listed.tickets) == []


async def test_list_filters_and_pages(stubs: Stubs) -> None:
    """Paging visits every ticket once; filters by status, priority and region apply."""
    reqs = [
        pb.SubmitTicketRequest(
            ticket=ticket(f"L{i:02d}", region=("a", "b")[i % 2], priority=1 + i % 4)
        )
        for i in range(30)
    ]
    await stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=reqs))
    await stubs.tickets.CancelTicket(
        pb.CancelTicketRequest(ticket_id="L00", reason="x")
    )
    seen: list[str] = []
    token = ""
    while True:
        page = await stubs.tickets.ListTickets(
            pb.ListTicketsRequest(page_size=7, page_token=token)
        )
        seen += [t.ticket_id for t in page.tickets]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(f"L{i:02d}" for i in range(30))
    assert len(seen) == len(set(seen))
    p1 = await stubs.tickets.ListTickets(
        pb.ListTicketsRequest(priority=pb.PRIORITY_P1, region="a")
    )
    assert {t.ticket_id for t in p1.tickets} == {
        f"L{i:02d}" for i in range(30) if i % 4 == 0 and i % 2 == 0
    }
    cancelled = await stubs.tickets.ListTickets(
        pb.ListTicketsRequest(statuses=[pb.TICKET_STATUS_CANCELLED])
    )
    assert [t.ticket_id for t in cancelled.tickets] == ["L00"]
    bad = pb.ListTicketsRequest(page_token="garbage!", page_size=2)
    assert (
        await code_of(stubs.tickets.ListTickets(bad))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    assert (
        await code_of(stubs.tickets.ListTickets(pb.ListTicketsRequest(page_size=5000)))
        == grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_update_with_field_mask(stubs: Stubs) -> None:
    """Only masked fields change; version bumps; stale expected_version is ABORTED; bad path INVALID."""
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1", title="old", priority=3))
    )
    upd = await stubs.tickets.UpdateTicket(
        pb.UpdateTicketRequest(
            ticket=pb.Ticket(ticket_id="T1", priority=1, title="ignored"),
            update_mask=FieldMask(paths=["priority"]),
            expected_version=1,
        )
    )
    assert upd.priority == pb.PRIORITY_P1
    assert upd.title == "old"
    assert upd.version == 2
    assert (
        upd.sla.response_due_ms - upd.created_at_ms == 3600_000
    )  # P1 target of the policy
    stale = pb.UpdateTicketRequest(
        ticket=pb.Ticket(ticket_id="T1", title="x"),
        update_mask=FieldMask(paths=["title"]),
        expected_version=1,
    )
    assert await code_of(stubs.tickets.UpdateTicket(stale)) == grpc.StatusCode.ABORTED
    region = pb.UpdateTicketRequest(
        ticket=pb.Ticket(ticket_id="T1", region="b"),
        update_mask=FieldMask(paths=["region"]),
    )
    assert (
        await code_of(stubs.tickets.UpdateTicket(region))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    missing = pb.UpdateTicketRequest(
        ticket=pb.Ticket(ticket_id="nope", title="x"),
        update_mask=FieldMask(paths=["title"]),
    )
    assert (
        await code_of(stubs.tickets.UpdateTicket(missing)) == grpc.StatusCode.NOT_FOUND
    )
    await stubs.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="T1"))
    closed = pb.UpdateTicketRequest(
        ticket=pb.Ticket(ticket_id="T1", title="x"),
        update_mask=FieldMask(paths=["title"]),
    )
    assert (
        await code_of(stubs.tickets.UpdateTicket(closed))
        == grpc.StatusCode.FAILED_PRECONDITION
    )


async def test_lifecycle_rpcs(stubs: Stubs, redis_client: redis.asyncio.Redis) -> None:
    """Accept/start/complete by the holder; wrong order FAILED_PRECONDITION; unknown NOT_FOUND."""
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    assert (
        await code_of(
            stubs.tickets.AcceptTicket(
                pb.AcceptTicketRequest(ticket_id="T1", technician_id="X")
            )
        )
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    await assign(redis_client, "T1", "X")
    assert (
        await code_of(
            stubs.tickets.StartTicket(
                pb.StartTicketRequest(ticket_id="T1", technician_id="X")
            )
        )
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    assert (
        await code_of(
            stubs.tickets.AcceptTicket(
                pb.AcceptTicketRequest(ticket_id="T1", technician_id="Y")
            )
        )
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    acc = await stubs.tickets.AcceptTicket(
        pb.AcceptTicketRequest(ticket_id="T1", technician_id="X")
    )
    assert acc.status == pb.TICKET_STATUS_ACCEPTED
    started = await stubs.tickets.StartTicket(
        pb.StartTicketRequest(ticket_id="T1", technician_id="X")
    )
    assert started.status == pb.TICKET_STATUS_IN_PROGRESS
    no_res = pb.CompleteTicketRequest(ticket_id="T1", technician_id="X")
    assert (
        await code_of(stubs.tickets.CompleteTicket(no_res))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    done = await stubs.tickets.CompleteTicket(
        pb.CompleteTicketRequest(
            ticket_id="T1",
            technician_id="X",
            resolution=pb.Resolution(code=pb.RESOLUTION_CODE_FIXED, notes="new valve"),
        )
    )
    assert done.status == pb.TICKET_STATUS_RESOLVED
    assert done.resolution.notes == "new valve"
    assert (
        await code_of(
            stubs.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id="T1"))
        )
        == grpc.StatusCode.FAILED_PRECONDITION
    )
    assert (
        await code_of(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="nope")))
        == grpc.StatusCode.NOT_FOUND
    )


async def test_decline_returns_to_queue(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Decline needs a reason; afterwards the ticket is QUEUED with the decliner excluded."""
    await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=ticket("T1")))
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    await assign(redis_client, "T1", "X")
    no_reason = pb.DeclineTicketRequest(ticket_id="T1", technician_id="X")
    assert (
        await code_of(stubs.tickets.DeclineTicket(no_reason))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    t = await stubs.tickets.DeclineTicket(
        pb.DeclineTicketRequest(ticket_id="T1", technician_id="X", reason="no parts")
    )
    assert t.status == pb.TICKET_STATUS_QUEUED
    assert list(t.declined_by_technician_ids) == ["X"]
    assert not t.HasField("assignment")


async def test_queue_stats_and_explain(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Queue depth per priority, and explain shows the stored decision of an assigned ticket."""
    await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(
            requests=[
                pb.SubmitTicketRequest(ticket=ticket(f"S{i}", priority=1 + i % 2))
                for i in range(5)
            ]
        )
    )
    await stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X"))
    )
    await assign(redis_client, "S0", "X")
    stats = await stubs.insight.GetQueueStats(
        pb.GetQueueStatsRequest(regions=["north"])
    )
    (region,) = stats.regions
    by_prio = {p.priority: p for p in region.priorities}
    assert by_prio[pb.PRIORITY_P1].queued == 2
    assert by_prio[pb.PRIORITY_P1].assigned == 1
    assert by_prio[pb.PRIORITY_P2].queued == 2
    assert (
        by_prio[pb.PRIORITY_P1].at_risk == 0
    )  # P1 response due in 1 h: outside the 30 min margin
    assert region.technicians_total == 1
    explained = await stubs.insight.ExplainAssignment(
        pb.ExplainAssignmentRequest(ticket_id="S0")
    )
    assert explained.chosen.technician_id == "X"
    queued = await stubs.insight.ExplainAssignment(
        pb.ExplainAssignmentRequest(ticket_id="S1")
    )
    assert queued.unassigned_reason == pb.UNASSIGNED_REASON_NOT_YET_SOLVED


async def test_queue_stats_at_risk_and_overdue(stubs: Stubs) -> None:
    """A ticket due within the margin is at risk; one past due is overdue (and at risk)."""
    import time

    now_ms = int(time.time() * 1000)
    soon = ticket("R1", priority=2, sla=pb.SlaDue(response_due_ms=now_ms + 600_000))
    late = ticket("R2", priority=2, sla=pb.SlaDue(response_due_ms=now_ms - 60_000))
    for t in (soon, late):
        await stubs.tickets.SubmitTicket(pb.SubmitTicketRequest(ticket=t))
    stats = await stubs.insight.GetQueueStats(pb.GetQueueStatsRequest())
    p2 = next(p for p in stats.regions[0].priorities if p.priority == pb.PRIORITY_P2)
    assert (p2.at_risk, p2.overdue) == (2, 1)


async def _error(coro: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    return err.value


async def test_reused_request_id_with_other_ticket_is_refused(stubs: Stubs) -> None:
    """Same request_id, different ticket: ALREADY_EXISTS naming request_id, nothing written;
    the same request again still replays the original."""
    await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    )
    err = await _error(
        stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1x"), request_id="r1")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in (err.details() or "")
    # the same ticket id with a changed payload is a different request too
    err = await _error(
        stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket("T1", priority=1), request_id="r1")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (
        await _error(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="T1x")))
    ).code() == grpc.StatusCode.NOT_FOUND
    again = await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1"), request_id="r1")
    )
    assert again.replayed
    assert again.ticket.ticket_id == "T1"
    assert again.ticket.priority == 3


async def test_batch_reused_request_id_with_other_ticket_fails_per_item(
    stubs: Stubs,
) -> None:
    first = [
        pb.SubmitTicketRequest(ticket=ticket(f"B{i}"), request_id=f"q{i}")
        for i in range(3)
    ]
    await stubs.tickets.BatchSubmitTickets(pb.BatchSubmitTicketsRequest(requests=first))
    second = [
        first[0],
        pb.SubmitTicketRequest(ticket=ticket("B1x"), request_id="q1"),
        pb.SubmitTicketRequest(ticket=ticket("B9"), request_id="q9"),
    ]
    resp = await stubs.tickets.BatchSubmitTickets(
        pb.BatchSubmitTicketsRequest(requests=second)
    )
    r0, r1, r2 = resp.results
    assert r0.code == 0
    assert r0.replayed
    assert r0.ticket_id == "B0"
    assert r1.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert "request_id" in r1.message
    assert not r1.replayed
    assert r2.code == 0
    assert not r2.replayed
    assert (
        await _error(stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="B1x")))
    ).code() == grpc.StatusCode.NOT_FOUND


async def test_queue_stats_count_the_technicians_on_duty(stubs: Stubs) -> None:
    """A region's technicians and those on duty (available or busy; not on a break or
    off shift), in each of several regions."""
    statuses = {
        "north": [pb.TECHNICIAN_STATUS_AVAILABLE] * 3
        + [pb.TECHNICIAN_STATUS_ON_BREAK, pb.TECHNICIAN_STATUS_BUSY],
        "south": [pb.TECHNICIAN_STATUS_OFF_SHIFT, pb.TECHNICIAN_STATUS_AVAILABLE],
    }
    for region, kinds in statuses.items():
        for i, status in enumerate(kinds):
            await stubs.technicians.UpsertTechnician(
                pb.UpsertTechnicianRequest(
                    technician=technician(f"{region}{i}", region=region, status=status)
                )
            )
    stats = await stubs.insight.GetQueueStats(
        pb.GetQueueStatsRequest(regions=["north", "south", "east"])
    )
    counts = {
        r.region: (r.technicians_total, r.technicians_available) for r in stats.regions
    }
    assert counts == {"north": (5, 4), "south": (2, 1), "east": (0, 0)}


async def test_derived_due_times_count_from_the_created_time_however_long_the_submit(
    stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """A ticket's derived due times are the policy's targets counted from its created
    time exactly, also when the submit takes long between deriving them and writing the
    ticket (here Redis paused 300 ms under the policy read): created is the clock they
    were derived from, in the answer and in the store."""
    await stubs.policy.UpdatePolicy(
        pb.UpdatePolicyRequest(
            policy=pb.Policy(
                sla_targets=[
                    pb.SlaTarget(
                        priority=pb.PRIORITY_P1, response_s=3600.0, resolution_s=7200.0
                    )
                ]
            ),
            update_mask=FieldMask(paths=["sla_targets"]),
        )
    )
    await pause(redis_client, 300, "ALL")
    out = await stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("DUE1", priority=1), request_id="due1")
    )
    stored = await stubs.tickets.GetTicket(pb.GetTicketRequest(ticket_id="DUE1"))
    for t in (out.ticket, stored):
        assert t.sla.response_due_ms - t.created_at_ms == 3_600_000
        assert t.sla.resolution_due_ms - t.created_at_ms == 7_200_000
    assert stored.created_at_ms == out.ticket.created_at_ms
