"""The continuous solve loop: region leases, snapshots, solver workers, SLA and duplicate steps."""

from dispatcher.loop.leases import LeaseManager, RegionRef
from dispatcher.loop.pool import SolverPool
from dispatcher.loop.solve_loop import SolveLoop

__all__ = ["LeaseManager", "RegionRef", "SolveLoop", "SolverPool"]
