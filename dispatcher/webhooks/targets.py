"""Where a webhook may be delivered (the SSRF guard): one rule for the URL check at
subscription time and for every connection the sender opens.

Refused always: link-local addresses (169.254.0.0/16, fe80::/10, where cloud metadata
services live), the well-known metadata addresses themselves, and anything not unicast.
Refused unless the server allows them: loopback (``webhook_allow_loopback``) and private
networks (``webhook_allow_private``: 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7).
Plain http is accepted only for a loopback receiver, and only with
``webhook_allow_loopback``. The host is resolved and *every* address checked; the sender's
connector re-checks the addresses it actually connects to (a DNS answer that changed since,
DNS rebinding, is caught there).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp.resolver import ThreadedResolver

if TYPE_CHECKING:
    from dispatcher.runtime.settings import Settings
    from dispatcher.webhooks.model import Target

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
"""Carrier-grade NAT (RFC 6598): not global, treated as private."""


class RefusedTarget(OSError):
    """A webhook target the guard refuses; the message says which address and why.

    An ``OSError`` so that a refusal inside aiohttp's connector surfaces like any other
    connection failure (and is retried, then dead-lettered, not crashing the sender)."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """What the server allows beyond public unicast addresses."""

    allow_loopback: bool = False
    allow_private: bool = False


def address_policy(settings: Settings) -> AddressPolicy:
    """The policy the server's settings ask for."""
    return AddressPolicy(
        allow_loopback=settings.webhook_allow_loopback,
        allow_private=settings.webhook_allow_private,
    )


def refusal(address: IpAddress, policy: AddressPolicy) -> str | None:
    """Why ``address`` may not receive webhooks, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_loopback:
        return None if policy.allow_loopback else "a loopback address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "not a unicast address"
    if address.is_private or address in SHARED_ADDRESS_SPACE:
        return None if policy.allow_private else "a private network address"
    if not address.is_global:
        return "not a public address"
    return None


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address ``host`` resolves to (just itself for an IP literal)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RefusedTarget(f"{host} does not resolve: {exc.strerror}") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_target(target: Target, policy: AddressPolicy) -> None:
    """``RefusedTarget`` unless every address of the target may receive webhooks."""
    addresses = await resolve(target.host, target.port)
    if not addresses:
        raise RefusedTarget(f"{target.host} resolves to no address")
    for address in addresses:
        why = refusal(address, policy)
        if why is not None:
            shown = (
                target.host
                if str(address) == target.host
                else f"{target.host} ({address})"
            )
            raise RefusedTarget(f"{shown} is {why}")
    if target.scheme == "http" and not (
        policy.allow_loopback and all(a.is_loopback for a in addresses)
    ):
        raise RefusedTarget(
            "http:// is accepted only for a loopback receiver on a server with "
            "webhook_allow_loopback; use https://"
        )


class GuardedResolver(ThreadedResolver):
    """aiohttp's resolver, refusing every answer the address rule refuses (IP literals do
    not reach a resolver: the sender checks those itself with ``check_target``)."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__()
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        results = await super().resolve(host, port, family)
        for result in results:
            why = refusal(ipaddress.ip_address(result["host"]), self._policy)
            if why is not None:
                raise RefusedTarget(f"{host} ({result['host']}) is {why}")
        return results
