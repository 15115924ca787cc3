"""The supervisor notice reaches a webhook receiver: SUPERVISOR_NOTIFIED is an ordinary
event, so a subscription filtered to it gets the "not started in time" notice."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import grpc.aio
import pytest

from dispatcher.api.server import create_server
from dispatcher.bootstrap import Services
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.pb import dispatch_pb2_grpc as pb_grpc
from tests.webhooks.conftest import ticket

if TYPE_CHECKING:
    from dispatcher.runtime.context import AppContext
    from tests.webhooks.conftest import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_supervisor_notice_is_delivered_by_webhook(
    app_context: AppContext, receiver: Receiver
) -> None:
    """A P1 not started 0.5 s after submission: the subscribed receiver gets exactly the
    SUPERVISOR_NOTIFIED webhook, naming the ticket, the rule and the supervisor."""
    services = Services.build(
        app_context, solver=True, webhooks=True, solver_workers=1, lease_ttl_ms=1000
    )
    server, port = await create_server(app_context, services, "127.0.0.1:0")
    await server.start()
    app_context.start_background()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            policy = pb_grpc.PolicyServiceStub(channel)
            await policy.UpdatePolicy(
                pb.UpdatePolicyRequest(
                    policy=pb.Policy(
                        escalation_rules=[
                            pb.EscalationRule(
                                name="p1-not-started",
                                priority=pb.PRIORITY_P1,
                                condition=pb.ESCALATION_CONDITION_NOT_STARTED,
                                after_s=0.5,
                                notify_supervisor=True,
                                supervisor_target="duty-lead@example.com",
                            )
                        ]
                    ),
                    update_mask={"paths": ["escalation_rules"]},
                )
            )
            await pb_grpc.WebhookServiceStub(channel).CreateWebhookSubscription(
                pb.CreateWebhookSubscriptionRequest(
                    subscription=pb.WebhookSubscription(
                        url=receiver.url,
                        event_types=[pb.EVENT_TYPE_SUPERVISOR_NOTIFIED],
                    )
                )
            )
            urgent = ticket("URGENT")
            urgent.priority = pb.PRIORITY_P1
            await pb_grpc.TicketServiceStub(channel).SubmitTicket(
                pb.SubmitTicketRequest(ticket=urgent)
            )
            (got,) = await receiver.wait_for(lambda r: len(r) >= 1, timeout_s=15)
    finally:
        app_context.shutdown_event.set()
        await server.stop(None)
        await app_context.stop_background()
        await app_context.aclose()
        gc.collect()
    payload = got.payload
    assert payload["type"] == "SUPERVISOR_NOTIFIED"
    data = payload["data"]
    assert (data["ticketId"], data["reason"]) == ("URGENT", "p1-not-started")
    assert data["details"]["supervisor_target"] == "duty-lead@example.com"
    assert "not started" in data["details"]["notice"]
