"""Tickets of a region that declines have stranded: QUEUED, and every technician of the
region able to do them has declined them (the rule: ``solver.declines``, which the
simulator applies too). The SLA step escalates them to the policy's next tier
(``solver.sla.next_tier_rule``); without one, their unassigned reason is ``DECLINED``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dispatcher.domain import TicketStatus
from dispatcher.loop.problem import skill_levels
from solver.declines import stranded

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

    from dispatcher.domain import Technician, Ticket


def stranded_by_declines(
    tickets: Sequence[Ticket], technicians: Sequence[Technician]
) -> list[Ticket]:
    """The QUEUED tickets every able technician (any status or shift) has declined."""
    declined = [
        t
        for t in tickets
        if t.status is TicketStatus.QUEUED and t.declined_by_technician_ids
    ]
    if not declined:
        return []
    vocab = sorted(
        {s.skill for k in technicians for s in k.skills}
        | {s.skill for t in declined for s in t.required_skills}
    )
    held = skill_levels(
        [[(s.skill, s.level) for s in k.skills] for k in technicians], vocab
    )
    required = skill_levels(
        [[(s.skill, s.level) for s in t.required_skills] for t in declined], vocab
    )
    index = {k.technician_id: row for row, k in enumerate(technicians)}

    def mask(ids: Callable[[Ticket], tuple[str, ...]]) -> npt.NDArray[np.bool_]:
        pairs = [
            (i, index[x]) for i, t in enumerate(declined) for x in ids(t) if x in index
        ]
        out = np.zeros((len(declined), len(technicians)), np.bool_)
        if pairs:
            out[tuple(np.array(pairs).T)] = True
        return out

    refused = mask(lambda t: t.declined_by_technician_ids)
    barred = mask(lambda t: t.excluded_technician_ids)
    rows = np.flatnonzero(stranded(required, held, refused, barred))
    return [declined[i] for i in rows.tolist()]
