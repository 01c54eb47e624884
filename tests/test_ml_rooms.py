"""The two halves stay apart: glasskit.ml imports without LAMMPS or MPI (a GPU node may have
neither), and the simulation half imports without torch (the [ml] extra is optional)."""
import subprocess
import sys

import pytest

from test_layout import modules  # noqa: E402

# every module of both halves; the package data and python -m glasskit are not modules to import.
# The figures that read trained models (glasskit.analysis.LEARNING) belong to the learning half.
from glasskit.analysis import LEARNING  # noqa: E402

_LEARNING = {f"glasskit.analysis.{name}" for name in LEARNING}
ML = sorted(m for m in modules() if m.startswith("glasskit.ml") or m in _LEARNING)
SIM = sorted(m for m in modules() if not m.startswith("glasskit.ml") and m not in _LEARNING and m != "glasskit.__main__")


def _import_without(tmp_path, blocked, modules):
    fake = tmp_path / "blocked"
    for name in blocked:
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + \
        f"assert not {set(blocked)!r} & set(sys.modules), 'a blocked module got imported'\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(fake), "PATH": "/usr/bin:/bin"})


def test_learning_half_imports_without_lammps_or_mpi(tmp_path):
    pytest.importorskip("torch")
    proc = _import_without(tmp_path, ["lammps", "mpi4py"], ML)
    assert proc.returncode == 0, proc.stderr


def test_simulation_half_imports_without_torch(tmp_path):
    proc = _import_without(tmp_path, ["torch", "torch_geometric", "submitit"], SIM)
    assert proc.returncode == 0, proc.stderr
