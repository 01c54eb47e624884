"""`glasskit submit train|cv` and `status` from the command line: real runs through submitit's
local executor, and hostile input that must end in one line, exit code 2 and nothing written."""
import json
import re

import pytest

pytest.importorskip("torch")

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

from conftest import glasskit  # noqa: E402

SMALL = ["--hp", "hidden=16", "--hp", "depth=2", "--hp", "epochs=2", "--hp", "workers=0", "--hp", "l_win=0.6",
         "--hp", "batch=4"]  # a global batch that divides over --tasks 2


def _models(spec):
    return Campaign.of(load_spec(spec)).workdir / "models"


@pytest.mark.parametrize("args, words", [
    (["--tasks", "0"], "--tasks 0"),
    (["--tasks", "64"], "exceeds the"),
    (["--hp", "bogus=1"], "bogus is not a setting"),
    (["--hp", "hidden=-5"], "dmpnn.hidden"),
    (["--hp", "dropout=nan"], "dmpnn.dropout"),
    (["--hp", "epochs=1e12"], "train.epochs"),
    (["--hp", "attention=sideways"], "must be one of"),
    (["--hp", "justtext"], "not key=value"),
    (["--hp", "l_win=0.02"], "too few for k"),
    (["--preset", "model-x"], "no preset 'model-x'"),
    (["--dataset", "9"], "no dataset 9"),
    (["--dataset", "-3"], "out of range"),
    (["--models", "jobs/nope.toml"], "does not exist"),
    (["--executor", "local", "--cluster", "../../etc/passwd"], "invalid cluster name"),
])
def test_bad_training_input_is_one_line_and_writes_nothing(ml_campaign, args, words):
    before = sorted(_models(ml_campaign).glob("*")) if _models(ml_campaign).exists() else None
    proc = glasskit("submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign,
                    "--executor", "local", *args)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert err[-1].startswith("glasskit: error: ") and words in err[-1], err
    assert "Traceback" not in proc.stderr
    after = sorted(_models(ml_campaign).glob("*")) if _models(ml_campaign).exists() else None
    assert after == before


def test_cnn_preset_and_binary_models_file_are_refused(ml_campaign, tmp_path):
    proc = glasskit("submit", "train", "--model", "cnn", "--preset", "model-ii", "--dataset", "1",
                    "--spec", ml_campaign, "--executor", "local")
    assert proc.returncode == 2 and "D-MPNN preset" in proc.stderr
    bad = tmp_path / "models.toml"
    bad.write_bytes(b"\xff\xfe[cnn]\n")
    proc = glasskit("submit", "train", "--model", "cnn", "--dataset", "1", "--spec", ml_campaign,
                    "--models", bad, "--executor", "local")
    assert proc.returncode == 2 and "UTF-8" in proc.stderr and "Traceback" not in proc.stderr
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    proc = glasskit("submit", "train", "--model", "cnn", "--dataset", "1", "--spec", ml_campaign,
                    "--models", deep, "--executor", "local")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_missing_campaign_file_names_the_fix(tmp_path):
    from conftest import write_spec
    spec = write_spec(tmp_path / "s.toml", tmp_path / "never")
    proc = glasskit("submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", spec, "--executor", "local")
    assert proc.returncode == 2 and "glasskit collect" in proc.stderr
    assert not (tmp_path / "never").exists()


def test_dry_run_on_slurm_prints_submitit_parameters_and_sbatch(ml_campaign):
    proc = glasskit("submit", "train", "--model", "dmpnn", "--preset", "model-ii", "--dataset", "6",
                    "--spec", ml_campaign, "--cluster", "local", "--executor", "slurm", "--tasks", "2", "--hp", "batch=4",
                    "--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "#SBATCH --ntasks-per-node=2" in out and "submitit.core._submit" in out
    assert "--kill-on-bad-exit=1" in out and '"hidden": 1000' in out and "ntasks_per_node = 2" in out
    run = re.search(r"# run (\S+) ->", out).group(1)
    assert not (_models(ml_campaign) / run).exists()


@pytest.mark.slow
def test_train_then_status_then_resubmit_is_a_no_op(ml_campaign):
    proc = glasskit("submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign,
                    "--executor", "local", "--tasks", "2", *SMALL)
    assert proc.returncode == 0, proc.stderr
    runs = [_models(ml_campaign) / re.search(r"local job \d+: run (\S+),", proc.stderr).group(1)]
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and len(metrics["epochs"]) == 2
    st = glasskit("status", "--spec", ml_campaign, check=True).stdout
    assert re.search(r"train: \d+ run\(s\): done \d+", st) and f"done        {runs[0].name}" in st
    again = glasskit("submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign,
                     "--executor", "local", "--tasks", "2", *SMALL)
    assert again.returncode == 0 and "already done" in again.stderr
    assert len(list((runs[0] / "submitit").glob("*_submitted.pkl"))) == 1  # nothing resubmitted


@pytest.mark.slow
def test_cv_writes_a_table_of_three_folds(ml_campaign):
    proc = glasskit("submit", "cv", "--model", "dmpnn", "--preset", "model-i", "--dataset", "1",
                    "--spec", ml_campaign, "--executor", "local", *SMALL)
    assert proc.returncode == 0, proc.stderr
    cv = Campaign.of(load_spec(ml_campaign)).workdir / "cv"
    res = json.loads(next(cv.glob("*/results.json")).read_text())
    assert res["K"] == 3 and len(res["folds"]) == 3 and res["preset"] == "model-i"
    assert all(f["hyperparameters"]["hidden"] == 16 and f["hyperparameters"]["k"] == 1 for f in res["folds"])
    # outer test folds are disjoint and cover the dataset's simulations
    sims = []
    for f in res["folds"]:
        cfgj = json.loads((cv.parent / "models" / f["run"] / "config.json").read_text())
        sims.append({s for s, _ in cfgj["splits"]["val"] + cfgj["splits"]["test"]})
    assert not (sims[0] & sims[1]) and not (sims[1] & sims[2]) and len(set.union(*sims)) == 12
    lines = next(cv.glob("*/results.csv")).read_text().splitlines()
    assert all(line.split(",")[0].isdigit() for line in lines[1:])  # tidy: one row per fold, no summary rows
    summary = (next(cv.glob("*/summary.csv"))).read_text().splitlines()
    assert summary[0].startswith("metric,mean,sd,n_folds") and summary[1].startswith("auc,")
