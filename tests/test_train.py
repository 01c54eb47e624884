"""Training: schedule, AUC, checkpoints that resume exactly, and DDP that matches one process."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
submitit = pytest.importorskip("submitit")

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.ml import train as train_mod  # noqa: E402
from glasskit.ml.config import load_models, resolve  # noqa: E402
from glasskit.ml.launch import Launcher, TrainTask  # noqa: E402
from glasskit.ml.samples import load_samples, split  # noqa: E402
from glasskit.ml.train import lr_factor, roc_auc, train  # noqa: E402
from glasskit.batch.cluster import load_cluster  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

from conftest import ROOT  # noqa: E402

FAST = {"hidden": 16, "depth": 3, "ffn_layers": 2, "dropout": 0.0, "workers": 0, "batch": 4, "l_win": 0.6}


def cfg_of(model="dmpnn", dataset=1, **hp):
    return resolve(load_models(ROOT / "jobs/models.toml"), model, dataset, None, {**FAST, **hp})


def test_learning_rate_schedule_warms_up_then_decays_to_final():
    t = cfg_of(epochs=10).train
    f = [lr_factor(s, 8, t) * t.lr_max for s in range(80)]
    assert f[0] == pytest.approx(t.lr_init) and max(f) == pytest.approx(t.lr_max)
    assert int(np.argmax(f)) == 16  # two warm-up epochs of 8 steps
    assert f[-1] == pytest.approx(t.lr_final) and all(a >= b for a, b in zip(f[16:], f[17:]))


def test_auc_is_the_pair_ordering_probability():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.random(60), 1)  # ties count one half
    pos, neg = s[y == 1], s[y == 0]
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert roc_auc(y, s) == pytest.approx(brute)
    assert np.isnan(roc_auc(np.ones(4), s[:4]))


@pytest.fixture(scope="module")
def table(ml_campaign):
    c = Campaign.of(load_spec(ml_campaign))
    return load_samples(c.workdir / "campaign.h5", ml_campaign, 1, ROOT / "jobs/datasets.toml")


def _parts(table, cfg):
    return dict(zip(("train", "val", "test"), split(table, cfg.train.split, cfg.train.seed)))


def test_a_restarted_run_ends_as_an_uninterrupted_one(table, tmp_path, monkeypatch):
    cfg = cfg_of(epochs=4, dropout=0.3)
    for d in "ab":
        (tmp_path / d).mkdir()
    straight = train(tmp_path / "a", cfg, table, _parts(table, cfg), progress=False)
    real = train_mod._epoch
    calls = {"n": 0}

    def crash_after_two(*args, **kwargs):
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        return real(*args, **kwargs)
    monkeypatch.setattr(train_mod, "_epoch", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "b", cfg, table, _parts(table, cfg), progress=False)
    saved = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)  # plain tensors and numbers
    assert saved["epoch"] == 2 and not (tmp_path / "b" / "metrics.json").exists()
    monkeypatch.setattr(train_mod, "_epoch", real)
    resumed = train(tmp_path / "b", cfg, table, _parts(table, cfg), progress=False)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test"] == straight["test"] and len(resumed["epochs"]) == 4
    assert [e["loss"] for e in resumed["epochs"]] == [e["loss"] for e in straight["epochs"]]


def test_a_run_killed_during_its_final_scoring_resumes_to_the_same_result(table, tmp_path, monkeypatch):
    """Killed after its last epoch's checkpoint, before metrics.json: the resumed run trains
    nothing and scores the test set exactly as the uninterrupted run did (same windows)."""
    cfg = cfg_of(epochs=2, dropout=0.3, windows=2)
    for d in "ab":
        (tmp_path / d).mkdir()
    straight = train(tmp_path / "a", cfg, table, _parts(table, cfg), progress=False)
    real = train_mod._finish

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed during final scoring")
    monkeypatch.setattr(train_mod, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "b", cfg, table, _parts(table, cfg), progress=False)
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["epoch"] == 2
    assert not (tmp_path / "b" / "metrics.json").exists()
    monkeypatch.setattr(train_mod, "_finish", real)
    epochs = {"n": 0}
    real_epoch = train_mod._epoch

    def count(*args, **kwargs):
        epochs["n"] += 1
        return real_epoch(*args, **kwargs)
    monkeypatch.setattr(train_mod, "_epoch", count)
    resumed = train(tmp_path / "b", cfg, table, _parts(table, cfg), progress=False)
    assert epochs["n"] == 0  # nothing retrained
    assert resumed["test"] == straight["test"] and resumed["val"] == straight["val"]
    pa, pb = ((tmp_path / d / "predictions.csv").read_text() for d in "ab")
    assert pa == pb


def test_a_run_whose_loss_is_nan_fails_with_one_line_and_saves_nothing(table, tmp_path):
    cfg = cfg_of(epochs=2, lr_max=1e300, lr_init=1e300, lr_final=1e300)
    with pytest.raises(train_mod.GlasskitError, match="training diverged: the loss is (nan|inf) at epoch 1|non-finite scores"):
        train(tmp_path, cfg, table, _parts(table, cfg), progress=False)
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "metrics.json").exists()
    assert not (tmp_path / "best.pt").exists()


def test_metrics_record_what_the_issue_asks(table, tmp_path):
    cfg = cfg_of(epochs=2)
    m = train(tmp_path, cfg, table, _parts(table, cfg), progress=False)
    disk = json.loads((tmp_path / "metrics.json").read_text())
    assert disk["config"] == json.loads(json.dumps(cfg.as_dict())) and disk["world_size"] == 1
    assert disk["parameters"] == sum(p.numel() for p in train_mod.build_model(cfg).parameters())
    assert all(e["seconds"] > 0 and e["samples_per_s"] > 0 for e in disk["epochs"])
    assert 0 <= m["test"]["auc"] <= 1 and m["test"]["n"] == len(_parts(table, cfg)["test"])
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert rows[0] == "sample,sim,frame,T [epsilon_AA/k_B],label,score,split" and len(rows) - 1 == m["test"]["n"] + m["val"]["n"]


def _weights(run_dir):
    return torch.load(Path(run_dir) / "checkpoint.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_one_and_two_ddp_processes_learn_the_same_weights(ml_campaign, tmp_path):
    """Same seed and global batch (4 = 1 x 4 = 2 x 2), dropout off: same model within float error."""
    c = Campaign.of(load_spec(ml_campaign))
    cfg = cfg_of(epochs=2)
    jobs = {}
    for tasks in (1, 2):
        launcher = Launcher.of("local", tasks, load_cluster("local"))
        run = tmp_path / f"w{tasks}"
        run.mkdir()
        task = TrainTask(str(run), cfg.as_dict(), str(c.workdir / "campaign.h5"), str(ml_campaign),
                         str(ROOT / "jobs/datasets.toml"), None, True, 1)
        jobs[tasks] = launcher.executor(run / "submitit").submit(task)
    res = {t: j.results() for t, j in jobs.items()}
    assert [r["rank"] for r in res[2]] == [0, 1]
    w1, w2 = _weights(tmp_path / "w1"), _weights(tmp_path / "w2")
    # V_att.bias shifts every attention score of a softmax group alike: it cannot change the
    # output, its exact gradient is 0, and Adam turns the float noise of that 0 into +-lr steps
    w1.pop("V_att.bias"), w2.pop("V_att.bias")
    diff = {k: float((w1[k] - w2[k]).abs().max()) for k in w1}
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5, rtol=1e-4) for k in w1), max(diff.items(), key=lambda kv: kv[1])
    m2 = json.loads((tmp_path / "w2" / "metrics.json").read_text())
    assert m2["world_size"] == 2
    assert m2["test"]["auc"] == pytest.approx(res[1][0]["test"]["auc"], abs=1e-6)


@pytest.mark.slow
def test_a_preempted_job_is_requeued_and_resumes_from_its_checkpoint(ml_campaign, tmp_path):
    """submitit's preemption signal (what Slurm sends before a time-out) -> TrainTask.checkpoint
    -> the job is requeued and training goes on after the last finished epoch."""
    import time
    c = Campaign.of(load_spec(ml_campaign))
    cfg = cfg_of(epochs=40)
    run = tmp_path / "pre"
    run.mkdir()
    task = TrainTask(str(run), cfg.as_dict(), str(c.workdir / "campaign.h5"), str(ml_campaign),
                     str(ROOT / "jobs/datasets.toml"), None, True, 1)
    job = Launcher.of("local", 1, load_cluster("local")).executor(run / "submitit").submit(task)
    deadline = time.monotonic() + 120
    while not ((run / "epochs.csv").exists() and len((run / "epochs.csv").read_text().splitlines()) >= 3):
        assert time.monotonic() < deadline and not job.done()
        time.sleep(0.1)
    import signal
    from conftest import processes
    tasks = [pid for pid, argv, _ in processes() if "submitit.core._submit" in " ".join(argv) and str(run) in " ".join(argv)]
    assert len(tasks) == 1
    os.kill(tasks[0], signal.SIGUSR2)  # what Slurm sends a task before a time-out or on preemption
    assert job.result()["test"]["n"] > 0
    log = "".join(p.read_text() for p in (run / "submitit").glob("*_log.err"))
    assert "checkpointing" in log and "resuming pre after epoch" in log
    assert len(json.loads((run / "metrics.json").read_text())["epochs"]) == 40


def test_cnn_weight_decay_is_the_authors_l2_gradient():
    """Adam's coupled weight_decay c on the kernels == adding c * tf.nn.l2_loss(w) = c sum(w^2) / 2."""
    from glasskit.ml.nets.cnn import CNN
    from glasskit.ml.train import optimizer
    cfg = resolve(load_models(ROOT / "jobs/models.toml"), "cnn", 1, None, {"image_px": 32, "dense": 4, "dropout": 0.0})
    x, y = torch.rand(3, 3, 32, 32), torch.tensor([0, 1, 0])
    torch.manual_seed(1)
    a = CNN.from_config(cfg.net)
    b = CNN.from_config(cfg.net)
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = optimizer(a, cfg), torch.optim.Adam(b.parameters(), lr=cfg.train.lr_max)
    for step in range(4):  # several steps: Adam's first step alone is blind to the gradient's scale
        xs = x + 0.1 * step
        for model, opt, penalty in ((a, opt_a, 0.0), (b, opt_b, cfg.net.l2)):
            loss = torch.nn.functional.cross_entropy(model(xs), y) + model.l2_penalty(penalty)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("text, mins", [("01:00:00", 60), ("36:00:00", 2160), ("1-12", 2160), ("2-00:30:00", 2910),
                                        ("90", 90), ("10:30", 11), ("00:00:10", 1)])
def test_slurm_times_become_submitit_minutes(text, mins):
    from glasskit.ml.launch import minutes
    assert minutes(text) == mins
