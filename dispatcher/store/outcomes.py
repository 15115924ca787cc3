"""Outcome codes of the fenced solve commit (``lua.COMMIT_ASSIGNMENTS``), one spelling for
Python and Lua (the script gets them as the table ``C``, see ``lua.NAMES``)."""

from __future__ import annotations

import enum


class CommitCode(enum.StrEnum):
    """What the commit did with one decision."""

    OK = "OK"
    """Internal to the script: passed every check, not yet applied (never returned)."""
    # applied, one event each
    ASSIGNED = "ASSIGNED"
    REASSIGNED = "REASSIGNED"
    UNASSIGNED = "UNASSIGNED"
    UNASSIGNABLE = "UNASSIGNABLE"
    UNCHANGED = "UNCHANGED"
    """Applied without a state change (same technician, placement refreshed; no event)."""
    # rejected
    LEASE = "LEASE"
    STALE_TICKET = "STALE_TICKET"
    STALE_TECHNICIAN = "STALE_TECHNICIAN"
    PINNED = "PINNED"
    """The ticket was accepted, started or closed meanwhile."""
    GONE = "GONE"
    GONE_TECHNICIAN = "GONE_TECHNICIAN"
    UNAVAILABLE = "UNAVAILABLE"
    EXCLUDED = "EXCLUDED"
    """The technician declined this ticket before."""
    CAPACITY = "CAPACITY"
    DUPLICATE = "DUPLICATE"
    """The same ticket twice in one commit."""

    @property
    def applied(self) -> bool:
        return self in APPLIED

    @property
    def published(self) -> bool:
        """Applied with one event appended to the region's stream."""
        return self in APPLIED and self is not CommitCode.UNCHANGED

    @property
    def stale(self) -> bool:
        return self in (CommitCode.STALE_TICKET, CommitCode.STALE_TECHNICIAN)


APPLIED = frozenset(
    {
        CommitCode.ASSIGNED,
        CommitCode.REASSIGNED,
        CommitCode.UNASSIGNED,
        CommitCode.UNASSIGNABLE,
        CommitCode.UNCHANGED,
    }
)
