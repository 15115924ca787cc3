"""Webhook subscription use cases (the admin role's): validate, store, list, replay."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import TYPE_CHECKING

from dispatcher.domain import Role
from dispatcher.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from dispatcher.store.events import check_event_id
from dispatcher.webhooks.model import (
    check_filters,
    check_secret,
    new_secret,
    parse_url,
)
from dispatcher.webhooks.targets import AddressPolicy, RefusedTarget, check_target

if TYPE_CHECKING:
    from dispatcher.domain import Principal
    from dispatcher.store.webhooks import WebhookStore
    from dispatcher.webhooks.model import DeadLetter, Subscription

MAX_SUBSCRIPTIONS = 100
"""Subscriptions per tenant."""
PAGE_DEFAULT = 100
PAGE_MAX = 1000


def _admin(principal: Principal) -> None:
    if principal.role is not Role.ADMIN:
        raise PermissionDenied("only the admin role may manage webhooks")


class WebhookAdmin:
    def __init__(self, store: WebhookStore, policy: AddressPolicy) -> None:
        self.store = store
        self.policy = policy

    async def create(self, principal: Principal, sub: Subscription) -> Subscription:
        """Validate and store a new subscription (id, secret if empty, creation time set)."""
        _admin(principal)
        target = parse_url("subscription.url", sub.url)
        check_filters(sorted(sub.regions), sub.description)
        if sub.secret:
            check_secret("subscription.secret", sub.secret)
        try:
            await check_target(target, self.policy)
        except RefusedTarget as exc:
            raise InvalidArgument("subscription.url", str(exc)) from None
        if len(await self.store.subscriptions(principal.tenant)) >= MAX_SUBSCRIPTIONS:
            raise FailedPrecondition(
                f"at most {MAX_SUBSCRIPTIONS} webhook subscriptions per tenant"
            )
        stored = dataclasses.replace(
            sub,
            subscription_id="wh_" + uuid.uuid4().hex[:20],
            secret=sub.secret or new_secret(),
            created_at_ms=int(time.time() * 1000),
        )
        await self.store.put(principal.tenant, stored)
        return stored

    async def get(self, principal: Principal, subscription_id: str) -> Subscription:
        _admin(principal)
        sub = await self.store.get(principal.tenant, subscription_id)
        if sub is None:
            raise NotFound(f"webhook subscription {subscription_id!r} not found")
        return sub

    async def subscriptions(self, principal: Principal) -> list[Subscription]:
        _admin(principal)
        return await self.store.subscriptions(principal.tenant)

    async def delete(self, principal: Principal, subscription_id: str) -> None:
        await self.get(principal, subscription_id)
        await self.store.delete(principal.tenant, subscription_id)

    async def dead_letters(
        self, principal: Principal, subscription_id: str, page_size: int, token: str
    ) -> tuple[list[DeadLetter], str]:
        await self.get(principal, subscription_id)
        if not 0 <= page_size <= PAGE_MAX:
            raise InvalidArgument("page_size", f"must be 0..{PAGE_MAX}")
        if token:
            check_event_id("page_token", token)
        size = page_size or PAGE_DEFAULT
        page = await self.store.dead_letters(
            principal.tenant, subscription_id, token, size + 1
        )
        more = len(page) > size
        page = page[:size]
        return page, page[-1].dead_letter_id if more else ""

    async def replay(
        self, principal: Principal, subscription_id: str, dead_letter_ids: list[str]
    ) -> int:
        await self.get(principal, subscription_id)
        for i, d in enumerate(dead_letter_ids):
            check_event_id(f"dead_letter_ids[{i}]", d)
        return await self.store.replay(
            principal.tenant, subscription_id, dead_letter_ids
        )
