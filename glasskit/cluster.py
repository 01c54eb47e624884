"""Cluster profiles as data: ``hpc/clusters/<name>.toml`` -> :class:`ClusterProfile`.

Every value here reaches an sbatch script, so each is checked against a strict pattern
(letters, digits and a few punctuation marks): a profile cannot smuggle shell syntax in.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

from .errors import GlasskitError
from .paths import CLUSTERS

_TOKEN = re.compile(r"^[A-Za-z0-9_./+=:{}-]+$")
_PATTERNS = {
    "name": re.compile(r"^[A-Za-z0-9_.-]+$"),
    "partition": re.compile(r"^[A-Za-z0-9_.,-]*$"),
    "account": re.compile(r"^[A-Za-z0-9_.-]*$"),
    "time": re.compile(r"^(\d+-)?\d+(:\d{2}){0,2}$"),
    "memory_per_rank": re.compile(r"^\d+[KMGT]?$"),
    "slurm_conf": re.compile(r"^[A-Za-z0-9_./-]*$"),
    "gpu_partition": re.compile(r"^[A-Za-z0-9_.,-]*$"),
}


@dataclass(frozen=True)
class ClusterProfile:
    name: str
    partition: str = ""
    account: str = ""
    cores_per_node: int = 1
    ranks_per_task: int = 1
    max_array_size: int = 1001
    time: str = "01:00:00"
    memory_per_rank: str = "2G"
    modules: tuple[str, ...] = ()
    launcher: tuple[str, ...] = ("mpiexec.mpich", "-n", "{ranks}")
    slurm_conf: str = ""
    gpus_per_node: int = 0      # training jobs: one DDP process per GPU (0: CPU nodes, gloo)
    gpu_partition: str = ""     # partition of GPU jobs (default: ``partition``)
    atom_steps_per_s: float = 5.0e6      # MD throughput of one rank (bench/overhead.py prints it)
    minimize_frames_per_s: float = 0.1   # FIRE frames per second of one rank at N = 4320 (~10^4 iterations)

    @property
    def time_limit_s(self) -> float:
        return 60.0 * minutes(self.time)

    def launch_command(self, ranks: int) -> list[str]:
        """The MPI launcher argv for ``ranks`` ranks (``{ranks}`` substituted)."""
        return [t.replace("{ranks}", str(ranks)) for t in self.launcher]


def minutes(slurm_time: str) -> int:
    """Slurm time ``MM``, ``MM:SS``... as sbatch reads it: ``[D-]HH:MM:SS``, ``D-HH[:MM]``,
    ``HH:MM:SS``, ``MM:SS``, ``MM`` -> whole minutes (at least 1)."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", slurm_time)
    if not m:
        raise GlasskitError(f"time {slurm_time!r} is not a Slurm time", "use e.g. 01:00:00")
    d, a, b, c = (int(x) if x else None for x in m.groups())
    if d is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        total = a * 60 + (b or 0) + (c or 0) / 60
    elif b is None:
        total = a  # MM
    elif c is None:
        total = a + b / 60  # MM:SS
    else:
        total = a * 60 + b + c / 60  # HH:MM:SS
    return max(1, math.ceil((d or 0) * 1440 + total - 1e-9))  # never less than the profile allows


def available() -> list[str]:
    return sorted(p.stem for p in CLUSTERS.glob("*.toml"))


def load_cluster(name: str) -> ClusterProfile:
    """Load ``hpc/clusters/<name>.toml``; raise :class:`GlasskitError` on any bad value."""
    if not _PATTERNS["name"].fullmatch(name or ""):
        raise GlasskitError(f"invalid cluster name {name!r}", f"choose one of: {', '.join(available())}")
    path = CLUSTERS / f"{name}.toml"
    if not path.is_file():
        raise GlasskitError(f"cluster profile '{name}' does not exist ({path})",
                            f"choose one of: {', '.join(available())}, or add hpc/clusters/{name}.toml")
    from .tomlfile import read_toml
    _, data = read_toml(path, "cluster profile")
    known = {f.name for f in fields(ClusterProfile)}
    for key in data:
        if key not in known:
            raise GlasskitError(f"{path}: unknown key '{key}'", f"allowed: {', '.join(sorted(known))}")
    for key, pat in _PATTERNS.items():
        if key in data and not (isinstance(data[key], str) and pat.fullmatch(data[key])):
            raise GlasskitError(f"{path}: '{key}' = {data[key]!r} is not allowed (pattern {pat.pattern})")
    for key in ("modules", "launcher"):
        vals = data.get(key, [])
        if not isinstance(vals, list) or not all(isinstance(v, str) and _TOKEN.fullmatch(v) for v in vals):
            raise GlasskitError(f"{path}: '{key}' must be a list of plain tokens (pattern {_TOKEN.pattern})")
        if key in data:
            data[key] = tuple(vals)
    for key, cap in (("cores_per_node", 4096), ("ranks_per_task", 4096), ("max_array_size", 10_000_000)):
        if key in data and not (isinstance(data[key], int) and not isinstance(data[key], bool) and 1 <= data[key] <= cap):
            raise GlasskitError(f"{path}: '{key}' must be an integer between 1 and {cap:,}")
    if data.get("ranks_per_task", 1) > data.get("cores_per_node", 1):
        raise GlasskitError(f"{path}: 'ranks_per_task' exceeds 'cores_per_node' (one task's ranks share a node)")
    for key in ("atom_steps_per_s", "minimize_frames_per_s"):
        v = data.get(key, 1.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v < 1e15:
            raise GlasskitError(f"{path}: '{key}' must be a positive, finite number (a measured throughput)")
        if key in data:
            data[key] = float(v)
    gpus = data.get("gpus_per_node", 0)
    if not (isinstance(gpus, int) and not isinstance(gpus, bool) and 0 <= gpus <= 64):
        raise GlasskitError(f"{path}: 'gpus_per_node' must be an integer in 0..64")
    return ClusterProfile(**data)
