"""Pure dispatch optimization: numpy arrays in, assignment decisions out. No I/O."""

from solver.cost import TERM_NAMES, ScalingWarning
from solver.geo import distance_km, travel_time_s
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
from solver.solve import solve

__all__ = [
    "NO_TECHNICIAN",
    "TERM_NAMES",
    "CostWeights",
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
    "solve",
    "travel_time_s",
]
