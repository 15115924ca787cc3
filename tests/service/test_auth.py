"""Credentials, roles and tenant isolation with a configured auth file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from dispatcher.api.auth import AuthConfigError, Authenticator
from dispatcher.domain import Assignment, Role
from dispatcher.errors import Unauthenticated
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.service.conftest import Stubs, md, technician, ticket

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PLATFORM, ADMIN, TECH_X, OTHER = (
    md("acme-platform"),
    md("acme-admin"),
    md("acme-tech-x"),
    md("globex-platform"),
)


async def code_of(coro: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro  # type: ignore[misc]
    return err.value.code()


async def test_missing_or_unknown_credential_is_unauthenticated(
    auth_stubs: Stubs,
) -> None:
    """No metadata, a wrong token: UNAUTHENTICATED; x-api-key works like a bearer token."""
    req = pb.ListTicketsRequest()
    assert (
        await code_of(auth_stubs.tickets.ListTickets(req))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert (
        await code_of(auth_stubs.tickets.ListTickets(req, metadata=md("wrong")))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    await auth_stubs.tickets.ListTickets(
        req, metadata=(("x-api-key", "acme-platform"),)
    )


async def test_tenants_are_isolated(auth_stubs: Stubs) -> None:
    """Another tenant cannot see, list, change or watch acme's tickets; ids are per tenant."""
    await auth_stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1")), metadata=PLATFORM
    )
    await auth_stubs.technicians.UpsertTechnician(
        pb.UpsertTechnicianRequest(technician=technician("X")), metadata=PLATFORM
    )
    get = pb.GetTicketRequest(ticket_id="T1")
    assert (
        await code_of(auth_stubs.tickets.GetTicket(get, metadata=OTHER))
        == grpc.StatusCode.NOT_FOUND
    )
    cancel = pb.CancelTicketRequest(ticket_id="T1")
    assert (
        await code_of(auth_stubs.tickets.CancelTicket(cancel, metadata=OTHER))
        == grpc.StatusCode.NOT_FOUND
    )
    tech = pb.GetTechnicianRequest(technician_id="X")
    assert (
        await code_of(auth_stubs.technicians.GetTechnician(tech, metadata=OTHER))
        == grpc.StatusCode.NOT_FOUND
    )
    assert (
        list(
            (
                await auth_stubs.tickets.ListTickets(
                    pb.ListTicketsRequest(), metadata=OTHER
                )
            ).tickets
        )
        == []
    )
    stats = await auth_stubs.insight.GetQueueStats(
        pb.GetQueueStatsRequest(), metadata=OTHER
    )
    assert list(stats.regions) == []
    # the same ticket id is free in the other tenant
    mine = await auth_stubs.tickets.SubmitTicket(
        pb.SubmitTicketRequest(ticket=ticket("T1")), metadata=OTHER
    )
    assert mine.ticket.version == 1
    acme = await auth_stubs.tickets.GetTicket(get, metadata=PLATFORM)
    assert acme.version == 1
    watch = auth_stubs.events.WatchEvents(
        pb.WatchEventsRequest(start=pb.START_POSITION_EARLIEST), metadata=OTHER
    )
    first = await watch.read()
    assert first.event.ticket_id == "T1"
    assert first.event.type == pb.EVENT_TYPE_TICKET_SUBMITTED
    watch.cancel()


async def test_only_admin_changes_policy(auth_stubs: Stubs) -> None:
    """Platform and technician roles get PERMISSION_DENIED on UpdatePolicy; admin succeeds."""
    current = await auth_stubs.policy.GetPolicy(
        pb.GetPolicyRequest(), metadata=PLATFORM
    )
    req = pb.UpdatePolicyRequest(
        policy=current, update_mask=FieldMask(paths=["solver"])
    )
    assert (
        await code_of(auth_stubs.policy.UpdatePolicy(req, metadata=PLATFORM))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        await code_of(auth_stubs.policy.UpdatePolicy(req, metadata=TECH_X))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    stored = await auth_stubs.policy.UpdatePolicy(req, metadata=ADMIN)
    assert (stored.version, stored.updated_by) == (1, "alice")


async def test_technician_app_reports_only_on_its_own_tickets(
    auth_stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """Technician X may accept its ticket, not Y's; it cannot submit or act for another id."""
    for tid in ("TX", "TY"):
        await auth_stubs.tickets.SubmitTicket(
            pb.SubmitTicketRequest(ticket=ticket(tid)), metadata=PLATFORM
        )
    for tech in ("X", "Y"):
        await auth_stubs.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=technician(tech)), metadata=PLATFORM
        )
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    await redis_client.set(keys.lease_key("acme", "north"), "tok")
    snap = await store.snapshot("acme", "north")
    ev = ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {t.technician_id: t.version for t in snap.technicians},
    )
    await store.commit_assignments(
        "acme",
        "north",
        "tok",
        [Decision("TX", "X", Assignment("X")), Decision("TY", "Y", Assignment("Y"))],
        ev,
    )

    assert (
        await code_of(
            auth_stubs.tickets.AcceptTicket(
                pb.AcceptTicketRequest(ticket_id="TY"), metadata=TECH_X
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        await code_of(
            auth_stubs.tickets.AcceptTicket(
                pb.AcceptTicketRequest(ticket_id="TY", technician_id="Y"),
                metadata=TECH_X,
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    assert (
        await code_of(
            auth_stubs.tickets.GetTicket(
                pb.GetTicketRequest(ticket_id="TY"), metadata=TECH_X
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    accepted = await auth_stubs.tickets.AcceptTicket(
        pb.AcceptTicketRequest(ticket_id="TX"), metadata=TECH_X
    )
    assert accepted.status == pb.TICKET_STATUS_ACCEPTED
    submit = pb.SubmitTicketRequest(ticket=ticket("T9"))
    assert (
        await code_of(auth_stubs.tickets.SubmitTicket(submit, metadata=TECH_X))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    cancel = pb.CancelTicketRequest(ticket_id="TX")
    assert (
        await code_of(auth_stubs.tickets.CancelTicket(cancel, metadata=TECH_X))
        == grpc.StatusCode.PERMISSION_DENIED
    )
    ping_other = pb.ReportLocationRequest(
        technician_id="Y", location=pb.Location(latitude_deg=1, longitude_deg=1)
    )
    assert (
        await code_of(
            auth_stubs.technicians.ReportLocation(ping_other, metadata=TECH_X)
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    ping_self = pb.ReportLocationRequest(
        location=pb.Location(latitude_deg=1, longitude_deg=1)
    )
    assert (
        await auth_stubs.technicians.ReportLocation(ping_self, metadata=TECH_X)
    ).applied
    me = await auth_stubs.technicians.GetTechnician(
        pb.GetTechnicianRequest(), metadata=TECH_X
    )
    assert me.technician_id == "X"


def test_auth_config_errors_name_the_entry() -> None:
    """Bad credential files fail with a message naming the entry and field."""
    with pytest.raises(AuthConfigError, match=r"credential\[0\]\.role"):
        Authenticator.from_dict(
            {"credential": [{"token": "t", "tenant": "a", "role": "root"}]}
        )
    with pytest.raises(AuthConfigError, match=r"credential\[0\]\.technician_id"):
        Authenticator.from_dict(
            {"credential": [{"token": "t", "tenant": "a", "role": "technician_app"}]}
        )
    with pytest.raises(AuthConfigError, match=r"credential\[0\]\.tenant"):
        Authenticator.from_dict(
            {"credential": [{"token": "t", "tenant": "a:b", "role": "admin"}]}
        )
    with pytest.raises(AuthConfigError, match="at least one"):
        Authenticator.from_dict({})


def test_sha256_credentials() -> None:
    """A digest-only entry authenticates the matching token; dev mode without a file."""
    import hashlib

    auth = Authenticator.from_dict(
        {
            "credential": [
                {
                    "sha256": hashlib.sha256(b"k").hexdigest(),
                    "tenant": "a",
                    "role": "admin",
                }
            ]
        }
    )
    assert auth.authenticate([("authorization", "Bearer k")]).role is Role.ADMIN
    with pytest.raises(Unauthenticated):
        auth.authenticate([])
    assert Authenticator.from_file(None).authenticate([]).tenant == "default"


async def test_unauthenticated_streams_are_refused_and_health_stays_open(
    auth_stubs: Stubs,
) -> None:
    """A client stream without a credential is refused up front; health needs none."""

    async def pings():  # type: ignore[no-untyped-def]
        yield pb.ReportLocationRequest(
            technician_id="X", location=pb.Location(latitude_deg=1, longitude_deg=1)
        )

    assert (
        await code_of(auth_stubs.technicians.StreamLocations(pings()))
        == grpc.StatusCode.UNAUTHENTICATED
    )
    watch = auth_stubs.events.WatchEvents(pb.WatchEventsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await watch.read()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(auth_stubs.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_technician_app_watches_only_its_own_events(
    auth_stubs: Stubs, redis_client: redis.asyncio.Redis
) -> None:
    """A technician app's event stream carries only events naming its technician."""
    for tech in ("X", "Y"):
        await auth_stubs.technicians.UpsertTechnician(
            pb.UpsertTechnicianRequest(technician=technician(tech)), metadata=PLATFORM
        )
    other = pb.WatchEventsRequest(technician_id="Y", start=pb.START_POSITION_EARLIEST)
    denied = auth_stubs.events.WatchEvents(other, metadata=TECH_X)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await denied.read()
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    mine = auth_stubs.events.WatchEvents(
        pb.WatchEventsRequest(start=pb.START_POSITION_EARLIEST), metadata=TECH_X
    )
    first = await mine.read()
    assert (first.event.type, first.event.technician_id) == (
        pb.EVENT_TYPE_TECHNICIAN_UPSERTED,
        "X",
    )
    mine.cancel()


async def test_only_admin_manages_webhooks(auth_stubs: Stubs) -> None:
    """Every WebhookService call is PERMISSION_DENIED but for the admin role, whose
    subscriptions belong to its tenant."""
    webhooks = pb_grpc.WebhookServiceStub(auth_stubs.channel)
    create = pb.CreateWebhookSubscriptionRequest(
        subscription=pb.WebhookSubscription(url="https://8.8.8.8/hook")
    )
    for who in (PLATFORM, TECH_X, OTHER):
        assert (
            await code_of(webhooks.CreateWebhookSubscription(create, metadata=who))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert (
            await code_of(
                webhooks.ListWebhookSubscriptions(
                    pb.ListWebhookSubscriptionsRequest(), metadata=who
                )
            )
            == grpc.StatusCode.PERMISSION_DENIED
        )
    sub = await webhooks.CreateWebhookSubscription(create, metadata=ADMIN)
    listed = await webhooks.ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest(), metadata=ADMIN
    )
    assert [s.subscription_id for s in listed.subscriptions] == [sub.subscription_id]
