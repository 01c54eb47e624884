"""The figure scripts that need a trained model, on two small real runs (CNN and D-MPNN)."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

from glasskit.util.tables import read_table  # noqa: E402
from conftest import ROOT, glasskit  # noqa: E402

pytestmark = pytest.mark.slow


def script(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "analysis" / name), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def trained(ml_campaign, tmp_path_factory):
    """Two fresh runs, copied (without their checkpoints) into a models directory of their own,
    so other tests' runs on the shared campaign do not enter the tables."""
    common = ["--dataset", "1", "--spec", ml_campaign, "--executor", "local", "--hp", "epochs=2", "--hp", "workers=0"]
    models = tmp_path_factory.mktemp("fig") / "models"
    runs = {}
    for model, extra in (("dmpnn", ["--hp", "hidden=16", "--hp", "l_win=0.8", "--hp", "seed=5"]),
                         ("cnn", ["--hp", "image_px=48", "--hp", "dense=8"])):
        proc = glasskit("submit", "train", "--model", model, *common, *extra, check=True)
        rid = re.search(r"local job \d+: run (\S+),", proc.stderr).group(1)
        src = Campaign.of(load_spec(ml_campaign)).workdir / "models" / rid
        runs[model] = Path(shutil.copytree(src, models / rid, ignore=shutil.ignore_patterns("checkpoint.pt", "submitit")))
    return models, runs


def test_accuracy_table_matches_the_runs(trained, tmp_path):
    models, runs = trained
    proc = script("accuracy.py", models, "--out", tmp_path / "acc")
    assert proc.returncode == 0, proc.stderr
    rows = {(r["model"], r["dataset"]): r for r in read_table(tmp_path / "acc.csv")}
    for model, d in runs.items():
        test = json.loads((d / "metrics.json").read_text())["test"]
        assert float(rows[(model, "1")]["auc"]) == pytest.approx(test["auc"])
    assert (tmp_path / "acc.png").stat().st_size > 0 and (tmp_path / "acc.pdf").exists()


def test_a_damaged_run_is_reported_and_the_others_are_still_drawn(trained, tmp_path):
    models, runs = trained
    work = Path(shutil.copytree(models, tmp_path / "models"))
    bad = work / "dmpnn-d1-default-damaged0"
    bad.mkdir()
    (bad / "metrics.json").write_text('{"test": {"auc": 9')  # truncated
    forged = work / "cnn-d1-default-forged00"
    forged.mkdir()
    (forged / "metrics.json").write_text(json.dumps({"config": {"model": "cnn", "dataset": 1},
                                                     "test": {"auc": 7.0, "accuracy": 1, "n": 5},
                                                     "val": {"auc": 1, "accuracy": 1, "n": 5}}))
    proc = script("accuracy.py", work, "--out", tmp_path / "acc")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "skipping the damaged run dmpnn-d1-default-damaged0" in proc.stderr
    assert "skipping the damaged run cnn-d1-default-forged00" in proc.stderr
    rows = {(r["model"], r["dataset"]): r for r in read_table(tmp_path / "acc.csv")}
    for model, d in runs.items():  # the good runs, and only they, make the bars
        assert float(rows[(model, "1")]["auc"]) == pytest.approx(json.loads((d / "metrics.json").read_text())["test"]["auc"])
    pred = work / runs["dmpnn"].name / "predictions.csv"
    pred.write_text(pred.read_text().replace(",test", ",tset", 1))
    proc = script("attention.py", work / runs["dmpnn"].name, "--out", tmp_path)
    assert proc.returncode == 2 and "predictions.csv is damaged" in proc.stderr and "Traceback" not in proc.stderr


def test_attention_counts_are_consistent(trained, tmp_path):
    proc = script("attention.py", trained[1]["dmpnn"], "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    counts = read_table(tmp_path / "attention_counts.csv")
    assert {c["config"] for c in counts} == {"liquid", "glass"}
    for c in counts:
        assert 0 < int(c["high"]) < int(c["edges"])
        assert int(c["high_AA"]) + int(c["high_AB"]) + int(c["high_BB"]) == int(c["high"])
    edges = read_table(tmp_path / "attention.csv")
    assert len(edges) == sum(int(c["edges"]) for c in counts)


def test_cnn_figures_and_wrong_run_kind(trained, tmp_path):
    cnn, dmpnn = trained[1]["cnn"], trained[1]["dmpnn"]
    proc = script("feature_maps.py", cnn, "--out", tmp_path, "--maps", "3")
    assert proc.returncode == 0, proc.stderr
    maps = read_table(tmp_path / "feature_maps.csv")  # tidy: one row per (map, configuration)
    assert len(maps) == 12 and {r["configuration"] for r in maps} == {"liquid", "glass"}
    proc = script("nfold_verdict.py", cnn, "--out", tmp_path, "--count", "1", "--folds", "5")
    assert proc.returncode == 0, proc.stderr
    rows = read_table(tmp_path / "nfold_verdict.csv")
    assert [r["variant"] for r in rows] == ["5-fold", "random"] and all(0 <= float(r["p_liquid"]) <= 1 for r in rows)
    bad = script("feature_maps.py", dmpnn)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "CNN run" in bad.stderr
    missing = script("attention.py", tmp_path / "nope")
    assert missing.returncode == 2 and "not a trained run" in missing.stderr and "Traceback" not in missing.stderr


def test_transfer_and_training_time(trained, ml_campaign, tmp_path):
    models, runs = trained
    proc = script("transfer.py", models, "--model", "dmpnn", "--out", tmp_path / "tr")
    assert proc.returncode == 0, proc.stderr
    cells = read_table(tmp_path / "tr.csv")
    test = json.loads((runs["dmpnn"] / "metrics.json").read_text())["test"]
    diagonal = [c for c in cells if c["train"] == c["test"] == "1"]
    assert len(diagonal) == 1 and diagonal[0]["run"] == runs["dmpnn"].name
    # the diagonal is the run's own test split and test AUC, not a re-draw over other samples
    assert int(diagonal[0]["n"]) == test["n"] and float(diagonal[0]["auc"]) == pytest.approx(test["auc"], abs=1e-4)
    c = Campaign.of(load_spec(ml_campaign))
    proc = script("training_time.py", "--campaign", c.workdir / "campaign.h5", "--spec", ml_campaign,
                  "--l-win", "0.6", "--steps", "1", "--batch", "1", "--out", tmp_path / "tt")
    assert proc.returncode == 0, proc.stderr
    rows = read_table(tmp_path / "tt.csv")
    assert [r["model"] for r in rows] == ["model-i", "model-ii", "model-iii"] and all(float(r["train_ms"]) > 0 for r in rows)
    bad = script("training_time.py", "--steps", "0")
    assert bad.returncode == 2 and "--steps" in bad.stderr
