"""A small collected campaign for the doctest builder, made once per build with the real
LAMMPS: ``runs/demo`` inside a temporary project (4 ramps of 120 atoms, minimized)."""
import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SPEC = """
[campaign]
name = "demo"
seed = 7
[[campaign.runs]]
count = 2
t_cool = 1000
[[campaign.runs]]
count = 2
t_cool = 200
[system]
lattice = [10, 12]
n_b = 42
[protocol]
dump_every = 100
"""


@functools.lru_cache(maxsize=1)
def project() -> str:
    root = Path(os.environ.get("GLASSKIT_DOCS_PROJECT") or tempfile.mkdtemp(prefix="glasskit-docs-"))
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    spec = root / "jobs" / "demo.toml"
    if not (root / "runs" / "demo" / "campaign.h5").is_file():
        spec.write_text(SPEC)
        gk = [sys.executable, "-m", "glasskit", "-q"]
        for args in (["submit", "simulate"], ["submit", "minimize"], ["collect"]):
            subprocess.run(gk + args + ["--spec", str(spec)] + (["--executor", "local"] if args[0] == "submit" else []),
                           cwd=root, check=True, capture_output=True)
    return str(root)
