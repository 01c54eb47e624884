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
