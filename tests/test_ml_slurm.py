"""DDP training on the real local Slurm (with accounting, so submitit sees jobs end)."""
import json
import os
import re
import signal
import subprocess

import pytest

pytest.importorskip("torch")

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

from conftest import GLASSKIT, ROOT, processes, wait_until  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _train(spec, env, epochs, *extra):
    # seed 13: a run of its own on the shared campaign (test_ml_cli trains the same small model
    # locally; the same settings would find that run done and submit nothing)
    return [*GLASSKIT, "submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", str(spec),
            "--cluster", "local", "--executor", "slurm", "--tasks", "2", "--wait", "--hp", "hidden=16",
            "--hp", "workers=0", "--hp", "l_win=0.6", "--hp", f"epochs={epochs}", "--hp", "batch=4",
            "--hp", "seed=13", *extra]


def test_two_task_training_job_completes(local_slurm, ml_campaign):
    proc = subprocess.run(_train(ml_campaign, local_slurm, 2), capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **local_slurm}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"slurm job \d+: run (\S+),", proc.stderr)
    assert found, proc.stderr  # nothing submitted: say why
    rid = found.group(1)
    run = Campaign.of(load_spec(ml_campaign)).workdir / "models" / rid
    m = json.loads((run / "metrics.json").read_text())
    rec = json.loads((run / "run.json").read_text())
    assert m["world_size"] == 2 and rec["executor"] == "slurm" and rec["job_id"].isdigit()

    def accounted():  # sacct lags the job's end by a fraction of a second
        return "COMPLETED" in subprocess.run(["sacct", "-n", "-X", "-j", rec["job_id"], "-o", "State"],
                                             capture_output=True, text=True, env={**os.environ, **local_slurm}).stdout
    wait_until(accounted, timeout=30, interval=0.3)


def test_kill_9_of_one_rank_fails_the_job_clearly_and_a_resubmit_resumes(local_slurm, ml_campaign):
    env = {**os.environ, **local_slurm}
    cmd = _train(ml_campaign, local_slurm, 60)
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    models = Campaign.of(load_spec(ml_campaign)).workdir / "models"

    def run_dir_with_epochs():
        for d in models.glob("*"):
            cfg = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else {}
            if cfg.get("config", {}).get("train", {}).get("epochs") == 60 and (d / "epochs.csv").exists():
                if len((d / "epochs.csv").read_text().splitlines()) >= 3:
                    return d
    run = wait_until(run_dir_with_epochs, timeout=240, interval=0.2)
    victims = [pid for pid, argv, penv in processes()
               if "submitit.core._submit" in " ".join(argv) and str(run) in " ".join(argv)
               and b"SLURM_PROCID=1" in penv]
    assert victims, "rank 1 of the training job was not found"
    os.kill(victims[0], signal.SIGKILL)
    out, err = first.communicate(timeout=180)  # no hang: the job ends and the submitter says so
    assert first.returncode == 1, err
    assert "failed" in err.splitlines()[-1] and "Traceback" not in err
    rec = json.loads((run / "run.json").read_text())
    assert rec["ended"] and rec["error"]
    done_before = len((run / "epochs.csv").read_text().splitlines()) - 1
    assert 0 < done_before < 60 and not (run / "metrics.json").exists()
    st = subprocess.run([*GLASSKIT, "status", "--spec", str(ml_campaign)], capture_output=True, text=True,
                        env=env, cwd=ROOT).stdout
    assert "failed" in st and run.name in st

    again = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=400)
    assert again.returncode == 0, again.stderr
    logs = "".join(p.read_text() for p in (run / "submitit").glob("*_0_log.err"))
    assert f"resuming {run.name} after epoch {done_before}" in logs
    m = json.loads((run / "metrics.json").read_text())
    assert len(m["epochs"]) == 60 and m["world_size"] == 2


def test_search_driver_is_a_slurm_job_and_nothing_stays_with_the_submitting_command(local_slurm, ml_campaign):
    """`submit search --executor slurm`: the command returns once the driver job is queued; the
    driver (a Slurm job) binds the embedded server to its host's address, submits the worker and
    finishes the search; no process of the search is a child of the submitting command."""
    env = {**os.environ, **local_slurm}
    cmd = [*GLASSKIT, "submit", "search", "--model", "dmpnn", "--dataset", "1", "--spec", str(ml_campaign),
           "--cluster", "local", "--executor", "slurm", "--workers", "1", "--evals", "2", "--mongo-host", "auto",
           "--hp", "epochs=1", "--hp", "warmup_epochs=0", "--hp", "workers=0", "--hp", "hidden=16",
           "--hp", "l_win=0.9", "--hp", "batch=4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    job = re.search(r"search driver submitted: Slurm job (\d+)", proc.stdout).group(1)
    workdir = Campaign.of(load_spec(ml_campaign)).workdir
    try:
        def finished():
            return [d for d in (workdir / "searches").glob("search-dmpnn-d1-*") if (d / "best.json").is_file()
                    and json.loads((d / "search.json").read_text()).get("ended")]
        (exp,) = wait_until(finished, timeout=400, interval=1.0)
        st = json.loads((exp / "search.json").read_text())
        best = json.loads((exp / "best.json").read_text())
        assert best["trials"] == 2 and st["workers"] == 1 and st["store"] == "embedded"
        assert st["slurm_job"] == job  # the driver ran as that Slurm job, not beside the submitting command
        log = (workdir / "searches" / "drivers" / f"{job}_0_log.err").read_text()
        server = log.split("embedded MongoDB-wire server (jongodb, in memory) at ")[1].split()[0]
        assert "no authentication" in log and not server.startswith("mongodb://127.")  # a routable address
    finally:
        subprocess.run(["scancel", job], env=env, timeout=30)
        import shutil
        shutil.rmtree(workdir / "searches", ignore_errors=True)
        shutil.rmtree(workdir / "models", ignore_errors=True)
