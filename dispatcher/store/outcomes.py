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


class ScriptReply(enum.StrEnum):
    """The first element (or the whole reply) of the store's other write scripts: what the
    script did, for Python to turn into a result or an error (the script gets them as the
    table ``R``, see ``lua.NAMES``)."""

    OK = "OK"
    NOT_FOUND = "NOT_FOUND"
    MOVING = "MOVING"
    """The ticket is being moved to another region (``store.moves``): frozen meanwhile."""
    ABORTED = "ABORTED"
    """The expected version is not the current one."""
    RACE = "RACE"
    """The ticket changed since the caller read it (update)."""
    ILLEGAL = "ILLEGAL"
    """Not allowed from the current status."""
    NOT_HOLDER = "NOT_HOLDER"
    BUSY = "BUSY"
    """A technician to remove holds an accepted or started ticket."""
    CAPACITY = "CAPACITY"
    """A technician's new capacity is below the tickets it holds."""
    LEASE = "LEASE"
    """The lease token is not current: nothing applied."""
    # submit, per item
    REPLAY = "REPLAY"
    REPLAY_CURRENT = "REPLAY_CURRENT"
    EXISTS = "EXISTS"
    CONFLICT = "CONFLICT"
    MISMATCH = "MISMATCH"
    # region feed (store.feed): the delta cannot be told, read in full
    GAP = "GAP"
    # move in
    PRESENT = "PRESENT"
    """The target region holds the ticket already (a repeated step)."""
