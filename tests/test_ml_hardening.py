"""The learning half as a hostile user finds it: names that would reach an #SBATCH line or leave
the campaign, run states that must be earned (liveness, damaged files), one writer per run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from glasskit.campaign.layout import Campaign  # noqa: E402
from glasskit.util.errors import GlasskitError  # noqa: E402
from glasskit.ml import runs  # noqa: E402
from glasskit.util.render import lmp_path, safe_for_sbatch  # noqa: E402
from glasskit.campaign.spec import load_spec  # noqa: E402

from conftest import ROOT, glasskit  # noqa: E402


@pytest.mark.parametrize("path", ["/tmp/x\n", "/tmp/a\nrm -rf ~", "/tmp/a b", "/tmp/$(id)"])
def test_a_path_with_a_newline_or_shell_characters_is_refused_for_sbatch_and_lammps(path):
    with pytest.raises(GlasskitError, match="#SBATCH"):
        safe_for_sbatch(path, "work directory")
    with pytest.raises(GlasskitError, match="LAMMPS input"):
        lmp_path(path)


def test_a_workdir_with_a_newline_never_reaches_submitits_sbatch_script(ml_campaign, tmp_path):
    bad = str(tmp_path / "w\n#SBATCH --wrap=touch pwned")
    proc = glasskit("submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign,
                    "--workdir", bad, "--executor", "slurm", "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("glasskit: error: ")
    assert "#SBATCH line" in proc.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["../../evil", "a/b", "x\ny", ".hidden"])
def test_a_preset_name_that_would_leave_the_models_folder_is_refused(ml_campaign, tmp_path, name):
    models = tmp_path / "models.toml"
    models.write_text((ROOT / "jobs/models.toml").read_text() + f'\n[preset.{json.dumps(name)}]\nk = 2\n')
    proc = glasskit("submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign,
                    "--models", models, "--preset", name, "--executor", "local")
    assert proc.returncode == 2 and "preset name" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "evil").exists()


def _run_dir(tmp_path, **files) -> Path:
    d = tmp_path / "models" / "dmpnn-d1-default-0123abcd"
    d.mkdir(parents=True)
    for name, text in files.items():
        (d / name.replace("_", ".")).write_text(text)
    return d


def test_a_run_is_running_only_while_its_own_process_lives(tmp_path):
    """A PID that now belongs to another process (here: this test's) is not the run's job."""
    import socket
    rec = {"executor": "local", "job_id": str(os.getpid()), "host": socket.gethostname()}
    d = _run_dir(tmp_path, run_json=json.dumps(rec))
    assert runs.state(d).state != "running"  # an old record without a start time: not trusted
    (d / "run.json").write_text(json.dumps({**rec, "pid_start": "1"}))  # another process's start time
    assert runs.state(d).state != "running"
    (d / "run.json").write_text(json.dumps({**rec, "pid_start": runs.process_start(os.getpid())}))
    assert runs.state(d).state == "running"


@pytest.mark.parametrize("text, words", [
    ('{"test": {"auc": 0.9', "not a JSON object"),
    ("[1, 2, 3]", "not a JSON object"),
    ('{"test": {"auc": "high", "accuracy": 1, "n": 3}, "val": {"auc": 1, "accuracy": 1, "n": 3}}', "test.auc"),
    ('{"test": {"auc": NaN, "accuracy": 1, "n": 3}, "val": {"auc": 1, "accuracy": 1, "n": 3}}', "test.auc"),
    ('{"test": {"auc": 7, "accuracy": 1, "n": 3}, "val": {"auc": 1, "accuracy": 1, "n": 3}}', "test.auc"),
    ('{"test": {"auc": 1, "accuracy": 1, "n": 1e12}, "val": {"auc": 1, "accuracy": 1, "n": 3}}', "test.n"),
    ('{"test": {"auc": 1, "accuracy": 1, "n": 3}}', "no 'val'"),
])
def test_a_damaged_metrics_file_is_reported_not_trusted(tmp_path, text, words):
    d = _run_dir(tmp_path, metrics_json=text)
    st = runs.state(d)
    assert st.state == "damaged" and words in st.detail and f"mv {d} {d}.damaged" in st.detail
    good = _run_dir(tmp_path / "ok", metrics_json=json.dumps(
        {"test": {"auc": 0.75, "accuracy": 0.5, "n": 4}, "val": {"auc": 1.0, "accuracy": 1.0, "n": 4}}))
    assert runs.state(good).state == "done" and "0.7500" in runs.state(good).detail
    assert [s.state for s in runs.all_states(tmp_path / "ok")] == ["done"]


def test_status_reports_a_damaged_run_and_goes_on(ml_campaign):
    models = Campaign.of(load_spec(ml_campaign)).workdir / "models"
    existed = models.exists()
    bad = models / "dmpnn-d1-default-deadbeef"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "metrics.json").write_text('{"test": ')
    (bad / "config.json").write_text("\x00\x01")
    try:
        proc = glasskit("status", "--spec", ml_campaign)
        assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
        assert "damaged" in proc.stdout + proc.stderr and "deadbeef" in proc.stdout + proc.stderr
    finally:
        for p in bad.iterdir():
            p.unlink()
        bad.rmdir()
        if not existed:
            models.rmdir()


def test_one_run_directory_never_has_two_writers(tmp_path):
    """While one process holds a run's writer lock, a second trainer of the same run is refused
    with one line; the lock dies with its holder (kill -9 included)."""
    d = tmp_path / "run"
    d.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from glasskit.ml.runs import WriterLock\n"
        "with WriterLock(%r):\n    print('held', flush=True); time.sleep(60)\n") % (str(ROOT), str(d))],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(GlasskitError, match="being trained by another process"):
            with runs.WriterLock(d):
                pass
    finally:
        holder.kill()
        holder.wait()
    with runs.WriterLock(d):  # the killed holder's lock is gone
        pass


def _trained(table, tmp_path, name="run"):
    from test_train import _parts, cfg_of
    from glasskit.ml.train import train
    cfg = cfg_of(epochs=2)
    d = tmp_path / name
    d.mkdir()
    return cfg, d, train(d, cfg, table, _parts(table, cfg), progress=False)


@pytest.fixture(scope="module")
def table(ml_campaign):
    from glasskit.ml.samples import load_samples
    c = Campaign.of(load_spec(ml_campaign))
    return load_samples(c.workdir / "campaign.h5", ml_campaign, 1, ROOT / "jobs/datasets.toml")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign", "epoch"])
def test_a_damaged_checkpoint_is_one_line_naming_it_and_the_repair(table, tmp_path, damage):
    from test_train import _parts
    from glasskit.ml.train import train
    cfg, d, _ = _trained(table, tmp_path)
    (d / "metrics.json").unlink()  # as if killed before the end: the next train resumes
    ck = d / "checkpoint.pt"
    if damage == "truncate":
        ck.write_bytes(ck.read_bytes()[:200])
    elif damage == "garbage":
        ck.write_bytes(os.urandom(4096))
    elif damage == "foreign":
        torch.save({"model": {"w": torch.zeros(3)}, "optimizer": {}, "scheduler": {}}, ck)
    else:
        saved = torch.load(ck, weights_only=True)
        torch.save({**saved, "epoch": 10**9}, ck)
    with pytest.raises(GlasskitError) as err:
        train(d, cfg, table, _parts(table, cfg), progress=False)
    assert str(ck) in err.value.problem and "damaged" in err.value.problem
    assert f"mv {d} {d}.damaged" in err.value.fix
    assert not (d / "metrics.json").exists()


def test_a_damaged_best_pt_makes_the_analysis_refuse_that_run_with_one_line(table, tmp_path, ml_campaign):
    from glasskit.ml.inference import load_run
    cfg, d, _ = _trained(table, tmp_path)
    c = Campaign.of(load_spec(ml_campaign))
    runs.write_json(d / "config.json", {"config": cfg.as_dict(), "campaign": str(c.workdir / "campaign.h5"),
                                        "spec": str(ml_campaign), "datasets": str(ROOT / "jobs/datasets.toml"),
                                        "splits": None})
    assert load_run(d).cfg.model == cfg.model
    (d / "best.pt").write_bytes(b"\x80\x04not a state dict")
    with pytest.raises(GlasskitError, match="best.pt is damaged"):
        load_run(d)
    proc = subprocess.run([sys.executable, str(ROOT / "analysis/attention.py"), str(d)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2 and "best.pt is damaged" in proc.stderr and "Traceback" not in proc.stderr


def test_a_cnn_whose_geometry_does_not_fit_the_image_fails_before_any_run_exists(table, ml_campaign):
    from glasskit.ml.config import load_models, resolve
    from glasskit.ml.train import check_input
    cnn = lambda **hp: resolve(load_models(ROOT / "jobs/models.toml"), "cnn", 1, None, {"workers": 0, **hp})  # noqa: E731
    with pytest.raises(GlasskitError, match="do not fit the input"):
        check_input(cnn(image_px=32, conv1=[40, 6]), table)
    check_input(cnn(image_px=64), table)  # a geometry that fits passes
    before = sorted((Campaign.of(load_spec(ml_campaign)).workdir / "models").glob("*"))
    models = ROOT / "jobs/models.toml"
    proc = glasskit("submit", "train", "--model", "cnn", "--dataset", "1", "--spec", ml_campaign, "--models", models,
                    "--hp", "image_px=32", "--hp", "conv2=[40, 16]", "--executor", "local")
    assert proc.returncode == 2 and "do not fit the input" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted((Campaign.of(load_spec(ml_campaign)).workdir / "models").glob("*")) == before


def test_a_run_id_covers_the_dataset_definition_and_the_campaigns_data(ml_campaign, tmp_path):
    """A redefined dataset, or a campaign with other simulations done, is another run: never
    "already done" with the old result. A changed comment in the spec is the same run."""
    import h5py

    from test_train import cfg_of
    from glasskit.ml.submit import Inputs
    c = Campaign.of(load_spec(ml_campaign))
    cfg = cfg_of()
    ds = ROOT / "jobs/datasets.toml"
    base = Inputs(c, str(ml_campaign), str(ds)).run_dir(cfg)
    assert Inputs(c, str(ml_campaign), str(ds)).run_dir(cfg) == base
    other = tmp_path / "datasets.toml"
    other.write_text(ds.read_text().replace("liquid = { T = 1.99, ramp = \"slow\" }", "liquid = { T = 1.9805, ramp = \"slow\" }", 1))
    assert Inputs(c, str(ml_campaign), str(other)).run_dir(cfg) != base
    commented = tmp_path / "spec.toml"
    commented.write_text("# a comment changes nothing\n" + Path(ml_campaign).read_text())
    assert Inputs(Campaign.of(load_spec(commented)), str(commented), str(ds)).run_dir(cfg) == base
    work = tmp_path / "copy"
    shutil_copy = __import__("shutil").copytree
    shutil_copy(c.workdir, work, ignore=__import__("shutil").ignore_patterns("models", "cv", "searches"))
    moved = Campaign.of(load_spec(ml_campaign, workdir=str(work)))
    with h5py.File(work / "campaign.h5", "r+") as f:  # as if one simulation were not done
        f["sim/done"][0] = False
    assert Inputs(moved, str(ml_campaign), str(ds)).run_dir(cfg).name != base.name


@pytest.mark.parametrize("url, words", [
    ("mongodb://localhost:99999/db", "Port must be"),
    ("mongodb://local host/db", "spaces or control characters"),
    ("mongodb://localhost:27017/db\n", "spaces or control characters"),
    ("http://x", "not a MongoDB URL"),
    ("mongodb://u:secret@h:1/db?bogus=1", "u:***@h"),
])
def test_a_malformed_mongo_url_is_refused_even_by_a_dry_run(ml_campaign, url, words):
    proc = glasskit("submit", "search", "--model", "dmpnn", "--dataset", "1", "--spec", ml_campaign,
                    "--executor", "local", "--workers", "2", "--mongo", url, "--evals", "2", "--dry-run")
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert "secret" not in proc.stderr + proc.stdout


def test_two_identical_submits_at_once_train_one_run_once(ml_campaign):
    """Both commands succeed; the run is trained by one job: the second finds it running (or
    done), never a second writer in the same directory."""
    from conftest import GLASSKIT
    args = GLASSKIT + ["submit", "train", "--model", "dmpnn", "--dataset", "1", "--spec", str(ml_campaign),
                       "--executor", "local", "--hp", "hidden=8", "--hp", "depth=1", "--hp", "epochs=2",
                       "--hp", "workers=0", "--hp", "l_win=0.6", "--hp", "batch=4", "--hp", "seed=77"]
    procs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    err = "\n".join(o[1] for o in outs)
    assert err.count("already running") + err.count("already done") == 1, err
    (run,) = [d for d in (Campaign.of(load_spec(ml_campaign)).workdir / "models").glob("dmpnn-d1-*")
              if json.loads((d / "config.json").read_text())["config"]["train"]["seed"] == 77]
    assert runs.state(run).state == "done"
    assert len((run / "epochs.csv").read_text().splitlines()) == 3  # header + 2 epochs, trained once
    assert len(list((run / "submitit").glob("*_0_log.out"))) == 1  # one job


def test_a_failed_write_leaves_no_temporary_and_the_old_file_whole(tmp_path, monkeypatch):
    """A full disk (ENOSPC from the write) is one line; no .tmp file, the previous file intact."""
    import errno

    from glasskit.ml import train as train_mod
    target = tmp_path / "metrics.json"
    target.write_text('{"old": 1}')

    def full(tmp):
        tmp.write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(GlasskitError, match="No space left on device"):
        train_mod._atomic(target, full)
    assert target.read_text() == '{"old": 1}' and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


@pytest.mark.parametrize("text", ['{"evals": "many"}', "{not json", '{"evals": 100000000000}'])
def test_a_damaged_search_record_is_reported_by_status(ml_campaign, text):
    base = Campaign.of(load_spec(ml_campaign)).workdir / "searches"
    existed = base.exists()  # other tests assert that a dry run creates no searches/ folder
    d = base / "search-broken"
    d.mkdir(parents=True, exist_ok=True)
    (d / "search.json").write_text(text)
    try:
        proc = glasskit("status", "--spec", ml_campaign)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
        assert "damaged" in proc.stdout and "search-broken" in proc.stdout
    finally:
        (d / "search.json").unlink()
        d.rmdir()
        if not existed:
            base.rmdir()
