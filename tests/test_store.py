"""Minimize, collect (virtual datasets), the reader API, verify: on a real tiny campaign."""
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from glasskit.campaign.layout import Campaign
from glasskit.stages.minimize import InherentStructures
from glasskit.campaign.spec import load_spec
from glasskit.batch.watch import stage_status
from glasskit.campaign.store import locate, open_campaign
from glasskit.campaign.verify import verify

from conftest import glasskit, write_spec


@pytest.fixture(scope="module")
def done_campaign(tmp_path_factory):
    """4 simulated + minimized simulations (2 slow, 2 fast), over two submissions each."""
    tmp = tmp_path_factory.mktemp("store")
    spec = write_spec(tmp / "s.toml", tmp / "c", runs=((2, 1000), (2, 200)))
    for stage, arrays in (("simulate", ["0-1", "2-3"]), ("minimize", ["0-2", "3"])):
        for a in arrays:
            glasskit("submit", stage, "--spec", spec, "--array", a, "--executor", "local", check=True)
    return Campaign.of(load_spec(spec))


def test_minimized_energies_are_below_the_frames_and_reproducible(done_campaign):
    c = done_campaign
    loc = locate(c, "simulate")[0]
    with h5py.File(loc.path) as f:
        x, pe = f["frames/x"][loc.row], f["frames/pe"][loc.row]
    with InherentStructures(c.spec, c.workdir / "init.data") as ism:
        first = [ism.minimize(x[k].astype(float))[0] for k in range(3)]
        again = [ism.minimize(x[k].astype(float))[0] for k in (2, 1, 0)][::-1]
    with InherentStructures(c.spec, c.workdir / "init.data") as fresh:
        new = fresh.minimize(x[1].astype(float))[0]
    assert first == again and first[1] == new  # a reused instance = a fresh one, bit for bit
    assert all(e < p for e, p in zip(first, pe[:3]))
    mloc = locate(c, "minimize")[0]
    with h5py.File(mloc.path) as f:
        assert f["is/pe"][mloc.row, :3].tolist() == first


def test_collect_builds_virtual_datasets_equal_to_the_shards(done_campaign, tmp_path):
    c = done_campaign
    out = glasskit("collect", "--spec", c.spec.path, check=True).stdout.strip()
    with h5py.File(out) as f:
        assert f["frames/x"].is_virtual and f["is/pe"].is_virtual and "frames/xs" not in f
        assert f["frames/x"].shape == (4, 10, 120, 2)
        assert f["sim/done"][:].all()
        for sim, loc in locate(c, "simulate").items():
            with h5py.File(loc.path) as s:
                n = s["frames/x"].shape[1]
                assert np.array_equal(f["frames/x"][sim, :n], s["frames/x"][loc.row], equal_nan=True)
        assert np.isnan(f["frames/x"][3, 5]).all()  # fast ramp: 2 frames, the rest is fill
    # the campaign directory can move: sources are relative to the campaign file
    moved = tmp_path / "moved"
    shutil.copytree(c.workdir, moved)
    code = "import h5py,sys; f=h5py.File(sys.argv[1]); print(float(f['is/pe'][0,0]))"
    val = subprocess.run([os.sys.executable, "-c", code, str(moved / "campaign.h5")], cwd="/",
                         capture_output=True, text=True, check=True).stdout
    with h5py.File(out) as f:
        assert float(val) == float(f["is/pe"][0, 0]) and np.isfinite(float(val))


def test_reader_selects_by_temperature_and_cooling_time(done_campaign):
    c = done_campaign
    glasskit("collect", "--spec", c.spec.path, check=True)
    with open_campaign(c) as r:
        glass = r.select(T=0.05, t_cool=200, minimized=True)
        assert sorted(glass.sim.tolist()) == [2, 3] and set(glass.frame.tolist()) == {1}
        liquid = r.select(T=1.805, t_cool=1000, tol=0.001)
        assert sorted(liquid.sim.tolist()) == [0, 1] and set(liquid.frame.tolist()) == {0}
        chunks = list(r.iter_chunks(r.select(t_cool=1000), ("frames/xs", "is/pe"), size=7))
        assert [len(ch["sim"]) for ch in chunks] == [7, 7, 6]
        assert chunks[0]["frames/xs"].shape == (7, 120, 2) and chunks[0]["type"].shape == (120,)
        # the scaled form is derived from the one stored position dataset and the box
        x0 = r.f["frames/x"][chunks[0]["sim"][0], chunks[0]["frame"][0]]
        assert np.allclose(chunks[0]["frames/xs"][0] * r.box, x0, atol=1e-5)
        assert np.isfinite(np.concatenate([ch["is/pe"] for ch in chunks])).all()


def test_status_reports_minimize_at_frame_level(done_campaign):
    st = stage_status(done_campaign, "minimize")
    assert st.done == {0, 1, 2, 3} and (st.frames_done, st.frames_total) == (24, 24)
    out = glasskit("status", "--spec", done_campaign.spec.path, "--json", check=True).stdout
    import json
    rep = json.loads(out)
    assert rep["stages"][1]["frames"] == {"done": 24, "total": 24}
    assert len(set(rep["seeds"].values())) == 4
    prov = rep["provenance"]["simulate"][0]
    assert prov["lammps_version"].isdigit() and "lammps/cool.in.j2" in prov["templates"] and prov["shards"] == 4


def test_verify_catches_truncation_and_a_flipped_byte(done_campaign, tmp_path):
    work = tmp_path / "c"
    shutil.copytree(done_campaign.workdir, work)
    c = Campaign.of(load_spec(done_campaign.spec.path, workdir=str(work)))
    assert verify(c).problems == []
    shards = c.shards("simulate")
    # truncate one shard
    data = shards[0].read_bytes()
    shards[0].write_bytes(data[: len(data) // 2])
    # flip one byte inside a raw coordinate chunk of another (found through HDF5's chunk index)
    with h5py.File(shards[-1]) as f:
        info = f["frames/x"].id.get_chunk_info(0)
    with open(shards[-1], "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([b[0] ^ 0xFF]))
    rep = verify(c)
    text = "\n".join(rep.problems)
    assert f"{shards[0]}: unreadable" in text
    assert str(shards[-1]) in text and ("checksum" in text or "unreadable" in text)
    proc = glasskit("verify", "--spec", c.spec.path, "--workdir", work)
    assert proc.returncode == 1 and proc.stdout.count("BAD ") == len(rep.problems) >= 2


def _flip_low_bit(path, name, index) -> None:
    """Flip the lowest mantissa bit of one stored float64 (a silent bit flip: still finite)."""
    with h5py.File(path, "r+") as f:
        v = np.array([f[name][index]], dtype=np.float64)
        f[name][index] = (v.view(np.uint64) ^ np.uint64(1)).view(np.float64)[0]


@pytest.mark.parametrize("stage, name", [("simulate", "frames/pe"), ("simulate", "frames/temp"),
                                         ("simulate", "frames/T"), ("minimize", "is/pe")])
def test_verify_catches_a_flipped_bit_in_an_energy_or_temperature(done_campaign, tmp_path, stage, name):
    """Every stored per-frame number is under the frame's CRC, not only the coordinates."""
    work = tmp_path / "c"
    shutil.copytree(done_campaign.workdir, work)
    c = Campaign.of(load_spec(done_campaign.spec.path, workdir=str(work)))
    shard = c.shards(stage)[0]
    with h5py.File(shard) as f:
        assert f.attrs["crc_scheme"] == 4
        sim = int(f["sim/index"][0])
    _flip_low_bit(shard, name, (0, 1))
    rep = verify(c)
    text = "\n".join(rep.problems)
    assert len(rep.problems) == 1 and str(shard) in text and "frame 1: checksum mismatch" in text, text
    assert sim in rep.condemned[stage]


@pytest.mark.parametrize("name, words", [("sim/seed", "differs from the seeds of campaign.seed"),
                                         ("sim/t_cool", "differs from the spec's [[campaign.runs]]")])
def test_verify_refuses_a_shard_of_another_campaign(done_campaign, tmp_path, name, words):
    work = tmp_path / "c"
    shutil.copytree(done_campaign.workdir, work)
    c = Campaign.of(load_spec(done_campaign.spec.path, workdir=str(work)))
    shard = c.shards("simulate")[0]
    with h5py.File(shard, "r+") as f:  # as if copied from a campaign with another seed / ramp
        f[name][0] = f[name][0] + 1000
    rep = verify(c)
    assert any(str(shard) in p and words in p for p in rep.problems), rep.problems


def test_the_minimizer_stop_reason_is_stored_and_an_iteration_limit_is_flagged(done_campaign, tmp_path):
    c = done_campaign
    with open_campaign(c) as r:
        sel = r.select(minimized=True)
        stop = np.array([r.f["is/stop"][s, k] for s, k in zip(sel.sim, sel.frame)])
        iters = np.array([r.f["is/iters"][s, k] for s, k in zip(sel.sim, sel.frame)])
    assert len(sel) and np.isin(stop, [0, 2]).all() and (iters > 0).all() and (iters < c.spec.minimize.maxiter).all()
    assert verify(c).flagged == []
    # the same campaign with maxiter = 3: FIRE stops on the limit, and verify says so
    text = Path(c.spec.path).read_text() + "\n[minimize]\nmaxiter = 3\nmaxeval = 3\n"
    spec = tmp_path / "short.toml"
    spec.write_text(text.replace(f'workdir = "{c.workdir}"', f'workdir = "{tmp_path / "c"}"'))
    glasskit("submit", "simulate", "--spec", spec, "--array", "2", "--executor", "local", check=True)
    glasskit("submit", "minimize", "--spec", spec, "--array", "2", "--executor", "local", check=True)
    short = Campaign.of(load_spec(spec))
    rep = verify(short)
    assert rep.problems == [] and len(rep.flagged) == 1
    assert "stopped on the iteration limit ([minimize] maxiter = 3)" in rep.flagged[0]
    proc = glasskit("verify", "--spec", spec)
    assert proc.returncode == 0 and "FLAG" in proc.stdout and "1 flagged" in proc.stdout


def test_collect_never_replaces_a_shard_a_spec_or_a_foreign_file(done_campaign, tmp_path):
    c = done_campaign
    shard = c.shards("simulate")[0]
    before = shard.read_bytes()
    foreign = tmp_path / "notes.h5"
    foreign.write_text("my notes")
    for target in (shard, Path(c.spec.path), foreign):
        proc = glasskit("collect", "--spec", c.spec.path, "-o", target)
        assert proc.returncode == 2 and "refusing to replace it" in proc.stderr and "Traceback" not in proc.stderr
    assert shard.read_bytes() == before and foreign.read_text() == "my notes"
    out = tmp_path / "mine.h5"
    glasskit("collect", "--spec", c.spec.path, "-o", out, check=True)
    glasskit("collect", "--spec", c.spec.path, "-o", out, check=True)  # its own file: replaced
    with h5py.File(out) as f:
        assert f.attrs["glasskit_file"] == "campaign"


def test_verify_names_the_repair_and_redo_makes_the_campaign_whole(done_campaign, tmp_path):
    work = tmp_path / "c"
    shutil.copytree(done_campaign.workdir, work)
    c = Campaign.of(load_spec(done_campaign.spec.path, workdir=str(work)))
    shard = c.shards("simulate")[-1]
    with h5py.File(shard) as f:
        info, sim = f["frames/x"].id.get_chunk_info(0), int(f["sim/index"][0])
    with open(shard, "r+b") as fh:  # one flipped byte in a coordinate chunk: still "done" to status
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(1)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes([b[0] ^ 0xFF]))
    assert sim in stage_status(c).done
    proc = glasskit("verify", "--spec", c.spec.path, "--workdir", work)
    assert proc.returncode == 1
    (repair,) = [ln.split("repair: ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith("repair: ")]
    assert repair == f"glasskit submit simulate --spec {c.spec.path} --array {sim} --redo"
    plain = glasskit("submit", "simulate", "--spec", c.spec.path, "--workdir", work, "--executor", "local")
    assert "nothing to submit" in plain.stderr  # without --redo a done simulation is left alone
    args = repair.split()[1:] + ["--workdir", work, "--executor", "local"]
    glasskit(*args, check=True)
    rep = verify(c)
    assert rep.problems == [] and rep.condemned["simulate"] == set()  # the new copy supersedes the bad one


def test_a_campaign_file_whose_shards_are_gone_is_refused_not_read_as_nan(done_campaign, tmp_path):
    work = tmp_path / "c"
    shutil.copytree(done_campaign.workdir, work)
    c = Campaign.of(load_spec(done_campaign.spec.path, workdir=str(work)))
    glasskit("collect", "--spec", c.spec.path, "--workdir", work, check=True)
    c.shards("minimize")[0].unlink()
    with pytest.raises(Exception, match="maps 1 of its 8 shard\\(s\\) that are gone.*re-run glasskit collect"):
        open_campaign(c)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([os.sys.executable, str(root / "analysis/ise.py"), str(work / "campaign.h5"), "--T", "0.05"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "that are gone" in proc.stderr and "Traceback" not in proc.stderr
    glasskit("collect", "--spec", c.spec.path, "--workdir", work, check=True)  # the documented repair
    with open_campaign(c) as r:
        assert len(r.select(minimized=True)) > 0
