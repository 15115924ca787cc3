"""Dead letters: an event failing past webhook_dead_letter_after_s is set aside, delivery
carries on, and a replay sends it again with the same webhook-id."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from dispatcher.pb import dispatch_pb2 as pb
from tests.dispatch.conftest import eventually

if TYPE_CHECKING:
    from dispatcher.runtime.settings import Settings
    from tests.webhooks.conftest import Api, Receiver

pytestmark = [pytest.mark.integration]


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    """Dead letters after 0.8 s of failures."""
    return dataclasses.replace(app_settings, webhook_dead_letter_after_s=0.8)


async def test_dead_letter_then_replay(api: Api, receiver: Receiver) -> None:
    """A receiver failing T1 for longer than the limit: T1 becomes a dead letter (with its
    attempts and last error), T2 is delivered after it, and a replay delivers T1 with the
    webhook-id it first had; the dead letters are then empty."""
    sub = await api.subscribe(receiver.url)
    sid = sub.subscription_id
    receiver.status = 500
    await api.submit("T1")

    async def dead_letters() -> list[pb.WebhookDeadLetter]:
        page = await api.webhooks.ListWebhookDeadLetters(
            pb.ListWebhookDeadLettersRequest(subscription_id=sid)
        )
        return list(page.dead_letters)

    (dead,) = await eventually(dead_letters)
    assert (dead.ticket_id, dead.region, dead.last_error) == ("T1", "north", "HTTP 500")
    assert dead.event_type == pb.EVENT_TYPE_TICKET_SUBMITTED
    assert dead.attempts >= 2
    assert api.ctx.registry.get_sample_value("dispatch_webhook_dead_letters_total") == 1
    failed_ids = {r.headers["webhook-id"] for r in receiver.received}
    assert failed_ids == {dead.webhook_id}

    receiver.status = 200
    receiver.received.clear()
    await api.submit("T2")
    await receiver.wait_for(lambda r: len(r) >= 1)
    assert receiver.delivered_ids() == ["T2"]

    replayed = await api.webhooks.ReplayWebhookDeadLetters(
        pb.ReplayWebhookDeadLettersRequest(subscription_id=sid)
    )
    assert replayed.replayed == 1
    await receiver.wait_for(lambda r: len(r) >= 2)
    again = receiver.received[1]
    assert again.headers["webhook-id"] == dead.webhook_id
    assert again.payload["data"]["ticketId"] == "T1"
    assert await dead_letters() == []
