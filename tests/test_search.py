"""Hyperparameter search: pymongo 4 layer, race-free reservation, parallel TPE, nothing lost."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("hyperopt")
pytest.importorskip("pymongo")

from conftest import ROOT, glasskit, wait_until  # noqa: E402
from glasskit.batch.cluster import load_cluster  # noqa: E402
from glasskit.ml import triallog  # noqa: E402
from glasskit.ml.config import load_models  # noqa: E402
from glasskit.ml.launch import Launcher  # noqa: E402
from glasskit.ml.search.mongoserver import EmbeddedMongo, binary, connect  # noqa: E402
from glasskit.ml.search.objective import FixedCost, cast  # noqa: E402
from glasskit.ml.search.driver import Search, run  # noqa: E402

DIMS = load_models(ROOT / "jobs/models.toml").search["dmpnn"]


def fixed(tmp: Path, evals: int, workers: int = 0, seconds: float = 0.05, stale: float = 60.0, nan_at=None,
          name: str = "exp") -> Search:
    d = tmp / "searches" / name
    launcher = Launcher.of("local", 1, load_cluster("local")) if workers else None
    return Search(name, d, FixedCost(str(d), DIMS, seconds=seconds, nan_at=nan_at), DIMS, evals, workers,
                  None, 0, stale, launcher, threads=1)


def test_space_casts_to_the_authors_grid():
    point = cast(DIMS, {"k": 2.9999999, "l_win": 0.30000000000000004, "hidden": 1700.0000001, "depth": 4.0,
                        "ffn_layers": 1.0, "dropout": 0.15000000000000002})
    assert point == {"k": 3, "l_win": 0.3, "hidden": 1700, "depth": 4, "ffn_layers": 1, "dropout": 0.15}
    assert all(isinstance(point[k], int) for k in ("k", "hidden", "depth", "ffn_layers"))
    assert (DIMS["k"].low, DIMS["k"].high, DIMS["hidden"].low, DIMS["hidden"].high, DIMS["hidden"].step) == \
        (1, 5, 300, 2400, 100)


def test_a_failed_or_nan_trial_is_never_the_best(tmp_path):
    recs = [{"tid": 0, "status": "fail", "loss": None}, {"tid": 1, "status": "ok", "loss": float("nan")},
            {"tid": 2, "status": "ok", "loss": -0.7}, {"tid": 3, "status": "ok", "loss": -0.9}]
    assert triallog.best(recs)["tid"] == 3
    assert triallog.best(recs[:2]) is None
    # a search whose NaN trials would have the lowest loss: TPE is told they failed
    s = fixed(tmp_path, evals=12, nan_at=("ffn_layers", 1))
    best = run(s)
    records = triallog.read(s.directory)
    nan = [r for r in records if r["params"]["ffn_layers"] == 1]
    assert nan and all(r["status"] == "fail" for r in nan)
    assert best["params"]["ffn_layers"] != 1 and best["tid"] not in {r["tid"] for r in nan}


def test_trials_jsonl_keeps_the_last_line_per_trial_and_skips_a_torn_line(tmp_path):
    triallog.append(tmp_path, {"tid": 1, "status": "ok", "vals": {}, "loss": -0.5})
    triallog.append(tmp_path, {"tid": 0, "status": "ok", "vals": {}, "loss": -0.6})
    triallog.append(tmp_path, {"tid": 1, "status": "ok", "vals": {}, "loss": -0.8})
    with open(tmp_path / triallog.TRIALS, "a") as fh:
        fh.write('{"tid": 2, "status": "o')
    recs = triallog.read(tmp_path)
    assert [r["tid"] for r in recs] == [0, 1] and recs[1]["loss"] == -0.8


def test_in_process_search_resumes_without_redoing_trials(tmp_path):
    s = fixed(tmp_path, evals=5)
    run(s)
    first = triallog.read(s.directory)
    assert [r["tid"] for r in first] == [0, 1, 2, 3, 4]
    lines = (s.directory / triallog.TRIALS).read_text().splitlines()
    run(s)  # the same command again: nothing to run
    assert (s.directory / triallog.TRIALS).read_text().splitlines() == lines
    s.evals = 7  # more evals extend the same experiment
    best = run(s)
    recs = triallog.read(s.directory)
    assert [r["tid"] for r in recs] == list(range(7))
    assert recs[:5] == first
    assert best["trials"] == 7 and json.loads((s.directory / "best.json").read_text())["tid"] == best["tid"]


def _reserver_script(url: str, n_out: Path) -> str:
    return textwrap.dedent(f"""
        import json, os
        from glasskit.ml.search.mongoserver import connect
        from glasskit.ml.search.worker import jobs_handle
        _, db = connect({url!r})
        mj = jobs_handle(db)
        got = []
        while True:
            job = mj.reserve(f"w{{os.getpid()}}", exp_key="race")
            if job is None:
                break
            got.append(job["tid"])
        open({str(n_out)!r}, "w").write(json.dumps(got))
    """)


def test_four_processes_reserving_300_jobs_never_share_one(tmp_path):
    with EmbeddedMongo(tmp_path / "mongo.log") as server:
        _, db = connect(server.url)
        db.jobs.insert_many([{"tid": i, "exp_key": "race", "state": 0, "owner": None, "version": 0}
                             for i in range(300)])
        outs = [tmp_path / f"r{i}.json" for i in range(4)]
        procs = [subprocess.Popen([sys.executable, "-c", _reserver_script(server.url, o)]) for o in outs]
        assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
        got = [t for o in outs for t in json.loads(o.read_text())]
        assert sorted(got) == list(range(300)), f"{len(got) - len(set(got))} double reservation(s)"
        assert sum(bool(json.loads(o.read_text())) for o in outs) >= 2  # they really raced
        assert db.jobs.count_documents({"state": 1}) == 300


def test_hyperopts_own_mongoexp_tests_pass_on_pymongo4_with_the_layer(tmp_path):
    """hyperopt ships tests/integration/test_mongoexp.py; it starts `mongod --port=22334`: a shim
    runs the embedded jongodb instead, and `-p glasskit.ml.search.mongoexp4` applies glasskit's layer."""
    shim = tmp_path / "bin" / "mongod"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nfor a; do case $a in --port=*) port=${a#--port=};; esac; done\n"
                    f"exec {binary()} --host=127.0.0.1 --port=$port\n")
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "glasskit.ml.search.mongoexp4", "-p", "no:cacheprovider",
                           "--pyargs", "hyperopt.tests.integration.test_mongoexp", "-q", "--timeout", "120"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    tail = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "12 passed" in tail and "failed" not in tail and "skipped" not in tail, tail


def test_parallel_search_on_the_embedded_server_then_reseeded_when_it_is_gone(tmp_path, caplog):
    s = fixed(tmp_path, evals=6, workers=2, seconds=0.3)
    best = run(s)
    recs = triallog.read(s.directory)
    assert [r["tid"] for r in recs] == list(range(6))
    assert len({r["pid"] for r in recs}) == 2  # both workers ran trials
    assert best["trials"] == 6 and (s.directory / "mongo.log").is_file()
    assert not list((s.directory / "running").glob("*.json"))
    # the embedded server died with the search: a longer run starts a new one, seeded from the file
    s.evals = 8
    with caplog.at_level("INFO", logger="glasskit"):
        run(s)
    assert "re-seeded 6 finished trial(s)" in caplog.text
    recs2 = triallog.read(s.directory)
    assert recs2[:6] == recs and [r["tid"] for r in recs2] == list(range(8))


def test_a_worker_killed_mid_trial_has_its_trial_requeued(tmp_path):
    s = fixed(tmp_path, evals=4, workers=2, seconds=2.0, stale=2.0)
    result, error = {}, []

    def drive():
        try:
            result.update(run(s))
        except Exception as exc:  # noqa: BLE001
            error.append(exc)

    t = threading.Thread(target=drive)
    t.start()
    marker = wait_until(lambda: next(iter((s.directory / "running").glob("*.json")), None), 60, 0.05)
    victim = json.loads(marker.read_text())
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()
    rerun = wait_until(lambda: next((r for r in triallog.read(s.directory) if r["tid"] == victim["tid"]), None),
                       90, 0.1)
    t.join(120)
    assert not t.is_alive() and not error, error
    assert rerun["pid"] != victim["pid"]  # another worker (or the replacement) ran it
    recs = triallog.read(s.directory)
    assert [r["tid"] for r in recs] == [0, 1, 2, 3] and result["trials"] == 4
    assert time.monotonic() - killed < 60


def test_unreachable_or_malformed_mongo_is_one_line_before_anything_is_submitted(ml_campaign, tmp_path):
    base = ["submit", "search", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign, "--executor", "local"]
    for url, words in (("mongodb://127.0.0.1:1/glass", "cannot reach the MongoDB server"),
                       ("http://db.host/glass", "is not a MongoDB URL")):
        p = glasskit(*base, "--workers", "1", "--mongo", url)
        assert p.returncode == 2, p.stderr
        assert words in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    for args, words in ((["--evals", "0"], "--evals 0"), (["--workers", "-1"], "--workers -1"),
                        (["--workers", "4096"], "--workers 4096"), (["--mongo", "mongodb://x:1/y"], "needs --workers"),
                        (["--stale-after", "nan"], "--stale-after")):
        p = glasskit(*base, *args)
        assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
    p = glasskit("submit", "cv", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign, "--workers", "2")
    assert p.returncode == 2 and "--search" in p.stderr
    workdir = Path(ml_campaign).parent / "campaign"
    assert not (workdir / "searches").exists()


def test_dry_run_shows_the_plan_and_writes_nothing(ml_campaign):
    p = glasskit("submit", "search", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign, "--evals", "5",
                 "--workers", "2", "--executor", "local", "--dry-run")
    assert p.returncode == 0, p.stderr
    assert "TPE over k 1-5 step 1" in p.stdout and "5 trial(s)" in p.stdout and "embedded jongodb" in p.stdout
    assert "2 worker(s)" in p.stdout
    assert not (Path(ml_campaign).parent / "campaign" / "searches").exists()


@pytest.mark.slow
@pytest.mark.slurm
def test_search_workers_run_as_a_slurm_job_array(tmp_path, local_slurm, monkeypatch, caplog):
    monkeypatch.setenv("SLURM_CONF", local_slurm["SLURM_CONF"])
    s = fixed(tmp_path, evals=4, workers=2, seconds=0.2)
    s.launcher = Launcher.of("slurm", 1, load_cluster("local"))
    with caplog.at_level("INFO", logger="glasskit"):
        best = run(s)
    assert best["trials"] == 4 and [r["tid"] for r in triallog.read(s.directory)] == [0, 1, 2, 3]
    (line,) = [r.getMessage() for r in caplog.records if "slurm worker(s)" in r.getMessage()]
    array = line.split("(jobs ")[1].split(")")[0].split(", ")
    assert len(array) == 2 and len({j.split("_")[0] for j in array}) == 1 and all("_" in j for j in array)
    logs = list((s.directory / "workers").glob("*_log.err"))
    assert logs and any("finished after" in p.read_text() for p in logs)


@pytest.mark.slow
def test_search_and_nested_cv_with_search_train_real_models(ml_campaign, tmp_path):
    # l_win pinned: on these 120-particle frames the authors' smaller windows hold too few particles
    hp = ["--hp", "epochs=1", "--hp", "warmup_epochs=0", "--hp", "workers=0", "--hp", "l_win=0.9"]
    base = ["--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign, "--executor", "local", *hp]
    p = glasskit("submit", "search", *base, "--evals", "3")
    assert p.returncode == 0, p.stderr
    workdir = Path(ml_campaign).parent / "campaign"
    (exp,) = [d for d in (workdir / "searches").iterdir() if d.name.startswith("search-dmpnn-d1-")]
    recs = triallog.read(exp)
    assert len(recs) == 3 and all(r["status"] in ("ok", "fail") for r in recs)
    ok = [r for r in recs if r["status"] == "ok"]
    assert ok and all(-1 <= r["loss"] <= 0 and math.isclose(-r["loss"], r["auc"]) for r in ok)
    assert all((workdir / "models" / r["run"] / "metrics.json").is_file() for r in ok)
    st = glasskit("status", "--spec", ml_campaign)
    assert f"done        {exp.name}  3/3 trials finished" in st.stdout, st.stdout

    p = glasskit("submit", "cv", *base, "--search", "--evals", "2", "--workers", "2", "--stale-after", "30")
    assert p.returncode == 0, p.stderr
    tables = [json.loads(r.read_text()) for r in (workdir / "cv").glob("*/results.json")]  # other tests' CVs too
    (table,) = [t for t in tables if t.get("selection") == "search"]
    assert len(table["folds"]) == 3
    for f in table["folds"]:
        chosen = f["search"]["params"]
        assert set(chosen) == set(DIMS) - {"l_win"}
        assert all(f["hyperparameters"][k] == v for k, v in chosen.items())  # retrained with the choice
        assert len(triallog.read(workdir / "searches" / f["search"]["experiment"])) == 2
    fig = tmp_path / "search"
    p = subprocess.run([sys.executable, str(ROOT / "analysis/search.py"), str(workdir / "searches"), "--out", str(fig)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = Path(f"{fig}_trials.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 + 3 * 2 and Path(f"{fig}.png").stat().st_size > 10_000
    p = subprocess.run([sys.executable, str(ROOT / "analysis/search.py"), str(workdir / "models")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 2 and "no finished trial" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("line, words", [
    ('{"tid": 1000000000000, "status": "ok", "vals": {}, "loss": -1.0, "auc": 1.0}', "tid"),
    ('{"tid": 3, "status": "ok", "vals": {"k": [2]}, "loss": -5.0, "auc": 5.0, "run": "r"}', "loss"),
    ('{"tid": 3, "status": "ok", "vals": {"k": [2]}, "loss": -1.0, "auc": 0.5, "run": "r"}', "loss"),
    ('{"tid": 3, "status": "ok", "vals": {"k": [2]}, "loss": -1e300, "auc": 0.5}', "loss"),
    ('{"tid": 3, "status": "ok", "vals": {"k": [2]}, "loss": NaN, "auc": NaN}', "loss"),
    ('{"tid": 3, "status": "won", "vals": {}}', "status"),
    ('{"tid": 3, "status": "fail", "vals": {"k": [1, 2, 3]}}', "vals"),
    ('{"tid": 3, "status": "fail", "vals": {"k": ["rm -rf"]}}', "vals"),
    ('{"tid": "3", "status": "fail", "vals": {}}', "tid"),
    ('[1, 2]', "not a JSON object"),
    ('{"tid": 3, "stat', "torn"),
])
def test_a_damaged_or_forged_trial_record_is_skipped_and_named(tmp_path, line, words):
    good = {"tid": 0, "status": "ok", "vals": {"k": [2.0]}, "params": {"k": 2}, "loss": -0.75, "auc": 0.75}
    (tmp_path / triallog.TRIALS).write_text(json.dumps(good) + "\n" + line + "\n")
    skipped = []
    recs = triallog.read(tmp_path, skipped)
    assert [r["tid"] for r in recs] == [0] and triallog.best(recs)["tid"] == 0
    assert len(skipped) == 1 and ":2: " in skipped[0] and words in skipped[0], skipped
