"""Decoding technician hashes through ``store.codec.TechnicianCache`` (the region feed's)
gives the technician decoding it afresh gives, across changes of the hash, of the queue
alone, and a full cache."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.domain import Location, SkillLevel, Technician, TechnicianStatus
from dispatcher.store.codec import (
    TechnicianCache,
    pairs_to_dict,
    technician_body,
    technician_from_hash,
)


def _flat(i: int, version: int, status: str, lat: float) -> list[str]:
    """A technician hash as HGETALL returns it (flat name/value list)."""
    body = technician_body(
        Technician(
            technician_id=f"k{i}",
            region="north",
            status=TechnicianStatus.AVAILABLE,
            capacity=3,
            skills=(SkillLevel("hvac", 1 + i % 3),),
            location=Location(42.3, -71.0),
        )
    )
    h = {
        "body": body,
        "status": status,
        "cap": "3",
        "version": str(version),
        "created": "1700000000000",
        "lat": repr(lat),
        "lon": "-71.0",
    }
    return [x for kv in h.items() for x in kv]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),  # which technician
            st.integers(1, 3),  # version
            st.sampled_from(["AVAILABLE", "BUSY", "OFF_SHIFT"]),
            st.sampled_from([42.3, 42.31]),  # a location ping leaves the version alone
            st.lists(
                st.sampled_from(["t1", "t2", "t3", "t4"]), max_size=3, unique=True
            ),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 3),
)
def test_cached_decoding_equals_fresh_decoding(
    reads: list[tuple[int, int, str, float, list[str]]], max_entries: int
) -> None:
    cache = TechnicianCache(max_entries)
    for i, version, status, lat, queue in reads:
        flat = _flat(i, version, status, lat)
        got = cache.technician(flat, queue)
        assert got == technician_from_hash(pairs_to_dict(flat), queue)
        assert got.queue_ticket_ids == tuple(queue)


def test_a_new_queue_alone_reuses_the_decoded_technician() -> None:
    cache = TechnicianCache()
    flat = _flat(1, 2, "AVAILABLE", 42.3)
    first = cache.technician(flat, ["t1"])
    assert cache.technician(list(flat), ["t1"]) is first
    moved = cache.technician(list(flat), ["t1", "t2"])
    assert moved.queue_ticket_ids == ("t1", "t2")
    assert moved.skills is first.skills  # the body was not decoded again
