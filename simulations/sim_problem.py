"""The simulator's live state as a ``solver.Problem``, and the check of a policy's answer.

The engine's state becomes ``solver.build`` arrays (the service's own builder, so the
simulator cannot drift from the service); a policy's rows are checked against the
problem's hard constraints when the engine checks decisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from simulations.events import ASSIGNED, IN_PROGRESS
from solver.build import ASSIGNED as B_ASSIGNED
from solver.build import IN_PROGRESS as B_IN_PROGRESS
from solver.build import QUEUED as B_QUEUED
from solver.build import TechnicianState, TicketState, build_problem
from solver.model import NO_TECHNICIAN

if TYPE_CHECKING:
    from simulations.engine import Engine
    from solver.model import Problem


class SimulationError(RuntimeError):
    """The policy returned a decision that breaks a hard constraint, or the engine broke."""


def engine_problem(engine: Engine) -> tuple[Problem, np.ndarray, np.ndarray]:
    """The live snapshot as a solver Problem, plus the row -> ticket / technician maps.

    The engine's state as ``solver.build`` arrays, which applies the service's rules:
    the open tickets (QUEUED, ASSIGNED) are rows; each on-shift technician's job
    (EN_ROUTE counts as started: its work starts on arrival) is work in progress,
    which delays it, moves it and takes one of its queue places. Every roster row is
    one lane already (``simulations.streams``), so each has concurrency 1.
    """
    s, r, c = engine.s, engine.r, engine.clock
    open_ = np.fromiter(sorted(engine.open), np.int64, len(engine.open))
    techs = np.flatnonzero(engine.on_shift).astype(np.int64)
    jobs = engine.current[techs]
    working = jobs >= 0
    jobs = jobs[working]
    tickets = np.concatenate([open_, jobs])
    index_of_tech = np.full(r.count, NO_TECHNICIAN, np.int64)
    index_of_tech[techs] = np.arange(techs.size)
    held = engine.tech[open_]
    started = np.where(
        engine.status[jobs] == IN_PROGRESS,
        engine.segment_s[jobs],
        engine.dispatched_s[jobs] + engine.travel_s[jobs],
    )
    n, n_open = tickets.size, open_.size
    state = TicketState(
        status=np.concatenate(
            [
                np.where(engine.status[open_] == ASSIGNED, B_ASSIGNED, B_QUEUED),
                np.full(jobs.size, B_IN_PROGRESS),
            ]
        ),
        technician=np.concatenate(
            [
                np.where(held >= 0, index_of_tech[held], NO_TECHNICIAN),
                np.flatnonzero(working),
            ]
        ),
        held_back=np.zeros(n, bool),
        started_s=np.concatenate([np.full(n_open, np.nan), started]),
        lat_deg=s.lat_deg[tickets],
        lon_deg=s.lon_deg[tickets],
        priority=c.priority[tickets],
        skill_levels=c.required[tickets],
        duration_s=s.duration_est_s[tickets],
        created_s=s.created_s[tickets],
        response_due_s=c.response_due_s[tickets],
        resolution_due_s=c.resolution_due_s[tickets],
        window_start_s=np.full(n, -np.inf),
        window_end_s=np.full(n, np.inf),
        tier=s.tier[tickets],
        excluded=_excluded_pairs(engine, open_, index_of_tech),
        preferred=np.empty((0, 2), np.int64),
    )
    crew = TechnicianState(
        lat_deg=engine.lat[techs],
        lon_deg=engine.lon[techs],
        skill_levels=r.skill_levels[techs],
        capacity=r.capacity[techs],
        concurrency=np.ones(techs.size, np.int64),
        shift_end_s=engine.shift_end_s[techs],
        speed_kmh=r.speed_kmh[techs],
        available=np.ones(techs.size, bool),
    )
    parts = build_problem(state, crew, engine.now)
    return parts.build(), tickets[parts.ticket_index], techs


def _excluded_pairs(
    engine: Engine, open_: np.ndarray, index_of_tech: np.ndarray
) -> Any:
    """(ticket index, technician index) of each open ticket's declined technicians."""
    pairs = [
        (int(np.searchsorted(open_, i)), int(index_of_tech[j]))
        for i in sorted(engine.excluded)
        if i in engine.open
        for j in engine.excluded[i]
        if index_of_tech[j] != NO_TECHNICIAN
    ]
    return np.array(pairs, np.int64).reshape(-1, 2)


def check_decisions(problem: Problem, rows: np.ndarray) -> None:
    """Raise :class:`SimulationError` if the policy's rows break a hard constraint:
    skills, capacity, exclusions (declines)."""
    tk, te = problem.tickets, problem.technicians
    a = np.flatnonzero(rows >= 0)
    if a.size == 0:
        return
    if (rows >= te.count).any():
        raise SimulationError("policy returned a technician row out of range")
    short = (te.skill_levels[rows[a]] < tk.skill_levels[a]).any(axis=1)
    if short.any():
        raise SimulationError(
            f"policy broke a skill constraint on {int(short.sum())} ticket(s)"
        )
    load = np.bincount(rows[a], minlength=te.count)
    if (load > te.capacity).any():
        raise SimulationError(
            "policy put more tickets on a technician than its capacity"
        )
    if tk.excluded.size:
        bad = rows[tk.excluded[:, 0]] == tk.excluded[:, 1]
        if bad.any():
            raise SimulationError("policy assigned an excluded technician")
