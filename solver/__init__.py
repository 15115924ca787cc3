"""Pure dispatch optimization: numpy arrays in, assignment decisions out. No I/O.

Public API (everything here is re-exported; heavier extras live in their modules):

- ``solve(problem, params, previous=None) -> Solution``: exact min-cost assignment over
  technician queue places on sparse candidates, certified optimal over all pairs by
  pricing the pruned ones against the flow's potentials (``solver.certify``; the
  certificate is in ``stats.certificate``), then per-technician sequencing and shift
  repair, position rounds and polish. ``objective``: the plan's cost as driven (sequenced
  queues); ``stats.model_bound`` / ``stats.model_gap_pct``: the certified first-in-queue
  optimum and the plan's distance to it in that model (not a bound on the driven cost);
  OPTIMAL only when the plan attains it;
- ``IncrementalSolver(params).solve(problem)``: the same, re-using work after small changes;
- ``make_policy(name, params).solve(problem, previous)``: "optimizer",
  "optimizer_incremental", "round_robin", "least_loaded", "nearest",
  "priority_edd", "regret" (``POLICY_NAMES``);
- ``explain(problem, params, solution, ticket_row, alternatives=3) -> Explanation``;
- ``travel_time_s`` / ``distance_km``: the one travel model (also used by the simulator);
- ``solver.cost``: the cost terms and the integer-scaling rule; ``solver.constants``;
- ``solve_lap_sparse(rows, cols, costs, n_rows=, n_cols=) -> LapResult``: exact minimum-cost
  full assignment of the rows over an arc list (INFEASIBLE when none exists), on the same
  flow core; ``solver.lap.solve_lap`` is the dense form;
- ``solver.gap.solve_gap`` (CP-SAT and HiGHS race on the machine's cores; the tighter of
  CP-SAT's and a Lagrangian bound, ``solver.gap_lagrange``; the gap) and
  ``solver.gap.chu_beasley`` (Chu & Beasley type C/D instances);
- ``solver.synthetic.random_problem`` for seeded test/benchmark regions.
"""

from solver.cost import TERM_NAMES, ScalingWarning
from solver.explain import Explanation, Option, explain
from solver.geo import distance_km, travel_time_s
from solver.incremental import IncrementalSolver
from solver.lap import LapResult, solve_lap_sparse
from solver.model import (
    NO_TECHNICIAN,
    CostWeights,
    Problem,
    Solution,
    SolveParams,
    SolveStats,
    SolveStatus,
    Technicians,
    Tickets,
    UnassignedReason,
)
from solver.policies import POLICY_NAMES, DispatchPolicy, make_policy
from solver.solve import solve

__all__ = [
    "NO_TECHNICIAN",
    "POLICY_NAMES",
    "TERM_NAMES",
    "CostWeights",
    "DispatchPolicy",
    "Explanation",
    "IncrementalSolver",
    "LapResult",
    "Option",
    "Problem",
    "ScalingWarning",
    "Solution",
    "SolveParams",
    "SolveStats",
    "SolveStatus",
    "Technicians",
    "Tickets",
    "UnassignedReason",
    "distance_km",
    "explain",
    "make_policy",
    "solve",
    "solve_lap_sparse",
    "travel_time_s",
]
