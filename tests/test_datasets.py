"""Datasets on a real demo-like campaign: selection, labels, images, graphs, metadata."""
import json

import pytest
import torch

from glasskit.campaign.layout import Campaign
from glasskit.data.datasets import ClassSpec, load_datasets, resolve_class
from glasskit.campaign.spec import load_spec

from conftest import ROOT, glasskit, write_spec


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds")
    spec = write_spec(tmp / "s.toml", tmp / "c", runs=((3, 20000), (3, 200)))
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
    glasskit("collect", "--spec", spec, check=True)
    return Campaign.of(load_spec(spec))


def test_paper_definitions_load():
    build, ds = load_datasets(ROOT / "jobs/datasets.toml")
    assert sorted(ds) == [1, 2, 3, 4, 5, 6]
    assert (ds[1].liquid, ds[1].glass) == (ClassSpec(1.99, "slow"), ClassSpec(0.05, "slow"))
    assert (ds[6].liquid, ds[6].glass) == (ClassSpec(0.55, "slow"), ClassSpec(0.05, "fast"))
    assert [ds[i].liquid.T for i in (2, 3, 4, 5)] == [1.756, 0.957, 0.55, 0.44]


def test_nearest_frame_temperature_is_picked(campaign):
    assert resolve_class(campaign, ClassSpec(0.55, "slow")) == (pytest.approx(0.54725), 20000)
    assert resolve_class(campaign, ClassSpec(1.99, "slow")) == (pytest.approx(1.99025), 20000)
    assert resolve_class(campaign, ClassSpec(0.05, "fast")) == (pytest.approx(0.05), 200)


@pytest.mark.parametrize("number, liquid_T, glass_tcool", [(1, 1.99025, 20000), (6, 0.54725, 200)])
def test_build_writes_labelled_images_graphs_and_metadata(campaign, number, liquid_T, glass_tcool):
    proc = glasskit("dataset", "build", number, "--spec", campaign.spec.path, check=True)
    meta_path = proc.stdout.strip()
    meta = json.loads(open(meta_path).read())
    assert meta["classes"]["liquid"]["T"] == pytest.approx(liquid_T)
    assert meta["classes"]["glass"]["t_cool"] == glass_tcool
    samples = meta["samples"]
    assert len(samples) == 6 and [s["cls"] for s in samples].count("liquid") == 3
    keys = {(s["sim"], s["frame"]) for s in samples}
    assert len(keys) == 6  # no frame in two classes
    root = campaign.workdir / "datasets" / str(number)
    for s in samples:
        assert s["label"] == (1 if s["cls"] == "liquid" else 0)  # one convention: 0 glass, 1 liquid
        assert (root / s["image"]).is_file() and (root / s["image"]).parent.name == s["cls"]
    # ImageFolder's rule: one folder per class, class index = position of the folder name sorted
    folders = sorted(p.name for p in (root / "images").iterdir() if p.is_dir())
    assert folders == ["glass", "liquid"] and {folders.index(s["cls"]) for s in samples} == {0, 1}
    assert all(folders.index(s["cls"]) == s["label"] for s in samples)
    # graphs.pt: plain torch.load (weights_only, the safe default) reads it, labels included
    raw = torch.load(root / "graphs.pt")
    assert raw["y"].tolist() == [s["label"] for s in samples] and raw["classes"] == ["glass", "liquid"]
    assert raw["sim"].tolist() == [s["sim"] for s in samples]
    from glasskit.data.graphs import load_graphs
    graphs = load_graphs(root / "graphs.pt")
    assert len(graphs) == 6
    g = graphs[samples[0]["graph"]]
    assert g.x.shape[1] == 2 and g.edge_index.shape[0] == 2 and g.num_nodes > 3 and int(g.y) == samples[0]["label"]
    assert int(g.edge_index.max()) < g.num_nodes  # indices within each graph
    glass = [s for s in samples if s["cls"] == "glass"]
    assert all(s["t_cool"] == glass_tcool and s["T"] == pytest.approx(0.05) for s in glass)
    # metadata a later reader needs: seed, box, units, the definitions, paths relative to the campaign
    assert meta["build_seed"] == 0 and meta["box"][0] == pytest.approx(meta["box"][1])  # square box
    assert "sigma_AA" in meta["units"] and "[[dataset]]" in meta["datasets_toml"]
    # paths in metadata are what they say: relative to the metadata file's directory
    assert meta["paths"] == "relative to the directory of this file"
    assert (root / meta["source"]).resolve() == (campaign.workdir / "campaign.h5").resolve()
    assert not samples[0]["image"].startswith("/")


def test_unknown_dataset_is_a_clear_error(campaign):
    proc = glasskit("dataset", "build", 9, "--spec", campaign.spec.path)
    assert proc.returncode == 2 and "no dataset 9" in proc.stderr


def test_a_temperature_off_the_stored_frames_or_an_empty_class_is_refused(campaign, tmp_path):
    # the fast ramp here stores 2 frames (1.025, 0.05): T = 1.99 lies more than half a spacing away
    bad = tmp_path / "d.toml"
    bad.write_text("[[dataset]]\nid = 1\nliquid = { T = 1.99, ramp = \"fast\" }\nglass = { T = 0.05, ramp = \"slow\" }\n")
    proc = glasskit("dataset", "build", 1, "--spec", campaign.spec.path, "--datasets", bad)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}: dataset 1 liquid: T = 1.99 has no stored frame on the t_cool = 200 ramp" in proc.stderr
    assert not (campaign.workdir / "datasets" / "1" / "metadata.json").exists() or \
        json.loads((campaign.workdir / "datasets" / "1" / "metadata.json").read_text())["classes"]["liquid"]["t_cool"] != 200
    # a ramp of the spec that has no finished simulation in the campaign file
    spec = write_spec(tmp_path / "s.toml", campaign.workdir, runs=((3, 20000), (3, 200), (2, 400)))
    ok = tmp_path / "e.toml"
    ok.write_text("[[dataset]]\nid = 1\nliquid = { T = 1.025, ramp = 400 }\nglass = { T = 0.05, ramp = \"slow\" }\n")
    proc = glasskit("dataset", "build", 1, "--spec", spec, "--datasets", ok)
    assert proc.returncode == 2 and "no finished simulation of the t_cool = 400 ramp" in proc.stderr
