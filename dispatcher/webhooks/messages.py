"""What a webhook carries: a ``Message`` built from a region stream entry (the event, as the
Standard Webhooks envelope) or from a replayed dead letter (exactly as first sent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dispatcher.api.convert import webhook_body
from dispatcher.store.codec import event_from_entry

if TYPE_CHECKING:
    from dispatcher.store.webhooks import Entry
    from dispatcher.webhooks.model import Subscription


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook to send: what the receiver gets, and where it came from."""

    entry_id: str
    webhook_id: str
    region: str
    event_id: str
    event_type: str
    ticket_id: str
    order_key: str
    occurred_ms: int
    body: bytes


def webhook_id(region: str, event_id: str) -> str:
    """The webhook-id of an event: stable across retries, replays and processes."""
    return f"evt_{region}_{event_id}"


def message_from_event_entry(
    sub: Subscription, region: str, entry: Entry
) -> Message | None:
    """The webhook of a region stream entry, or None when the subscription filters it out."""
    entry_id, fields = entry
    if not sub.wants_type(fields.get("type", "")):
        return None
    event = event_from_entry(region, entry_id, fields)
    order = event.ticket_id or (
        "tech:" + event.technician_id if event.technician_id else entry_id
    )
    return Message(
        entry_id=entry_id,
        webhook_id=webhook_id(region, entry_id),
        region=region,
        event_id=entry_id,
        event_type=event.type.value,
        ticket_id=event.ticket_id,
        order_key=order,
        occurred_ms=event.occurred_at_ms or int(entry_id.split("-")[0]),
        body=webhook_body(event),
    )


def message_from_replay_entry(entry: Entry) -> Message:
    """A replayed dead letter: the same webhook-id and body as first sent."""
    entry_id, f = entry
    return Message(
        entry_id=entry_id,
        webhook_id=f["wid"],
        region=f["region"],
        event_id=f["eid"],
        event_type=f["type"],
        ticket_id=f["tk"],
        order_key=f["tk"] or f["eid"],
        occurred_ms=int(entry_id.split("-")[0]),  # the replay's time
        body=f["body"].encode(),
    )
