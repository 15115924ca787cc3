"""One problem builder (issue 13 item 7): for the same state, the live solve loop's path
(``dispatcher.loop.problem.build_problem`` from snapshot views) and the simulator's path
(``simulations.engine.Engine.build_problem`` from its state arrays) give the same
``solver.Problem``, array for array.

A random small state is drawn once and written both ways: as the service's ticket and
technician views, and as an engine's state (a technician with concurrency N is N roster
lanes, as ``simulations.streams`` builds them). The simulator has no ACCEPTED status and no
duplicates: a held-back ticket is, for it, a ticket that is not open. A technician off
shift in the simulator is one the service's snapshot does not hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.loop.problem import TechnicianView, TicketView, build_problem
from simulations.engine import Engine
from simulations.events import (
    ASSIGNED,
    EN_ROUTE,
    IN_PROGRESS,
    NOT_ARRIVED,
    QUEUED,
)
from simulations.policies import make_policy
from simulations.scenario import load_scenario
from simulations.streams import MAX_DISPATCH_ATTEMPTS, Roster, TicketStream
from solver.geo import next_location
from solver.lanes import lane_capacities
from solver.model import Problem, SolveParams

NOW = 50_000.0
SKILLS = ("s0", "s1")
PLACES = (
    (42.30, -71.10),
    (42.36, -71.05),
    (float("nan"), float("nan")),  # no location (help desk)
)


@dataclass(frozen=True)
class Tech:
    concurrency: int
    capacity: int
    levels: tuple[int, int]
    place: int
    speed_kmh: float
    shift_end_s: float
    on_shift: (
        bool  # False: off shift in the simulator, absent from the service snapshot
    )


@dataclass(frozen=True)
class Job:
    """A ticket and its state: QUEUED, ASSIGNED (to ``tech``), IN_PROGRESS (on ``tech``,
    work started at ``started_s``; ``en_route``: still travelling in the simulator), or
    held back (a QUEUED duplicate)."""

    status: str
    tech: int
    held_back: bool
    skill: int
    level: int
    place: int
    priority: int
    tier: int
    duration_s: float
    age_s: float
    started_s: float
    travel_s: float
    en_route: bool
    excluded: tuple[int, ...]


@st.composite
def states(draw: st.DrawFn) -> tuple[list[Tech], list[Job]]:
    techs = draw(
        st.lists(
            st.builds(
                Tech,
                concurrency=st.integers(1, 3),
                capacity=st.integers(0, 5),
                levels=st.tuples(st.integers(0, 2), st.integers(0, 2)),
                place=st.integers(0, len(PLACES) - 1),
                speed_kmh=st.sampled_from([30.0, 40.0]),
                shift_end_s=st.sampled_from([NOW + 3_600.0, NOW + 28_800.0]),
                on_shift=st.booleans(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    on = [k for k, t in enumerate(techs) if t.on_shift]
    # each technician works at most one ticket per lane, each ending after now: the
    # service's "lane free first" then fills its lanes in ticket order, as dispatch does
    slots = [k for k in on for _ in range(techs[k].concurrency)]
    working = draw(st.lists(st.sampled_from(slots), max_size=4)) if slots else []
    working = [
        k for n, k in enumerate(working) if working[:n].count(k) < techs[k].concurrency
    ]
    n_open = draw(st.integers(0, 8))
    statuses = ["IN_PROGRESS"] * len(working) + draw(
        st.lists(
            st.sampled_from(["QUEUED", "ASSIGNED"] if on else ["QUEUED"]),
            min_size=n_open,
            max_size=n_open,
        )
    )
    holders = working + [
        draw(st.sampled_from(on)) if s == "ASSIGNED" else -1
        for s in statuses[len(working) :]
    ]
    jobs = []
    for status, tech in zip(statuses, holders, strict=True):
        jobs.append(
            Job(
                status=status,
                tech=tech,
                held_back=status == "QUEUED" and draw(st.booleans()),
                skill=draw(st.integers(0, 1)),
                level=draw(st.integers(0, 2)),
                place=draw(st.integers(0, len(PLACES) - 1)),
                priority=draw(st.integers(1, 4)),
                tier=draw(st.integers(0, 2)),
                duration_s=draw(st.sampled_from([600.0, 1_800.0])),
                age_s=draw(st.sampled_from([0.0, 900.0, 7_200.0])),
                started_s=NOW + draw(st.integers(-500, 300)),
                travel_s=float(draw(st.integers(0, 900))),
                en_route=draw(st.booleans()),
                excluded=tuple(
                    draw(st.lists(st.integers(0, len(techs) - 1), max_size=2))
                ),
            )
        )
    order = draw(st.permutations(range(len(jobs))))  # ticket ids unrelated to status
    return techs, [jobs[i] for i in order]


def service_views(
    techs: list[Tech], jobs: list[Job]
) -> tuple[list[TicketView], list[TechnicianView]]:
    tech_views = [
        TechnicianView(
            technician_id=f"K{k}",
            version=1,
            available=True,
            lat_deg=PLACES[t.place][0],
            lon_deg=PLACES[t.place][1],
            capacity=t.capacity,
            speed_kmh=t.speed_kmh,
            shift_end_s=t.shift_end_s,
            skills=tuple(zip(SKILLS, t.levels, strict=True)),
            concurrency=t.concurrency,
        )
        for k, t in enumerate(techs)
        if t.on_shift
    ]
    ticket_views = [
        TicketView(
            ticket_id=f"T{i:03d}",
            version=1,
            status=j.status,
            priority=j.priority,
            lat_deg=PLACES[j.place][0],
            lon_deg=PLACES[j.place][1],
            duration_s=j.duration_s,
            created_s=NOW - j.age_s,
            response_due_s=NOW - j.age_s + 3_600.0,
            resolution_due_s=NOW - j.age_s + 14_400.0,
            tier=j.tier,
            skills=((SKILLS[j.skill], j.level),),
            technician_id=f"K{j.tech}" if j.tech >= 0 else "",
            excluded=tuple(f"K{k}" for k in j.excluded),
            started_s=j.started_s if j.status == "IN_PROGRESS" else float("nan"),
            held_back=j.held_back,
        )
        for i, j in enumerate(jobs)
    ]
    return ticket_views, tech_views


def simulator(techs: list[Tech], jobs: list[Job]) -> Engine:
    """An engine holding the same state (its roster has one row per lane)."""
    lanes = [
        (k, places)
        for k, t in enumerate(techs)
        for places in lane_capacities(t.capacity, t.concurrency)
    ]
    first = {
        k: next(r for r, (o, _) in enumerate(lanes) if o == k)
        for k in range(len(techs))
    }
    owner = np.array([k for k, _ in lanes], np.int64)
    roster = Roster(
        tech_id=[f"K{k}/{r}" for r, (k, _) in enumerate(lanes)],
        group=["g"] * len(lanes),
        home_lat_deg=np.array([PLACES[techs[k].place][0] for k in owner]),
        home_lon_deg=np.array([PLACES[techs[k].place][1] for k in owner]),
        skill_levels=np.array([techs[k].levels for k in owner], np.int64).reshape(
            -1, 2
        ),
        shift_start_s=np.zeros(len(lanes)),
        shift_length_s=np.full(len(lanes), 28_800.0),
        speed_kmh=np.array([techs[k].speed_kmh for k in owner]),
        capacity=np.array([p for _, p in lanes], np.int64),
        first_lane=np.array([first[k] for k in owner], np.int64),
    )
    n = len(jobs)

    def col(values: list[float]) -> np.ndarray:
        return np.array(values, np.float64)

    stream = TicketStream(
        ticket_id=[f"T{i:03d}" for i in range(n)],
        created_s=col([NOW - j.age_s for j in jobs]),
        lat_deg=col([PLACES[j.place][0] for j in jobs]),
        lon_deg=col([PLACES[j.place][1] for j in jobs]),
        priority=np.array([j.priority for j in jobs], np.int64),
        category=np.zeros(n, np.int64),
        skill=np.array([j.skill for j in jobs], np.int64),
        skill_level=np.array([j.level for j in jobs], np.int64),
        duration_est_s=col([j.duration_s for j in jobs]),
        duration_actual_s=col([j.duration_s for j in jobs]),
        response_due_s=col([NOW - j.age_s + 3_600.0 for j in jobs]),
        resolution_due_s=col([NOW - j.age_s + 14_400.0 for j in jobs]),
        tier=np.array([j.tier for j in jobs], np.int64),
        cancel_at_s=np.full(n, np.inf),
        decline_u=np.ones((n, MAX_DISPATCH_ATTEMPTS)),
        categories=["c"],
        skills=list(SKILLS),
    )
    sc = load_scenario("smoke")
    engine = Engine(sc, stream, roster, make_policy("least_loaded", SolveParams()))
    engine.now = NOW
    for r, (k, _) in enumerate(lanes):
        engine.on_shift[r] = techs[k].on_shift
        engine.shift_end_s[r] = techs[k].shift_end_s
    held = dict.fromkeys(range(len(techs)), 0)  # held tickets per technician so far
    busy = dict.fromkeys(range(len(techs)), 0)
    for i, j in enumerate(jobs):  # ticket id order, as the service walks them
        if j.status == "IN_PROGRESS":
            lane = first[j.tech] + busy[j.tech]
            busy[j.tech] += 1
            engine.current[lane] = i
            engine.work_tech[i] = lane
            engine.lat[lane], engine.lon[lane] = next_location(
                engine.lat[lane], engine.lon[lane], *PLACES[j.place]
            )
            engine.free_est_s[lane] = j.started_s + j.duration_s
            if j.en_route:  # dispatched, work starts on arrival
                engine.status[i] = EN_ROUTE
                engine.dispatched_s[i] = j.started_s - j.travel_s
                engine.travel_s[i] = j.travel_s
            else:
                engine.status[i] = IN_PROGRESS
                engine.arrived_s[i] = engine.segment_s[i] = j.started_s
            continue
        if j.held_back:
            engine.status[i] = NOT_ARRIVED  # not open: nothing to dispatch
            continue
        engine.open.add(i)
        engine.status[i] = QUEUED
        if j.status == "ASSIGNED":
            lane = first[j.tech] + held[j.tech] % techs[j.tech].concurrency
            held[j.tech] += 1
            engine.status[i] = ASSIGNED
            engine.tech[i] = lane
            engine.queue[lane].append(i)
        excluded = [
            first[k] + lane for k in j.excluded for lane in range(techs[k].concurrency)
        ]
        if excluded:
            engine.excluded[i] = excluded
    return engine


@settings(max_examples=300, deadline=None)
@given(states())
def test_live_loop_and_simulator_build_the_same_problem(
    state: tuple[list[Tech], list[Job]],
) -> None:
    techs, jobs = state
    ticket_views, tech_views = service_views(techs, jobs)
    live, maps, rows = build_problem(ticket_views, tech_views, NOW)
    engine = simulator(techs, jobs)
    if not engine.open or not engine.on_shift.any():
        # the simulator does not solve then; the service's problem has no row to place
        assert not rows or not tech_views
        return
    assert_same_problem(live, maps.ticket_ids, maps.technician_ids, engine)


def assert_same_problem(
    live: Problem,
    ticket_ids: tuple[str, ...],
    tech_ids: tuple[str, ...],
    engine: Engine,
) -> None:
    sim, tickets, lanes = engine.build_problem()
    assert [f"T{i:03d}" for i in tickets.tolist()] == list(ticket_ids)
    assert [engine.r.tech_id[r].split("/")[0] for r in lanes.tolist()] == list(tech_ids)
    assert sim.now_s == live.now_s
    for part in ("tickets", "technicians"):
        a, b = getattr(live, part), getattr(sim, part)
        for field in dataclasses.fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            assert x.dtype == y.dtype, f"{part}.{field.name}"
            np.testing.assert_array_equal(x, y, err_msg=f"{part}.{field.name}")


def test_a_decline_in_the_simulator_excludes_the_whole_agent() -> None:
    """An agent working two tickets at once (two lanes) declines a ticket: neither lane may
    take it, as when the service reads the agent in the ticket's declined_by."""
    agent = Tech(2, 4, (1, 1), 0, 40.0, NOW + 3_600.0, on_shift=True)
    other = Tech(1, 2, (1, 1), 1, 40.0, NOW + 3_600.0, on_shift=True)  # not stranded
    job = Job("ASSIGNED", 0, False, 0, 1, 1, 2, 0, 600.0, 0.0, NOW, 0.0, False, ())
    engine = simulator([agent, other], [job])
    engine.s = dataclasses.replace(
        engine.s, decline_u=np.zeros_like(engine.s.decline_u)
    )
    engine.decline_p = 0.5
    engine.dispatch(0)  # lane 0 takes the head of its queue: declines it
    assert engine.n_declines[0] == 1
    declined = dataclasses.replace(job, status="QUEUED", tech=-1, excluded=(0,))
    tickets, techs = service_views([agent, other], [declined])
    live, maps, _ = build_problem(tickets, techs, NOW)
    assert live.tickets.excluded.tolist() == [[0, 0], [0, 1]]
    assert_same_problem(live, maps.ticket_ids, maps.technician_ids, engine)
