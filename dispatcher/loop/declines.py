"""Tickets of a region that declines have stranded: QUEUED, and every technician of the
region able to do them has declined them (the rule: ``solver.declines``, which the
simulator applies too), and the rosters the SLA step's decision for them reads
(``solver.declines.stranded_escalation``: the next tier somebody can serve, else a
supervisor override once; after the override their unassigned reason is ``DECLINED``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dispatcher.domain import TicketStatus
from dispatcher.loop.problem import skill_levels
from solver.declines import SkillRoster, stranded

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy.typing as npt

    from dispatcher.domain import Technician, Ticket
    from dispatcher.store.state import RedisStateStore
    from solver.policy import Policy


NEIGHBOUR_PAGE_SIZE = 500
"""Technicians read per call when a neighbouring region's roster is needed."""


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


def roster_of(technicians: Sequence[Technician]) -> SkillRoster:
    """The technicians' skill levels, whatever their status, shift or queue."""
    vocab = sorted({s.skill for k in technicians for s in k.skills})
    held = skill_levels(
        [[(s.skill, s.level) for s in k.skills] for k in technicians], vocab
    )
    return SkillRoster(tuple(k.technician_id for k in technicians), tuple(vocab), held)


async def neighbour_roster(
    store: RedisStateStore, tenant: str, region: str, policy: Policy
) -> SkillRoster | None:
    """The technicians of ``region``'s neighbouring regions, where a tier rule that widens
    may send a stranded ticket; None (nothing read) when no tier rule widens or the region
    has no neighbours."""
    neighbours = [r for r in policy.neighbours.get(region, ()) if r != region]
    if not neighbours or not any(
        r.tier_skill and r.widen_to_neighbours for r in policy.escalations
    ):
        return None
    technicians: list[Technician] = []
    for name in neighbours:  # their technicians only, not a whole snapshot with tickets
        token = ""
        while True:
            page = await store.list_technicians(
                tenant, name, (), NEIGHBOUR_PAGE_SIZE, token
            )
            technicians += page.items
            token = page.next_page_token
            if not token:
                break
    return roster_of(technicians)
