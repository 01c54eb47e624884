"""The MPI world of a task, or an explicit one-rank fallback when MPI is absent.

Each rank drives its own LAMMPS on ``MPI.COMM_SELF``; the task's ranks share one HDF5 shard
through ``driver="mpio"``. With no mpi4py, or an h5py built without MPI, glasskit runs one
rank with serial h5py and says so in one log line.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import h5py

from glasskit.util.log import logger


@dataclass(frozen=True)
class World:
    comm: Any  # mpi4py.MPI.Comm or None
    rank: int
    size: int
    parallel_h5: bool  # h5py can open files with driver="mpio"

    @property
    def self_comm(self):
        """The communicator each rank hands to its own LAMMPS instance (None without MPI)."""
        return None if self.comm is None else _mpi().COMM_SELF

    def barrier(self) -> None:
        if self.comm is not None and self.size > 1:
            self.comm.Barrier()

    def bcast(self, value):
        return value if self.comm is None or self.size == 1 else self.comm.bcast(value, root=0)

    def allgather(self, value) -> list:
        return [value] if self.comm is None or self.size == 1 else self.comm.allgather(value)


def _mpi():
    from mpi4py import MPI
    return MPI


@functools.lru_cache(maxsize=1)
def world() -> World:
    """Detect MPI once per process (importing mpi4py.MPI initialises MPI)."""
    try:
        MPI = _mpi()
    except ImportError:
        from glasskit.util.paths import install_hint
        logger.warning("no mpi4py: running as one rank with serial HDF5 (for MPI ranks: %s)", install_hint("mpi"))
        return World(None, 0, 1, False)
    comm = MPI.COMM_WORLD
    parallel = bool(h5py.get_config().mpi)
    if not parallel:
        if comm.Get_size() > 1:
            from glasskit.util.paths import install_hint
            raise RuntimeError("h5py was built without MPI, so ranks cannot share a shard: " + install_hint("mpi"))
        logger.warning("h5py without MPI support: one rank, serial HDF5")
    return World(comm, comm.Get_rank(), comm.Get_size(), parallel)
