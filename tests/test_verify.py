"""verify, outcome by outcome: each mutation of a real, complete campaign ends in its own line
(and condemns what must be redone); the mpio shard of a real 2-rank task is checked too."""
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from glasskit.campaign.layout import Campaign
from glasskit.campaign.shard import SIMULATE_SCALARS, frame_crc
from glasskit.campaign.spec import load_spec
from glasskit.campaign.verify import verify

from conftest import GLASSKIT, glasskit, write_spec


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """2 slow + 1 fast simulations, simulated, minimized and collected."""
    tmp = tmp_path_factory.mktemp("verify")
    spec = write_spec(tmp / "s.toml", tmp / "c", runs=((2, 1000), (1, 200)))
    for stage in ("simulate", "minimize"):
        glasskit("submit", stage, "--spec", spec, "--executor", "local", check=True)
    glasskit("collect", "--spec", spec, check=True)
    return Campaign.of(load_spec(spec))


def _copy(whole, tmp_path) -> Campaign:
    work = tmp_path / "c"
    shutil.copytree(whole.workdir, work)
    return Campaign.of(load_spec(whole.spec.path, workdir=str(work)))


def _set(path, name, index, value):
    with h5py.File(path, "r+") as f:
        f[name][index] = value


def _recrc(path, row, k, xs=None):
    """Rewrite one frame's coordinates and make its CRC match again (a forged, consistent frame)."""
    with h5py.File(path, "r+") as f:
        if xs is not None:
            f["frames/x"][row, k] = xs
        scalars = [f[n][row, k] for n in SIMULATE_SCALARS]
        f["frames/crc"][row, k] = frame_crc(f["frames/x"][row, k], scalars=scalars)


def _delete(path, name):
    with h5py.File(path, "r+") as f:
        del f[name]


def _shape(path, name):
    with h5py.File(path, "r+") as f:
        data = f[name][...]
        del f[name]
        f[name] = np.concatenate([data, data[:1]])


SIM, MIN = "simulate", "minimize"
CASES = {  # name: (stage of the shard mutated, mutation(path), words of the one problem line)
    "missing dataset": (SIM, lambda p: _delete(p, "frames/crc"), "not a simulate shard: missing frames/crc"),
    "sim shapes": (SIM, lambda p: _shape(p, "sim/state"), "inconsistent /sim shapes"),
    "foreign indices": (SIM, lambda p: _set(p, "sim/index", 0, 10**6), "simulation indices outside"),
    "foreign t_cool": (SIM, lambda p: _set(p, "sim/t_cool", 0, 999), "/sim/t_cool differs"),
    "foreign seed": (SIM, lambda p: _set(p, "sim/seed", 0, 1), "/sim/seed differs"),
    "foreign types": (SIM, lambda p: _set(p, "frames/type", 0, 7), "/frames/type changed since"),
    "a frame short": (SIM, lambda p: _set(p, "frames/step", (0, 9), -1), "9 frames, the spec's ramp has 10"),
    "other steps": (SIM, lambda p: _set(p, "frames/step", (0, 0), 101), "/frames/step differs"),
    "other temperatures": (SIM, lambda p: _set(p, "frames/T", (0, 0), 1.5), "/frames/T differs"),
    "nan energy": (SIM, lambda p: _set(p, "frames/pe", (0, 3), np.nan), "non-finite values in /frames/pe"),
    "missing temp": (SIM, lambda p: _delete(p, "frames/temp"), "missing /frames/temp"),
    "flipped pe": (SIM, lambda p: _set(p, "frames/pe", (0, 2), -1.0), "frame 2: checksum mismatch"),
    "forged nan frame": (SIM, lambda p: _recrc(p, 0, 4, np.full((120, 2), np.nan, np.float32)),
                         "frame 4: non-finite coordinates"),
    "unminimized frame": (MIN, lambda p: _set(p, "is/done", (0, 1), False), "9 of 10 frames minimized"),
    "nan ise": (MIN, lambda p: _set(p, "is/pe", (0, 1), np.nan), "non-finite inherent-structure energies"),
    "flipped ise": (MIN, lambda p: _set(p, "is/pe", (0, 5), -3.0), "frame 5: checksum mismatch"),
    "truncated": (SIM, lambda p: p.write_bytes(p.read_bytes()[:4096]), "unreadable"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kind_of_damage_is_one_problem_line(whole, tmp_path, case):
    c = _copy(whole, tmp_path)
    assert verify(c).problems == []
    stage, mutate, words = CASES[case]
    shard = c.shards(stage)[0]
    mutate(shard)
    rep = verify(c)
    mine = [p for p in rep.problems if p.startswith(str(shard))]
    assert len(mine) == 1 and words in mine[0], rep.problems


def test_a_submission_directory_replaced_by_a_file_is_a_problem(whole, tmp_path):
    c = _copy(whole, tmp_path)
    sub = c.shards(SIM)[0].parent
    shutil.rmtree(sub)
    sub.write_text("not a directory")
    rep = verify(c)
    assert any(p.startswith(str(sub)) and "not a submission directory" in p for p in rep.problems)


@pytest.mark.parametrize("damage, words", [
    ("missing data", "missing or empty initial configuration"),
    ("unreadable meta", "unreadable initial configuration"),
    ("other types", "this campaign was initialized from another spec"),
])
def test_a_damaged_initial_configuration_is_named(whole, tmp_path, damage, words):
    c = _copy(whole, tmp_path)
    if damage == "missing data":
        (c.workdir / "init.data").unlink()
    elif damage == "unreadable meta":
        (c.workdir / "init.h5").write_bytes(b"junk")
    else:
        with h5py.File(c.workdir / "init.h5", "r+") as f:
            f["type"][:5] = 2
    rep = verify(c)
    assert any(words in p for p in rep.problems), rep.problems


def test_the_campaign_file_is_checked_too(whole, tmp_path):
    c = _copy(whole, tmp_path)
    h5 = c.workdir / "campaign.h5"
    for shard in c.shards(SIM):  # newer shards than the campaign file: a flag, not a problem
        shard.touch()
    rep = verify(c)
    assert rep.problems == [] and any("older than" in f and "glasskit collect" in f for f in rep.flagged)
    h5.write_bytes(b"junk")
    assert any(p.startswith(str(h5)) and "unreadable" in p for p in verify(c).problems)
    with h5py.File(h5, "w") as f:
        f["x"] = 1
    assert any(p.startswith(str(h5)) and "not a campaign file" in p for p in verify(c).problems)


@pytest.mark.mpi
@pytest.mark.skipif(not shutil.which("mpiexec.mpich"), reason="needs Debian's MPICH (hpc/setup/install.sh)")
def test_the_crc_of_a_real_two_rank_mpio_shard_catches_a_flipped_value(tmp_path):
    """mpio shards carry no HDF5 filters (fletcher32 needs collective writes): the per-frame CRC
    is their only checksum, and verify reaches it."""
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((2, 1000),))
    run = ["run", "simulate", "--spec", str(spec), "--sims", "0-1", "--tasks", "1", "--task", "0", "--ranks", "2",
           "--submission", "sub-mpi"]
    proc = subprocess.run(["mpiexec.mpich", "-n", "2"] + GLASSKIT + run, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    c = Campaign.of(load_spec(spec))
    (shard,) = c.shards(SIM)
    with h5py.File(shard) as f:
        assert f.attrs["driver"] == "mpio" and f["frames/x"].fletcher32 is False and f.attrs["crc_scheme"] == 4
        x = f["frames/x"][1, 3]
    assert verify(c, stages=(SIM,)).problems == []
    x[7, 0] = np.nextafter(x[7, 0], np.float32(np.inf))  # one ulp in one coordinate
    _set(shard, "frames/x", (1, 3), x)
    rep = verify(c, stages=(SIM,))
    assert len(rep.problems) == 1 and "simulation 1: frame 3: checksum mismatch" in rep.problems[0]
    assert rep.condemned[SIM] == {1}
