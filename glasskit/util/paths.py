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
