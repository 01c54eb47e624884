"""Campaign specs (``jobs/*.toml``) as typed, validated dataclasses.

A spec has four tables: ``[campaign]`` (name, seed, output directory, runs), ``[system]``
(the 2D Kob-Andersen mixture), ``[init]`` (the shared initial configuration) and
``[protocol]`` (the NVT cooling ramp), plus ``[minimize]`` for inherent structures and
``[engine]`` for how LAMMPS computes them (pair-style variant, neighbour lists: speed, not
physics; every default measured by bench/engine.py, the authors' plain form one line away). Every
value is checked on load; an error names the file, the key and the rule it breaks, before
anything is rendered or submitted. All quantities are in LAMMPS ``units lj``.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np

from glasskit.util.errors import GlasskitError

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")  # fullmatch: "name\n" is not a name


def _rule(check, text):
    return {"rule": (check, text)}


_pos = _rule(lambda v: v > 0, "must be > 0")
_nonneg = _rule(lambda v: v >= 0, "must be >= 0")
_name = _rule(lambda v: bool(NAME_RE.fullmatch(v)), "must match [A-Za-z][A-Za-z0-9_.-]* (no spaces or shell characters)")


@dataclass(frozen=True)
class RunGroup:
    """``count`` consecutive simulations cooled over ``t_cool`` MD steps."""

    count: int = field(metadata=_pos)
    t_cool: int = field(metadata=_pos)


@dataclass(frozen=True)
class CampaignSpec:
    name: str = field(metadata=_name)
    seed: int = field(metadata=_nonneg)
    runs: tuple[RunGroup, ...] = ()
    workdir: str = ""  # default: runs/<name>, relative to the current directory

    @property
    def n_sims(self) -> int:
        return sum(g.count for g in self.runs)


@dataclass(frozen=True)
class SystemSpec:
    """Binary LJ mixture on a square lattice of ``lattice[0] x lattice[1]`` sites."""

    lattice: tuple[int, int]
    n_b: int = field(metadata=_pos)
    density: float = field(default=1.2, metadata=_pos)
    epsilon: tuple[float, float, float] = (1.0, 1.5, 0.5)  # AA, AB, BB
    sigma: tuple[float, float, float] = (1.0, 0.8, 0.88)  # AA, AB, BB
    cutoff: float = field(default=2.5, metadata=_pos)  # in units of sigma_ij
    shift: bool = False  # pair_modify shift; False (LAMMPS default) reproduces the paper's ISE
    mass: float = field(default=1.0, metadata=_pos)

    @property
    def n_atoms(self) -> int:
        return self.lattice[0] * self.lattice[1]

    @property
    def side(self) -> float:
        """Side L of the square box (sigma): L^2 = N / density (60 for the paper's N = 4320)."""
        return math.sqrt(self.n_atoms / self.density)


@dataclass(frozen=True)
class InitSpec:
    """The shared initial configuration: random B types, then FIRE."""

    seed: int = field(default=4928459, metadata=_pos)
    etol: float = field(default=1e-10, metadata=_nonneg)
    ftol: float = field(default=1e-5, metadata=_nonneg)
    maxiter: int = field(default=1000, metadata=_pos)
    maxeval: int = field(default=1000, metadata=_pos)


@dataclass(frozen=True)
class ProtocolSpec:
    """Linear NVT (Nose-Hoover) cooling from ``t_start`` to ``t_stop`` over ``t_cool`` steps."""

    timestep: float = field(default=0.005, metadata=_pos)
    t_start: float = field(default=2.0, metadata=_pos)
    t_stop: float = field(default=0.05, metadata=_pos)
    tdamp: float = field(default=0.5, metadata=_pos)
    frames: int = field(default=200, metadata=_pos)  # per ramp, at every cooling rate (authors' code)
    dump_every: int = field(default=0, metadata=_nonneg)  # fixed frame interval instead (0: t_cool / frames)


# the same potential: the plain kernel and LAMMPS's accelerator-package variants of it
# (glasskit.stages.engine.ACCELERATORS: the package lines and switches each needs)
ACCELERATOR_SUFFIXES = ("opt", "omp", "intel", "kk", "gpu")
PAIR_STYLES = ("lj/cut", *(f"lj/cut/{a}" for a in ACCELERATOR_SUFFIXES))
DEVICES = ("cpu", "gpu")
FIRE_INTEGRATORS = ("eulerimplicit", "verlet", "leapfrog", "eulerexplicit")
FIRE_KEYS = ("integrator", "dt", "tmax", "dtgrow", "delaystep", "abcfire")  # [minimize] keys that set FIRE's pace


@dataclass(frozen=True)
class MinimizeSpec:
    """FIRE inherent-structure minimization of each stored frame.

    The stopping rule (etol, ftol, maxiter, maxeval) is the paper's. The FIRE 2.0 settings below
    (LAMMPS ``min_modify``) only decide how fast FIRE gets there: ``dt`` is the time step FIRE
    starts from (tau), ``tmax`` caps it at ``tmax * dt``, ``dtgrow`` is its growth per downhill
    step, ``delaystep`` the steps before it may grow. LAMMPS's defaults (dt 0.005 in lj units,
    tmax 10, dtgrow 1.1, delaystep 20, eulerimplicit) are the plain form; ``abcfire = true``
    (ABC-FIRE: FIRE with the bias of its velocity mixing corrected) is the measured best
    (bench/engine.py fire, N = 4320, 4 frames of the fast ramp: 2.0x the frames per second of
    plain FIRE, 3,901 against 6,468 iterations, final force norm 0.022 against 0.50; the other
    keys at their LAMMPS defaults were measured no better in combination with it). Below
    T ~ 0.8 it finds the plain minimum (``bench/engine.py basin``: the same energy to 1e-5 per
    particle, positions within 0.003 sigma at T = 0.05 and 0.78); from liquid frames (T >= 1) the
    path decides the basin, and ABC-FIRE's are deeper by 1e-3 to 4e-3 per particle.
    """

    etol: float = field(default=1e-10, metadata=_nonneg)
    ftol: float = field(default=1e-5, metadata=_nonneg)
    maxiter: int = field(default=10_000_000, metadata=_pos)
    maxeval: int = field(default=10_000_000, metadata=_pos)
    integrator: str = field(default="eulerimplicit", metadata=_rule(lambda v: v in FIRE_INTEGRATORS,
                                                                     f"must be one of {', '.join(FIRE_INTEGRATORS)}"))
    dt: float = field(default=0.005, metadata=_rule(lambda v: 0 < v <= 0.1, "must be in (0, 0.1] tau"))
    tmax: float = field(default=10.0, metadata=_rule(lambda v: 1 <= v <= 100, "must be in [1, 100]"))
    dtgrow: float = field(default=1.1, metadata=_rule(lambda v: 1 <= v <= 2, "must be in [1, 2]"))
    delaystep: int = field(default=20, metadata=_nonneg)
    abcfire: bool = True  # ABC-FIRE (Echeverri Restrepo & Andric 2023); False: plain FIRE 2.0


@dataclass(frozen=True)
class EngineSpec:
    """How LAMMPS evaluates the potential: the same forces to round-off, at different speeds,
    and how often a running simulation is checkpointed.

    ``pair_style``: ``lj/cut`` (the authors' input) or one of LAMMPS's accelerator variants of it:
    ``lj/cut/opt`` (OPT package), ``lj/cut/omp`` (OPENMP), ``lj/cut/intel`` (INTEL, double
    precision), ``lj/cut/kk`` (KOKKOS, on host threads or, with ``device = "gpu"``, one GPU per
    rank), ``lj/cut/gpu`` (GPU package). glasskit adds the ``package`` lines and LAMMPS
    command-line switches each needs (:data:`glasskit.stages.engine.ACCELERATORS`) and checks the
    loaded LAMMPS has the package before anything is submitted. ``skin`` (sigma) and
    ``neigh_every`` set the neighbour-list rebuild: every ``neigh_every`` steps LAMMPS checks
    whether an atom moved half the skin and only then rebuilds, so the forces are those of the
    plain input (``check yes`` always).
    ``sort_every`` (MD steps, 0: never) is LAMMPS's spatial atom sort; minimization never sorts
    (a frame's inherent structure then depends only on its own coordinates).
    Defaults measured by bench/engine.py md (N = 4320, the paper's fast ramp): ``lj/cut/opt``
    1.05-1.08x the plain ``lj/cut``; skin 0.2/0.4, neigh_every 2 and other sort intervals no faster.

    ``checkpoint_every`` (frames; 0: never) makes a running simulation write a LAMMPS restart of
    its whole state (positions, velocities, thermostat) beside its shard every so many frames; a
    re-run of the simulation (a requeued task, a re-submission) continues from its newest valid
    checkpoint, bit for bit the run it would have been (the block after a checkpoint always starts
    with LAMMPS's full set-up, whether the checkpoint was just written or read). Checkpoints fall on
    fixed frames, never on wall time, so a simulation's trajectory does not depend on the machine.
    The default, 5 frames, keeps at most about 10 minutes of one rank's work at risk on the
    paper's slow ramp (a frame is 1e5 steps x 4,320 atoms: 103 s at the example profile's
    4.2e6 atom-steps/s, 58 s at the local one's 7.5e6) and costs about 0.6 % of the fast ramp's
    MD time and 0.006 % of the slow one's (a checkpoint ~18 ms, its write and the set-up after it,
    against 5 frames of ~0.6 s or ~60 s; bench/checkpoint.py overhead measures it).
    """

    pair_style: str = field(default="lj/cut/opt", metadata=_rule(lambda v: v in PAIR_STYLES,
                                                             f"must be one of {', '.join(PAIR_STYLES)}"))
    skin: float = field(default=0.3, metadata=_rule(lambda v: 0 < v <= 2, "must be in (0, 2] sigma"))
    neigh_every: int = field(default=1, metadata=_rule(lambda v: 1 <= v <= 100, "must be in [1, 100]"))
    sort_every: int = field(default=1000, metadata=_nonneg)
    device: str = field(default="cpu", metadata=_rule(lambda v: v in DEVICES, f"must be one of {', '.join(DEVICES)}"))
    checkpoint_every: int = field(default=5, metadata=_rule(lambda v: 0 <= v <= 100_000, "must be in [0, 100000] frames"))

    @property
    def accelerator(self) -> str:
        """The accelerator suffix of ``pair_style`` ('' for the plain kernel)."""
        return self.pair_style.removeprefix("lj/cut").removeprefix("/")

    def identity(self) -> dict:
        """What decides the forces and the trajectory's arithmetic (not the checkpoint cadence):
        a checkpoint written under other settings is not continued under these."""
        d = dataclasses.asdict(self)
        return {k: d[k] for k in ("pair_style", "skin", "neigh_every", "sort_every", "device")}


PLAIN_ENGINE = EngineSpec(pair_style="lj/cut")  # the authors' input (and the initial configuration's)
PLAIN_FIRE = dict(integrator="eulerimplicit", dt=0.005, tmax=10.0, dtgrow=1.1, delaystep=20, abcfire=False)


@dataclass(frozen=True)
class Spec:
    campaign: CampaignSpec
    system: SystemSpec
    init: InitSpec
    protocol: ProtocolSpec
    minimize: MinimizeSpec
    engine: EngineSpec = EngineSpec()
    path: str = ""
    text: str = ""

    def workdir(self) -> Path:
        """The campaign directory: ``[campaign] workdir`` (default ``runs/<name>``); a relative
        one lies in the project root (the nearest directory up from here holding ``jobs/``)."""
        from glasskit.util.paths import project_root
        p = Path(self.campaign.workdir or f"runs/{self.campaign.name}")
        return p if p.is_absolute() else project_root() / p

    @property
    def campaign_id(self) -> str:
        """The campaign's identity: a hash of what defines its simulations (name, seed, runs,
        system, initial configuration, protocol), not of comments, paths or speed settings.
        Every shard, index slice and campaign file carries it; verify refuses another's."""
        import hashlib
        import json
        c = self.campaign
        ident = {"name": c.name, "seed": c.seed, "runs": [dataclasses.asdict(g) for g in c.runs],
                 **{k: dataclasses.asdict(getattr(self, k)) for k in ("system", "init", "protocol")}}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]

    def engine_settings(self) -> dict:
        """The effective speed settings, defaults included (the ``engine`` attribute of every
        shard and campaign file): ``[engine]`` and the FIRE keys of ``[minimize]``."""
        m = self.minimize
        return {"engine": dataclasses.asdict(self.engine),
                "fire": {k: getattr(m, k) for k in FIRE_KEYS}}

    def t_cool_of(self, indices) -> np.ndarray:
        """t_cool (MD steps) of each simulation index, shape (len(indices),) int64."""
        bounds = np.cumsum([g.count for g in self.campaign.runs])
        groups = np.searchsorted(bounds, np.asarray(indices, dtype=np.int64), side="right")
        return np.array([g.t_cool for g in self.campaign.runs], dtype=np.int64)[groups]

    def dump_every(self, t_cool: int) -> int:
        """MD steps between stored frames of a ramp of ``t_cool`` steps: t_cool / frames (the
        authors' 200 frames per ramp at both rates), or the spec's fixed ``dump_every``."""
        return self.protocol.dump_every or int(t_cool) // self.protocol.frames

    def n_frames(self, t_cool: int) -> int:
        """Frames stored for a ramp of ``t_cool`` steps (step 0 excluded; the last at t_cool)."""
        return int(t_cool) // self.dump_every(t_cool)

    def frame_temperature(self, step, t_cool):
        """Target temperature at MD ``step`` of a ramp over ``t_cool`` steps."""
        p = self.protocol
        return p.t_start + (p.t_stop - p.t_start) * np.asarray(step) / np.asarray(t_cool)


_TABLES = {"campaign": CampaignSpec, "system": SystemSpec, "init": InitSpec,
           "protocol": ProtocolSpec, "minimize": MinimizeSpec, "engine": EngineSpec}


def load_spec(path: str | Path, workdir: str | None = None) -> Spec:
    """Load and validate a campaign spec.

    Parameters
    ----------
    path : str or pathlib.Path
        The spec's TOML file (``jobs/simulate.toml``, ``jobs/demo.toml``, ...).
    workdir : str, optional
        Overrides ``[campaign] workdir``.

    Returns
    -------
    Spec
        Typed, validated tables; a bad value raises one error naming the file and the key.
    """
    from glasskit.util.paths import in_project, project_root
    from glasskit.util.tomlfile import read_toml
    jobs = project_root() / "jobs"
    avail = ", ".join(sorted(p.name for p in jobs.glob("*.toml"))) or f"none found in {jobs}"
    path = in_project(path)  # from a project's subdirectory too
    text, data = read_toml(path, "spec file", f"available specs: {avail}")
    return parse_spec(data, text=text, source=str(path), workdir=workdir)


def parse_spec(data: dict, text: str = "", source: str = "<spec>", workdir: str | None = None) -> Spec:
    _unknown(data, _TABLES, source, "")
    for required in ("campaign", "system"):
        if required not in data:
            raise GlasskitError(f"{source}: missing table [{required}]", "see jobs/simulate.toml for a complete spec")
    parts = {k: _build(cls, data.get(k, {}), source, k) for k, cls in _TABLES.items()}
    if workdir:
        parts["campaign"] = dataclasses.replace(parts["campaign"], workdir=str(workdir))
    if {"frames", "dump_every"} <= set(data.get("protocol", {})):
        raise GlasskitError(f"{source}: [protocol] sets both 'frames' and 'dump_every'",
                            "keep frames (per ramp, the paper's 200) or a fixed dump_every, not both")
    spec = Spec(**parts, path=source, text=text)
    _check_physics(spec, source)
    return spec


def _unknown(table: dict, allowed, source: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise GlasskitError(f"{source}: unknown key '{prefix}{key}'",
                                f"allowed here: {', '.join(sorted(allowed))}")


def _build(cls, table: Any, source: str, prefix: str):
    if not isinstance(table, dict):
        raise GlasskitError(f"{source}: '{prefix}' must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _unknown(table, fields, source, prefix + ".")
    hints = get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise GlasskitError(f"{source}: missing key '{key}'")
            continue
        value = _coerce(table[name], hints[name], source, key)
        check = f.metadata.get("rule")
        if check and not check[0](value):
            raise GlasskitError(f"{source}: '{key}' = {value!r} {check[1]}")
        kwargs[name] = value
    return cls(**kwargs)


build_table = _build  # for other settings files (jobs/models.toml) that follow the same rules


def _coerce(value, hint, source: str, key: str):
    origin = getattr(hint, "__origin__", None)
    if hint is bool:
        if not isinstance(value, bool):
            raise GlasskitError(f"{source}: '{key}' must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # TOML 2e7 is a float; accept it when integral
        if not isinstance(value, int) or isinstance(value, bool):
            raise GlasskitError(f"{source}: '{key}' must be an integer, not {value!r}")
        if abs(value) > 2**62:
            raise GlasskitError(f"{source}: '{key}' = {value} is far beyond any sensible value")
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise GlasskitError(f"{source}: '{key}' must be a number, not {value!r}")
        if not math.isfinite(value):
            raise GlasskitError(f"{source}: '{key}' = {value!r} must be a finite number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise GlasskitError(f"{source}: '{key}' must be a string, not {value!r}")
        return value
    if origin is tuple:
        args = hint.__args__
        if not isinstance(value, list):
            raise GlasskitError(f"{source}: '{key}' must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is RunGroup:
                if not value:
                    raise GlasskitError(f"{source}: '{key}' needs at least one [[{key}]] table")
                return tuple(_build(RunGroup, v, source, f"{key}[{i}]") for i, v in enumerate(value))
            return tuple(_coerce(v, args[0], source, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise GlasskitError(f"{source}: '{key}' must have {len(args)} entries, not {len(value)}")
        out = tuple(_coerce(v, a, source, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        if any(isinstance(v, (int, float)) and v <= 0 for v in out):
            raise GlasskitError(f"{source}: '{key}' = {list(value)} entries must be > 0")
        return out
    raise TypeError(f"no coercion for {hint}")


def _check_physics(spec: Spec, source: str) -> None:
    s, p = spec.system, spec.protocol
    if spec.engine.device == "gpu" and spec.engine.accelerator not in ("kk", "gpu"):
        raise GlasskitError(f"{source}: [engine] device = \"gpu\" needs pair_style lj/cut/kk or lj/cut/gpu, "
                            f"not {spec.engine.pair_style}", "set device = \"cpu\", or choose a GPU pair style")
    if not spec.campaign.runs:
        raise GlasskitError(f"{source}: no [[campaign.runs]]", "add e.g. [[campaign.runs]] count = 8, t_cool = 20000")
    if s.n_b >= s.n_atoms:
        raise GlasskitError(f"{source}: 'system.n_b' = {s.n_b} must be < N = {s.n_atoms} (lattice product)")
    step, name = (p.dump_every, "dump_every") if p.dump_every else (p.frames, "frames")
    for i, g in enumerate(spec.campaign.runs):
        if g.t_cool % step:
            raise GlasskitError(
                f"{source}: 'campaign.runs[{i}].t_cool' = {g.t_cool} is not a multiple of "
                f"'protocol.{name}' = {step}",
                f"frames land on whole MD steps only when t_cool = k * {name}")
    if p.t_stop >= p.t_start:
        raise GlasskitError(f"{source}: 'protocol.t_stop' = {p.t_stop} must be below 't_start' = {p.t_start}")
    if p.tdamp < 10 * p.timestep:
        raise GlasskitError(f"{source}: 'protocol.tdamp' = {p.tdamp} is below 10 timesteps ({10 * p.timestep:g})",
                            "a Nose-Hoover damping time of ~100 timesteps is usual (the paper: 0.5 = 100 x 0.005)")
    _check_sizes(spec, source)


LIMITS = {"simulations": 10_000_000, "atoms": 10_000_000, "frames": 100_000, "t_cool": 10**11}


def _check_sizes(spec: Spec, source: str) -> None:
    """Refuse sizes no campaign has, before anything allocates arrays of them."""
    c, s, p = spec.campaign, spec.system, spec.protocol
    checks = [("simulations (sum of campaign.runs counts)", c.n_sims, LIMITS["simulations"]),
              ("atoms (system.lattice product)", s.n_atoms, LIMITS["atoms"]),
              ("frames per ramp (protocol.frames)", p.frames, LIMITS["frames"])]
    checks += [(f"campaign.runs[{i}].t_cool", g.t_cool, LIMITS["t_cool"]) for i, g in enumerate(c.runs)]
    if p.dump_every:
        checks += [("frames per ramp (t_cool / protocol.dump_every)", max(g.t_cool // p.dump_every for g in c.runs),
                    LIMITS["frames"])]
    for what, value, limit in checks:
        if value > limit:
            raise GlasskitError(f"{source}: {value:,} {what} exceeds glasskit's limit of {limit:,}",
                                "check the spec for a typo (the paper: 20,000 simulations of 4,320 atoms, 200 frames)")
    for key, seed in (("campaign.seed", c.seed), ("init.seed", spec.init.seed)):
        if not 0 <= seed <= 2**31 - 1 or (key == "init.seed" and seed == 0):
            raise GlasskitError(f"{source}: '{key}' = {seed} is not a seed LAMMPS takes",
                                "use an integer between 1 and 2147483647")
