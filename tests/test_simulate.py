"""Real LAMMPS: the initial configuration, a cooling run's frames, and a shard on disk."""
import h5py
import numpy as np
import pytest

from glasskit.campaign.layout import Campaign
from glasskit.stages.task import run_task
from glasskit.campaign.shard import DONE
from glasskit.campaign.sharding import plan
from glasskit.stages.simulate import CoolingRun, ensure_initial, initial_types
from glasskit.campaign.spec import load_spec

from conftest import write_spec


@pytest.fixture
def campaign(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.toml", tmp_path / "c", lattice=(16, 20), n_b=112,
                                runs=((2, 4000), (1, 200))))
    return Campaign.of(spec)


def test_initial_configuration_is_minimized_and_typed(campaign):
    data = ensure_initial(campaign.spec, campaign.workdir)
    assert data.is_file()
    types = initial_types(campaign.workdir)
    assert types.shape == (320,) and (types == 2).sum() == 112 and (types == 1).sum() == 208
    with h5py.File(campaign.workdir / "init.h5") as f:
        assert f.attrs["pe"] < -3.0  # a FIRE-minimized dense LJ solid, not the raw lattice
        sides = f["box"][:, 1] - f["box"][:, 0]
    # a square box at the spec's number density: L = sqrt(N / rho) (16.33 for N = 320, rho = 1.2)
    assert sides[0] == pytest.approx(sides[1]) and 320 / (sides[0] * sides[1]) == pytest.approx(1.2)
    mtime = data.stat().st_mtime_ns
    ensure_initial(campaign.spec, campaign.workdir)  # second call: reuses
    assert data.stat().st_mtime_ns == mtime


def test_frames_follow_the_ramp(campaign):
    spec = campaign.spec
    data = ensure_initial(spec, campaign.workdir)
    frames = list(CoolingRun(spec, data).frames(index=0, seed=4242, t_cool=4000))
    assert [f.k for f in frames] == list(range(1, 41))
    assert [f.step for f in frames] == [100 * k for k in range(1, 41)]
    types0 = initial_types(campaign.workdir)
    for f in frames:
        assert f.snap.xs.shape == (320, 2) and f.snap.xs.dtype == np.float32
        assert np.array_equal(f.snap.types, types0)  # types fixed across frames
        assert f.snap.xs.min() >= -0.01 and f.snap.xs.max() <= 1.01
        assert f.T == pytest.approx(2.0 - 1.95 * f.step / 4000)
    temp, target = np.array([f.temp for f in frames]), np.array([f.T for f in frames])
    # The Nose-Hoover thermostat tracks the ramp once the lattice has melted (the first block
    # starts from a minimized solid, which takes half the kinetic energy): block means of 10
    # frames within 0.1 of the target, and strictly decreasing.
    blocks = lambda a: a.reshape(4, 10).mean(axis=1)
    assert np.allclose(blocks(temp)[1:], blocks(target)[1:], atol=0.1)
    assert np.all(np.diff(blocks(temp)[1:]) < 0)
    pe = np.array([f.pe for f in frames])
    assert pe[-5:].mean() < pe[:5].mean() - 0.5  # cooling lowers the potential energy


def test_same_seed_same_trajectory_different_seed_different(campaign):
    spec = campaign.spec
    data = ensure_initial(spec, campaign.workdir)
    run = CoolingRun(spec, data)
    a = [f.snap.x for f in run.frames(0, 7, 200)]
    b = [f.snap.x for f in run.frames(0, 7, 200)]
    c = [f.snap.x for f in run.frames(0, 8, 200)]
    assert np.array_equal(a[-1], b[-1])
    assert not np.allclose(a[-1], c[-1])


def test_one_task_writes_a_complete_shard(campaign):
    p = plan(range(3), 1, 1)
    result = run_task(campaign, p, 0, "sub-test", "simulate")
    assert sorted(result.done) == [0, 1, 2] and not result.failed
    with h5py.File(campaign.shard_path("simulate", "sub-test", 0)) as f:
        assert list(f["sim/index"]) == [0, 1, 2]
        assert f["sim/done"][:].all() and (f["sim/state"][:] == DONE).all()
        assert list(f["sim/t_cool"]) == [4000, 4000, 200]
        assert len(set(f["sim/seed"][:])) == 3
        assert f["frames/x"].shape == (3, 40, 320, 2) and "frames/xs" not in f  # positions stored once
        step = f["frames/step"][:]
        assert (step[2, :2] == [100, 200]).all() and (step[2, 2:] == -1).all()  # fast ramp: 2 frames
        assert f["frames/T"][2, 1] == pytest.approx(0.05)
        assert np.isnan(f["frames/x"][2, 5]).all()
        assert "lammps_version" in f.attrs and "[campaign]" in f.attrs["spec"]
        assert f.attrs["pair_shift"] == np.False_


def _forces(spec, data, engine) -> tuple[float, np.ndarray]:
    """pe per particle and forces (N, 2) of the initial configuration after 50 MD steps."""
    import dataclasses

    from glasskit.stages.engine import new_lammps
    from glasskit.stages.simulate import cool_input
    lmp = new_lammps()
    try:
        lmp.commands_string(cool_input(dataclasses.replace(spec, engine=engine), data, 0, 99, 4000))
        lmp.command("run 50")
        n = int(lmp.extract_global("nlocal"))
        order = np.argsort(np.asarray(lmp.numpy.extract_atom("id"))[:n])
        return float(lmp.get_thermo("pe")), np.asarray(lmp.numpy.extract_atom("f"))[:n][order, :2].copy()
    finally:
        lmp.close()


@pytest.mark.parametrize("settings", [dict(), dict(pair_style="lj/cut/omp"),
                                      dict(pair_style="lj/cut/opt", skin=0.5, neigh_every=2, sort_every=0)])
def test_engine_settings_compute_the_plain_forces(campaign, settings):
    """Faster kernels and neighbour settings: the same pe and forces as the plain lj/cut input
    after 50 steps of the same trajectory, to round-off (a wrong cutoff or pair table would be
    off by far more than 1e-9)."""
    from glasskit.campaign.spec import PLAIN_ENGINE, EngineSpec
    spec = campaign.spec
    data = ensure_initial(spec, campaign.workdir)
    pe0, f0 = _forces(spec, data, PLAIN_ENGINE)
    pe1, f1 = _forces(spec, data, EngineSpec(**settings))
    assert abs(f0).max() > 1.0  # a hot liquid, not a trivial state
    assert pe1 == pytest.approx(pe0, rel=1e-9, abs=1e-9)
    assert np.allclose(f1, f0, rtol=1e-6, atol=1e-7)


def test_shards_record_the_effective_engine_settings(campaign):
    import json
    run_task(campaign, plan(range(1), 1, 1), 0, "sub-eng", "simulate")
    with h5py.File(campaign.shard_path("simulate", "sub-eng", 0)) as f:
        recorded = json.loads(f.attrs["engine"])
    assert recorded == campaign.spec.engine_settings()  # defaults included, not only what the toml says
    assert recorded["engine"]["pair_style"] == campaign.spec.engine.pair_style
    assert set(recorded["fire"]) == {"integrator", "dt", "tmax", "dtgrow", "delaystep", "abcfire"}


def test_a_full_disk_mid_task_is_one_line_and_claims_nothing_unfinished(campaign, monkeypatch):
    """The file system refuses a frame of the second simulation: one GlasskitError naming the
    shard and the repair; the first simulation stays done, the second is not, nothing else."""
    import errno

    from glasskit.util.errors import GlasskitError
    from glasskit.campaign.shard import SimulateShard
    real = SimulateShard.write_frame

    def full(self, sim, frame):
        if sim == 1 and frame.k == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, sim, frame)
    monkeypatch.setattr(SimulateShard, "write_frame", full)
    with pytest.raises(GlasskitError) as err:
        run_task(campaign, plan(range(3), 1, 1), 0, "sub-full", "simulate")
    path = campaign.shard_path("simulate", "sub-full", 0)
    assert str(path) in err.value.problem and "No space left on device" in err.value.problem
    assert "re-submit" in err.value.fix
    with h5py.File(path) as f:
        assert list(f["sim/done"][:]) == [True, False, False]
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_running_simulation_reports_its_progress_in_the_task_log(campaign, monkeypatch, caplog):
    import logging

    from glasskit import run as run_mod
    monkeypatch.setattr(run_mod._SimulateWork, "PROGRESS_S", 0.0)  # every frame, for the test
    with caplog.at_level(logging.INFO, logger="glasskit"):
        run_task(campaign, plan(range(1), 1, 1), 0, "sub-progress", "simulate")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("simulate 0: frame")]
    assert lines[0].startswith("simulate 0: frame 1/40, step 100 of 4000, T ") and "Matom-step/s" in lines[-1]
    assert len(lines) == 39  # every frame but the last (then "done" says it)
