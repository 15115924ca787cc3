"""Pure dispatch optimization: numpy arrays in, assignment decisions out. No I/O."""

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

__all__ = [
    "NO_TECHNICIAN",
    "CostWeights",
    "Problem",
    "Solution",
    "SolveParams",
    "SolveStats",
    "SolveStatus",
    "Technicians",
    "Tickets",
    "UnassignedReason",
]
