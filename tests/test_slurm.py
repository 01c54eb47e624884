"""A real Slurm array on the local single-node cluster (hpc/local-slurm), started by the pytest run."""
import os
import signal
from pathlib import Path

import pytest

from glasskit.campaign.layout import Campaign
from glasskit.campaign.shard import RUNNING, read_rows
from glasskit.campaign.spec import load_spec
from glasskit.batch.watch import stage_status

from conftest import ROOT, glasskit, job_gone, processes, wait_until, write_spec

ROOT_CLUSTERS = ROOT / "glasskit" / "resources" / "clusters"

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _last(campaign):
    return campaign.records("simulate")[-1]


def test_slurm_array_completes_and_status_reads_it(local_slurm, tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((3, 2000), (2, 200)))
    campaign = Campaign.of(load_spec(spec))
    proc = glasskit("submit", "simulate", "--spec", spec, "--array", "0-4", "--cluster", "local",
                    "--executor", "slurm", env=local_slurm, check=True)
    assert "submitted Slurm job" in proc.stderr
    rec = _last(campaign)
    assert rec["executor"] == "slurm" and rec["job_id"].isdigit() and rec["n_tasks"] == 5
    first = stage_status(campaign)
    assert len(first.done | first.running) == 5  # queued/running tasks own their simulations
    wait_until(lambda: job_gone(local_slurm, rec["job_id"]), timeout=180, interval=0.5)
    st = stage_status(campaign)
    assert st.done == set(range(5)) and not st.failed
    logs = sorted(Path(campaign.log_dir(rec["submission"])).glob(f"{rec['job_id']}_*.out"))
    assert len(logs) == 5 and "done" in logs[0].read_text()
    out = glasskit("status", "--spec", spec, env=local_slurm).stdout
    assert "done 5, running 0, waiting 0, failed 0, missing 0" in out


def test_kill_9_of_a_running_slurm_task_then_resubmit(local_slurm, tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112, runs=((4, 50000),))
    campaign = Campaign.of(load_spec(spec))
    glasskit("submit", "simulate", "--spec", spec, "--cluster", "local", "--executor", "slurm",
             env=local_slurm, check=True)
    rec = _last(campaign)

    def running_task():
        for path in campaign.shards("simulate"):
            try:
                rows = read_rows(path)
            except OSError:  # the task is still creating it
                continue
            if (rows["state"] == RUNNING).any():
                return int(path.stem.split("-")[1]) + 1  # +1: task 0 is falsy
    task = wait_until(running_task, timeout=120, interval=0.05) - 1
    victims = [pid for pid, argv, _ in processes() if argv[0].endswith("python") and rec["submission"] in argv
               and argv[-1] == str(task)]
    assert victims, "the running task's glasskit process was not found"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: job_gone(local_slurm, rec["job_id"]), timeout=180, interval=0.5)
    st = stage_status(campaign)
    assert st.failed and all("interrupted" in e for e in st.failed.values())
    assert st.done | set(st.failed) == set(range(4))
    before = set(st.done)

    glasskit("submit", "simulate", "--spec", spec, "--cluster", "local", "--executor", "slurm",
             env=local_slurm, check=True)
    rec2 = _last(campaign)
    assert rec2["submission"] != rec["submission"]
    from glasskit.util.arrayspec import parse_array
    assert set(parse_array(rec2["sims"]).indices) == set(range(4)) - before
    wait_until(lambda: job_gone(local_slurm, rec2["job_id"]), timeout=180, interval=0.5)
    final = stage_status(campaign)
    assert final.done == set(range(4)) and not final.failed



def test_a_ramp_longer_than_its_task_time_completes_over_several_requeues(local_slurm, tmp_path):
    """--time=2 min, a ramp of several times the minute each run gets before Slurm's warning:
    Slurm warns each run of the task (--signal), the task checkpoints and requeues itself, and
    the ramp completes with nothing lost. (At 4e6 steps an unloaded 2-core machine finished the
    ramp in two runs, 60 s + 53 s: the ramp is 8e6 steps so that every machine needs three.)"""
    import subprocess
    import h5py
    import numpy as np
    profile = tmp_path / "short.toml"
    profile.write_text((ROOT_CLUSTERS / "local.toml").read_text().replace('time = "01:00:00"', 'time = "00:02:00"')
                       .replace('name = "local"', 'name = "short"'))
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112, runs=((1, 8_000_000),),
                      dump_every=40_000, extra="[engine]\ncheckpoint_every = 5\n")
    campaign = Campaign.of(load_spec(spec))
    proc = glasskit("submit", "simulate", "--spec", spec, "--cluster", profile, "--executor", "slurm",
                    env=local_slurm, check=True)
    assert "requeues itself" in proc.stderr
    rec = _last(campaign)
    script = Path(rec["script"]).read_text()
    for line in ("#SBATCH --time=00:02:00", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@60", "#SBATCH --open-mode=append"):
        assert line + "\n" in script

    env = {**os.environ, **local_slurm}

    gone = []

    def finished():
        q = subprocess.run(["squeue", "-h", "-j", rec["job_id"], "-o", "%i %T %r"], capture_output=True, text=True,
                           env=env)
        out = q.stdout.split()
        if not out:  # a requeue passes through moments where squeue lists nothing (seen for > 6 s):
            gone.append(q.returncode == 0)  # over once the row is settled, or after a minute of nothing
            try:
                settled = bool(read_rows(campaign.shard_path("simulate", rec["submission"], 0))["done"][0])
            except (OSError, KeyError):
                settled = False
            return (settled and len(gone) >= 3 and all(gone[-3:])) or (len(gone) >= 30 and all(gone[-30:]))
        gone.clear()
        if out[1] == "PENDING" and out[2] == "BeginTime":  # Slurm holds a requeued job ~2 min: not the test's subject
            subprocess.run(["scontrol", "update", f"jobid={out[0]}", "StartTime=now"], env=env, capture_output=True)
        return False
    wait_until(finished, timeout=900, interval=2.0)
    log = next(Path(campaign.log_dir(rec["submission"])).glob("*.out")).read_text()
    starts = [ln for ln in log.splitlines() if "starts (restart" in ln]
    assert len(starts) >= 3, log  # at least two requeues
    assert log.count("requeueing job") == len(starts) - 1
    assert "continues from its checkpoint" in log
    st = stage_status(campaign)
    assert st.done == {0} and not st.failed
    shard = campaign.shard_path("simulate", rec["submission"], 0)
    with h5py.File(shard, "r") as f:  # one shard, reopened at each run: all 200 frames, in order
        assert np.array_equal(f["frames/step"][0], np.arange(1, 201) * 40_000)
        assert np.isfinite(f["frames/pe"][0]).all()
    assert glasskit("verify", "--spec", spec).returncode == 0
