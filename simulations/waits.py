"""Waits on the customer and escalations in the simulator's engine (``simulations.engine``).

- A ticket drawn to wait on the customer goes PENDING once (``streams.PendingDraws``): as
  its technician takes it up (before work, ``pend``) or after a share of its work
  (``pause``; the technician is free, the work left is kept). While PENDING it is in no
  queue and no solve and its SLA clock stops; at ``RESUME`` (``resume``) it is QUEUED
  again with its due times moved later by the wait (``simulations.clock``).
- A ticket every technician able to do it has declined is escalated, never stranded
  (``escalate_if_stranded``).
- The policy's escalation rules run at every solve (``run_clock_rules``), and a solve is
  scheduled when the next one may fire.

Each function takes the engine whose state it changes; the rules themselves are the
service's (``simulations.clock``, ``solver.declines``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from simulations.events import (
    IN_PROGRESS,
    PENDING,
    QUEUED,
    RESUME,
    SERVICE_STATUS,
    SOLVE,
    SOLVE_CLOCK,
)
from solver.declines import declined_by_every_able

if TYPE_CHECKING:
    from simulations.engine import Engine


def waits(engine: Engine, i: int) -> bool:
    """Ticket ``i`` is drawn to wait on the customer and has not yet."""
    p = engine.s.pending
    return p is not None and not engine.pended[i] and not np.isnan(p.share[i])


def pend(engine: Engine, i: int) -> None:
    """Ticket ``i`` waits on the customer: PENDING (no queue, no solve, clock stopped)
    until its ``RESUME``."""
    engine.status[i] = PENDING
    engine.tech[i] = -1
    engine.pended[i] = True
    engine.clock.pause(i, engine.now)
    p = engine.s.pending
    if p is not None:  # only drawn waits pend
        engine.q.push(engine.now + float(p.wait_s[i]), RESUME, i)


def pause(engine: Engine, j: int, i: int) -> None:
    """The ``PAUSE`` event: ticket ``i`` goes PENDING during its work; technician ``j`` is
    free, the work left is kept for when it resumes (with whichever technician then takes
    it)."""
    worked = engine.now - float(engine.segment_s[i])
    engine.work_left_s[i] -= worked
    engine.busy_work_s[j] += worked
    engine.current[j] = -1
    engine.free_est_s[j] = engine.now
    pend(engine, i)
    if engine.on_shift[j]:
        engine.dispatch(j)
    engine.request_solve()


def resume(engine: Engine, i: int, _b: int) -> None:
    """The ``RESUME`` event: ticket ``i`` is QUEUED again, its clock running."""
    if engine.status[i] != PENDING:
        return  # cancelled while it waited
    engine.clock.resume(i, engine.now)
    engine.status[i] = QUEUED
    engine.open.add(i)
    engine.request_solve()


def escalate_if_stranded(engine: Engine, i: int) -> None:
    """Every technician able to do ticket ``i`` has declined it (``solver.declines``, the
    service's rule too): escalate it as the service does (``TicketClock.declined``, i.e.
    ``solver.declines.stranded_escalation``): the next tier somebody can serve, else a
    supervisor override; either way its declines are lifted. A ticket declined by every
    able technician again after its override stays QUEUED with nobody allowed to take it,
    as in the service (reason DECLINED): one override per ticket, never a loop."""
    excluded = engine.excluded[i]
    if not declined_by_every_able(
        engine.clock.required[i], engine.r.skill_levels, excluded
    ):
        return
    ids = tuple(dict.fromkeys(engine.r.tech_id[j] for j in excluded))
    if engine.clock.declined(i, ids, engine.now, engine.skill_roster):
        del engine.excluded[i]


def run_clock_rules(engine: Engine) -> None:
    """Escalation rules due now (``simulations.clock``), and a solve when the next one
    may fire (the service's loop wakes up then too)."""
    if not engine.clock.rules:
        return
    st = engine.status
    live = np.flatnonzero((st >= QUEUED) & (st <= IN_PROGRESS)).astype(np.int64)
    names = [SERVICE_STATUS[v] for v in st[live].tolist()]
    _, wake = engine.clock.run_rules(
        live, names, engine.now, engine.skill_roster, engine.excluded
    )
    if math.isfinite(wake) and (wake < engine.wake_s or engine.wake_s <= engine.now):
        engine.wake_s = max(wake, engine.now)
        engine.q.push(engine.wake_s, SOLVE, SOLVE_CLOCK)
