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
