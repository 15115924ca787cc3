"""Webhook delivery to a real HTTP receiver on loopback: signed per Standard Webhooks,
filtered, in order per ticket through a receiver outage, nothing lost."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import field_mask_pb2
from standardwebhooks.webhooks import Webhook

from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.store.keys import events_key

if TYPE_CHECKING:
    from tests.webhooks.conftest import Api, Receiver

pytestmark = [pytest.mark.integration]


async def test_deliveries_verify_with_the_reference_library(
    api: Api, receiver: Receiver
) -> None:
    """Every delivery carries webhook-id/-timestamp/-signature that the Standard Webhooks
    reference library accepts with the subscription's secret; the body wraps the event."""
    sub = await api.subscribe(receiver.url)
    assert sub.secret.startswith("whsec_")
    for tid in ("T1", "T2", "T3"):
        await api.submit(tid)
    got = await receiver.wait_for(lambda r: len(r) >= 3)
    verifier = Webhook(sub.secret)
    stream = await api.ctx.redis.xrange(events_key("default", "north"))
    ids = {f["tk"]: eid for eid, f in stream}
    for r in got:
        payload = verifier.verify(r.body, r.headers)
        assert payload["type"] == "TICKET_SUBMITTED"
        event = payload["data"]
        assert event["type"] == "EVENT_TYPE_TICKET_SUBMITTED"
        assert r.headers["webhook-id"] == f"evt_north_{ids[event['ticketId']]}"
        assert r.headers["webhook-signature"].startswith("v1,")
    assert receiver.delivered_ids() == ["T1", "T2", "T3"]
    forged = dict(got[0].headers, **{"webhook-id": "evt_other"})
    with pytest.raises(Exception, match="signature"):
        verifier.verify(got[0].body, forged)
    registry = api.ctx.registry
    assert (
        registry.get_sample_value(
            "dispatch_webhook_attempts_total", {"outcome": "delivered"}
        )
        == 3
    )
    assert registry.get_sample_value("dispatch_webhook_delivery_seconds_count") == 3


async def test_type_and_region_filters(api: Api, receiver: Receiver) -> None:
    """Only the subscribed types of the subscribed regions reach the receiver."""
    await api.subscribe(
        receiver.url,
        event_types=[pb.EVENT_TYPE_TICKET_CANCELLED],
        regions=["south"],
    )
    await api.submit("N1", "north")
    await api.submit("S1", "south")
    await api.submit("S2", "south")
    await asyncio.sleep(1.5)  # discovery has seen both regions
    for tid in ("N1", "S2"):
        await api.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id=tid))
    await receiver.wait_for(lambda r: len(r) >= 1)
    await asyncio.sleep(1.0)  # anything else would have arrived by now
    assert [
        (r.payload["type"], r.payload["data"]["ticketId"]) for r in receiver.received
    ] == [("TICKET_CANCELLED", "S2")]


async def test_receiver_down_then_back_gets_every_event_in_order(
    api: Api, receiver: Receiver
) -> None:
    """While the receiver is down events wait (retried with backoff); once it is back every
    event arrives, none lost, each ticket's events in their order."""
    await api.subscribe(receiver.url)
    await api.submit("warmup")
    await receiver.wait_for(lambda r: len(r) >= 1)
    await receiver.stop()
    tickets = [f"T{i}" for i in range(12)]
    for tid in tickets:
        await api.submit(tid)
    for tid in tickets[::2]:
        await api.tickets.UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=pb.Ticket(ticket_id=tid, priority=pb.PRIORITY_P2),
                update_mask=field_mask_pb2.FieldMask(paths=["priority"]),
            )
        )
    for tid in tickets[::3]:
        await api.tickets.CancelTicket(pb.CancelTicketRequest(ticket_id=tid))
    await asyncio.sleep(1.2)  # down for a while: attempts fail, with backoff
    failed = api.ctx.registry.get_sample_value(
        "dispatch_webhook_attempts_total", {"outcome": "network"}
    )
    assert failed is not None
    assert failed > 0
    await receiver.start()  # back, same port
    stream = await api.ctx.redis.xrange(events_key("default", "north"))
    expected = {f"evt_north_{eid}" for eid, _ in stream}
    await receiver.wait_for(
        lambda r: {x.headers["webhook-id"] for x in r} >= expected, timeout_s=20
    )
    seen: dict[str, list[int]] = {}
    first: set[str] = set()
    for r in receiver.received:
        if r.headers["webhook-id"] in first:
            continue  # at least once: a repeat is allowed, never a reorder
        first.add(r.headers["webhook-id"])
        data = r.payload["data"]
        seen.setdefault(data["ticketId"], []).append(int(data["ticketVersion"]))
    assert first == expected
    for tid, versions in seen.items():
        assert versions == sorted(versions), tid


async def test_webhooks_need_the_admin_role_and_a_valid_subscription(
    api: Api,
) -> None:
    """Unknown ids are NOT_FOUND; a bad secret or region names the field."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await api.webhooks.GetWebhookSubscription(
            pb.GetWebhookSubscriptionRequest(subscription_id="wh_nope")
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    for kw, field in (
        ({"secret": "nope"}, "subscription.secret"),
        ({"regions": ["a b"]}, "subscription.regions[0]"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await api.subscribe("http://127.0.0.1:9/hook", **kw)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (info.value.details() or "")
    sub = await api.subscribe("http://127.0.0.1:9/hook", description="x")
    listed = await api.webhooks.ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest()
    )
    assert [s.subscription_id for s in listed.subscriptions] == [sub.subscription_id]
    assert listed.subscriptions[0].secret == ""  # only shown on create
    await api.webhooks.DeleteWebhookSubscription(
        pb.DeleteWebhookSubscriptionRequest(subscription_id=sub.subscription_id)
    )
    listed = await api.webhooks.ListWebhookSubscriptions(
        pb.ListWebhookSubscriptionsRequest()
    )
    assert list(listed.subscriptions) == []
