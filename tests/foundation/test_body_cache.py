"""Decoding a ticket hash with the body cache (``store.codec.BodyCache``, the region
feed's) gives the ticket decoding it afresh gives, across body updates, live-field
changes, a re-prioritised ticket and a full cache."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.domain import Assignment, Location, SkillLevel, Ticket
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
