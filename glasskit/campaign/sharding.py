"""Map simulation indices onto Slurm array tasks x MPI ranks, balanced by cost.

``--array`` always names *simulations*. A cluster caps array task ids at MaxArraySize - 1
(often 1000), so 20,000 simulations cannot be 20,000 array tasks. :func:`plan` chooses the
number of tasks T <= max_array_size and splits the sorted simulation list into T x R contiguous
blocks (task-major): task t, rank r owns block ``t * R + r``.

A simulation costs about t_cool x N atom-steps, so the paper's slow runs cost 100 fast ones:
blocks of equal *count* would give some ranks 100x the work of others. With ``costs`` the
blocks have equal *cost* instead (a greedy linear partition: each block takes the simulations
whose cost midpoint falls within an equal share of what is left, at least one each), so every
task needs about the same wall time and each rank's work stays contiguous. :attr:`ShardPlan.
balance` says how far from ideal the plan is (longest rank / mean rank, longest task / mean);
whole simulations limit it (below, a slow run is 100 fast ones: 1.09 instead of 1.98 by count).

>>> p = plan(range(20000), ranks_per_task=1, max_array_size=1001)
>>> p.n_tasks, len(p.block(0, 0)), len(p.block(1000, 0))
(1001, 20, 19)
>>> q = plan(range(20000), 1, 1001, costs=[100] * 10000 + [1] * 10000)
>>> len(q.block(0, 0)), len(q.block(1000, 0)), round(q.balance["rank"], 2)
(10, 1050, 1.09)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class ShardPlan:
    """How ``sims`` (sorted simulation indices) are spread over tasks and ranks; ``costs``
    (one per simulation, any unit) balance the blocks by cost, else by count."""

    sims: tuple[int, ...]
    n_tasks: int
    ranks_per_task: int
    costs: tuple[float, ...] | None = None

    @functools.cached_property
    def _b(self) -> np.ndarray:
        n_blocks = self.n_tasks * self.ranks_per_task
        if self.costs is None:
            sizes = np.full(n_blocks, len(self.sims) // n_blocks, dtype=np.int64)
            sizes[: len(self.sims) % n_blocks] += 1
            return np.concatenate([[0], np.cumsum(sizes)])
        return _partition(np.asarray(self.costs, dtype=np.float64), n_blocks)

    def _bounds(self) -> np.ndarray:
        return self._b

    def block_costs(self) -> np.ndarray:
        """Cost of each block (T x R,), task-major; with no costs, its simulation count."""
        c = np.asarray(self.costs if self.costs is not None else [1.0] * len(self.sims), dtype=np.float64)
        cum = np.concatenate([[0.0], np.cumsum(c)])
        b = self._b
        return cum[b[1:]] - cum[b[:-1]]

    @property
    def balance(self) -> dict[str, float]:
        """Longest rank / mean rank and longest task / mean task (1.0 is ideal)."""
        blocks = self.block_costs()
        tasks = blocks.reshape(self.n_tasks, self.ranks_per_task).sum(axis=1)
        return {"rank": float(blocks.max() / blocks.mean()), "task": float(tasks.max() / tasks.mean())}

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


def _partition(c: np.ndarray, n_blocks: int) -> np.ndarray:
    """Bounds (n_blocks + 1,) of contiguous blocks of near-equal cost over costs ``c`` (S,)."""
    S = c.size
    cum = np.cumsum(c)
    mid = cum - c / 2
    bounds = [0]
    start, base = 0, 0.0
    for k in range(n_blocks - 1):
        left = n_blocks - k  # blocks still to fill, this one included
        target = base + (cum[-1] - base) / left if S else 0.0
        end = int(np.searchsorted(mid, target, side="right"))
        end = max(end, min(start + 1, S))                    # at least one simulation ...
        end = min(end, max(start, S - (left - 1)))           # ... and one left for each later block
        bounds.append(end)
        base = float(cum[end - 1]) if end else 0.0
        start = end
    bounds.append(S)
    return np.asarray(bounds, dtype=np.int64)


def plan(sims: Sequence[int], ranks_per_task: int, max_array_size: int,
         costs: Sequence[float] | None = None) -> ShardPlan:
    """Spread ``sims`` over at most ``max_array_size`` tasks of ``ranks_per_task`` ranks.

    Uses as many tasks as keeps every rank busy (ceil(S / R)), capped at max_array_size;
    ``costs[i]`` is the cost of ``sorted(sims)[i]`` (see :func:`stage_costs`).
    """
    sims = tuple(sorted(set(int(s) for s in sims)))
    if not sims:
        raise ValueError("nothing to plan: no simulations")
    if ranks_per_task < 1 or max_array_size < 1:
        raise ValueError("ranks_per_task and max_array_size must be >= 1")
    n_tasks = min(max_array_size, -(-len(sims) // ranks_per_task))
    if costs is not None and len(costs) != len(sims):
        raise ValueError("one cost per simulation")
    return ShardPlan(sims, n_tasks, ranks_per_task, tuple(float(c) for c in costs) if costs is not None else None)


def stage_costs(spec, stage: str, sims: Sequence[int]) -> tuple[float, ...]:
    """Relative cost of each simulation of ``sims`` (sorted) in ``stage``: t_cool x N atom-steps
    to simulate, frames x N atom-minimizations to minimize."""
    t_cool = spec.t_cool_of(sorted(sims))
    n = spec.system.n_atoms
    if stage == "simulate":
        return tuple(float(t) * n for t in t_cool)
    frames = {int(t): spec.n_frames(int(t)) for t in set(t_cool.tolist())}
    return tuple(float(frames[int(t)] * n) for t in t_cool)


def cost_classes(sims: Sequence[int], costs: Sequence[float], ratio: float = 4.0) -> list[list[int]]:
    """Split ``sims`` (with their ``costs``) into classes whose costs lie within ``ratio`` of the
    class's cheapest, cheapest class first: each class becomes its own array job, so tasks of
    2e5-step ramps do not ask for the time of 2e7-step ones."""
    order = sorted(zip(costs, sims))
    classes: list[list[int]] = []
    floor = None
    for c, s in order:
        if floor is None or c > ratio * floor:
            classes.append([])
            floor = c
        classes[-1].append(int(s))
    return [sorted(c) for c in classes]
