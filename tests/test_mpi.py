"""Real MPI: two ranks of one task share one shard through HDF5's mpio driver."""
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from conftest import GLASSKIT, glasskit, write_spec

pytestmark = pytest.mark.mpi


def _shard(workdir, submission):
    (path,) = sorted((workdir / "shards" / "simulate" / submission).glob("task-*.h5"))
    return path


@pytest.mark.skipif(not shutil.which("mpiexec.mpich"), reason="needs Debian's MPICH (hpc/setup/install.sh)")
def test_two_ranks_write_one_shard_with_mpio_and_match_one_rank(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((3, 1000), (1, 200)))
    common = ["run", "simulate", "--spec", str(spec), "--sims", "0-3", "--tasks", "1", "--task", "0"]
    proc = subprocess.run(["mpiexec.mpich", "-n", "2"] + GLASSKIT + common + ["--ranks", "2", "--submission", "sub-mpi"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "rank 1" in proc.stderr and "rank 0" in proc.stderr
    glasskit(*common, "--ranks", "1", "--submission", "sub-serial", check=True)
    with h5py.File(_shard(tmp_path / "c", "sub-mpi")) as par, h5py.File(_shard(tmp_path / "c", "sub-serial")) as ser:
        assert par.attrs["driver"] == "mpio" and par.attrs["ranks"] == 2
        assert ser.attrs["driver"] == "sec2"
        assert list(par["sim/index"]) == [0, 1, 2, 3] and par["sim/done"][:].all()
        # each simulation runs on COMM_SELF with its own seed: the rank count changes nothing
        for name in ("frames/x", "frames/pe", "frames/step", "sim/seed"):
            assert np.array_equal(par[name][...], ser[name][...], equal_nan=True), name


def test_without_mpi4py_one_rank_serial_hdf5_and_says_so(tmp_path):
    fake = tmp_path / "nompi" / "mpi4py"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named mpi4py')\n")
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((2, 200),))
    proc = glasskit("run", "simulate", "--spec", spec, "--sims", "0-1", "--tasks", "1", "--ranks", "2",
                    "--task", "0", "--submission", "sub-nompi", env={"PYTHONPATH": str(fake.parent)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("no mpi4py: running as one rank with serial HDF5") == 1
    with h5py.File(_shard(tmp_path / "c", "sub-nompi")) as f:
        assert f.attrs["driver"] == "sec2" and f["sim/done"][:].all()


@pytest.mark.skipif(not shutil.which("mpiexec.mpich"), reason="needs Debian's MPICH (hpc/setup/install.sh)")
def test_a_stopped_two_rank_task_run_again_reopens_its_mpio_shard_and_ends_bit_identical(tmp_path):
    """Two ranks stopped on request (the stop file of a Slurm warning) mid-ramp, then the same
    task again (as a requeue runs it): the mpio shard is reopened and each rank continues from
    its checkpoint; every frame equals a serial, uninterrupted run's."""
    import time
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((2, 400_000),), dump_every=2_000,
                      extra="[engine]\ncheckpoint_every = 10\n")
    common = ["run", "simulate", "--spec", str(spec), "--sims", "0-1", "--tasks", "1", "--task", "0"]
    work = tmp_path / "c"
    proc = subprocess.Popen(["mpiexec.mpich", "-n", "2"] + GLASSKIT + common + ["--ranks", "2", "--submission", "sub-mpi"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 300
    while time.monotonic() < end:
        frames = [int(p.stem.split(".f")[1]) for p in work.glob("shards/simulate/sub-mpi/checkpoints/sim-*.json")]
        if len(frames) >= 2 and min(frames) >= 30:
            break
        time.sleep(0.05)
    shard = _shard(work, "sub-mpi")
    shard.with_suffix(".stop").touch()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 75, err  # stopped on request, checkpointed
    assert err.count("stopped on request") >= 2 and (work / "shards/simulate/sub-mpi/checkpoints").is_dir()
    shard.with_suffix(".stop").unlink()
    again = subprocess.run(["mpiexec.mpich", "-n", "2"] + GLASSKIT + common + ["--ranks", "2", "--submission", "sub-mpi"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "runs again" in again.stderr and again.stderr.count("continues from its checkpoint") == 2
    glasskit(*common, "--ranks", "1", "--submission", "sub-serial", check=True)
    with h5py.File(shard) as par, h5py.File(_shard(work, "sub-serial")) as ser:
        assert par.attrs["driver"] == "mpio" and "reopened" in par.attrs and par["sim/done"][:].all()
        for name in ("frames/x", "frames/pe", "frames/temp", "frames/step", "frames/crc"):
            assert np.array_equal(par[name][...], ser[name][...], equal_nan=True), name
