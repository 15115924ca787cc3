"""Webhook subscriptions and dead letters as plain values, with their validation rules."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dispatcher.errors import InvalidArgument
from dispatcher.validation import check_name

if TYPE_CHECKING:
    from dispatcher.domain import EventType

SECRET_PREFIX = "whsec_"
"""Standard Webhooks' prefix of a signing secret; the rest is the key in base64."""
SECRET_BYTES = 32
"""Random bytes of a generated secret (the spec asks for 24..64)."""
URL_MAX = 2048
DESCRIPTION_MAX = 256


@dataclass(frozen=True, slots=True)
class Subscription:
    """An endpoint that receives a tenant's events (empty filters = everything)."""

    subscription_id: str
    url: str
    secret: str
    event_types: frozenset[EventType] = frozenset()
    regions: frozenset[str] = frozenset()
    description: str = ""
    created_at_ms: int = 0

    def wants_region(self, region: str) -> bool:
        return not self.regions or region in self.regions

    def wants_type(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a subscription gave up on; ``body`` is exactly what was sent."""

    dead_letter_id: str
    webhook_id: str
    region: str
    event_id: str
    event_type: str
    ticket_id: str
    attempts: int
    last_error: str
    first_attempt_at_ms: int
    dead_at_ms: int
    body: bytes = field(repr=False, default=b"")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (``ValueError`` when it is not one)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64 after the whsec_ prefix") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"must hold 24..64 bytes, got {len(key)}")
    return key


def check_secret(field_name: str, secret: str) -> None:
    try:
        secret_key(secret)
    except ValueError as exc:
        raise InvalidArgument(field_name, str(exc)) from None


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL split for the address check: scheme, host, port."""

    scheme: str
    host: str
    port: int


def parse_url(field_name: str, url: str) -> Target:
    """The URL's scheme, host and port; ``InvalidArgument`` unless it is an absolute
    http(s) URL without credentials or fragment (the scheme rule is the sender's)."""
    if not url or len(url) > URL_MAX:
        raise InvalidArgument(field_name, f"must be 1..{URL_MAX} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidArgument(field_name, f"{url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise InvalidArgument(field_name, f"{url!r} is not an https:// URL")
    if not parts.hostname:
        raise InvalidArgument(field_name, f"{url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument(field_name, "must not carry credentials (user@)")
    if parts.fragment:
        raise InvalidArgument(field_name, "must not have a #fragment")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default)


def check_filters(regions: list[str], description: str) -> None:
    for i, region in enumerate(regions):
        check_name(f"subscription.regions[{i}]", region)
    if len(description) > DESCRIPTION_MAX:
        raise InvalidArgument(
            "subscription.description", f"at most {DESCRIPTION_MAX} characters"
        )
