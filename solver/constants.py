"""Numeric constants of the solver: the integer-scaling rule, the travel model, limits."""

from __future__ import annotations

import numpy as np

COST_SCALE = 100
"""Integer cost units per weight unit: every cost term (weights x features, in "weight
units", e.g. 1.0 = one second of travel at the default weights) is multiplied by this and
rounded half-to-even to ``int64`` before it enters the exact core. 1/100 of a weight unit is
far below any meaningful difference between two decisions."""

MAX_COST = 10**10
"""Largest scaled cost (absolute value) one arc may carry. OR-Tools' cost-scaling
min-cost flow multiplies costs by about the number of nodes internally, so this keeps
``MAX_COST * nodes`` far inside int64 for regions of up to ~10^7 nodes. Larger costs are
clipped and a :class:`solver.cost.ScalingWarning` is emitted."""

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), for the haversine distance."""

ROAD_FACTOR = 1.3
"""Circuity: road distance / great-circle distance. 1.3 is a common urban average; the
one travel model (``solver.geo.travel_time_s``) multiplies by it."""

PRIORITY_FACTOR = np.array([0.0, 8.0, 4.0, 2.0, 1.0], dtype=np.float64)
"""Indexed by priority 1..4: P1 = 8, P2 = 4, P3 = 2, P4 = 1. Scales the lateness weight and
the unassigned penalty (index 0 is unused)."""

EXACT_SEQUENCE_MAX = 6
"""Queues of up to this many movable tickets are sequenced exactly (all permutations,
at most 720); longer ones by earliest-due-date then a pairwise-swap descent."""

RISK_SHARE = 0.6
"""Queue sequencing's tie-break before travel (``solver.sequence``): a ticket is at risk in
an order when its start, later by this share of the estimated work before it in the
queue, passes its response due, or its finish, later by this share of the work up to and
including it, passes its resolution due or the shift end (the shift end only for a ticket
due within ``SPILL_HARMLESS_S`` of it). Work times scatter around their
estimates (the simulator draws cv 0.3: two spreads of one job are 0.6 of it, of several
jobs together less), so an order that keeps a P1 on time by minutes behind nearer work
loses it when that work runs over. Measured at 0.3 and 0.6 (simulations/README.md)."""

SPILL_HARMLESS_S = 86_400.0
"""The shift end puts a ticket at risk in the queue sequencing (``RISK_SHARE``) only when
its response or resolution is due less than this long after that shift end: work spilled
past a shift end waits for a later shift, which serves a ticket due days later in time
(one day: the next shift of a daily roster starts within it). Hedging such a ticket
against the shift end ordered queues by priority instead of travel for nothing."""

QUEUE_MARGIN_S = 1.0
"""A queue's work (durations only) may exceed the time to its shift end by this much
before it is known to overrun the shift without sequencing it (float sums' rounding):
the unassigned-reason judge and :func:`solver.core.overrunning` decide such queues
without driving them."""

DEFER_S = 3600.0
"""A ticket left unassigned is priced as if its work started this many seconds from now
(or at its window start, if later): its predicted lateness then is part of the cost of
leaving it unassigned, so an overdue ticket is still dispatched rather than dropped."""

CANDIDATE_OVERSAMPLE = 1.5
"""The spatial index returns this many times ``candidates_k`` nearest technicians per
ticket; the ``candidates_k`` cheapest feasible ones among them are kept."""

SKILL_PATTERN_MAX = 512
"""Up to this many distinct skill requirement rows get an exact per-pattern spatial
index of the eligible technicians; beyond it one index over all technicians is used."""

DENSE_PAIRS_MAX = 20_000
"""A region with at most this many (movable ticket, free technician) pairs is evaluated in
full (every feasible arc kept, no spatial index): exact, and cheaper than building the
per-skill indexes. The live loop's regions are mostly this small between solves."""

REACH_NEIGHBOURS = 4
"""Nearest technicians per ticket whose first-place arrival bounds the ticket's reach
exactly in a region of more than ``DENSE_PAIRS_MAX`` pairs (``solver.cost.reach_s``); every
farther one is bounded by the next nearest's travel at the fastest speed."""

PAIR_CHUNK = 2_000_000
"""Most (ticket, technician) pairs evaluated in one vectorized block (bounds memory)."""

TECH_SIDE_KEEP = 0.5
"""Technician-side (reverse) candidates: each technician queries its ``candidates_k``
nearest tickets per skill group and keeps this fraction of them, those with the lowest
cost relative to the ticket's unassigned penalty."""
