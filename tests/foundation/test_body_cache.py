"""Decoding a ticket hash with the body cache (``store.codec.BodyCache``, the region
feed's) gives the ticket decoding it afresh gives, across body updates, live-field
changes, a re-prioritised ticket and a full cache."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.domain import (
    Assignment,
    Location,
    SkillLevel,
    Ticket,
    UnassignedReason,
)
from dispatcher.store.codec import (
    BodyCache,
    assignment_json,
    ticket_body,
    ticket_from_hash,
)


def _hash(t: Ticket, prio: int, status: str, tech: str) -> dict[str, str]:
    h = {
        "body": ticket_body(t),
        "status": status,
        "version": "2",
        "created": "1700000000000",
        "prio": str(prio),
    }
    if tech:
        h["tech"] = tech
        h["asg"] = assignment_json(Assignment(tech, position=1, solve_id="s"))
    return h


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # which ticket
            st.integers(1, 4),  # priority in the body (an update)
            st.integers(1, 4),  # live priority (an escalation)
            st.sampled_from(["QUEUED", "ASSIGNED"]),
            st.sampled_from(["", "k1", "k2"]),
            st.sampled_from(["", "a leak", "no heat"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 3),
)
def test_cached_decoding_equals_fresh_decoding(
    reads: list[tuple[int, int, int, str, str, str]], max_entries: int
) -> None:
    cache = BodyCache(max_entries)
    for i, body_prio, prio, status, tech, title in reads:
        t = Ticket(
            ticket_id=f"t{i}",
            region="north",
            priority=body_prio,
            work_duration_s=600,
            title=title,
            required_skills=(SkillLevel("hvac", 1 + i % 2),),
            location=Location(42.3 + i / 100, -71.0),
        )
        h = _hash(t, prio, status if tech else "QUEUED", tech)
        assert ticket_from_hash(h, cache) == ticket_from_hash(h)


_ids = st.text("abcxyz019-", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        Ticket,
        ticket_id=_ids,
        region=_ids,
        priority=st.integers(1, 4),
        work_duration_s=st.integers(1, 10_000),
        category=st.sampled_from(["", "hvac"]),
        title=st.sampled_from(["", "a leak"]),
        description=st.sampled_from(["", "no heat"]),
        required_skills=st.lists(
            st.builds(SkillLevel, _ids, st.integers(1, 5)), max_size=2
        ).map(tuple),
        location=st.none()
        | st.builds(Location, st.floats(-80, 80), st.floats(-170, 170)),
        asset_id=st.sampled_from(["", "a1"]),
        customer_tier=st.integers(0, 3),
        window_start_ms=st.integers(0, 2**41),
        window_end_ms=st.integers(0, 2**41),
        response_due_ms=st.integers(0, 2**41),
        resolution_due_ms=st.integers(0, 2**41),
        preferred_technician_ids=st.lists(_ids, max_size=2).map(tuple),
        excluded_technician_ids=st.lists(_ids, max_size=2).map(tuple),
        attributes=st.dictionaries(_ids, _ids, max_size=2),
        allow_duplicate=st.booleans(),
    ),
    st.integers(1, 2**41),
    st.integers(0, 5),
)
def test_every_body_field_decodes_into_its_own_field(
    t: Ticket, created: int, escalation: int
) -> None:
    """Each client-given field comes back in its own ``Ticket`` field (the decoder builds
    the ticket positionally), and so do the hash's live fields."""
    h = {
        "body": ticket_body(t),
        "status": "QUEUED",
        "version": "3",
        "created": str(created),
        "esc": str(escalation),
    }
    for bodies in (None, BodyCache()):
        got = ticket_from_hash(h, bodies)
        assert got == replace(
            t,
            version=3,
            created_at_ms=created,
            updated_at_ms=created,
            escalation_level=escalation,
            unassigned_reason=UnassignedReason.NOT_YET_SOLVED,
        )
