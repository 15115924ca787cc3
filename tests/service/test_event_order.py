"""The events of a solve commit, replayed in stream order, never show an impossible state.

A consumer that rebuilds "who holds what" from TICKET_ASSIGNED / REASSIGNED / UNASSIGNED
events must never see a technician over capacity, a ticket taken from someone who does
not hold it, or a ticket version skipped, even while one commit moves tickets between full
technicians (swaps, rings): the commit orders its events so that places are freed before
they are taken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.domain import (
    Assignment,
    Location,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
)
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys

if TYPE_CHECKING:
    import redis.asyncio

pytestmark = pytest.mark.integration

T, R = "acme", "north"
TOKEN = "tok-1"
HOLD_EVENTS = ("TICKET_ASSIGNED", "TICKET_REASSIGNED", "TICKET_UNASSIGNED")


class Replay:
    """Who holds which ticket, rebuilt from the region's events one at a time."""

    def __init__(self, capacity: dict[str, int]) -> None:
        self.capacity = capacity
        self.holder: dict[str, str] = {}
        self.version: dict[str, int] = {}
        self.solve_ids: list[str] = []

    def apply(self, f: dict[str, str]) -> None:
        kind, ticket = f["type"], f.get("tk", "")
        if ticket:
            v = int(f["v"])
            assert v == self.version.get(ticket, 0) + 1, (
                f"{ticket} skipped to v{v}: {f}"
            )
            self.version[ticket] = v
        if kind not in HOLD_EVENTS:
            return
        assert self.holder.get(ticket, "") == f.get("ptc", ""), f"not the holder: {f}"
        self.holder.pop(ticket, None)
        if kind != "TICKET_UNASSIGNED":
            self.holder[ticket] = f["tc"]
            held = sum(1 for t in self.holder.values() if t == f["tc"])
            assert held <= self.capacity[f["tc"]], f"{f['tc']} over capacity: {f}"
        self.solve_ids.append(f["sid"])


async def current_versions(store: RedisStateStore) -> ExpectedVersions:
    snap = await store.snapshot(T, R)
    return ExpectedVersions(
        {t.ticket_id: t.version for t in snap.tickets},
        {t.technician_id: t.version for t in snap.technicians},
    )


def plan(draw: st.DrawFn, tickets: int, capacity: list[int]) -> list[int]:
    """A target per ticket (technician index, -1 = none): mostly a placement within
    capacity (a shuffle of the free places, so full technicians swap), sometimes any."""
    if draw(st.booleans()):
        return draw(
            st.lists(
                st.integers(-1, len(capacity) - 1), min_size=tickets, max_size=tickets
            )
        )
    places = [i for i, c in enumerate(capacity) for _ in range(c)] + [-1] * tickets
    return draw(st.permutations(places))[:tickets]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[int], int, list[list[int]]]:
    capacity = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    tickets = draw(st.integers(2, 9))
    rounds = draw(st.lists(st.just(0), min_size=1, max_size=4))
    return capacity, tickets, [plan(draw, tickets, capacity) for _ in rounds]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_replayed_commit_events_never_put_a_technician_over_capacity(
    redis_client: redis.asyncio.Redis, scenario: tuple[list[int], int, list[list[int]]]
) -> None:
    """Commits that move tickets between technicians (swaps and rings of full technicians
    included), replayed from the stream: every technician within capacity after every
    event, each ticket taken from its holder, versions consecutive; the replay ends in
    the stored state, and a commit's events carry its solve id."""
    capacity, tickets, rounds = scenario
    await redis_client.flushall()
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    here = Location(42.0, -71.0)
    techs = [f"X{i}" for i in range(len(capacity))]
    for tech_id, cap in zip(techs, capacity, strict=True):
        tech = Technician(tech_id, R, TechnicianStatus.AVAILABLE, cap, location=here)
        await store.upsert_technician(T, tech)
    ids = [f"T{i}" for i in range(tickets)]
    await store.submit(
        T, [SubmitTicket(Ticket(t, R, 3, 600, location=here)) for t in ids]
    )
    await redis_client.set(keys.lease_key(T, R), TOKEN)
    for n, targets in enumerate(rounds):
        decisions = [
            Decision(t, techs[i], Assignment(techs[i], pos)) if i >= 0 else Decision(t)
            for pos, (t, i) in enumerate(zip(ids, targets, strict=True))
        ]
        await store.commit_assignments(
            T, R, TOKEN, decisions, await current_versions(store), solve_id=f"s{n}"
        )
    replay = Replay(dict(zip(techs, capacity, strict=True)))
    for _, fields in await redis_client.xrange(keys.events_key(T, R)):
        replay.apply(fields)
    for t in ids:
        stored = await store.get_ticket(T, t)
        assert replay.version[t] == stored.version
        assert replay.holder.get(t, "") == (
            stored.assignment.technician_id if stored.assignment else ""
        )
    assert replay.solve_ids == sorted(replay.solve_ids)  # one commit's events together


async def test_a_swap_between_full_technicians_passes_through_queued(
    redis_client: redis.asyncio.Redis,
) -> None:
    """Two full technicians swap their tickets: one ticket is unassigned first, then the
    other moves, then the first arrives; both outcomes say REASSIGNED."""
    store = RedisStateStore(redis_client, metrics=DispatchMetrics.throwaway())
    here = Location(42.0, -71.0)
    for tech_id in ("X", "Y"):
        await store.upsert_technician(
            T, Technician(tech_id, R, TechnicianStatus.AVAILABLE, 1, location=here)
        )
    await store.submit(
        T, [SubmitTicket(Ticket(t, R, 3, 600, location=here)) for t in ("A", "B")]
    )
    await redis_client.set(keys.lease_key(T, R), TOKEN)
    await store.commit_assignments(
        T,
        R,
        TOKEN,
        [Decision("A", "X"), Decision("B", "Y")],
        await current_versions(store),
    )
    start = (await redis_client.xinfo_stream(keys.events_key(T, R)))[
        "last-generated-id"
    ]
    swap = await store.commit_assignments(
        T,
        R,
        TOKEN,
        [Decision("A", "Y"), Decision("B", "X")],
        await current_versions(store),
        solve_id="swap",
    )
    assert [(o.code, o.version) for o in swap.outcomes] == [
        ("REASSIGNED", 4),
        ("REASSIGNED", 3),
    ]
    after = await redis_client.xrange(keys.events_key(T, R), min=f"({start}")
    assert [
        (f["type"], f["tk"], f.get("ptc", ""), f.get("tc", ""), f["sid"])
        for _, f in after
    ] == [
        ("TICKET_UNASSIGNED", "A", "X", "", "swap"),
        ("TICKET_REASSIGNED", "B", "Y", "X", "swap"),
        ("TICKET_ASSIGNED", "A", "", "Y", "swap"),
    ]
