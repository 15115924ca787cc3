"""Per ticket row prices that depend only on the ticket's own fields, the clock, the
weights, the technicians and the pinned rows: kept across incremental calls and grown for
appended tickets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from solver.cost import (
    LatePricing,
    deferred_cost,
    drop_penalty,
    late_pricing,
    memoized,
    unassigned_penalty,
)

if TYPE_CHECKING:
    import numpy.typing as npt

    from solver.model import CostWeights, Problem

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class RowPrices:
    """:func:`solver.cost.late_pricing`, :func:`solver.cost.deferred_cost` and
    :func:`solver.cost.unassigned_penalty` of every row of a problem."""

    late: LatePricing
    deferred: FloatArray
    unassigned: FloatArray

    @classmethod
    def of(cls, problem: Problem, weights: CostWeights) -> RowPrices:
        """Every row of ``problem``."""
        return cls(
            late_pricing(problem, weights),
            deferred_cost(problem, weights),
            unassigned_penalty(problem, weights),
        )

    @property
    def count(self) -> int:
        """Rows priced."""
        return self.deferred.size

    def grown(self, problem: Problem, weights: CostWeights) -> RowPrices:
        """The prices of ``problem``, whose first :attr:`count` rows, clock, weights,
        technicians and pinned rows are those priced here: only the rows after them are
        priced. The late pricing is also kept as ``problem``'s (every row priced by
        itself: the values :func:`solver.cost.late_pricing` computes)."""
        new = np.arange(self.count, problem.tickets.count, dtype=np.int64)
        if new.size == 0:
            memoized(problem, "late_pricing", weights, lambda: self.late)
            return self
        part = late_pricing(problem, weights, new)
        late = memoized(
            problem,
            "late_pricing",
            weights,
            lambda: LatePricing(
                np.concatenate([self.late.per_second, part.per_second]),
                np.concatenate([self.late.per_breach, part.per_breach]),
            ),
        )
        return RowPrices(
            late,
            np.concatenate([self.deferred, deferred_cost(problem, weights, new)]),
            np.concatenate(
                [self.unassigned, unassigned_penalty(problem, weights, new)]
            ),
        )

    def drop_penalty(
        self,
        problem: Problem,
        weights: CostWeights,
        kept: FloatArray | None = None,
        changed: IntArray | None = None,
    ) -> FloatArray:
        """:func:`solver.cost.drop_penalty` of ``problem`` (these are its prices).

        ``kept``: the drop penalty of an earlier problem priced here, whose rows are
        ``problem``'s first ones with the same fields but for the incumbents of the
        rows ``changed``: only those and the rows after ``kept`` are computed (a row's
        drop penalty reads its own fields and prices alone)."""
        if kept is None:
            return drop_penalty(problem, weights, self.deferred, self.unassigned)
        assert changed is not None
        n0, n = kept.size, problem.tickets.count
        rows = np.concatenate([changed, np.arange(n0, n, dtype=np.int64)])
        out = np.empty(n)
        out[:n0] = kept
        out[rows] = drop_penalty(problem, weights, self.deferred, self.unassigned, rows)
        return out
