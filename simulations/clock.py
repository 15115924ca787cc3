"""The simulator's SLA clock: PENDING waits and escalation rules, by the service's rules.

Per ticket it holds what the clock rules change during a run -- due times (moved later by a
wait on the customer), priority (raised by an escalation), required skill levels (a tier
move), the marks of the rules already fired -- and applies the service's own functions to
them: ``Policy.resumed_due_times`` (the pause rule), ``solver.sla.escalations`` (a rule
whose time has come; its tier move only where somebody can serve it:
``solver.declines.servable_tier``), ``solver.declines.stranded_escalation`` (what becomes
of a ticket every able technician declined), ``solver.sla.tier_level`` (the requirement
after a tier move) and ``solver.sla.at_risk_rows`` (the at-risk signal of a solve). The engine
(``simulations.engine``) owns the lifecycle; this module owns none of the rules.

Escalations are counted per ticket by cause: ``clock`` (a rule's condition and time),
``declined`` (the next tier rule, fired because every able technician declined) and
``override`` (no tier anybody serves: a supervisor overrides the declines, once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from solver.declines import OVERRIDE_RULE, servable_tier, stranded_escalation
from solver.sla import (
    ClockTicket,
    SlaMarks,
    at_risk_rows,
    escalations,
    next_escalation_s,
    tier_level,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

    from simulations.streams import TicketStream
    from solver.declines import SkillRoster
    from solver.model import Problem, Solution
    from solver.policy import Policy
    from solver.sla import Escalation

CAUSES = ("clock", "declined", "override")
"""Why a ticket was escalated (columns of ``TicketClock.escalated``)."""
CLOCK, DECLINED, OVERRIDE = range(3)


class TicketClock:
    """The clock state of every ticket of a run (row i = ticket i of the stream).

    Parameters
    ----------
    policy
        The scenario's policy: its SLA targets, calendars and escalation rules.
    stream
        The drawn tickets: their initial due times, priorities and required skill.
    origin_s
        The epoch second of virtual t = 0 (``streams.origin_s``), for a calendar.

    Raises
    ------
    ValueError
        If a rule's ``tier_skill`` is no skill of the run (``escalations[i].tier_skill``).
    """

    def __init__(self, policy: Policy, stream: TicketStream, origin_s: float) -> None:
        n, skills = stream.count, stream.skills
        self.policy = policy
        self.origin_s = origin_s
        self.ticket_id = stream.ticket_id
        self.created_s = stream.created_s
        self.response_due_s = stream.response_due_s.copy()
        self.resolution_due_s = stream.resolution_due_s.copy()
        self.priority = stream.priority.copy()
        self.required = np.zeros((n, len(skills)), np.int64)
        self.required[np.arange(n), stream.skill] = stream.skill_level
        self.skills = skills
        for k, rule in enumerate(policy.escalations):
            if rule.tier_skill and rule.tier_skill not in skills:
                raise ValueError(
                    f"escalations[{k}].tier_skill: no skill {rule.tier_skill!r} in this "
                    f"run (skills: {', '.join(skills)})"
                )
        self.rules = bool(policy.escalations)
        self.watch_risk = any(r.condition == "at_risk" for r in policy.escalations)
        self.fired: dict[int, frozenset[str]] = {}
        self.at_risk = np.zeros(n, bool)
        self.escalated = np.zeros((n, len(CAUSES)), np.int64)
        self.escalated_s = np.full(n, np.nan)  # when first escalated (any cause)
        self.tier = [""] * n  # the last tier moved to, e.g. "desk:2"
        self.pending_s = np.zeros(n)  # time spent PENDING
        self.pending_since_s = np.full(n, np.nan)

    # ------------------------------------------------------------------ escalation

    def marks(self, i: int) -> SlaMarks:
        return SlaMarks(
            at_risk=bool(self.at_risk[i]), escalated=self.fired.get(i, frozenset())
        )

    def clock_tickets(
        self, rows: npt.NDArray[np.int64], statuses: list[str]
    ) -> list[ClockTicket]:
        """``rows`` as the service's clock sees them (``statuses``: service names)."""
        return [
            ClockTicket(
                self.ticket_id[i],
                int(self.priority[i]),
                status,
                float(self.created_s[i]),
                float(self.response_due_s[i]),
                float(self.resolution_due_s[i]),
                self.marks(i),
            )
            for i, status in zip(rows.tolist(), statuses, strict=True)
        ]

    def run_rules(
        self,
        rows: npt.NDArray[np.int64],
        statuses: list[str],
        now_s: float,
        roster: SkillRoster,
        declined: Mapping[int, Sequence[int]],
    ) -> tuple[list[int], float]:
        """Fire the rules due now on ``rows`` (``solver.sla.escalations``), a tier move
        only where an agent of ``roster`` who has not declined the ticket (``declined``:
        ticket row -> roster rows) can serve it (``solver.declines.servable_tier``, the
        service's rule); returns the escalated rows and when a rule may fire next (inf:
        never)."""
        tickets = self.clock_tickets(rows, statuses)
        row_of = dict(zip([t.ticket_id for t in tickets], rows.tolist(), strict=True))
        done = []
        for e in escalations(self.policy, tickets, now_s):
            i = row_of[e.ticket_id]
            refused = {roster.ids[j] for j in declined.get(i, ())}
            served = servable_tier(e, self.required_of(i), roster, excluded=refused)
            self.apply(i, served, CLOCK, now_s)
            done.append(i)
        if done:  # their marks changed
            tickets = self.clock_tickets(rows, statuses)
        return done, next_escalation_s(self.policy, tickets, now_s)

    def required_of(self, i: int) -> dict[str, int]:
        """Ticket ``i``'s requirement: skill -> level (required skills only)."""
        return {
            self.skills[c]: int(v)
            for c, v in enumerate(self.required[i].tolist())
            if v > 0
        }

    def declined(
        self, i: int, declined_by: tuple[str, ...], now_s: float, roster: SkillRoster
    ) -> bool:
        """Every able technician declined ticket ``i``: the service's decision
        (``solver.declines.stranded_escalation``): the next tier ``roster`` can serve
        (cause ``declined``), else a supervisor override (``override``). True when it was
        escalated (its declines are to be lifted); False when the override has fired on it
        already: it stays stranded, as in the service (reason DECLINED)."""
        e = stranded_escalation(
            self.policy,
            self.ticket_id[i],
            int(self.priority[i]),
            self.marks(i),
            self.required_of(i),
            declined_by,
            roster,
        )
        if e is None:
            return False
        self.apply(i, e, OVERRIDE if e.rule is OVERRIDE_RULE else DECLINED, now_s)
        return True

    def apply(self, i: int, e: Escalation, cause: int, now_s: float) -> None:
        """Ticket ``i`` after escalation ``e``: its new priority and tier, the rule fired."""
        self.priority[i] = e.new_priority
        rule = e.rule
        if rule.tier_skill:
            c = self.skills.index(rule.tier_skill)
            self.required[i, c] = tier_level(int(self.required[i, c]), rule)
            self.tier[i] = f"{rule.tier_skill}:{self.required[i, c]}"
        self.fired[i] = self.fired.get(i, frozenset()) | {rule.name}
        self._count(i, cause, now_s)

    def _count(self, i: int, cause: int, now_s: float) -> None:
        self.escalated[i, cause] += 1
        if np.isnan(self.escalated_s[i]):
            self.escalated_s[i] = now_s

    def signal_at_risk(
        self, problem: Problem, solution: Solution, rows: npt.NDArray[np.int64]
    ) -> None:
        """Mark the tickets a solve predicts to miss a due time (``at_risk_rows``);
        ``rows``: the ticket of each problem row."""
        tk = problem.tickets
        late = at_risk_rows(
            solution,
            tk.response_due_s,
            tk.resolution_due_s,
            tk.created_s,
            problem.now_s,
        )
        self.at_risk[rows[late]] = True

    # ------------------------------------------------------------------ waits

    def pause(self, i: int, now_s: float) -> None:
        """Ticket ``i`` goes PENDING: its clock stops."""
        self.pending_since_s[i] = now_s

    def resume(self, i: int, now_s: float) -> None:
        """Ticket ``i`` leaves PENDING: its due times move later by the wait
        (``Policy.resumed_due_times``: elapsed, or working seconds of its calendar)."""
        since = float(self.pending_since_s[i])
        self.response_due_s[i], self.resolution_due_s[i] = (
            self.policy.resumed_due_times(
                int(self.priority[i]),
                (float(self.response_due_s[i]), float(self.resolution_due_s[i])),
                since,
                now_s,
                origin_s=self.origin_s,
            )
        )
        self.pending_s[i] += now_s - since
        self.pending_since_s[i] = np.nan

    def at_horizon(
        self, waiting: npt.NDArray[np.int64], horizon_s: float
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]
    ]:
        """(response due, resolution due, time PENDING) of every ticket at the horizon:
        the ``waiting`` rows (PENDING then) as if they resumed at the horizon."""
        response = self.response_due_s.copy()
        resolution = self.resolution_due_s.copy()
        pending = self.pending_s.copy()
        for i in waiting.tolist():
            since = float(self.pending_since_s[i])
            response[i], resolution[i] = self.policy.resumed_due_times(
                int(self.priority[i]),
                (float(response[i]), float(resolution[i])),
                since,
                horizon_s,
                origin_s=self.origin_s,
            )
            pending[i] += horizon_s - since
        return response, resolution, pending
