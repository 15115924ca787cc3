"""One webhook delivery attempt over HTTP (aiohttp): signed, no redirects, bounded in time,
only to addresses the SSRF guard allows."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from dispatcher.errors import InvalidArgument
from dispatcher.webhooks.model import parse_url
from dispatcher.webhooks.signing import signed_headers
from dispatcher.webhooks.targets import (
    AddressPolicy,
    GuardedResolver,
    RefusedTarget,
    check_target,
)

if TYPE_CHECKING:
    from dispatcher.webhooks.model import Subscription

TARGET_CHECK_TTL_S = 10.0
"""How long a URL's address check is reused before it is resolved and checked again (the
connector also checks every address it connects to)."""
MAX_CONNECTIONS = 256


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt gave: ``outcome`` is a ``WEBHOOK_OUTCOMES`` value; ``error`` is
    empty when delivered."""

    outcome: str
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


class Sender:
    """Signs and POSTs webhook bodies; one connection pool per process."""

    def __init__(self, policy: AddressPolicy, timeout_s: float) -> None:
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._checked: dict[str, float] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._policy), limit=MAX_CONNECTIONS
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout
            )
        return self._session

    async def _check(self, url: str) -> None:
        if self._checked.get(url, 0.0) > time.monotonic():
            return
        try:
            target = parse_url("url", url)
        except InvalidArgument as exc:
            raise RefusedTarget(str(exc)) from None
        await check_target(target, self._policy)
        self._checked[url] = time.monotonic() + TARGET_CHECK_TTL_S

    async def send(self, sub: Subscription, webhook_id: str, body: bytes) -> Outcome:
        """One attempt; never raises for what the receiver or the network did."""
        try:
            await self._check(sub.url)
            headers = signed_headers(sub.secret, webhook_id, int(time.time()), body)
            async with self._client().post(
                sub.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return Outcome("delivered")
                return Outcome("http_error", f"HTTP {response.status}")
        except RefusedTarget as exc:
            return Outcome("refused", f"refused address: {exc}")
        except TimeoutError:
            return Outcome("timeout", f"no answer within {self._timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            refused = _refusal_cause(exc)
            if refused is not None:
                return Outcome("refused", f"refused address: {refused}")
            return Outcome("network", f"{type(exc).__name__}: {exc}"[:500])

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _refusal_cause(exc: BaseException) -> RefusedTarget | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RefusedTarget):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
