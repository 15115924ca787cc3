"""Properties of the webhook building blocks: signatures verify with the reference library
for any id and body; the delivery pipeline keeps each ticket's order whatever the timing."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from dispatcher.webhooks.delivery import backoff_s
from dispatcher.webhooks.messages import Message
from dispatcher.webhooks.model import new_secret
from dispatcher.webhooks.pipeline import Pipeline
from dispatcher.webhooks.signing import signed_headers


@settings(max_examples=200, deadline=None)
@given(
    webhook_id=st.text(
        st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80
    ),
    body=st.binary(max_size=2000),
)
def test_signatures_verify_with_the_reference_library(
    webhook_id: str, body: bytes
) -> None:
    """Any id (printable ASCII) and any body bytes: the reference verifier accepts our
    headers, and rejects them for another body."""
    secret = new_secret()
    headers = signed_headers(secret, webhook_id, int(time.time()), body)
    Webhook(secret).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(secret).verify(body + b"x", headers, json_parse=False)


def _message(i: int, key: str) -> Message:
    return Message(
        str(i), f"evt_{i}", "r", f"{i}-0", "TICKET_UPDATED", key, key, 0, b""
    )


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from("abcde"), st.integers(0, 3)), min_size=1, max_size=40
    ),
    limit=st.integers(1, 8),
)
def test_pipeline_keeps_each_tickets_order(
    plan: list[tuple[str, int]], limit: int
) -> None:
    """Messages of one key are delivered one after the other in the order added, whatever
    each delivery takes and however few may be in flight; every message is acknowledged."""

    async def run() -> tuple[dict[str, list[int]], list[str], int]:
        done: dict[str, list[int]] = defaultdict(list)
        busy: set[str] = set()
        overlaps = 0

        async def deliver(m: Message) -> None:
            nonlocal overlaps
            overlaps += m.order_key in busy
            busy.add(m.order_key)
            await asyncio.sleep(plan[int(m.entry_id)][1] / 1000)
            busy.discard(m.order_key)
            done[m.order_key].append(int(m.entry_id))

        pipe = Pipeline(deliver, limit)
        for i, (key, _) in enumerate(plan):
            await pipe.wait_for_room()
            pipe.add(_message(i, key))
        while sum(map(len, done.values())) < len(plan):
            await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        pipe.raise_failure()
        return done, pipe.take_acks(), overlaps

    done, acks, overlaps = asyncio.run(run())
    assert overlaps == 0
    for key, order in done.items():
        assert order == [i for i, (k, _) in enumerate(plan) if k == key]
    assert sorted(map(int, acks)) == list(range(len(plan)))


@given(attempt=st.integers(1, 60), cap=st.floats(0.25, 600))
def test_backoff_grows_then_stays_under_the_cap(attempt: int, cap: float) -> None:
    """Half fixed, half jitter, never above the cap."""
    pause = backoff_s(attempt, cap, random.Random(attempt))
    ceiling = min(cap, 0.25 * 2 ** (attempt - 1))
    assert ceiling / 2 <= pause <= ceiling
