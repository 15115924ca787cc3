"""Domain errors of the live-state service; ``api.base.ERROR_CODES`` maps each class to one gRPC code."""

from __future__ import annotations

from typing import ClassVar


class DispatchError(Exception):
    """Base class: a request failed for a reason the caller should see.

    ``reason`` is the machine-readable cause sent as ``google.rpc.ErrorInfo.reason`` with
    FAILED_PRECONDITION and ABORTED (UPPER_SNAKE_CASE, stable: clients may branch on it).
    """

    reason: ClassVar[str] = ""


class InvalidArgument(DispatchError):
    """A request field is invalid; ``field`` is its dotted path (e.g. ``ticket.priority``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def prefixed(self, prefix: str) -> InvalidArgument:
        """The same error with the field path under ``prefix`` (e.g. ``requests[3]``)."""
        return InvalidArgument(
            f"{prefix}.{self.field}" if self.field else prefix, self.message
        )


class NotFound(DispatchError):
    """The named ticket, technician or other resource does not exist for this tenant."""


class UnknownTicket(NotFound):
    """No ticket with this id for this tenant."""


class UnknownTechnician(NotFound):
    """No technician with this id for this tenant."""


class AlreadyExists(DispatchError):
    """The client-chosen id is already taken."""


class IllegalTransition(DispatchError):
    """The lifecycle does not allow this change from the current status (FAILED_PRECONDITION)."""

    reason = "ILLEGAL_TRANSITION"


class FailedPrecondition(DispatchError):
    """The current state does not allow the request (other than a lifecycle transition)."""

    reason = "STATE_CONFLICT"


class StaleVersion(DispatchError):
    """An expected version is no longer current: the caller lost a race (ABORTED)."""

    reason = "STALE_VERSION"


StaleSnapshot = StaleVersion
"""Name used by STYLE.md for the same condition."""


class OutOfRange(DispatchError):
    """A requested stream position is older than the retained events."""


class Unauthenticated(DispatchError):
    """No credential, or an unknown one."""


class PermissionDenied(DispatchError):
    """The credential's role may not do this."""


class Overloaded(DispatchError):
    """Load shed: too many requests in flight (RESOURCE_EXHAUSTED)."""


class ShuttingDown(DispatchError):
    """The server is stopping: a long-lived call ends so the client reconnects (UNAVAILABLE)."""


class NotImplementedYet(DispatchError):
    """The RPC belongs to a later part of the product (UNIMPLEMENTED)."""


class NotHolder(IllegalTransition):
    """A lifecycle report names a technician that does not hold the ticket."""

    reason = "NOT_HOLDER"

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder
