"""Snapshot -> solver.Problem conversion (the one place it happens) and solution -> decisions."""

from __future__ import annotations

import dataclasses

import numpy as np

from dispatcher.loop.problem import (
    TechnicianArrays,
    TechnicianView,
    TicketView,
    build_problem,
    build_problem_parts,
    plan_decisions,
)
from solver.model import NO_TECHNICIAN

NOW = 1_000_000.0


def _ticket(
    tid: str, status: str = "QUEUED", tech: str = "", **kw: object
) -> TicketView:
    base: dict[str, object] = {
        "ticket_id": tid,
        "version": 1,
        "status": status,
        "priority": 2,
        "lat_deg": 42.36,
        "lon_deg": -71.06,
        "duration_s": 600.0,
        "created_s": NOW - 60,
        "technician_id": tech,
    }
    base.update(kw)
    return TicketView(**base)  # type: ignore[arg-type]


def _tech(tid: str, **kw: object) -> TechnicianView:
    base: dict[str, object] = {
        "technician_id": tid,
        "version": 3,
        "available": True,
        "lat_deg": 42.35,
        "lon_deg": -71.05,
        "capacity": 3,
        "skills": (("hvac", 2),),
    }
    base.update(kw)
    return TechnicianView(**base)  # type: ignore[arg-type]


def test_rows_pins_exclusions_and_work_in_progress() -> None:
    """Accepted rows are pinned, declined technicians excluded, held-back duplicates and
    in-progress work are not rows; in-progress work delays and moves its technician."""
    tickets = [
        _ticket("T3", skills=(("hvac", 1), ("gas", 1))),
        _ticket("T1", "ACCEPTED", "A"),
        _ticket("T2", "ASSIGNED", "B", excluded=("A",)),
        _ticket("T4", "IN_PROGRESS", "B", started_s=NOW - 100, lat_deg=42.40),
        _ticket("T5", held_back=True),
    ]
    problem, maps, rows = build_problem(tickets, [_tech("B"), _tech("A")], NOW)
    assert maps.ticket_ids == ("T1", "T2", "T3")
    assert maps.technician_ids == ("A", "B")
    assert maps.skills == ("gas", "hvac")
    t, k = problem.tickets, problem.technicians
    assert t.pinned.tolist() == [True, False, False]
    assert t.current_technician.tolist() == [0, 1, NO_TECHNICIAN]
    assert t.excluded.tolist() == [[1, 0]]
    assert t.skill_levels.tolist() == [[0, 0], [0, 0], [1, 1]]
    assert k.skill_levels.tolist() == [[0, 2], [0, 2]]
    assert k.free_at_s.tolist() == [NOW, NOW - 100 + 600]
    assert k.lat_deg[1] == 42.40
    assert k.capacity.tolist() == [3, 2]  # B works T4: one place used
    assert [r.ticket_id for r in rows] == list(maps.ticket_ids)


def test_only_changed_holders_become_decisions() -> None:
    """Pinned rows never move; unchanged placements need no write; a lost holder or a new
    unassigned reason does."""
    from dispatcher.domain import Assignment, Ticket, TicketStatus, UnassignedReason
    from dispatcher.loop.pool import SolveOutput
    from solver.model import Solution, SolveStats, SolveStatus

    views = [
        _ticket("T1", "ACCEPTED", "A"),
        _ticket("T2", "ASSIGNED", "B"),
        _ticket("T3"),
        _ticket("T4", "ASSIGNED", "A"),
        _ticket("T5"),
    ]
    techs = [_tech("A"), _tech("B")]
    _, maps, rows = build_problem(views, techs, NOW)

    def stored(tid: str, status: TicketStatus, tech: str = "", **kw: object) -> Ticket:
        asg = Assignment(tech, position=0) if tech else None
        return Ticket(tid, "north", 2, 600, status=status, assignment=asg, **kw)  # type: ignore[arg-type]

    tickets = {
        "T1": stored("T1", TicketStatus.ACCEPTED, "A"),
        "T2": stored("T2", TicketStatus.ASSIGNED, "B"),
        "T3": stored(
            "T3", TicketStatus.QUEUED, unassigned_reason=UnassignedReason.NOT_YET_SOLVED
        ),
        "T4": stored("T4", TicketStatus.ASSIGNED, "A"),
        "T5": stored(
            "T5", TicketStatus.QUEUED, unassigned_reason=UnassignedReason.CAPACITY
        ),
    }
    solution = Solution(
        technician=np.array([1, 1, 0, NO_TECHNICIAN, NO_TECHNICIAN]),
        position=np.array([0, 0, 1, -1, -1]),
        arrival_s=np.full(5, NOW),
        start_s=np.full(5, NOW),
        finish_s=np.full(5, NOW + 600),
        sla_met=np.ones(5, dtype=bool),
        reason=np.array([0, 0, 0, 5, 5]),  # CAPACITY for T4 and T5
        objective=0.0,
        objective_terms={},
        stats=SolveStats(SolveStatus.OPTIMAL, 0.0, 0, 5, 2),
    )
    terms = {"travel": np.array([0.0, 0.0, 12.5, 0.0, 0.0])}
    decisions = plan_decisions(
        SolveOutput(solution, terms, np.full(5, np.nan)), maps, rows, tickets, 7, "s1"
    )
    # T1 pinned, T2 unchanged, T5 same reason: nothing; T3 assigned; T4 loses its holder
    assert [(d.ticket_id, d.technician_id) for d in decisions] == [
        ("T3", "A"),
        ("T4", ""),
    ]
    assert decisions[1].unassigned_reason is UnassignedReason.CAPACITY
    placed = decisions[0].assignment
    assert placed is not None
    assert (placed.position, placed.solve_id, placed.assigned_at_ms) == (1, "s1", 7)
    assert [(c.name, c.value) for c in placed.cost_terms] == [("travel", 12.5)]


def test_concurrency_gives_lanes_and_work_in_progress_fills_them() -> None:
    """Concurrency 2, capacity 5: two rows (places 3 and 2); two tickets in progress take
    one lane each (each delayed by its own work, one place used each); held tickets are
    spread over the lanes; exclusions name every lane; the maps repeat the id."""
    tickets = [
        _ticket("T1", "IN_PROGRESS", "A", started_s=NOW - 100),
        _ticket("T2", "IN_PROGRESS", "A", started_s=NOW - 500),
        _ticket("T3", "ASSIGNED", "A"),
        _ticket("T4", "ASSIGNED", "A"),
        _ticket("T5", excluded=("A",)),
    ]
    techs = [_tech("A", capacity=5, concurrency=2), _tech("B")]
    problem, maps, rows = build_problem(tickets, techs, NOW)
    assert maps.technician_ids == ("A", "A", "B")
    assert maps.technician_row() == {"A": 0, "B": 2}
    k = problem.technicians
    np.testing.assert_array_equal(k.capacity, [2, 1, 3])
    assert sorted(k.free_at_s[:2].tolist()) == [NOW + 100, NOW + 500]
    assert [r.ticket_id for r in rows] == ["T3", "T4", "T5"]
    np.testing.assert_array_equal(problem.tickets.current_technician, [0, 1, -1])
    assert {tuple(p) for p in problem.tickets.excluded.tolist()} == {(2, 0), (2, 1)}


def test_technician_arrays_are_reused_only_while_nothing_changed() -> None:
    """A build with the previous build's technician arrays is the build without them
    (arrays and index maps): reused for the same views (in any order), rebuilt when a
    technician's view, the set of technicians or the skill vocabulary changes."""
    arrays = TechnicianArrays()
    techs = [_tech("A"), _tech("B", capacity=2, skills=(("hvac", 1),))]
    steps = [
        ([_ticket("T1", skills=(("hvac", 1),))], techs),
        ([_ticket("T1"), _ticket("T2", "ASSIGNED", "B")], techs),  # same views: reused
        ([_ticket("T1")], [techs[0], dataclasses.replace(techs[1], capacity=3)]),
        ([_ticket("T3", skills=(("plumbing", 1),))], techs),  # a new skill column
        ([_ticket("T3", skills=(("plumbing", 1),))], techs[::-1]),  # another order
        ([_ticket("T1")], [*techs, _tech("C", skills=(("gas", 1),))]),  # one more
        ([_ticket("T1")], techs[:1]),  # one less
        ([_ticket("T1")], techs[:1]),
    ]
    reused = []
    for tickets, views in steps:
        before = arrays.state
        got, got_maps, got_rows = build_problem_parts(tickets, views, NOW, arrays)
        want, want_maps, want_rows = build_problem_parts(tickets, views, NOW)
        reused.append(arrays.state is before)
        assert (got_maps, got_rows) == (want_maps, want_rows)
        for name in ("tickets", "technicians"):
            a, b = getattr(got, name), getattr(want, name)
            for f in dataclasses.fields(a):
                np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name))
    assert reused == [False, True, False, False, True, False, False, True]


def test_a_technicians_view_is_kept_until_a_field_it_reads_changes() -> None:
    """The view cache keeps a technician's view object (and so the technician arrays
    of the build) across a new queue; a version bump, a location ping or a re-created
    technician give a new view."""
    from dispatcher.domain import Location, Technician, TechnicianStatus
    from dispatcher.loop.snapshot import ViewCache, views_from_snapshot
    from dispatcher.store.state import RegionSnapshot
    from solver.policy import Policy

    def snap(tech: Technician) -> RegionSnapshot:
        return RegionSnapshot("t", "north", (), (tech,), "1", int(NOW * 1000))

    base = Technician(
        "A", "north", TechnicianStatus.AVAILABLE, 2, location=Location(42.3, -71.0),
        version=4, created_at_ms=1,
    )  # fmt: skip
    cache, policy = ViewCache(), Policy()
    changes = [
        (dataclasses.replace(base, queue_ticket_ids=("T1",)), True),  # a new queue
        (dataclasses.replace(base, capacity=3, version=5), False),
        (dataclasses.replace(base, version=5, location=Location(42.4, -71.0)), False),
        (dataclasses.replace(base, version=5, created_at_ms=9), False),  # re-created
    ]
    (first,) = views_from_snapshot(snap(base), policy, int(NOW * 1000), cache)[1]
    previous = first
    for tech, kept in changes:
        (view,) = views_from_snapshot(snap(tech), policy, int(NOW * 1000), cache)[1]
        fresh = views_from_snapshot(snap(tech), policy, int(NOW * 1000))[1][0]
        assert view == fresh
        assert (view is previous) is kept
        previous = view
