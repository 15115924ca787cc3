"""Hypothesis stateful test: random operation sequences on the real store keep docs/DESIGN.md §3
invariants 1 (nothing acknowledged is lost), 2 (one holder, capacity) and 4 (one event per
change, in order per ticket), also with retention sweeps that delete closed tickets (whose
ids may then be submitted again)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from dispatcher.domain import (
    Assignment,
    Location,
    Resolution,
    ResolutionCode,
    SubmitTicket,
    Technician,
    TechnicianStatus,
    Ticket,
    TicketStatus,
)
from dispatcher.errors import DispatchError, UnknownTicket
from dispatcher.runtime.metrics import DispatchMetrics
from dispatcher.store.retention import ClosedTicketSweeper
from dispatcher.store.state import Decision, ExpectedVersions, RedisStateStore, keys
from tests.service.machine import RedisMachine, run_machine

pytestmark = pytest.mark.integration

TENANT, REGION = "prop", "r1"
TICKETS = [f"T{i}" for i in range(6)]
TECHS = ["A", "B", "C"]
REQUEST_IDS = ["r1", "r2", "r3"]


class StoreMachine(RedisMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = RedisStateStore(self.redis, metrics=DispatchMetrics.throwaway())
        self.acked: set[str] = set()
        self.purged: set[str] = set()
        """Acknowledged tickets deleted by a retention sweep (after they closed)."""
        self.closed_since_sweep = False
        self.run(self.redis.set(keys.lease_key(TENANT, REGION), "lease-1"))

    @initialize()
    def start(self) -> None:
        pass

    def attempt(self, coro: Any) -> Any:
        try:
            return self.run(coro)
        except DispatchError:
            return None

    @rule(
        tid=st.sampled_from(TICKETS),
        rid=st.sampled_from(["", *REQUEST_IDS]),
        prio=st.integers(1, 4),
    )
    def submit(self, tid: str, rid: str, prio: int) -> None:
        (res,) = self.run(
            self.store.submit(
                TENANT,
                [
                    SubmitTicket(
                        Ticket(tid, REGION, prio, 600, location=Location(1, 1)), rid
                    )
                ],
            )
        )
        if res.error is None:
            self.acked.add(res.ticket_id)
            self.purged.discard(res.ticket_id)

    @rule(
        tech=st.sampled_from(TECHS),
        cap=st.integers(1, 2),
        status=st.sampled_from(list(TechnicianStatus)),
    )
    def upsert(self, tech: str, cap: int, status: TechnicianStatus) -> None:
        self.attempt(
            self.store.upsert_technician(
                TENANT, Technician(tech, REGION, status, cap, location=Location(1, 1))
            )
        )

    @rule(tech=st.sampled_from(TECHS))
    def remove(self, tech: str) -> None:
        self.attempt(self.store.remove_technician(TENANT, tech))

    @rule(
        data=st.data(),
        stale_ticket=st.booleans(),
        stale_lease=st.booleans(),
    )
    def commit(
        self, data: st.DataObject, stale_ticket: bool, stale_lease: bool
    ) -> None:
        snap = self.run(self.store.snapshot(TENANT, REGION))
        if not snap.tickets:
            return
        tech_ids = [t.technician_id for t in snap.technicians]
        decisions = []
        for t in snap.tickets:
            choice = data.draw(st.sampled_from([*tech_ids, ""]))
            decisions.append(
                Decision(
                    t.ticket_id,
                    choice,
                    Assignment(choice, data.draw(st.integers(0, 3)))
                    if choice
                    else None,
                )
            )
        tv = {t.ticket_id: t.version + (1 if stale_ticket else 0) for t in snap.tickets}
        ev = ExpectedVersions(
            tv, {t.technician_id: t.version for t in snap.technicians}
        )
        res = self.run(
            self.store.commit_assignments(
                TENANT, REGION, "old" if stale_lease else "lease-1", decisions, ev
            )
        )
        if stale_lease or stale_ticket:
            assert res.applied == 0, res

    @rule(
        tid=st.sampled_from(TICKETS),
        action=st.sampled_from(["accept", "decline", "start", "complete", "cancel"]),
        actor=st.sampled_from(["", *TECHS]),
    )
    def lifecycle(self, tid: str, action: str, actor: str) -> None:
        arg = "reason"
        if action == "complete":
            from dispatcher.store.codec import resolution_json

            arg = resolution_json(Resolution(ResolutionCode.FIXED))
        done = self.attempt(
            self.store.transition(TENANT, tid, action, actor=actor, argument=arg)
        )
        if done is not None and action in ("complete", "cancel"):
            self.closed_since_sweep = True

    @precondition(lambda self: self.closed_since_sweep)
    @rule()
    def sweep(self) -> None:
        """Retention passes for every closed ticket: the sweep deletes exactly those. Request
        ids expire before it (retention >= 1 day >= their 24 h), which is modelled first."""
        prefix = keys.region_prefix(TENANT, REGION)
        self.run(self.redis.delete(*(prefix + keys.REQUEST + r for r in REQUEST_IDS)))
        status = {
            tid: self.run(self.store.get_ticket(TENANT, tid)).status
            for tid in self.acked
        }
        deleted = self.run(ClosedTicketSweeper(self.redis).sweep(TENANT, REGION, 2**62))
        closed = {tid for tid, st in status.items() if not st.is_open}
        assert deleted == len(closed)
        self.acked -= closed
        self.purged |= closed
        self.closed_since_sweep = False

    @invariant()
    def nothing_acknowledged_is_lost(self) -> None:
        """Invariant 1: every acknowledged ticket exists (until a sweep deletes it closed);
        open ones are in the snapshot."""
        snap = self.run(self.store.snapshot(TENANT, REGION))
        open_ids = {t.ticket_id for t in snap.tickets}
        for tid in self.acked:
            t = self.run(self.store.get_ticket(TENANT, tid))
            assert (t.status.is_open) == (tid in open_ids)
        for tid in self.purged:
            with pytest.raises(UnknownTicket):
                self.run(self.store.get_ticket(TENANT, tid))

    @invariant()
    def one_holder_and_capacity(self) -> None:
        """Invariant 2: a ticket is in at most one queue, its holder's; queues within capacity."""
        snap = self.run(self.store.snapshot(TENANT, REGION))
        holders: dict[str, list[str]] = defaultdict(list)
        for tech in snap.technicians:
            assert len(tech.queue_ticket_ids) <= tech.capacity, tech
            for tid in tech.queue_ticket_ids:
                holders[tid].append(tech.technician_id)
        for t in snap.tickets:
            held_by = holders.get(t.ticket_id, [])
            if t.status is TicketStatus.QUEUED:
                assert held_by == [], t
            else:
                assert t.assignment is not None
                assert held_by == [t.assignment.technician_id], (t, held_by)

    @invariant()
    def one_event_per_change_in_order(self) -> None:
        """Invariant 4: per ticket, event versions are exactly 1..current version, in order."""
        entries = self.run(self.redis.xrange(keys.events_key(TENANT, REGION)))
        # per ticket id, one run of versions per incarnation (an id swept after it closed
        # may be submitted again: its new run starts at 1 with TICKET_SUBMITTED)
        runs: dict[str, list[list[int]]] = defaultdict(list)
        for _, f in entries:
            if f.get("tk"):
                if f["type"] == "TICKET_SUBMITTED":
                    runs[f["tk"]].append([])
                runs[f["tk"]][-1].append(int(f["v"]))
        for tid, incarnations in runs.items():
            for done in incarnations[:-1]:
                assert done == list(range(1, len(done) + 1)), (tid, incarnations)
        for tid in self.acked:
            t = self.run(self.store.get_ticket(TENANT, tid))
            assert runs[tid][-1] == list(range(1, t.version + 1)), (
                tid,
                runs[tid],
                t.version,
            )


def test_store_invariants_hold_over_random_operations(machine_url: str) -> None:
    """Random interleavings of submit/commit/lifecycle/technician changes and retention sweeps
    keep invariants 1, 2, 4."""
    run_machine(StoreMachine, examples=50, steps=30)
