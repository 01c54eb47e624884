"""glasskit at a real site: profiles in the user's project, the scripts a site admin accepts,
searches that leave nothing on the login node, progress a user can watch."""
import json
import os
import signal
import subprocess
import time

import pytest

from glasskit.util.arrayspec import parse_array
from glasskit.batch.cluster import load_cluster
from glasskit.util.errors import GlasskitError
from glasskit.campaign.spec import load_spec
from glasskit.batch.submit import prepare

from conftest import GLASSKIT, ROOT, glasskit, wait_until, write_spec

SITE = '''name = "{name}"
cores_per_node = 128
ranks_per_task = 128
time = "36:00:00"
charge = "node"
account = "m0000"
launcher = ["srun"]
atom_steps_per_s = 4.2e6
{extra}
'''


def _profile(path, name="mysite", extra=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SITE.format(name=name, extra=extra))
    return path


def test_cluster_found_in_the_project_then_env_then_shipped_or_by_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GlasskitError) as err:
        load_cluster("mysite")
    assert "glasskit init --cluster mysite" in str(err.value)
    _profile(tmp_path / "elsewhere" / "mysite.toml", extra='partition = "from-env"')
    monkeypatch.setenv("GLASSKIT_CLUSTERS", str(tmp_path / "elsewhere"))
    assert load_cluster("mysite").partition == "from-env"
    _profile(tmp_path / "hpc" / "clusters" / "mysite.toml", extra='partition = "from-project"')
    assert load_cluster("mysite").partition == "from-project"  # the project's own wins
    assert load_cluster("local").name == "local"  # the shipped ones stay reachable
    p = _profile(tmp_path / "any" / "x.toml", name="x", extra='partition = "by-path"')
    assert load_cluster(str(p)).partition == "by-path"
    with pytest.raises(GlasskitError):
        load_cluster(str(tmp_path / "missing.toml"))


@pytest.mark.parametrize("extra, word", [
    ('sbatch = ["--mail-type=FAIL; rm -rf ~"]', "must be plain"),
    ('sbatch = ["--wrap=id"]', "submitit sets itself"),
    ('sbatch = ["--time=99:00:00"]', "submitit sets itself"),
    ('qos = "regular\\n#SBATCH --wrap=x"', "'qos'"),
    ('constraint = "$(id)"', "'constraint'"),
    ('[env]\n"A B" = "1"', "not a variable name"),
    ('[env]\nX = "a\\nb"', "one-line value"),
    ('gpus_per_node = 4', "moved into the [gpu] table"),
    ('[gpu]\ngpus_per_node = -1', "'gpu.gpus_per_node'"),
    ('[gpu]\nmemory_per_gpu = "lots"', "'gpu.memory_per_gpu'"),
    ('[gpu]\nfoo = 1', "unknown key 'gpu.foo'"),
    ('reservation = "a b"', "'reservation'"),
    ('time_margin = 0.5', "'time_margin'"),
])
def test_hostile_profile_values_are_refused(tmp_path, extra, word):
    p = _profile(tmp_path / "bad.toml", extra=extra)
    with pytest.raises(GlasskitError) as err:
        load_cluster(str(p))
    assert word in str(err.value)


def test_env_values_are_quoted_in_the_script(tmp_path):
    p = _profile(tmp_path / "q.toml", extra='[env]\nX = "$(touch pwned); `id`"')
    spec = load_spec("jobs/simulate.toml", workdir="/scratch/p")
    (prep,) = prepare("simulate", spec, parse_array("0-3"), load_cluster(str(p)), exe=["glasskit"])
    assert "export X='$(touch pwned); `id`'\n" in prep.job.script


def _directives(script: str) -> list[str]:
    return [ln[len("#SBATCH "):] for ln in script.splitlines() if ln.startswith("#SBATCH ")]


def test_paper_campaign_on_a_node_charged_site_is_one_array_per_cost_class_with_whole_nodes():
    """What NERSC documents for Perlmutter CPU jobs (qos, -C cpu, -N, -t, OMP_NUM_THREADS set, srun)
    and what any site wants of an array: whole nodes asked as nodes, a time near the need."""
    spec = load_spec("jobs/simulate.toml", workdir="/scratch/p")
    fast, slow = prepare("simulate", spec, None, load_cluster("example-supercomputer"), exe=["glasskit"])
    for prep in (fast, slow):
        d = _directives(prep.job.script)
        for want in ("--nodes=1", "--ntasks=128", "--exclusive", "--qos=regular", "--constraint=cpu",
                     "--account=m0000", "--mail-type=FAIL"):
            assert want in d, (want, d)
        assert "export OMP_NUM_THREADS=1\n" in prep.job.script and "\nsrun " in prep.job.script
    assert "--sims 10000-19999" in fast.job.script and "--sims 0-9999" in slow.job.script
    t_fast = [x for x in _directives(fast.job.script) if x.startswith("--time=")][0]
    t_slow = [x for x in _directives(slow.job.script) if x.startswith("--time=")][0]
    # fast ramps: 79 tasks of ~127 simulations of 2e5 steps -> minutes, not the profile's 36 h
    assert t_fast == "--time=00:10:00" and t_slow not in (t_fast, "--time=36:00:00")
    hours = int(t_slow.split("=")[1].split(":")[0])
    assert fast.bill.longest_task_s * 1.5 <= 600 and 1.5 * slow.bill.longest_task_s / 3600 <= hours + 1
    assert "node-hours" in fast.bill.lines()[0]
    assert slow.bill.node_hours == pytest.approx(slow.bill.core_hours / 128, rel=0.05)


def test_few_simulations_get_as_many_ranks_and_no_exclusive_node():
    spec = load_spec("jobs/simulate.toml", workdir="/scratch/p")
    (prep,) = prepare("simulate", spec, parse_array("0-3"), load_cluster("example-supercomputer"), exe=["glasskit"])
    d = _directives(prep.job.script)
    assert "--ntasks=4" in d and "--exclusive" not in d and prep.job.ranks == 4
    # node-charged: the bill is the whole node for the longest task, not 4 cores' worth
    assert prep.bill.node_hours == pytest.approx(prep.bill.longest_task_s / 3600)


def test_a_campaign_of_one_cost_is_one_array(tiny_spec):
    spec = load_spec(tiny_spec)
    assert len(prepare("simulate", spec, None, load_cluster("local"), exe=["glasskit"])) == 1


def test_training_job_uses_the_gpu_table_and_a_cpu_only_torch_is_refused(tmp_path, monkeypatch):
    from glasskit.ml.launch import Launcher
    prof = load_cluster("example-supercomputer")
    lau = Launcher.of("slurm", 4, prof)
    p = lau.params
    assert (p["gpus_per_node"], p["cpus_per_task"], p["mem_per_gpu"], p["constraint"]) == (4, 32, "60G", "gpu")
    assert p["time"] == 360 and p["qos"] == "regular" and "module load pytorch/2.3" in p["setup"]
    w = lau.for_workers().params
    assert (w["gpus_per_node"], w["ntasks_per_node"], w["job_name"]) == (1, 1, "gk-search")
    import torch
    if torch.version.cuda is None:
        monkeypatch.setattr("glasskit.batch.executors.SlurmExecutor.check", lambda self, profile: None)
        with pytest.raises(GlasskitError) as err:
            lau.check()
        assert "CPU-only build" in str(err.value) and "gpus_per_node = 0" in str(err.value)
        assert "a real submission is refused" in lau.preview(tmp_path)
    cpu = Launcher.of("slurm", 2, load_cluster("local")).params
    assert cpu["mem"] == "6G" and "gpus_per_node" not in cpu  # 2 CPU processes x 3G measured


def test_search_dry_run_shows_the_driver_job_and_the_workers_it_submits(ml_campaign):
    args = ["submit", "search", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign, "--evals", "2",
            "--workers", "3", "--executor", "slurm", "--cluster", "example-supercomputer", "--dry-run"]
    refused = glasskit(*args)
    assert refused.returncode == 2 and "cannot reach the embedded" in refused.stderr
    assert "Traceback" not in refused.stderr and "--mongo-host auto" in refused.stderr
    proc = glasskit(*args, "--mongo-host", "auto")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    driver, workers = out.split("# ==== what the driver runs ====")
    assert "#SBATCH --job-name=gk-search-driver" in driver and "#SBATCH --constraint=cpu" in driver
    assert "#SBATCH --gpus-per-node" not in driver
    assert "#SBATCH --job-name=gk-search" in workers and "#SBATCH --gpus-per-node=1" in workers
    assert "#SBATCH --constraint=gpu" in workers and "each of the 3 worker jobs" in workers
    assert "no authentication" in workers


@pytest.mark.slow
def test_status_shows_how_far_a_running_simulation_is(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112, runs=((1, 400000),), dump_every=1000)
    proc = subprocess.Popen(GLASSKIT + ["submit", "simulate", "--spec", str(spec), "--executor", "local"],
                            cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "GLASSKIT_REPORT_S": "0.2"})
    try:
        def report():
            out = glasskit("status", "--spec", spec, "--json").stdout
            return json.loads(out)["stages"][0].get("progress", {}).get("0") if out else None
        wait_until(report, timeout=120, interval=0.5)
        first = report()
        time.sleep(1.5)
        second = report()
        text = glasskit("status", "--spec", spec).stdout
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert first["frames"] == 400 and 1 <= first["frame"] < second["frame"] <= 400
    assert second["step"] == second["frame"] * 1000 and second["matom_step_s"] > 0
    assert 0.05 <= second["temp"] <= 4.0
    assert "progress of 1 running simulation(s) reporting" in text and "sim 0: frame " in text
