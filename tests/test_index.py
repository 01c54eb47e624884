"""One scan per command: status and a minimize task open each shard once (counted)."""
import collections

import h5py
import pytest

from glasskit.batch.watch import campaign_status
from glasskit.campaign.index import CampaignIndex
from glasskit.campaign.layout import Campaign
from glasskit.campaign.sharding import plan
from glasskit.campaign.spec import load_spec
from glasskit.stages.task import run_task

from conftest import glasskit, write_spec


@pytest.fixture
def opens(monkeypatch):
    """Every h5py.File opened from now on, by path."""
    count = collections.Counter()
    real = h5py.File

    class Counting(real):
        def __init__(self, name, *args, **kwargs):
            count[str(name)] += 1
            super().__init__(name, *args, **kwargs)
    monkeypatch.setattr(h5py, "File", Counting)
    return count


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("index")
    spec = write_spec(tmp / "s.toml", tmp / "c", runs=((6, 200),), dump_every=100)
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    return Campaign.of(load_spec(spec))


def test_status_opens_each_shard_once(simulated, opens):
    index, (sim, mini) = campaign_status(simulated)
    shards = [str(p) for p in simulated.shards("simulate")]
    assert len(shards) >= 2 and sim.done == set(range(6))
    assert {p: opens[p] for p in shards} == {p: 1 for p in shards}
    assert not set(opens) - set(shards)  # nothing else, and init.h5 not at all
    assert mini.frames_total == 12 and mini.frames_done == 0


def test_a_minimize_task_reads_its_slice_not_every_shard(simulated, opens):
    index = CampaignIndex.scan(simulated)
    sims = [0, 1]
    simulated.submissions_dir.mkdir(parents=True, exist_ok=True)
    index.write_slice(simulated.submissions_dir / "sub-min.index.json", sims)
    opens.clear()
    run_task(simulated, plan(sims, 1, 1), 0, "sub-min", "minimize")
    sources = {str(index["simulate"].located[s].path) for s in sims}
    own = str(simulated.shard_path("minimize", "sub-min", 0))
    others = {str(p) for p in simulated.shards("simulate")} - sources
    assert others and not others & set(opens)  # the shards of other simulations stay closed
    assert all(opens[p] == 1 for p in sources)  # each source shard opened once for the task
    assert opens[own] >= 1
    with h5py.File(own, "r") as f:
        assert f["sim/done"][...].all()


def test_one_scheduler_query_for_all_submissions_of_a_command(simulated, monkeypatch):
    import glasskit.batch.watch as watch
    calls = []
    monkeypatch.setattr(watch.subprocess, "run", lambda argv, **kw: calls.append(argv) or
                        type("P", (), {"stdout": "901_0|RUNNING\n902_[1-3]|PENDING\n", "returncode": 0})())
    for sub, job in (("sub-a", "901"), ("sub-b", "902"), ("sub-c", "903")):
        simulated.record(sub, {"submission": sub, "stage": "simulate", "executor": "slurm", "job_id": job,
                               "slurm_conf": "", "sims": "0-5", "n_tasks": 2, "ranks": 1, "balance": "count"})
    try:
        answer = watch.live(simulated)
        _, (sim, _) = campaign_status(simulated)
    finally:
        for sub in ("sub-a", "sub-b", "sub-c"):
            (simulated.submissions_dir / f"{sub}.json").unlink()
    assert len(calls) == 2 and all(c[0] == "squeue" for c in calls)  # one per command, not per record
    assert answer == {"sub-a": {0}, "sub-b": None}  # 903 has ended: not live
    assert sim.running == set()  # every simulation is done already


def test_a_slice_pointing_at_the_wrong_row_fails_that_simulation_not_another(simulated, tmp_path):
    import json
    index = CampaignIndex.scan(simulated)
    path = simulated.slice_path("sub-stale")
    index.write_slice(path, [0, 1])
    data = json.loads(path.read_text())
    data["sims"]["0"]["simulate"] = data["sims"]["1"]["simulate"]  # row of simulation 1 named for 0
    path.write_text(json.dumps(data))
    res = run_task(simulated, plan([0, 1], 1, 1), 0, "sub-stale", "minimize")
    assert res.done == [1] and "stale index slice" in res.failed[0]
    assert not any(r.get("submission") == "sub-stale" for r in simulated.records("minimize"))  # a slice is no record
