"""Authentication: API keys / bearer tokens in call metadata -> (tenant, role, technician).

Credentials come from a TOML file (setting ``auth_config``)::

    [[credential]]
    token = "s3cret-platform-key"      # or: sha256 = "<hex digest of the token>"
    tenant = "acme"
    role = "platform"                  # platform | technician_app | admin
    name = "acme-helpdesk"             # shown as updated_by in the policy history
    # technician_id = "tech-7"         # required for role technician_app

A call presents ``authorization: Bearer <token>`` or ``x-api-key: <token>``. Tokens are
compared by SHA-256 digest, so the file may hold digests only. Without a configured file
the service runs in single-tenant development mode: every call acts as tenant "default"
with role admin (logged loudly at startup).
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dispatcher.domain import Principal, Role
from dispatcher.errors import Unauthenticated
from dispatcher.runtime.settings import SettingsError
from dispatcher.validation import ID_RE, NAME_RE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

logger = logging.getLogger(__name__)

DEV_PRINCIPAL = Principal(tenant="default", role=Role.ADMIN, name="dev-mode")
PUBLIC_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.")
"""Services reachable without a credential (probes and tooling)."""


class AuthConfigError(SettingsError):
    """The credentials file is invalid; the message names the entry and field."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Maps presented tokens to principals; ``credentials is None`` = development mode."""

    credentials: dict[str, Principal] | None

    @property
    def dev_mode(self) -> bool:
        return self.credentials is None

    @classmethod
    def from_file(cls, path: Path | None) -> Authenticator:
        if path is None:
            logger.warning(
                "no auth_config set: DEVELOPMENT MODE, every call is tenant 'default' with role admin; "
                "set auth_config before exposing this service"
            )
            return cls(None)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise AuthConfigError(f"{path}: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], source: str = "auth config"
    ) -> Authenticator:
        entries = data.get("credential", [])
        if not isinstance(entries, list) or not entries:
            raise AuthConfigError(f"{source}: needs at least one [[credential]] table")
        creds: dict[str, Principal] = {}
        for i, e in enumerate(entries):
            where = f"{source}: credential[{i}]"
            if not isinstance(e, dict):
                raise AuthConfigError(f"{where}: must be a table")
            unknown = set(e) - {
                "token",
                "sha256",
                "tenant",
                "role",
                "name",
                "technician_id",
            }
            if unknown:
                raise AuthConfigError(f"{where}.{sorted(unknown)[0]}: unknown field")
            if ("token" in e) == ("sha256" in e):
                raise AuthConfigError(f"{where}: exactly one of token or sha256")
            digest = (
                _digest(str(e["token"])) if "token" in e else str(e["sha256"]).lower()
            )
            if len(digest) != 64:
                raise AuthConfigError(f"{where}.sha256: must be 64 hex digits")
            tenant = str(e.get("tenant", ""))
            if not NAME_RE.match(tenant):
                raise AuthConfigError(
                    f"{where}.tenant: must be 1..64 characters from [A-Za-z0-9._-]"
                )
            try:
                role = Role(str(e.get("role", "")))
            except ValueError:
                raise AuthConfigError(
                    f"{where}.role: must be one of {[r.value for r in Role]}"
                ) from None
            tech = str(e.get("technician_id", ""))
            if role is Role.TECHNICIAN_APP and not ID_RE.match(tech):
                raise AuthConfigError(
                    f"{where}.technician_id: required for role technician_app"
                )
            if digest in creds:
                raise AuthConfigError(f"{where}: the same token appears twice")
            creds[digest] = Principal(
                tenant, role, str(e.get("name", "")) or f"{tenant}/{role.value}", tech
            )
        return cls(creds)

    def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> Principal:
        """The principal of a call's metadata; ``Unauthenticated`` when missing or unknown."""
        if self.credentials is None:
            return DEV_PRINCIPAL
        token = ""
        for key, value in metadata or ():
            text = value.decode() if isinstance(value, bytes) else value
            if key == "authorization" and text[:7].lower() == "bearer ":
                token = text[7:].strip()
                break
            if key == "x-api-key":
                token = text.strip()
                break
        if not token:
            raise Unauthenticated(
                "missing credential: send 'authorization: Bearer <token>' or 'x-api-key'"
            )
        principal = self.credentials.get(_digest(token))
        if principal is None:
            raise Unauthenticated("unknown credential")
        return principal


class AuthGate:
    """Refuses dispatch.v1 calls without a valid credential before they reach a servicer
    (``dispatcher.api.call_observer`` asks it first); health and reflection stay open."""

    def __init__(
        self, authenticator: Authenticator, on_reject: Callable[[], None] | None = None
    ) -> None:
        self._auth = authenticator
        self._on_reject = on_reject

    @staticmethod
    def is_public(method: str) -> bool:
        """Whether ``method`` (``package.Service/Method``) is reachable without a credential."""
        return method.startswith(PUBLIC_SERVICES)

    def rejection(
        self, method: str, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> str | None:
        """Why the call is refused (a missing or unknown credential), or None."""
        if self._auth.dev_mode or self.is_public(method):
            return None
        try:
            self._auth.authenticate(metadata)
        except Unauthenticated as exc:
            if self._on_reject is not None:
                self._on_reject()
            return str(exc)
        return None
