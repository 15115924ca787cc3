"""Declines that leave nobody: the one rule the service's solve loop and the simulator both
apply ("a ticket declined by every technician able to do it is escalated, never stranded").

A technician is *able* to do a ticket when it holds every required skill at the required
level and the ticket does not exclude it; its shift, status and queue do not matter (a
technician off shift now may take the ticket later, so the ticket is not stranded).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.policy import (
    DEFAULT_SUPERVISOR_TARGET,
    SUPERVISOR_OVERRIDE,
    EscalationRule,
)
from solver.sla import Escalation, next_tier_rule, raised, tier_level

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    import numpy.typing as npt

    from solver.policy import Policy
    from solver.sla import SlaMarks


def able_matrix(
    required: npt.ArrayLike, held: npt.ArrayLike, excluded: npt.ArrayLike | None = None
) -> npt.NDArray[np.bool_]:
    """(n, m): technician row j (``held``: (m, n_skills) levels) can do ticket i
    (``required``: (n, n_skills) minimum levels, 0 = not required) and ``excluded`` ((n, m)
    bool) does not bar it. One skill column at a time: memory n x m."""
    req = np.asarray(required, np.int64)
    levels = np.asarray(held, np.int64)
    able = np.ones((req.shape[0], levels.shape[0]), np.bool_)
    for c in range(req.shape[1]):
        able &= levels[None, :, c] >= req[:, None, c]
    if excluded is not None:
        able &= ~np.asarray(excluded, np.bool_)
    return able


def stranded(
    required: npt.ArrayLike,
    held: npt.ArrayLike,
    declined: npt.ArrayLike,
    excluded: npt.ArrayLike | None = None,
) -> npt.NDArray[np.bool_]:
    """(n,): some technician is able to do ticket i and every able one has declined it
    (``declined``: (n, m) bool): nobody is left to take it."""
    able = able_matrix(required, held, excluded)
    left = able & ~np.asarray(declined, np.bool_)
    return np.asarray(able.any(axis=1) & ~left.any(axis=1), np.bool_)


def able_technicians(
    required: npt.ArrayLike, held: npt.ArrayLike, excluded: Collection[int] = ()
) -> npt.NDArray[np.bool_]:
    """Which technician rows can do one ticket requiring ``required`` ((n_skills,)),
    ``excluded`` rows aside (``able_matrix`` for one ticket)."""
    m = np.asarray(held).shape[0]
    one = np.asarray(required, np.int64)[None, :]
    able: npt.NDArray[np.bool_] = able_matrix(one, held, _mask(m, excluded)[None, :])[0]
    return able


def declined_by_every_able(
    required: npt.ArrayLike,
    held: npt.ArrayLike,
    declined: Collection[int],
    excluded: Collection[int] = (),
) -> bool:
    """``stranded`` for one ticket (row indices in ``declined`` and ``excluded``)."""
    m = np.asarray(held).shape[0]
    one = np.asarray(required, np.int64)[None, :]
    return bool(
        stranded(one, held, _mask(m, declined)[None, :], _mask(m, excluded)[None, :])[0]
    )


def _mask(m: int, rows: Collection[int]) -> npt.NDArray[np.bool_]:
    out = np.zeros(m, np.bool_)
    out[list(rows)] = True
    return out


@dataclass(frozen=True, slots=True)
class SkillRoster:
    """Who could serve a ticket: technician ``ids`` (rows of ``held``, the levels they hold
    of each of ``skills``, the columns), whatever their shift, status or queue."""

    ids: tuple[str, ...]
    skills: tuple[str, ...]
    held: npt.NDArray[np.int64]  # (len(ids), len(skills))

    def serves(
        self, required: Mapping[str, int], excluded: Collection[str] = ()
    ) -> bool:
        """Some technician not in ``excluded`` (ids) is able to do a ticket requiring
        ``required`` (skill -> minimum level; a skill nobody on the roster holds: no)."""
        column = {s: c for c, s in enumerate(self.skills)}
        row = np.zeros(len(self.skills), np.int64)
        for skill, level in required.items():
            if level <= 0:
                continue
            if skill not in column:
                return False
            row[column[skill]] = level
        barred = [k for k, x in enumerate(self.ids) if x in excluded]
        return bool(able_technicians(row, self.held, barred).any())


OVERRIDE_RULE = EscalationRule(
    name=SUPERVISOR_OVERRIDE,
    priority=0,
    condition="not_assigned",
    after_s=0.0,
    raise_priority=0,
    widen_to_neighbours=False,
    notify_supervisor=True,
    supervisor_target=DEFAULT_SUPERVISOR_TARGET,
)
"""The supervisor override as a rule: it notifies the default supervisor group and lifts
the declines (as every escalation of a stranded ticket does), nothing else; it fires once
per ticket like every rule."""


def stranded_escalation(
    policy: Policy,
    ticket_id: str,
    priority: int,
    marks: SlaMarks,
    required: Mapping[str, int],
    declined_by: tuple[str, ...],
    roster: SkillRoster,
    *,
    excluded: Collection[str] = (),
    neighbours: SkillRoster | None = None,
) -> Escalation | None:
    """What becomes of a ticket every able technician declined: the one decision of the
    service's solve loop and the simulator ("escalated, never stranded").

    1. The policy's next tier rule (``solver.sla.next_tier_rule``) whose tier somebody can
       serve: a technician of ``roster`` (or, for a rule that widens, of ``neighbours``)
       not ``excluded`` holds the ticket's skills with the tier's level (``required``:
       skill -> level before the move). A tier nobody can serve is passed over, so a tier
       move never leaves the ticket with nobody able (reason NO_SKILL).
    2. Without one, a supervisor override (``OVERRIDE_RULE``): the declines are lifted, so
       the technicians who declined may take it again, and a supervisor is notified.
    3. None when the override has fired on this ticket already (``marks``): each rule fires
       once, so a ticket declined again by every able technician after the override stays
       QUEUED with the reason DECLINED, its supervisor told once. At most one escalation
       per tier rule plus one override, never a loop of offers.

    The escalation fires now whatever the rule's condition and clock; ``declined_by`` (the
    technicians who declined) goes with it and its declines are to be lifted.
    """

    servable = _servable(roster, excluded, neighbours)
    rule = next_tier_rule(policy, priority, marks.escalated, required, servable)
    if rule is None:
        if SUPERVISOR_OVERRIDE in marks.escalated:
            return None
        rule = OVERRIDE_RULE
    return Escalation(
        ticket_id, rule, priority, raised(priority, rule), declined_by=declined_by
    )


def servable_tier(
    e: Escalation,
    required: Mapping[str, int],
    roster: SkillRoster,
    *,
    excluded: Collection[str] = (),
    neighbours: SkillRoster | None = None,
) -> Escalation:
    """A clock escalation (``solver.sla.escalations``) as the service and the simulator
    apply it: its tier move only where somebody can serve the raised requirement (a
    technician of ``roster``, or of ``neighbours`` for a rule that widens, not
    ``excluded``: barred from the ticket or having declined it, since a clock escalation
    keeps the declines). Else the rule fires without the move (its priority raise,
    widening and supervisor notice stay), ``passed_over`` naming the tier: moving a
    ticket where nobody is able would strand it (reason NO_SKILL)."""
    rule = e.rule
    if not rule.tier_skill:
        return e
    need = {
        **required,
        rule.tier_skill: tier_level(required.get(rule.tier_skill, 0), rule),
    }
    if _servable(roster, excluded, neighbours)(rule, need):
        return e
    return dataclasses.replace(
        e,
        rule=dataclasses.replace(rule, tier_skill="", tier_level=0),
        passed_over=f"{rule.tier_skill}:{rule.tier_level}",
    )


def _servable(
    roster: SkillRoster, excluded: Collection[str], neighbours: SkillRoster | None
) -> Callable[[EscalationRule, Mapping[str, int]], bool]:
    """Whether a rule's raised requirement has a technician to serve it: one of
    ``roster`` or, for a rule that widens, of ``neighbours``, not ``excluded``."""

    def servable(rule: EscalationRule, need: Mapping[str, int]) -> bool:
        if roster.serves(need, excluded):
            return True
        return bool(
            rule.widen_to_neighbours
            and neighbours is not None
            and neighbours.serves(need, excluded)
        )

    return servable
