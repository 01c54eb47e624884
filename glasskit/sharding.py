"""Map simulation indices onto Slurm array tasks x MPI ranks.

``--array`` always names *simulations*. A cluster caps array task ids at MaxArraySize - 1
(often 1000), so 20,000 simulations cannot be 20,000 array tasks. :func:`plan` chooses the
number of tasks T <= max_array_size and splits the sorted simulation list into T x R contiguous
blocks (task-major): task t, rank r owns block ``t * R + r``. Block sizes differ by at most one.

>>> p = plan(range(20000), ranks_per_task=1, max_array_size=1001)
>>> p.n_tasks, len(p.block(0, 0)), len(p.block(1000, 0))
(1001, 20, 19)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ShardPlan:
    """How ``sims`` (sorted simulation indices) are spread over tasks and ranks."""

    sims: tuple[int, ...]
    n_tasks: int
    ranks_per_task: int

    def _bounds(self) -> np.ndarray:
        n_blocks = self.n_tasks * self.ranks_per_task
        sizes = np.full(n_blocks, len(self.sims) // n_blocks, dtype=np.int64)
        sizes[: len(self.sims) % n_blocks] += 1
        return np.concatenate([[0], np.cumsum(sizes)])

    def block(self, task: int, rank: int) -> tuple[int, ...]:
        """Simulation indices run by ``rank`` of array task ``task`` (may be empty)."""
        if not (0 <= task < self.n_tasks and 0 <= rank < self.ranks_per_task):
            raise IndexError(f"task {task} rank {rank} outside plan ({self.n_tasks} x {self.ranks_per_task})")
        b = self._bounds()
        k = task * self.ranks_per_task + rank
        return self.sims[b[k]: b[k + 1]]

    def task_sims(self, task: int) -> tuple[int, ...]:
        """All simulations of one array task, in rank order (the rows of its shard)."""
        b = self._bounds()
        k = task * self.ranks_per_task
        return self.sims[b[k]: b[k + self.ranks_per_task]]

    @property
    def array(self) -> str:
        """The Slurm ``--array`` range of task ids (without throttle)."""
        return "0" if self.n_tasks == 1 else f"0-{self.n_tasks - 1}"


def plan(sims: Sequence[int], ranks_per_task: int, max_array_size: int) -> ShardPlan:
    """Spread ``sims`` over at most ``max_array_size`` tasks of ``ranks_per_task`` ranks.

    Uses as many tasks as keeps every rank busy (ceil(S / R)), capped at max_array_size.
    """
    sims = tuple(sorted(set(int(s) for s in sims)))
    if not sims:
        raise ValueError("nothing to plan: no simulations")
    if ranks_per_task < 1 or max_array_size < 1:
        raise ValueError("ranks_per_task and max_array_size must be >= 1")
    n_tasks = min(max_array_size, -(-len(sims) // ranks_per_task))
    return ShardPlan(sims, n_tasks, ranks_per_task)
