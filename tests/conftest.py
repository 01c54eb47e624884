"""Shared fixtures: tiny campaign specs, the glasskit executable, the local Slurm cluster."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GLASSKIT = [str(Path(sys.executable).parent / "glasskit")]
SLURM_DIR = Path(os.environ.get("GLASSKIT_SLURM_DIR", "/tmp/glasskit-slurm"))


def write_spec(path: Path, workdir: Path, *, lattice=(10, 12), n_b=42, runs=((2, 2000), (2, 200)),
               dump_every=100, name="tiny", protocol="", extra="") -> Path:
    """A small but physical campaign: same mixture as the paper, fewer atoms and steps."""
    runs_toml = "\n".join(f"[[campaign.runs]]\ncount = {c}\nt_cool = {t}\n" for c, t in runs)
    path.write_text(f"""
[campaign]
name = "{name}"
seed = 11
workdir = "{workdir}"
{runs_toml}
[system]
lattice = [{lattice[0]}, {lattice[1]}]
n_b = {n_b}
[protocol]
dump_every = {dump_every}
{protocol}
{extra}
""")
    return path


@pytest.fixture
def tiny_spec(tmp_path) -> Path:
    return write_spec(tmp_path / "tiny.toml", tmp_path / "campaign")


def campaign_logs(workdir: Path) -> str:
    """Every task log and failure record of a campaign, for an assertion's message (a test that
    fails on a status then says what each task printed)."""
    parts = []
    for f in sorted(Path(workdir).glob("logs/*/*.out")) + sorted(Path(workdir).glob("shards/*/*/*.errors.jsonl")):
        parts.append(f"== {f.relative_to(workdir)}\n{f.read_text(errors='replace')[-4000:]}")
    return "\n".join(parts) or f"(no task logs under {workdir})"


def glasskit(*args, env=None, check=False, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run(GLASSKIT + [str(a) for a in args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"glasskit {args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def local_slurm():
    """The real single-node Slurm of hpc/local-slurm, started and stopped by this pytest run."""
    if not shutil.which("slurmctld") or os.geteuid() != 0:
        pytest.skip("needs root and Debian's slurm-wlm (bash hpc/setup/install.sh)")
    was_running = (SLURM_DIR / "slurmctld.pid").exists()
    subprocess.run([str(ROOT / "hpc/local-slurm/start")], check=True, timeout=120)
    conf = str(SLURM_DIR / "slurm.conf")
    yield {"SLURM_CONF": conf}
    if not was_running:
        subprocess.run([str(ROOT / "hpc/local-slurm/stop")], timeout=60)


def wait_until(predicate, timeout: float, interval: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def job_gone(env: dict, job_id: str) -> bool:
    """True once Slurm no longer lists job ``job_id`` (all array tasks ended)."""
    out = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True,
                         env={**os.environ, **env}).stdout
    return not out.strip()


def processes():
    """(pid, argv, environ entries) of every process we can read."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")[:-1]
                env = (d / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv:
                yield int(d.name), [a.decode(errors="replace") for a in argv], env


@pytest.fixture(scope="session")
def ml_campaign(tmp_path_factory):
    """A collected campaign for the learning tests: 12 slow and 4 fast runs of 120 particles
    (dataset 1: 24 samples from 12 simulations; dataset 6: 12 + 4)."""
    tmp = tmp_path_factory.mktemp("ml")
    # 200 frames on the slow ramp, as in the paper (dataset 1's liquid is its T = 1.99025 frame)
    spec = write_spec(tmp / "ml.toml", tmp / "campaign", name="ml", runs=((12, 2000), (4, 200)), dump_every=10)
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    glasskit("collect", "--spec", spec, check=True)
    return spec
