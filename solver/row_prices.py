"""Per ticket row prices that depend only on the ticket's own fields, the clock and the
weights: kept across incremental calls and grown for appended tickets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.cost import LatePricing, deferred_cost, late_pricing

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import CostWeights, Problem

    FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RowPrices:
    """:func:`solver.cost.late_pricing` and :func:`solver.cost.deferred_cost` of every
    row of a problem."""

    late: LatePricing
    deferred: FloatArray

    @classmethod
    def of(cls, problem: Problem, weights: CostWeights) -> RowPrices:
        """Every row of ``problem``."""
        return cls(late_pricing(problem, weights), deferred_cost(problem, weights))

    @property
    def count(self) -> int:
        """Rows priced."""
        return self.deferred.size

    def grown(self, problem: Problem, weights: CostWeights) -> RowPrices:
        """The prices of ``problem``, whose first :attr:`count` rows, clock and weights
        are those priced here: only the rows after them are priced."""
        new = np.arange(self.count, problem.tickets.count, dtype=np.int64)
        if new.size == 0:
            return self
        late = late_pricing(problem, weights, new)
        return RowPrices(
            LatePricing(
                np.concatenate([self.late.per_second, late.per_second]),
                np.concatenate([self.late.per_breach, late.per_breach]),
            ),
            np.concatenate([self.deferred, deferred_cost(problem, weights, new)]),
        )
