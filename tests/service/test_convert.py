"""pb <-> domain conversion pairs round-trip, and bad enums are rejected naming the field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.api import convert
from dispatcher.domain import (
    Assignment,
    CostTerm,
    Event,
    EventType,
    Location,
    MoveReason,
    PriorityStats,
    RegionStats,
    Resolution,
    ResolutionCode,
    Shift,
    SkillLevel,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketStatus,
    UnassignedReason,
)
from dispatcher.errors import InvalidArgument
from dispatcher.pb import dispatch_pb2 as pb
from dispatcher.store.codec import (
    assignment_from_json,
    assignment_json,
    event_from_entry,
)
from solver.model import CostWeights
from solver.policy import Policy, policy_from_dict

ROOT = Path(__file__).resolve().parents[2]

ASSIGNMENT = Assignment(
    technician_id="X",
    position=2,
    expected_arrival_ms=1_800_000_000_000,
    expected_start_ms=1_800_000_060_000,
    expected_finish_ms=1_800_000_960_000,
    sla_predicted_met=True,
    cost_terms=(CostTerm("travel", 120.5), CostTerm("lateness", 0.0)),
    total_cost=120.5,
    solve_id="s-1",
    assigned_at_ms=1_799_999_999_000,
)


def test_ticket_round_trip() -> None:
    """Every input field of a ticket survives domain -> pb -> domain."""
    t = Ticket(
        ticket_id="T-1",
        region="north",
        priority=2,
        work_duration_s=900,
        category="hvac",
        title="No heat",
        description="Boiler down",
        required_skills=(SkillLevel("hvac", 3), SkillLevel("gas", 1)),
        location=Location(42.1, -71.2),
        asset_id="boiler-9",
        customer_tier=2,
        window_start_ms=1_800_000_000_000,
        window_end_ms=1_800_003_600_000,
        response_due_ms=1_800_000_500_000,
        resolution_due_ms=1_800_007_200_000,
        preferred_technician_ids=("A",),
        excluded_technician_ids=("B", "C"),
        attributes={"floor": "3"},
        allow_duplicate=True,
    )
    assert convert.ticket_from_pb(convert.ticket_to_pb(t)) == t


def test_ticket_output_fields_to_pb() -> None:
    """Output-only fields appear in the pb ticket."""
    t = Ticket(
        "T",
        "r",
        1,
        60,
        location=Location(0, 0),
        status=TicketStatus.RESOLVED,
        version=5,
        assignment=ASSIGNMENT,
        resolution=Resolution(ResolutionCode.FIXED, "ok"),
        unassigned_reason=UnassignedReason.NONE,
        declined_by_technician_ids=("Z",),
        duplicate_of_ticket_id="D",
        cancel_reason="why",
        created_at_ms=1,
        updated_at_ms=2,
        accepted_at_ms=3,
        started_at_ms=4,
        closed_at_ms=5,
        escalation_level=2,
    )
    msg = convert.ticket_to_pb(t)
    assert msg.status == pb.TICKET_STATUS_RESOLVED
    assert msg.version == 5
    assert convert.assignment_from_pb(msg.assignment) == ASSIGNMENT
    assert msg.resolution.code == pb.RESOLUTION_CODE_FIXED
    assert list(msg.declined_by_technician_ids) == ["Z"]
    assert (msg.duplicate_of_ticket_id, msg.cancel_reason) == ("D", "why")
    assert (
        msg.created_at_ms,
        msg.updated_at_ms,
        msg.accepted_at_ms,
        msg.started_at_ms,
        msg.closed_at_ms,
        msg.escalation_level,
    ) == (1, 2, 3, 4, 5, 2)
    assert msg.HasField("location")  # (0, 0) is a location, not an unset one


def test_assignment_round_trip() -> None:
    """Assignment pair round-trips, with and without a move reason; so does its JSON."""
    moved = replace(ASSIGNMENT, move_reason=MoveReason.GAIN, move_gain=812.5)
    forced = replace(ASSIGNMENT, move_reason=MoveReason.PREVIOUS_UNABLE)
    for a in (ASSIGNMENT, moved, forced):
        assert convert.assignment_from_pb(convert.assignment_to_pb(a)) == a
        assert assignment_from_json(assignment_json(a)) == a
    assert convert.assignment_to_pb(moved).move_reason == pb.MOVE_REASON_GAIN


def test_technician_round_trip() -> None:
    """Every input field of a technician survives domain -> pb -> domain."""
    t = Technician(
        technician_id="X",
        region="north",
        status=TechnicianStatus.ON_BREAK,
        capacity=4,
        display_name="Xavier",
        skills=(SkillLevel("hvac", 5),),
        location=Location(42.0, -71.0),
        shifts=(Shift(1_800_000_000_000, 1_800_028_800_000),),
        travel_speed_kmh=35.5,
        attributes={"van": "7"},
        concurrency=2,
    )
    assert convert.technician_from_pb(convert.technician_to_pb(t)) == t


def test_event_round_trip() -> None:
    """Event pair round-trips."""
    e = Event(
        event_id="1800000000000-3",
        region="north",
        type=EventType.TICKET_REASSIGNED,
        occurred_at_ms=1_800_000_000_000,
        ticket_id="T",
        technician_id="X",
        previous_technician_id="Y",
        ticket_status=TicketStatus.ASSIGNED,
        ticket_version=4,
        priority=1,
        assignment=ASSIGNMENT,
        unassigned_reason=UnassignedReason.CAPACITY,
        reason="r",
        solve_id="s-1",
        details={"k": "v"},
    )
    assert convert.event_from_pb(convert.event_to_pb(e)) == e


@given(
    kind=st.sampled_from(EventType),
    status=st.none() | st.sampled_from(TicketStatus),
    reason=st.sampled_from(UnassignedReason),
    move=st.sampled_from(MoveReason),
)
def test_every_event_kind_and_enum_round_trips(
    kind: EventType,
    status: TicketStatus | None,
    reason: UnassignedReason,
    move: MoveReason,
) -> None:
    """Every event type, ticket status, unassigned reason and move reason: from its stream
    entry (the fields as ``lua.emit`` writes them) and through the pb pair."""
    assignment = replace(ASSIGNMENT, move_reason=move, move_gain=2.5 if move else 0.0)
    e = Event(
        event_id="1800000000000-3",
        region="north",
        type=kind,
        occurred_at_ms=1_800_000_000_000,
        ticket_id="T",
        ticket_status=status,
        ticket_version=4,
        priority=2,
        assignment=assignment,
        unassigned_reason=reason,
    )
    entry = {
        "at": "1800000000000",
        "type": kind.value,
        "tk": "T",
        "v": "4",
        "p": "2",
        "asg": assignment_json(assignment),
    }
    if status is not None:
        entry["st"] = status.value
    if reason.value:
        entry["ur"] = reason.value
    assert event_from_entry("north", "1800000000000-3", entry) == e
    assert convert.event_from_pb(convert.event_to_pb(e)) == e


def test_region_stats_round_trip() -> None:
    """Queue statistics pair round-trips."""
    s = RegionStats(
        "north", tuple(PriorityStats(p, p, 1, 2, 3.5, 1, 0) for p in (1, 2, 3, 4)), 5, 4
    )
    assert convert.region_stats_from_pb(convert.region_stats_to_pb(s)) == s


def test_policy_round_trip() -> None:
    """The default policy survives policy -> pb -> dict -> policy."""
    from solver.policy import policy_from_dict

    p = Policy()
    assert policy_from_dict(convert.policy_dict_from_pb(convert.policy_to_pb(p))) == p


def test_policy_breach_weight_round_trips_through_pb() -> None:
    """The per-breach weight crosses the API edge both ways (CostWeights.breach, field 11)."""
    p = replace(Policy(), weights=CostWeights(breach=1234.5))
    msg = convert.policy_to_pb(p)
    assert msg.weights.breach == 1234.5
    assert policy_from_dict(convert.policy_dict_from_pb(msg)) == p


def test_policy_overdue_factor_round_trips_and_unset_means_the_default() -> None:
    """CostWeights.overdue (field 12) has presence: set, it crosses the API edge both
    ways (1 included); unset (an older client), the policy gets the default, never 0."""
    p = replace(Policy(), weights=CostWeights(overdue=1.0))
    msg = convert.policy_to_pb(p)
    assert msg.weights.overdue == 1.0
    assert policy_from_dict(convert.policy_dict_from_pb(msg)) == p
    msg.weights.ClearField("overdue")
    weights = policy_from_dict(convert.policy_dict_from_pb(msg)).weights
    assert weights.overdue == CostWeights().overdue == 0.01


def test_proto_documents_the_breach_weight() -> None:
    """The .proto comments the field: what it charges, its unit, its default."""
    text = (ROOT / "proto" / "dispatcher" / "pb" / "dispatch.proto").read_text()
    body = text[text.index("message CostWeights {") :]
    body = body[: body.index("}")]
    lines = body.splitlines()
    at = next(i for i, line in enumerate(lines) if "double breach = 11;" in line)
    comment = []
    for line in reversed(lines[:at]):
        if not line.strip().startswith("//"):
            break
        comment.append(line)
    doc = " ".join(reversed(comment))
    for words in ("SLA breach", "weight units", "priority", "Default 0"):
        assert words in doc


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        (pb.Ticket(ticket_id="T", region="r", priority=0), "ticket.priority"),
        (pb.Ticket(ticket_id="T", region="r", priority=9), "ticket.priority"),
    ],
)
def test_ticket_bad_priority_is_rejected(msg: pb.Ticket, field: str) -> None:
    """UNSPECIFIED or unknown priorities raise InvalidArgument naming the field."""
    with pytest.raises(InvalidArgument) as err:
        convert.ticket_from_pb(msg)
    assert err.value.field == field


def test_unknown_enum_values_are_rejected() -> None:
    """Unknown technician status / resolution code numbers are INVALID_ARGUMENT."""
    with pytest.raises(InvalidArgument, match=r"technician\.status"):
        convert.technician_from_pb(
            pb.Technician(technician_id="X", region="r", status=77)
        )
    with pytest.raises(InvalidArgument, match=r"resolution\.code"):
        convert.resolution_from_pb(pb.Resolution(code=0), "resolution")
