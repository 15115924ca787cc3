"""Domain types of the pure solver: numpy arrays in, decisions out.

This module is the contract between the solver and its two callers (the service's solve
loop and the simulator). Identifiers never enter the solver: tickets and technicians are
row indices, skills are column indices of a vocabulary the caller owns.

Clock: every time is in seconds on one caller-chosen clock (the service uses Unix epoch
seconds, the simulator virtual seconds); ``now_s`` says where "now" is on it. A missing
deadline is ``+inf``; a missing window start is ``-inf``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from solver.constants import DEFER_S
from solver.validate import validate_params, validate_problem, validate_weights

if TYPE_CHECKING:
    from solver.certify import Certificate

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NO_TECHNICIAN = -1
"""Value of ``technician`` / ``current_technician`` for a ticket held by nobody."""


class UnassignedReason(enum.IntEnum):
    """Why a ticket got no technician in a solve (``ASSIGNED`` when it got one)."""

    ASSIGNED = 0
    NO_TECHNICIANS = 1  # the region has no available technician at all
    NO_SKILL = 2  # no technician has every required skill at the required level
    EXCLUDED = 3  # every skilled technician is excluded for this ticket
    SHIFT = 4  # every eligible technician's shift ends before the work could finish
    # (first in its queue, or with a free place: in its queue as the plan sequences it)
    CAPACITY = 5  # every eligible technician's queue is full
    PENALTY_CHEAPER = 6  # placements exist, but leaving it unassigned costs less


class SolveStatus(enum.Enum):
    """Outcome of a solve; callers never see OR-Tools enums."""

    OPTIMAL = "optimal"  # ``solve``: the plan is the certified optimum of the
    # first-in-queue model (``SolveStats.model_gap_pct`` 0)
    FEASIBLE = "feasible"  # not proven optimal: a time limit stopped CP-SAT or the
    # certificate, or ``solve``'s shift repair, position rounds or polish moved the plan
    # off the first-in-queue optimum (its model gap is then > 0)
    INFEASIBLE = "infeasible"
    TIMEOUT = "timeout"  # no solution within the time limit
    OVERFLOW = "overflow"  # scaled costs did not fit the integer range


@dataclass(frozen=True, slots=True)
class Tickets:
    """Open tickets of one region, one row each (n rows, n may be 0).

    ``current_technician`` / ``pinned`` carry the live state: an ASSIGNED ticket has a
    current technician (moving it costs the stability weight); an ACCEPTED one is pinned
    and stays where it is. Tickets already IN_PROGRESS are not tickets here: they show in
    their technician's ``free_at_s`` and location.
    """

    lat_deg: (
        FloatArray  # (n,) NaN with lon_deg NaN: no location (remote work, travel 0)
    )
    lon_deg: FloatArray  # (n,)
    priority: IntArray  # (n,) 1 = P1 (highest) .. 4 = P4
    skill_levels: IntArray  # (n, n_skills) minimum level required, 0 = not required
    duration_s: FloatArray  # (n,) estimated work time on site
    created_s: FloatArray  # (n,) submit time (waiting time counts from here)
    response_due_s: (
        FloatArray  # (n,) SLA: work must start (technician on site) by then; inf = none
    )
    resolution_due_s: FloatArray  # (n,) SLA: work must finish by then; inf = none
    window_start_s: FloatArray  # (n,) earliest start; -inf = none
    window_end_s: FloatArray  # (n,) latest finish; inf = none
    tier: IntArray  # (n,) customer tier, 0 = standard, higher = more important
    current_technician: IntArray  # (n,) technician row or NO_TECHNICIAN
    pinned: BoolArray  # (n,) accepted: must stay on current_technician
    excluded: IntArray = field(default_factory=lambda: np.empty((0, 2), np.int64))
    """(m, 2) pairs (ticket row, technician row) that must never be assigned."""
    preferred: IntArray = field(default_factory=lambda: np.empty((0, 2), np.int64))
    """(m, 2) pairs (ticket row, technician row) that the customer prefers."""

    @property
    def count(self) -> int:
        return int(self.lat_deg.shape[0])


TICKET_ROW_FIELDS = tuple(
    f.name
    for f in fields(Tickets)
    if f.name not in ("current_technician", "excluded", "preferred")
)
"""The per-row :class:`Tickets` fields that say what a ticket asks for (and whether it is
pinned), not where it is: a ticket whose fields are equal in two problems is the same ticket
to a solve (``solver.incremental``, the live loop's incremental cycles).
``current_technician`` is compared with a plan, the pair lists as pairs."""


@dataclass(frozen=True, slots=True)
class Technicians:
    """Technicians of one region, one row each (m rows, m may be 0)."""

    lat_deg: (
        FloatArray  # (m,) current location (after current work, if any); NaN = none
    )
    lon_deg: FloatArray  # (m,)
    skill_levels: IntArray  # (m, n_skills) level held, 0 = skill not held
    capacity: (
        IntArray  # (m,) most open tickets (pinned ones included) the queue may hold
    )
    free_at_s: FloatArray  # (m,) when current work ends (<= now_s when idle)
    shift_end_s: FloatArray  # (m,) end of the current shift; inf = none
    speed_kmh: FloatArray  # (m,) travel speed
    available: BoolArray  # (m,) False = on break / off shift: receives no new ticket

    @property
    def count(self) -> int:
        return int(self.lat_deg.shape[0])


@dataclass(frozen=True, slots=True)
class CostWeights:
    """Weight of each cost term (see ``solver.cost`` for units and the scaling rule)."""

    travel: float = 1.0  # per second of travel
    lateness: float = (
        10.0  # per second of predicted SLA lateness, times the priority factor
    )
    breach: float = 0.0
    """Per predicted SLA breach of a P4 ticket, times the priority factor (P1: x8), charged
    once when a ticket that could still be saved (on time if started as soon as a
    technician that may take it could be there, ``solver.cost.savable``) is predicted
    late: the KPI counts breaches, lateness counts seconds (``solver.cost.breach_weight``).
    Default 0 (seconds only): at 3600 (one hour of travel, six minutes of the ticket's
    lateness, half the unassigned penalty) it changed no breach on the Boston replay and
    moved help-desk breaches within seed noise (simulations/README.md); a scale to start
    from when tuning (``sim tune`` searches 10-30000)."""
    waiting: float = 0.1  # per second between now and the expected start
    skill_surplus: float = (
        60.0  # per level held above the requirement, summed over skills
    )
    balance: float = 300.0  # per ticket already in the technician's queue
    preference: float = 600.0  # bonus (subtracted) for a preferred technician
    tier: float = 0.5  # extra lateness weight per customer tier step
    stability: float = 900.0  # for moving an ASSIGNED ticket off its current technician
    move_min_gain: float = 600.0
    """Not a weight but a threshold in weight units (bounded churn): an ASSIGNED ticket
    whose current technician can still take it back moves to another only when its
    placement there costs at least this much less, each priced at the place the ticket
    takes in the plan's sequenced queues (``solver.position.move_gains``; the exact core's
    arcs are screened first by the same gain at first place, ``solver.cost.move_gain``).
    0 = no threshold."""
    unassigned: float = (
        7200.0  # penalty for leaving a P4 ticket unassigned; scaled by priority
    )
    overdue: float = 0.01
    """Not a weight but a factor: multiplies the lateness weight and the unassigned penalty
    of a ticket that can no longer be saved (late even if its work started as soon as a
    technician that may take it could be there, first in its queue: ``solver.cost.savable``),
    its unassigned penalty kept at least ``unassigned`` (a P4's).
    Default 0.01: places go first to tickets that can still be saved, as a breach count sees
    it (serving an overdue ticket cannot undo its breach) and as VROOM plans (on-time jobs
    first); overdue tickets still fill places left free, and their late seconds (at 0.01
    of the weight) still grow while they wait, so none waits for ever behind new work.
    1: an overdue ticket's further late seconds weigh as any ticket's (the model before
    0.01 became the default). On the static snapshots 0.01 cut all breaches (served late or
    left out while due) 95.0 -> 87.8 per plan at 200x20, 477 -> 440 at 1000x100 and
    1,461 -> 1,316 at 3000x300; in the simulator it changed almost nothing
    (simulations/README.md, "Overdue tickets")."""

    def __post_init__(self) -> None:
        validate_weights(self)


@dataclass(frozen=True, slots=True)
class SolveParams:
    """Solver knobs: weights, candidate count, limits. Validated on construction.

    ``candidates_k``: cheapest feasible technicians kept per ticket (plus reverse
    candidates per technician, see ``solver.candidates``); the certificate
    (``solver.certify``) then adds every pruned pair that could improve the plan, so the
    result is optimal over all pairs whatever ``k`` (it only changes the speed).
    ``all_pairs``: every feasible pair as an arc (for comparison).

    ``time_limit_s`` (anytime): the candidates and the first exact flow always complete
    (a polynomial min-cost flow, not interruptible); the certificate's pricing rounds and
    the re-solves after the shift repair stop once ``time_limit_s`` has passed since the
    call began. The plan is then the best found, with status FEASIBLE, an unproven
    certificate and no bound. ``time_limit_s`` also bounds CP-SAT (``solver.gap``).

    ``seed``: ``solve`` is deterministic (exact flow, deterministic tie-breaking), so the
    seed does not change its result; it is kept as the run label the simulator records
    and for callers' stochastic policies.
    """

    weights: CostWeights = field(default_factory=CostWeights)
    candidates_k: int = 8
    all_pairs: bool = False
    time_limit_s: float = 10.0
    allow_overtime: bool = False  # True: work may end after the shift end
    seed: int = 0
    position_rounds: int = 1
    """Rounds of position-aware re-pricing after the certified flow (``solver.position``):
    each re-prices the candidate arcs at the start their tickets would really get in the
    sequenced queues and re-solves; the plan with the lowest sequenced cost is kept. A
    plan from these rounds is above the certified first-in-queue optimum: status FEASIBLE
    with that optimum as the bound. 0: the first-in-queue plan, as certified.
    Whenever the plan is priced by position (rounds > 0 or ``polish``), each move of an
    assigned ticket in it gains ``weights.move_min_gain`` at the places it takes
    (``solver.core.bound_churn``); with neither, at first place (the flow's arcs)."""
    polish: bool = True
    """Improve the sequenced plan by relocations and swaps between nearby queues, judged by
    the chained cost (:mod:`solver.polish`). False: the exact core's plan as it is (to
    study the flow model itself; a polished plan is usually FEASIBLE, not OPTIMAL)."""
    batch: bool = False
    """Batch (one-shot) planning: the plan is made once and judged once (a day planned in
    one go, a static snapshot), not re-planned a minute later. Polish then also inserts
    unassigned tickets and replaces queued ones (``polish(inserts=True)``, an unassigned
    ticket also outside the exact core's arcs), then re-packs neighbouring queues
    (``solver.recreate``: never missing more tickets) and polishes again; each step only
    lowers the plan's cost as driven. Off for the live loop and the simulator: in a rolling plan a ticket left out
    is planned again at the next solve, and filling every place raised the simulator's
    breaches (simulations/README.md, "Against VROOM")."""

    def __post_init__(self) -> None:
        validate_params(self.candidates_k, self.time_limit_s, self.position_rounds)


@dataclass(frozen=True, slots=True)
class Problem:
    """One region's solve input."""

    tickets: Tickets
    technicians: Technicians
    now_s: float
    replan_after_s: float | None = DEFER_S
    """When a ticket this plan leaves out is planned again, in seconds from now (the live
    loop and the simulator re-plan within minutes): leaving it out is priced with the
    lateness it would have then (:func:`solver.cost.deferred_cost`). None: never, a
    one-shot plan (:func:`solver.solve` with ``SolveParams.batch``); leaving a ticket out
    then costs its unassigned penalty alone."""
    memo: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Values derived from the problem (and the weights they were priced under), each
    computed once when first needed (:func:`solver.cost.memoized`); never part of its
    value."""

    def __post_init__(self) -> None:
        """Validate shapes, dtypes, NaN, ranges and cross-references (``ValueError``).

        Integer fields accept any integer dtype, real fields any real or integer dtype; the
        solver converts internally. See :func:`solver.validate.validate_problem`.
        """
        validate_problem(self)


def relative_gap_pct(
    objective: float, bound: float, *, maximize: bool = False
) -> float:
    """Distance from a plan's objective to a proven bound, in % of the objective:
    ``100 x (objective - bound) / |objective|`` (``bound - objective`` when maximising),
    ``|objective|`` floored at 1e-9. 0 when the plan attains the bound; never negative
    for a true bound."""
    distance = bound - objective if maximize else objective - bound
    return 100.0 * distance / max(abs(objective), 1e-9)


@dataclass(frozen=True, slots=True)
class SolveStats:
    """How the solve went."""

    status: SolveStatus
    wall_time_s: float
    candidate_arcs: int  # (ticket, technician) pairs the exact core saw
    n_tickets: int
    n_technicians: int
    phases_s: dict[str, float] = field(default_factory=dict)
    """Wall time per phase (e.g. candidates, assignment, finalize), seconds."""
    certificate: Certificate | None = None
    """How the flow was proven optimal over all pairs (``solver.certify``); None when
    not certified (``all_pairs``, where every pair is an arc, or an incremental solve)."""
    model_objective: float | None = None
    """The plan priced in the exact core's **first-in-queue model** (``solver.cost``):
    each movable ticket's travel, lateness and waiting as if it came right after its
    technician's pinned queue, plus balance, stability and the unassigned penalties. The
    model the certificate and ``model_bound`` are about; not what the plan costs as
    driven (``Solution.objective``)."""
    model_bound: float | None = None
    """The certified optimum of the first-in-queue model over all pairs (the flow's
    optimum, shift ends as the flow checks them): a lower bound on ``model_objective``
    of every plan. **Not a bound on the driven cost** (``Solution.objective``): chained
    travel between a queue's stops can be shorter than each stop's travel from the
    technician's start, so a plan can drive below it (a tested case). None when not
    proven (time limit) or not computed (a baseline policy)."""
    model_gap_pct: float | None = None
    """``100 x (model_objective - model_bound) / |model_objective|``: how far the
    returned plan lies above the certified first-in-queue optimum *in that model*. 0 when
    the plan is that optimum (status OPTIMAL). It measures the departure from the model
    optimum, not a loss: the shift repair raises it (a true loss in the model), while the
    position rounds and polish raise it on purpose when they lower the driven cost. No
    gap of the driven cost is reported: no bound on it is computed."""


@dataclass(frozen=True, slots=True)
class Solution:
    """Per ticket (row of ``Problem.tickets``) the decision, plus the objective.

    ``arrival_s`` / ``start_s`` / ``finish_s`` / ``sla_met`` come from the sequenced queues.
    ``objective`` / ``objective_terms`` are the plan's cost **as driven**: every assigned
    ticket's placement terms (``solver.cost``) at the travel (chained from the previous
    stop), start and finish of its sequenced queue, the queue-place balance, stability and
    the unassigned penalties (term names: ``TERM_NAMES``). It is the evaluation the
    position rounds and polish choose the final plan by (:func:`solver.position.queue_costs`,
    plus the pinned tickets' and the penalties' terms). The first-in-queue model's price of
    the same plan, its certified bound and gap are in ``stats`` (``model_objective``,
    ``model_bound``, ``model_gap_pct``).
    """

    technician: IntArray  # (n,) technician row or NO_TECHNICIAN
    position: (
        IntArray  # (n,) 0-based place in that technician's queue, -1 when unassigned
    )
    arrival_s: FloatArray  # (n,) expected arrival on site (nan when unassigned)
    start_s: FloatArray  # (n,) expected start of work (nan when unassigned)
    finish_s: FloatArray  # (n,) expected end of work (nan when unassigned)
    sla_met: BoolArray  # (n,) predicted: response and resolution due times both met
    reason: IntArray  # (n,) UnassignedReason value (ASSIGNED for assigned tickets)
    objective: float  # cost as driven, weight units (unscaled), penalties included
    objective_terms: dict[str, float]  # the objective split by cost term name
    stats: SolveStats
    row_terms: dict[str, FloatArray] = field(default_factory=dict)
    """Per ticket row, its placement terms (``solver.cost.PAIR_TERMS``, (n,) each, 0 when
    unassigned) as driven: at the travel from its previous stop, start and finish of its
    sequenced queue, the part of ``objective_terms`` each assigned ticket carries. Empty
    when the caller did not compute them."""
