"""Surviving crashes: kill -9 of a rank and of a Slurm task mid-minimization; full/unwritable disks."""
import os
import shutil
import signal
import subprocess

import h5py
import numpy as np
import pytest

from glasskit.util.arrayspec import parse_array
from glasskit.campaign.layout import Campaign
from glasskit.campaign.shard import RUNNING
from glasskit.campaign.spec import load_spec
from glasskit.campaign.store import open_campaign
from glasskit.campaign.verify import verify

from conftest import GLASSKIT, ROOT, glasskit, job_gone, processes, wait_until, write_spec


def _rows(campaign, stage):
    out = []
    for p in campaign.shards(stage):
        try:
            with h5py.File(p, "r", locking=False) as f:
                out.append((p, {k: f[k][...] for k in ("sim/index", "sim/state", "sim/done")}
                            | ({"is/done": f["is/done"][...]} if stage == "minimize" else {})))
        except (OSError, KeyError):
            pass
    return out


def test_unwritable_workdir_fails_before_any_lammps_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    spec = write_spec(tmp_path / "s.toml", blocker / "campaign")
    proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local")
    assert proc.returncode == 2
    assert "cannot write to the campaign directory" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_fails_before_any_lammps_work(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        spec = write_spec(tmp_path / "s.toml", mnt / "c", lattice=(16, 20), n_b=112, runs=((4, 20000),))
        proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local")
        assert proc.returncode == 2
        last = proc.stderr.strip().splitlines()[-1]
        assert "not enough disk space" in last and "MiB" in last
        assert not (mnt / "c" / "init.data").exists() and not (mnt / "c" / "shards").exists()
    finally:
        subprocess.run(["umount", str(mnt)])


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("mpiexec.mpich"), reason="needs Debian's MPICH")
def test_kill_9_of_one_rank_leaves_a_detectably_incomplete_shard_and_resubmit_repairs(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112, runs=((4, 40000),))
    c = Campaign.of(load_spec(spec))
    sub = "sub-killrank"
    proc = subprocess.Popen(["mpiexec.mpich", "-n", "2"] + GLASSKIT + [
        "run", "simulate", "--spec", str(spec), "--sims", "0-3", "--tasks", "1", "--ranks", "2",
        "--task", "0", "--submission", sub], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # rank 1 owns simulations 2-3: kill it while simulation 2 is half-way
        wait_until(lambda: any(r["sim/state"][2] == RUNNING for _, r in _rows(c, "simulate")), 120, 0.05)
        victims = [pid for pid, argv, env in processes()
                   if sub in argv and argv[0].endswith("python") and b"PMI_RANK=1" in env]
        assert len(victims) == 1
        os.kill(victims[0], signal.SIGKILL)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    rep = verify(c, stages=("simulate",))
    named = "\n".join(rep.problems)
    assert "simulation 2 incomplete" in named and "simulation 3" in named
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    assert verify(c, stages=("simulate",)).problems == []
    with h5py.File(c.shard_path("simulate", sub, 0)) as f:
        assert f.attrs["driver"] == "mpio"
    # an mpio shard has no HDF5 filters: the per-frame CRC still catches a flipped byte
    (path,) = [p for p, r in _rows(c, "simulate") if r["sim/done"].any() and p.parent.name == sub] or \
        [p for p, r in _rows(c, "simulate") if r["sim/done"].all()][:1]
    with h5py.File(path) as f:
        row = int(np.nonzero(f["sim/done"][...])[0][0])
        offset = f["frames/x"].id.get_chunk_info(row * f["frames/x"].shape[1]).byte_offset
        mpio = f.attrs["driver"] == "mpio"
    with open(path, "r+b") as fh:
        fh.seek(offset + 100)
        b = fh.read(1)
        fh.seek(offset + 100)
        fh.write(bytes([b[0] ^ 0x01]))
    text = "\n".join(verify(c, stages=("simulate",)).problems)
    assert ("checksum mismatch" if mpio else "frame 0") in text


@pytest.mark.slurm
@pytest.mark.slow
def test_kill_9_mid_minimization_on_slurm_then_resubmit_equals_uninterrupted(local_slurm, tmp_path):
    spec_a = write_spec(tmp_path / "a.toml", tmp_path / "a", lattice=(16, 20), n_b=112, runs=((2, 20000),))
    a = Campaign.of(load_spec(spec_a))
    glasskit("submit", "simulate", "--spec", spec_a, "--executor", "local", check=True)
    shutil.copytree(a.workdir, tmp_path / "b")  # the same trajectories, minimized twice
    b = Campaign.of(load_spec(spec_a, workdir=str(tmp_path / "b")))
    glasskit("submit", "minimize", "--spec", spec_a, "--executor", "local", check=True)  # uninterrupted

    args = ["submit", "minimize", "--spec", spec_a, "--workdir", b.workdir, "--cluster", "local", "--executor", "slurm"]
    glasskit(*args, env=local_slurm, check=True)
    rec = b.records("minimize")[-1]

    def half_way():
        for p, r in _rows(b, "minimize"):
            d = r["is/done"]
            if (d.sum(axis=1) > 20).any() and not r["sim/done"].all():
                return p
    shard = wait_until(half_way, 120, 0.05)
    task = str(int(shard.stem.split("-")[1]))
    victims = [pid for pid, argv, _ in processes()
               if rec["submission"] in argv and argv[0].endswith("python") and argv[-1] == task]
    assert victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: job_gone(local_slurm, rec["job_id"]), 180, 0.5)
    before = sum(int(r["is/done"].sum()) for _, r in _rows(b, "minimize"))
    assert 0 < before < 400
    glasskit(*args, env=local_slurm, check=True)
    rec2 = b.records("minimize")[-1]
    wait_until(lambda: job_gone(local_slurm, rec2["job_id"]), 180, 0.5)
    log = "".join(p.read_text() for p in b.log_dir(rec2["submission"]).glob("*.out"))
    assert "frames copied" in log  # only the missing frames were minimized again
    assert set(parse_array(rec2["sims"]).indices) <= {0, 1}
    glasskit("collect", "--spec", spec_a, check=True)
    glasskit("collect", "--spec", spec_a, "--workdir", b.workdir, check=True)
    with open_campaign(a) as ra, open_campaign(b) as rb:
        assert rb.f["is/done"][...].all()
        assert np.array_equal(ra.f["is/pe"][...], rb.f["is/pe"][...])
    assert verify(b).problems == []
