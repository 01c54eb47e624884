"""LAMMPS errors and crashes: reported per simulation, nothing lost, re-submit repairs."""
import json
import os
import signal
import subprocess

import pytest

from glasskit.campaign.layout import Campaign
from glasskit.campaign.shard import RUNNING, read_rows
from glasskit.campaign.spec import load_spec
from glasskit.batch.watch import stage_status

from conftest import GLASSKIT, ROOT, campaign_logs, glasskit, processes, wait_until, write_spec

# LAMMPS really fails: atoms displaced onto each other blow up and are lost.
BLOW_UP = json.dumps({"1": "displace_atoms all random 0.5 0.5 0 7 units box"})


def test_lammps_error_fails_one_simulation_others_complete_and_resubmit_repairs(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((4, 1000),))
    proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local",
                    env={"GLASSKIT_TEST_INJECT": BLOW_UP})
    assert proc.returncode == 1, proc.stderr
    assert "simulation 1 failed: LAMMPS error: Lost atoms" in (tmp_path / "c" / "logs").joinpath(
        *[p.name for p in (tmp_path / "c" / "logs").iterdir()], "task-00001.out").read_text()
    st = stage_status(Campaign.of(load_spec(spec)))
    assert st.done == {0, 2, 3}, f"{st}\n{proc.stderr}\n{campaign_logs(tmp_path / 'c')}"
    assert list(st.failed) == [1] and "Lost atoms" in st.failed[1], campaign_logs(tmp_path / "c")
    out = glasskit("status", "--spec", spec).stdout
    assert "failed 1" in out and "failed 1: Lost atoms" in out

    proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    assert "1 simulation(s) -> 1 array task(s)" in proc.stderr
    assert stage_status(Campaign.of(load_spec(spec))).done == {0, 1, 2, 3}


@pytest.mark.slow
def test_kill_9_of_a_local_run_then_resubmit_completes_with_nothing_lost(tmp_path):
    spec_path = write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112,
                           runs=((6, 50000),))
    campaign = Campaign.of(load_spec(spec_path))
    proc = subprocess.Popen(GLASSKIT + ["submit", "simulate", "--spec", str(spec_path), "--executor", "local"],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def mid_run():  # some simulation done and another one half-way through its frames
            rows = []
            for p in campaign.shards("simulate"):
                try:
                    rows.append(read_rows(p))
                except OSError:  # the task is still creating it
                    pass
            return any(r["done"].any() for r in rows) and any((r["state"] == RUNNING).any() for r in rows)

        wait_until(mid_run, timeout=120, interval=0.05)
        assert stage_status(campaign).running  # the live submission owns its simulations
        wait_until(mid_run, timeout=60, interval=0.01)  # again, so the kill lands mid-simulation
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    st = stage_status(campaign)
    first_done = set(st.done)
    assert first_done and not st.running
    assert st.failed and all("interrupted" in e for e in st.failed.values())
    assert first_done | set(st.failed) | st.missing == set(range(6))

    glasskit("submit", "simulate", "--spec", spec_path, "--executor", "local", check=True)
    final = stage_status(campaign)
    assert final.done == set(range(6)) and not final.failed and not final.missing
    (second,) = [r for r in campaign.records("simulate") if r.get("finished")]
    from glasskit.util.arrayspec import parse_array
    assert not first_done & set(parse_array(second["sims"]).indices)  # only the missing were redone


def test_atoms_lost_where_lammps_was_told_to_ignore_it_make_a_failed_simulation(tmp_path):
    """With `thermo_modify lost ignore` LAMMPS goes on with fewer atoms: glasskit still refuses
    to store such frames, marks the simulation failed and says which one in the submit's exit."""
    quiet = json.dumps({"2": "thermo_modify lost ignore\ndisplace_atoms all random 0.5 0.5 0 7 units box"})
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((3, 1000),))
    proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local", env={"GLASSKIT_TEST_INJECT": quiet})
    assert proc.returncode == 1
    assert "simulate failed for simulation(s) 2 (first: " in proc.stderr and "Traceback" not in proc.stderr
    st = stage_status(Campaign.of(load_spec(spec)))
    assert st.done == {0, 1} and list(st.failed) == [2]
    assert "atoms lost" in st.failed[2] or "non-finite" in st.failed[2], st.failed[2]


@pytest.mark.slow
def test_a_killed_submitter_leaves_its_running_tasks_running_not_failed(tmp_path):
    spec_path = write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112, runs=((2, 40000),))
    campaign = Campaign.of(load_spec(spec_path))
    proc = subprocess.Popen(GLASSKIT + ["submit", "simulate", "--spec", str(spec_path), "--executor", "local"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tasks():
        return [pid for pid, argv, _ in processes() if "run" in argv and str(spec_path) in argv]
    try:
        wait_until(lambda: len(tasks()) == 2, timeout=60, interval=0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the submitter only: its two task processes live on
        proc.wait()
        assert tasks(), "the tasks ended before the check"
        st = stage_status(campaign)
        assert st.running == {0, 1} and not st.failed, (st.running, st.failed)
        out = glasskit("submit", "simulate", "--spec", spec_path, "--executor", "local")
        assert out.returncode == 0 and "already done or running: nothing to submit" in out.stderr
    finally:
        for pid in tasks():
            os.kill(pid, signal.SIGKILL)


def test_two_submits_of_the_same_array_at_once_never_run_a_simulation_twice(tmp_path):
    spec_path = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((6, 2000),))
    campaign = Campaign.of(load_spec(spec_path))
    cmd = GLASSKIT + ["submit", "simulate", "--spec", str(spec_path), "--executor", "local"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    from glasskit.util.arrayspec import parse_array
    claimed = [set(parse_array(r["sims"]).indices) for r in campaign.records("simulate")]
    assert sum(len(c) for c in claimed) == 6 and set().union(*claimed) == set(range(6))  # disjoint, complete
    done = [int(s) for p in campaign.shards("simulate") for s, d in zip(read_rows(p)["index"], read_rows(p)["done"])
            if d]
    assert sorted(done) == list(range(6))  # each simulation done exactly once
