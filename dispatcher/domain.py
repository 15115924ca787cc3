"""Domain types of the live state: tickets, technicians, assignments, events (no pb, no I/O).

Times are Unix epoch milliseconds (``*_ms``, 0 = unset), durations seconds (``*_s``),
locations WGS84 degrees. Enum values are the proto names without their prefix, so they
double as the strings stored in Redis.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from dispatcher.frozen import quick_init

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")


class TicketStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    ASSIGNED = "ASSIGNED"
    ACCEPTED = "ACCEPTED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CANCELLED = "CANCELLED"
    PENDING = "PENDING"  # waiting on someone else: in no queue, SLA clock stopped

    @property
    def is_open(self) -> bool:
        return self not in (TicketStatus.RESOLVED, TicketStatus.CANCELLED)


OPEN_STATUSES = (
    TicketStatus.QUEUED,
    TicketStatus.ASSIGNED,
    TicketStatus.ACCEPTED,
    TicketStatus.IN_PROGRESS,
    TicketStatus.PENDING,
)


class TechnicianStatus(enum.StrEnum):
    AVAILABLE = "AVAILABLE"
    BUSY = "BUSY"
    ON_BREAK = "ON_BREAK"
    OFF_SHIFT = "OFF_SHIFT"


ON_DUTY_STATUSES = (TechnicianStatus.AVAILABLE, TechnicianStatus.BUSY)
"""Technician statuses that take work (within a shift: ``loop.snapshot.on_duty``)."""


class UnassignedReason(enum.StrEnum):
    NONE = ""
    NOT_YET_SOLVED = "NOT_YET_SOLVED"
    NO_TECHNICIANS = "NO_TECHNICIANS"
    NO_SKILL = "NO_SKILL"
    EXCLUDED = "EXCLUDED"
    SHIFT = "SHIFT"
    CAPACITY = "CAPACITY"
    PENALTY_CHEAPER = "PENALTY_CHEAPER"
    DECLINED = "DECLINED"  # every able technician declined again after its override


SUBMITTED_STATUS = TicketStatus.QUEUED
SUBMITTED_VERSION = 1
SUBMITTED_REASON = UnassignedReason.NOT_YET_SOLVED
"""What a ticket is right after its submit. The submit script writes it from the generated
``NEW`` Lua table (``store.lua``); the store's answer and the read of a hash that no solve
has touched yet (``store.codec``) take it from here."""


class MoveReason(enum.StrEnum):
    """Why a solve moved an ASSIGNED ticket to another technician (NONE: not a move)."""

    NONE = ""
    GAIN = "GAIN"  # the move gains at least the policy's weights.move_min_gain
    PREVIOUS_UNABLE = "PREVIOUS_UNABLE"  # the previous technician can no longer take it


class ResolutionCode(enum.StrEnum):
    FIXED = "FIXED"
    NOT_FIXED = "NOT_FIXED"
    NO_FAULT_FOUND = "NO_FAULT_FOUND"
    DUPLICATE = "DUPLICATE"


class EventType(enum.StrEnum):
    TICKET_SUBMITTED = "TICKET_SUBMITTED"
    TICKET_UPDATED = "TICKET_UPDATED"
    TICKET_ASSIGNED = "TICKET_ASSIGNED"
    TICKET_REASSIGNED = "TICKET_REASSIGNED"
    TICKET_UNASSIGNED = "TICKET_UNASSIGNED"
    TICKET_ACCEPTED = "TICKET_ACCEPTED"
    TICKET_DECLINED = "TICKET_DECLINED"
    TICKET_STARTED = "TICKET_STARTED"
    TICKET_COMPLETED = "TICKET_COMPLETED"
    TICKET_CANCELLED = "TICKET_CANCELLED"
    TICKET_SLA_AT_RISK = "TICKET_SLA_AT_RISK"
    TICKET_SLA_BREACHED = "TICKET_SLA_BREACHED"
    TICKET_ESCALATED = "TICKET_ESCALATED"
    TICKET_DUPLICATE_DETECTED = "TICKET_DUPLICATE_DETECTED"
    TICKET_UNASSIGNABLE = "TICKET_UNASSIGNABLE"
    TECHNICIAN_UPSERTED = "TECHNICIAN_UPSERTED"
    TECHNICIAN_AVAILABILITY_CHANGED = "TECHNICIAN_AVAILABILITY_CHANGED"
    TECHNICIAN_REMOVED = "TECHNICIAN_REMOVED"
    TICKET_MOVED = "TICKET_MOVED"
    SUPERVISOR_NOTIFIED = "SUPERVISOR_NOTIFIED"
    TICKET_PENDING = "TICKET_PENDING"
    TICKET_RESUMED = "TICKET_RESUMED"


class Role(enum.StrEnum):
    """What a credential may do."""

    PLATFORM = "platform"  # a ticket platform: tickets, technicians, events, stats
    TECHNICIAN_APP = "technician_app"  # one technician: its own tickets and location
    ADMIN = "admin"  # everything, including policy changes


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: its tenant, role and (technician app) technician."""

    tenant: str
    role: Role
    name: str = ""
    technician_id: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True, slots=True)
class SkillLevel:
    """A skill with a level: held by a technician or required (minimum) by a ticket."""

    skill: str
    level: int


@dataclass(frozen=True, slots=True)
class CostTerm:
    name: str
    value: float


@quick_init
@dataclass(frozen=True, slots=True)
class Assignment:
    """A ticket's place in a technician's queue, as decided by a solve."""

    technician_id: str
    position: int = 0
    expected_arrival_ms: int = 0
    expected_start_ms: int = 0
    expected_finish_ms: int = 0
    sla_predicted_met: bool = False
    cost_terms: tuple[CostTerm, ...] = ()
    total_cost: float = 0.0
    solve_id: str = ""
    assigned_at_ms: int = 0
    move_reason: MoveReason = MoveReason.NONE
    move_gain: float = 0.0  # GAIN: weight units gained by the move (>= move_min_gain)


@dataclass(frozen=True, slots=True)
class Resolution:
    code: ResolutionCode
    notes: str = ""


@quick_init
@dataclass(frozen=True, slots=True)
class Ticket:
    """A work order. The fields after ``allow_duplicate`` are set by the service."""

    ticket_id: str
    region: str
    priority: int  # 1 (P1, highest) .. 4
    work_duration_s: int
    category: str = ""
    title: str = ""
    description: str = ""
    required_skills: tuple[SkillLevel, ...] = ()
    location: Location | None = None
    asset_id: str = ""
    customer_tier: int = 0
    window_start_ms: int = 0
    window_end_ms: int = 0
    response_due_ms: int = 0
    resolution_due_ms: int = 0
    preferred_technician_ids: tuple[str, ...] = ()
    excluded_technician_ids: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    allow_duplicate: bool = False
    # --- output only ---
    status: TicketStatus = TicketStatus.QUEUED
    version: int = 0
    assignment: Assignment | None = None
    declined_by_technician_ids: tuple[str, ...] = ()
    unassigned_reason: UnassignedReason = UnassignedReason.NONE
    duplicate_of_ticket_id: str = ""
    resolution: Resolution | None = None
    cancel_reason: str = ""
    created_at_ms: int = 0
    updated_at_ms: int = 0
    accepted_at_ms: int = 0
    started_at_ms: int = 0
    closed_at_ms: int = 0
    escalation_level: int = 0
    pending_since_ms: int = 0  # PENDING since then (0 = not pending)


@dataclass(frozen=True, slots=True)
class Shift:
    start_ms: int
    end_ms: int


@quick_init
@dataclass(frozen=True, slots=True)
class Technician:
    technician_id: str
    region: str
    status: TechnicianStatus
    capacity: int
    display_name: str = ""
    skills: tuple[SkillLevel, ...] = ()
    location: Location | None = None
    location_updated_at_ms: int = 0
    shifts: tuple[Shift, ...] = ()
    travel_speed_kmh: float = 40.0
    attributes: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = 1  # tickets it works at once (help desk agents), 1..capacity
    # --- output only ---
    queue_ticket_ids: tuple[str, ...] = ()
    version: int = 0
    created_at_ms: int = 0
    updated_at_ms: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class SubmitTicket:
    """Command: submit one ticket (idempotent by ``request_id`` when set)."""

    ticket: Ticket
    request_id: str = ""
    allow_duplicate: bool = False
    response_due_ms: int = 0
    """When set, overrides ``ticket.response_due_ms`` (SLA derived from the policy)."""
    resolution_due_ms: int = 0
    location: Location | None = None
    """When set, the stored location (learned from ``ticket.asset_id``; the request had
    none). ``ticket`` stays the request as the client sent it: the store keeps its digest
    with the request-id reservation, so a reused ``request_id`` with another payload is
    refused instead of replayed."""
    received_ms: int = 0
    """When set, the ticket's creation time: the clock its derived due times were computed
    from (the API's, when it received the request); 0 = the store's clock at the write."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """Outcome of one submit: ``error`` is None when the ticket is stored."""

    ticket_id: str
    version: int = 0
    status: TicketStatus = TicketStatus.QUEUED
    replayed: bool = False
    error: Exception | None = None
    ticket: Ticket | None = None
    """The stored ticket, when the submit asked for it (single submits)."""


@dataclass(frozen=True, slots=True)
class TicketFilter:
    region: str = ""
    statuses: tuple[TicketStatus, ...] = ()
    priority: int = 0  # 0 = any
    technician_id: str = ""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_page_token: str = ""


@quick_init
@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a region's event stream."""

    event_id: str
    region: str
    type: EventType
    occurred_at_ms: int
    ticket_id: str = ""
    technician_id: str = ""
    previous_technician_id: str = ""
    ticket_status: TicketStatus | None = None
    ticket_version: int = 0
    technician_version: int = 0
    priority: int = 0
    assignment: Assignment | None = None
    unassigned_reason: UnassignedReason = UnassignedReason.NONE
    reason: str = ""
    solve_id: str = ""
    duplicate_of_ticket_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriorityStats:
    priority: int
    queued: int = 0
    assigned: int = 0
    in_progress: int = 0
    oldest_queued_age_s: float = 0.0
    at_risk: int = 0
    overdue: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class RegionStats:
    region: str
    priorities: tuple[PriorityStats, ...]
    technicians_total: int = 0
    technicians_available: int = 0
