"""Cluster profiles as data: ``<name>.toml`` -> :class:`ClusterProfile`.

``--cluster NAME`` is looked up in ``./hpc/clusters/NAME.toml`` (the user's project), then in
each folder of ``$GLASSKIT_CLUSTERS`` (``:``-separated), then among the profiles shipped with
glasskit (``local``, ``example-supercomputer``); ``--cluster path/to/file.toml`` reads that file.

Every value reaches an sbatch script, so each is checked against a strict pattern (letters,
digits and a few punctuation marks), extra ``#SBATCH`` lines must be ``--option[=value]`` with a
plain value, and environment values are shell-quoted when rendered: a profile cannot smuggle
shell syntax in. The ``[gpu]`` table describes training jobs (:class:`GpuProfile`) apart from the
simulation nodes.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from glasskit.batch import sbatchopts
from glasskit.util.errors import GlasskitError
from glasskit.util.paths import CLUSTERS

SHIPPED = CLUSTERS
PROJECT = Path("hpc") / "clusters"  # relative to the project root (glasskit.util.paths.project_root)
_TOKEN = re.compile(r"[A-Za-z0-9_./+=:{}-]+")
_WORD = re.compile(r"[A-Za-z0-9_.,-]*")
_PATTERNS = {
    "name": re.compile(r"[A-Za-z0-9_.-]+"),
    "partition": _WORD, "qos": _WORD, "constraint": re.compile(r"[A-Za-z0-9_.,&|\[\]*-]*"),
    "reservation": _WORD, "account": re.compile(r"[A-Za-z0-9_.-]*"),
    "time": re.compile(r"(\d+-)?\d+(:\d{2}){0,2}"),
    "memory_per_rank": re.compile(r"\d+[KMGT]?"), "memory_per_gpu": re.compile(r"\d+[KMGT]?"),
    "slurm_conf": re.compile(r"[A-Za-z0-9_./-]*"),
    "time_min": re.compile(r"((\d+-)?\d+(:\d{2}){0,2})?"),
    "charge": re.compile(r"core|node"),
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# options glasskit (array jobs) or submitit (training, CV and search jobs) set, or that decide what
# a job is: a profile's extra line never sets them, in any spelling sbatch accepts (sbatchopts)
_OWN = sbatchopts.NEVER | {
    "nodes", "ntasks", "ntasks-per-node", "cpus-per-task", "mem", "mem-per-cpu", "mem-per-gpu", "time", "time-min",
    "exclusive",
    "gpus", "gpus-per-node", "gpus-per-task", "gres", "wckey",
    # the profile's own keys say these
    "partition", "account", "qos", "constraint", "reservation"}
RETIRED = {"gpus_per_node": "gpu.gpus_per_node", "gpu_partition": "gpu.partition"}


@dataclass(frozen=True)
class GpuProfile:
    """Training jobs (``submit train|cv|search``): one DDP process per GPU, or CPU processes
    when ``gpus_per_node`` is 0. ``cpus_per_gpu`` cores go with each process (its data loader
    workers); ``memory_per_gpu`` is the host memory of each process (a CNN Adam step on dataset
    images peaked at 2.1 GB RSS here, hence 4G by default)."""

    partition: str = ""          # empty: the profile's partition
    qos: str = ""                # empty: the profile's qos
    constraint: str = ""         # e.g. "gpu" (NERSC -C gpu)
    gpus_per_node: int = 0
    cpus_per_gpu: int = 1
    memory_per_gpu: str = "4G"
    time: str = ""               # empty: the profile's time
    modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterProfile:
    name: str
    partition: str = ""
    account: str = ""
    qos: str = ""                # e.g. "regular": sites apply a debug QOS to jobs without one
    constraint: str = ""         # e.g. "cpu" (NERSC -C cpu)
    reservation: str = ""
    cores_per_node: int = 1
    ranks_per_task: int = 1
    max_array_size: int = 1001
    time: str = "01:00:00"       # the longest a task may ask for; a task asks what its bill needs
    time_margin: float = 1.5     # a task asks for its bill's longest task x this, rounded up
    memory_per_rank: str = "2G"
    charge: str = "core"         # the site bills cores used, or whole nodes ("node")
    modules: tuple[str, ...] = ()
    launcher: tuple[str, ...] = ("mpiexec.mpich", "-n", "{ranks}")
    slurm_conf: str = ""
    sbatch: tuple[tuple[str, str | None], ...] = ()  # extra "#SBATCH" options, e.g. "--mail-type=FAIL"
    env: tuple[tuple[str, str], ...] = ()       # exported in every script, shell-quoted
    gpu: GpuProfile = field(default_factory=GpuProfile)
    atom_steps_per_s: float = 5.0e6      # MD throughput of one rank (bench/engine.py md prints it)
    md_rates: tuple[tuple[str, float], ...] = ()  # per pair style, when atom_steps_per_s is a table
    time_min: str = ""                   # --time-min: backfill may start a task with less (checkpoints)
    preemptible: bool = False            # the qos is preemptible: tasks are requeued, resume from checkpoints
    charge_factor: float = 1.0           # what the qos charges per hour, relative to the regular rate
    minimize_frames_per_s: float = 0.1   # FIRE frames per second of one rank at N = 4320
    source: str = ""                     # the file it was read from

    @property
    def time_limit_s(self) -> float:
        return 60.0 * minutes(self.time)

    @property
    def gpus_per_node(self) -> int:
        return self.gpu.gpus_per_node

    def md_rate(self, pair_style: str) -> tuple[float, str]:
        """MD atom-steps/s of one rank with ``pair_style``, and where the figure comes from (a
        style the profile's table lacks gets its slowest figure, and says so)."""
        if not self.md_rates:
            return self.atom_steps_per_s, "measured"
        table = dict(self.md_rates)
        if pair_style in table:
            return table[pair_style], "measured"
        return min(table.values()), (f"no figure for {pair_style} in the profile's atom_steps_per_s table: its "
                                     "slowest used (bench/engine.py md --pair-style on a compute node measures it)")

    def launch_command(self, ranks: int) -> list[str]:
        """The MPI launcher argv for ``ranks`` ranks (``{ranks}`` substituted)."""
        return [t.replace("{ranks}", str(ranks)) for t in self.launcher]

    def site_directives(self, gpu: bool = False) -> list[tuple[str, str]]:
        """(option, value) of the site's own #SBATCH lines: partition, account, qos, constraint,
        reservation (the [gpu] table's where it sets them), then the profile's extra lines."""
        g = self.gpu if gpu else None
        vals = (("partition", (g and g.partition) or self.partition), ("account", self.account),
                ("qos", (g and g.qos) or self.qos), ("constraint", g.constraint if g else self.constraint),
                ("reservation", self.reservation))
        out = [(k, v) for k, v in vals if v]
        out += list(self.sbatch)  # (option, value or None for a flag), resolved on load
        return out


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


def slurm_time(minutes_: int) -> str:
    """Whole minutes -> ``D-HH:MM:SS`` (or ``HH:MM:SS`` under a day)."""
    d, rest = divmod(int(minutes_), 1440)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{d}-{text}" if d else text


def search_path() -> list[Path]:
    """Where ``--cluster NAME`` is looked for, first match wins."""
    extra = [Path(p) for p in os.environ.get("GLASSKIT_CLUSTERS", "").split(os.pathsep) if p]
    from glasskit.util.paths import project_root
    return [project_root() / PROJECT, *extra, SHIPPED]


def available() -> list[str]:
    return sorted({p.stem for d in search_path() if d.is_dir() for p in d.glob("*.toml")})


def find(name: str) -> Path:
    """The profile file of ``--cluster name``: a name, or a path ending in ``.toml``."""
    if (name or "").endswith(".toml"):
        from glasskit.util.paths import in_project
        path = in_project(name)
        if not path.is_file():
            raise GlasskitError(f"cluster profile file {name!r} does not exist",
                                "give a path to a .toml file, or a name: " + ", ".join(available()))
        return path
    if not _PATTERNS["name"].fullmatch(name or ""):
        raise GlasskitError(f"invalid cluster name {name!r}", f"choose one of: {', '.join(available())}")
    for d in search_path():
        if (d / f"{name}.toml").is_file():
            return d / f"{name}.toml"
    raise GlasskitError(f"cluster profile '{name}' does not exist (looked in {', '.join(map(str, search_path()))})",
                        f"choose one of: {', '.join(available())}, or write hpc/clusters/{name}.toml "
                        f"(glasskit init --cluster {name} writes a skeleton)")


def load_cluster(name: str) -> ClusterProfile:
    """Find and load a profile; raise :class:`GlasskitError` on any bad value."""
    path = find(name)
    from glasskit.util.tomlfile import read_toml
    _, data = read_toml(path, "cluster profile")
    gpu = data.pop("gpu", {})
    _check(path, data, ClusterProfile, {"gpu", "source"})
    if not isinstance(gpu, dict):
        raise GlasskitError(f"{path}: 'gpu' must be a table ([gpu])")
    _check(path, gpu, GpuProfile, set(), prefix="gpu.")
    if not _PATTERNS["name"].fullmatch(str(data.get("name", ""))):
        raise GlasskitError(f"{path}: 'name' must be set, letters, digits and _ . - only")
    if data.get("ranks_per_task", 1) > data.get("cores_per_node", 1):
        raise GlasskitError(f"{path}: 'ranks_per_task' exceeds 'cores_per_node' (one task's ranks share a node)")
    _sbatch_and_env(path, data)
    return ClusterProfile(**data, gpu=GpuProfile(**gpu), source=str(path))


_INTS = {"cores_per_node": (1, 4096), "ranks_per_task": (1, 4096), "max_array_size": (1, 10_000_000),
         "gpus_per_node": (0, 64), "cpus_per_gpu": (1, 1024)}
_FLOATS = {"atom_steps_per_s": (0, 1e15), "minimize_frames_per_s": (0, 1e15), "time_margin": (1.0, 100.0),
           "charge_factor": (0.0, 100.0)}


def _check(path, data: dict, cls, skip: set, prefix: str = "") -> None:
    """Keys known, strings matching their patterns, numbers in range; lists -> tuples."""
    known = {f.name for f in fields(cls)} - skip - {"md_rates"}
    for key in data:
        if prefix == "" and key in RETIRED:
            new = RETIRED[key].split(".")[1]
            raise GlasskitError(f"{path}: '{key}' moved into the [gpu] table", f"write [gpu] {new} = ... instead")
        if key not in known:
            raise GlasskitError(f"{path}: unknown key '{prefix}{key}'", f"allowed: {', '.join(sorted(known))}")
    for key, pat in _PATTERNS.items():
        if key in data and not (isinstance(data[key], str) and pat.fullmatch(data[key])):
            raise GlasskitError(f"{path}: '{prefix}{key}' = {data[key]!r} is not allowed (pattern {pat.pattern})")
    for key in ("modules", "launcher"):
        if key not in known or key not in data:
            continue
        vals = data[key]
        if not isinstance(vals, list) or not all(isinstance(v, str) and _TOKEN.fullmatch(v) for v in vals):
            raise GlasskitError(f"{path}: '{prefix}{key}' must be a list of plain tokens (pattern {_TOKEN.pattern})")
        data[key] = tuple(vals)
    for key, (lo, hi) in _INTS.items():
        v = data.get(key)
        if key in data and not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
            raise GlasskitError(f"{path}: '{prefix}{key}' must be an integer between {lo} and {hi:,}")
    if isinstance(data.get("atom_steps_per_s"), dict):  # a table: pair style -> atom-steps/s
        from glasskit.campaign.spec import PAIR_STYLES
        table = data.pop("atom_steps_per_s")
        for k, v in table.items():
            if k not in PAIR_STYLES or isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e15:
                raise GlasskitError(f"{path}: atom_steps_per_s.{k!r} = {v!r}: keys are pair styles "
                                    f"({', '.join(PAIR_STYLES)}), values measured atom-steps/s in (0, 1e15)")
        if not table:
            raise GlasskitError(f"{path}: the atom_steps_per_s table is empty")
        data["md_rates"] = tuple((k, float(v)) for k, v in table.items())
        data["atom_steps_per_s"] = float(table.get("lj/cut/opt", min(table.values())))
    if "preemptible" in data and not isinstance(data["preemptible"], bool):
        raise GlasskitError(f"{path}: '{prefix}preemptible' must be true or false")
    for key, (lo, hi) in _FLOATS.items():
        v = data.get(key)
        if key in data and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                            or not lo < v < hi and not (key == "time_margin" and v == lo)):
            raise GlasskitError(f"{path}: '{prefix}{key}' must be a finite number in ({lo:g}, {hi:g})"
                                + (" (a measured throughput)" if key != "time_margin" else ""))
        if key in data:
            data[key] = float(v)


def check_sbatch_lines(path, lines) -> tuple[tuple[str, str | None], ...]:
    """The one check of a profile's extra #SBATCH lines, for every job glasskit renders: each
    read as sbatch reads it (unique prefixes, short options, ``--opt value`` and ``--opt=value``)
    and refused when sbatch would not take it or when it names an option glasskit or submitit
    sets; returns (full option name, value or None for a flag) pairs."""
    if not isinstance(lines, list) or not all(isinstance(v, str) for v in lines):
        raise GlasskitError(f"{path}: 'sbatch' must be a list of strings like \"--mail-type=FAIL\"")
    out = []
    for line in lines:
        try:
            name, value = sbatchopts.parse_line(line)
        except sbatchopts.SbatchOptionError as exc:
            raise GlasskitError(f"{path}: sbatch line {line!r} is refused: {exc}",
                                "write '--option', '--option=value' or '-o value' with a plain value") from None
        if name in _OWN:
            own = name in ("partition", "account", "qos", "constraint", "reservation")
            raise GlasskitError(f"{path}: sbatch line {line!r} sets --{name}, which "
                                + ("the profile's own key sets" if own else "glasskit or submitit sets itself"),
                                f"set '{name}' = \"...\" in the profile instead" if own else
                                "remove it (time: the profile's 'time'; nodes/ntasks: ranks_per_task; memory: "
                                "memory_per_rank / [gpu] memory_per_gpu)")
        out.append((name, value))
    return tuple(out)


def _sbatch_and_env(path, data: dict) -> None:
    if "sbatch" in data:
        data["sbatch"] = check_sbatch_lines(path, data["sbatch"])
    env = data.get("env", {})
    if not isinstance(env, dict):
        raise GlasskitError(f"{path}: 'env' must be a table of NAME = \"value\"")
    for k, v in env.items():
        if not _ENV_NAME.fullmatch(k) or not isinstance(v, (str, int, float)) or isinstance(v, bool) \
                or any(c in str(v) for c in "\n\r\0"):
            raise GlasskitError(f"{path}: env {k!r} = {v!r} is not a variable name with a one-line value")
        if sbatchopts.reserved_env(k):
            raise GlasskitError(f"{path}: env {k!r} is reserved: glasskit, Slurm, the MPI launcher, the loader, the "
                                "shell or Python read it in the job", "remove it from [env] (glasskit sets what the "
                                "job needs; a site module belongs in 'modules')")
    if "env" in data:
        data["env"] = tuple((k, str(v)) for k, v in env.items())
