"""Datasets 1-6: labelled frame selections -> PNG images, graphs and a metadata JSON.

``jobs/datasets.toml`` names each dataset's two classes as (T, ramp) frame selections of a
collected campaign (:mod:`glasskit.campaign.store`). :func:`build` writes::

    <workdir>/datasets/<id>/images/<class>/s<sim>_f<frame>.png     250 x 250 px, 100 dpi; one folder
                                                                   per class (torchvision ImageFolder)
    <workdir>/datasets/<id>/graphs.pt                              plain tensors (torch.load, no pickle
                                                                   of classes): glasskit.data.graphs
    <workdir>/datasets/<id>/metadata.json                          one entry per sample

One label convention everywhere (metadata, graphs.pt ``y``, predictions.csv, ImageFolder's class
index, which sorts the folder names): 0 = glass, 1 = liquid. The paper's one-hot vectors are
``[1 - label, label]`` reversed, [1, 0] liquid (SI section II): training builds them from the label.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from glasskit.campaign.layout import Campaign
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.util.tomlfile import read_toml
from glasskit.util.outputs import claim, claim_many, record_many, replace_file
from glasskit.campaign.store import CampaignReader, Selection, open_campaign

CLASSES = ("glass", "liquid")  # label = index: ImageFolder's rule (folder names sorted)
LABELS = {name: i for i, name in enumerate(CLASSES)}


@dataclass(frozen=True)
class ClassSpec:
    T: float
    ramp: str | int  # "slow", "fast" or a t_cool


@dataclass(frozen=True)
class DatasetSpec:
    id: int
    liquid: ClassSpec
    glass: ClassSpec
    source: str = "jobs/datasets.toml"  # the file, for error messages


@dataclass(frozen=True)
class BuildSpec:
    """``[build]`` of datasets.toml, checked by the spec's own table builder (types and rules)."""

    renderer: str = field(default="fast", metadata={"rule": (lambda v: v in ("fast", "matplotlib"),
                                                             "must be fast or matplotlib")})
    l_win: float = field(default=0.3, metadata={"rule": (lambda v: 0 < v <= 1, "must be in (0, 1]")})
    k: int = field(default=3, metadata={"rule": (lambda v: 1 <= v <= 64, "must be in [1, 64]")})
    seed: int = field(default=0, metadata={"rule": (lambda v: 0 <= v < 2**63, "must be >= 0")})


@dataclass(frozen=True)
class _ClassTable:
    T: float = field(metadata={"rule": (lambda v: 0 < v < 100, "must be a temperature in (0, 100)")})
    ramp: str = field(metadata={"rule": (lambda v: v in ("slow", "fast") or v.isdigit(),
                                         'must be "slow", "fast" or a t_cool as a string of digits')})


def load_datasets(path: str | Path = "jobs/datasets.toml") -> tuple[BuildSpec, dict[int, DatasetSpec]]:
    from glasskit.util.tomlfile import read_toml
    path = Path(path)
    from glasskit.campaign.spec import build_table
    _, data = read_toml(path, "dataset file", "see jobs/datasets.toml")
    unknown = set(data) - {"build", "dataset"}
    if unknown:
        raise GlasskitError(f"{path}: unknown table [{sorted(unknown)[0]}]", "allowed: [build], [[dataset]]")
    build = build_table(BuildSpec, data.get("build", {}), str(path), "build")
    sets = data.get("dataset", [])
    if not isinstance(sets, list):
        raise GlasskitError(f"{path}: 'dataset' must be [[dataset]] tables")
    out = {}
    for i, d in enumerate(sets):
        where = f"dataset[{i}]"
        if not isinstance(d, dict) or set(d) - {"id", "liquid", "glass"} or not {"id", "liquid", "glass"} <= set(d):
            raise GlasskitError(f"{path}: {where} needs exactly id, liquid = {{T, ramp}}, glass = {{T, ramp}}")
        did = d["id"]
        if isinstance(did, bool) or not isinstance(did, int) or not 1 <= did <= 10_000:
            raise GlasskitError(f"{path}: {where}.id = {did!r} must be an integer in [1, 10000]")
        if did in out:
            raise GlasskitError(f"{path}: two datasets have id {did}", "give each [[dataset]] its own id")
        cls = {}
        for c in ("liquid", "glass"):
            t = d[c]
            if isinstance(t, dict) and isinstance(t.get("ramp"), int) and not isinstance(t.get("ramp"), bool):
                t = {**t, "ramp": str(t["ramp"])}  # a t_cool given as a number
            spec = build_table(_ClassTable, t, str(path), f"{where}.{c}")
            cls[c] = ClassSpec(spec.T, int(spec.ramp) if spec.ramp.isdigit() else spec.ramp)
        out[did] = DatasetSpec(did, **cls, source=str(path))
    return build, out


def resolve_class(campaign: Campaign, cls: ClassSpec, where: str = "") -> tuple[float, int]:
    """The (exact frame temperature, t_cool) of the stored frames nearest to ``cls.T``."""
    spec = campaign.spec
    rates = sorted({g.t_cool for g in spec.campaign.runs})
    if cls.ramp == "slow":
        t_cool = rates[-1]
    elif cls.ramp == "fast":
        t_cool = rates[0]
    elif isinstance(cls.ramp, int) and cls.ramp in rates:
        t_cool = cls.ramp
    else:
        raise GlasskitError(f"ramp {cls.ramp!r} is not in this campaign (t_cool: {rates})",
                            "use \"slow\", \"fast\" or one of those t_cool values")
    steps = spec.dump_every(t_cool) * np.arange(1, spec.n_frames(t_cool) + 1)
    temps = spec.frame_temperature(steps, t_cool)
    near = float(temps[np.argmin(np.abs(temps - cls.T))])
    half = 0.5 * abs(spec.protocol.t_start - spec.protocol.t_stop) / len(temps)
    if abs(near - cls.T) > half + 1e-12:
        raise GlasskitError(f"{where}T = {cls.T} has no stored frame on the t_cool = {t_cool} ramp within half a "
                            f"frame spacing (+-{half:.4g}); the nearest is T = {near:.6g}",
                            f"pick a temperature between {temps.min():.6g} and {temps.max():.6g}, or store more "
                            "frames per ramp ([protocol] frames)")
    return near, int(t_cool)


def select(campaign: Campaign, reader: CampaignReader, ds: DatasetSpec) -> dict[str, tuple[Selection, float, int]]:
    out = {}
    for name in ("liquid", "glass"):
        where = f"{ds.source}: dataset {ds.id} {name}: "
        T, t_cool = resolve_class(campaign, getattr(ds, name), where)
        sel = reader.select(T=T, t_cool=t_cool, tol=1e-9)
        if not len(sel):
            raise GlasskitError(f"{where}no finished simulation of the t_cool = {t_cool} ramp has its T = {T:.6g} frame",
                                "simulate (and collect) runs of that cooling rate first; glasskit status lists them")
        out[name] = (sel, T, t_cool)
    if (out["liquid"][1], out["liquid"][2]) == (out["glass"][1], out["glass"][2]):
        raise GlasskitError(f"dataset {ds.id}: liquid and glass select the same frames (T = {out['glass'][1]})")
    return out


def build(campaign: Campaign, dataset_id: int, images: bool = True, graphs: bool = True,
          datasets_file: str = "jobs/datasets.toml", renderer: str | None = None,
          workers: int | None = None) -> Path:
    """Build dataset ``dataset_id`` of a collected campaign; returns the metadata JSON path."""
    bspec, all_ds = load_datasets(datasets_file)
    if dataset_id not in all_ds:
        raise GlasskitError(f"no dataset {dataset_id} in {datasets_file}", f"defined: {sorted(all_ds)}")
    renderer = renderer or bspec.renderer
    out = campaign.workdir / "datasets" / str(dataset_id)
    with open_campaign(campaign) as reader:
        sels = select(campaign, reader, all_ds[dataset_id])
        path, box = reader.path, reader.box
        inputs = built_from(reader)
    samples = [dict(cls=name, label=LABELS[name], sim=int(s), frame=int(f), T=float(T), t_cool=int(tc))
               for name, (sel, T, tc) in sels.items() for s, f in zip(sel.sim, sel.frame)]
    if not samples:
        raise GlasskitError(f"dataset {dataset_id}: no frames match", "simulate and collect the campaign first")
    for i, s in enumerate(samples):
        s["image"] = f"images/{s['cls']}/s{s['sim']}_f{s['frame']}.png" if images else None
        s["graph"] = i if graphs else None
    names = {c: [Path(s["image"]).name for s in samples if s["image"] and s["cls"] == c] for c in CLASSES}
    for c in CLASSES:
        claim_many(out / "images" / c, names[c])
    for name in ("metadata.json",) + (("graphs.pt",) if graphs else ()):
        claim(out / name)
    workers = workers or max(1, min(os.cpu_count() or 1, len(samples) // 8 or 1))
    chunks = [samples[i::workers] for i in range(workers)]
    jobs = [(str(path), str(out), c, images, graphs, renderer, bspec.l_win, bspec.k, bspec.seed) for c in chunks]
    graphs_out: dict[int, object] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(samples), desc=f"dataset {dataset_id}", unit="frame", disable=None) as bar:
        for done in pool.map(_work, jobs):
            graphs_out.update(done)
            bar.update(len(done))
    for c in CLASSES:
        record_many(out / "images" / c, names[c])
    if graphs:
        from glasskit.data.graphs import save_graphs
        with replace_file(out / "graphs.pt") as tmp:
            save_graphs(tmp, [graphs_out[i] for i in range(len(samples))], [s["label"] for s in samples],
                        [s["sim"] for s in samples], [s["frame"] for s in samples])
    meta = {"dataset": dataset_id, "campaign": campaign.spec.campaign.name,
            "source": os.path.relpath(path, out), "paths": "relative to the directory of this file",
            "labels": "0 = glass, 1 = liquid (graphs.pt y, predictions.csv, ImageFolder's class index)",
            "units": "LAMMPS lj: lengths in sigma_AA, temperatures in epsilon_AA / k_B; image and graph "
                     "coordinates scaled to the box",
            "box": [float(b) for b in box], "build_seed": bspec.seed, "built_from": inputs, "datasets_toml": read_toml(datasets_file, "dataset file")[0],
            "renderer": renderer if images else None, "l_win": bspec.l_win, "k": bspec.k,
            "classes": {n: {"T": T, "t_cool": tc, "count": len(sel), "label": LABELS[n]}
                        for n, (sel, T, tc) in sels.items()},
            "graphs": "graphs.pt" if graphs else None, "samples": samples}
    meta_path = out / "metadata.json"
    with replace_file(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    logger.info("dataset %d: %d liquid (T = %.5g) + %d glass (T = %.5g) samples -> %s", dataset_id,
                len(sels["liquid"][0]), sels["liquid"][1], len(sels["glass"][0]), sels["glass"][1], out)
    return meta_path


def built_from(reader) -> dict:
    """What a dataset was built from: the campaign's identity, its initial configuration and
    which shard holds each simulation (a --redo repair changes that)."""
    from glasskit.campaign.store import sources_sha1
    f = reader.f
    return {"campaign_id": str(f.attrs.get("campaign_id", "")), "init_sha256": str(f.attrs.get("init_sha256", "")),
            "sources_sha1": sources_sha1(f, ("sim/source",))}  # images and graphs read trajectories only


def _work(job) -> list[tuple[int, object]]:
    """One worker: render images and/or build graphs for a chunk of samples; returns
    (graph index, Data) pairs, one per sample (index -1 and None without graphs)."""
    path, out, samples, images, graphs, renderer, l_win, k, seed = job
    from glasskit.data.graphs import frame_graph
    from glasskit.data.images import rasterize, render_matplotlib, save_png
    draw = render_matplotlib if renderer == "matplotlib" else rasterize
    result = []
    with CampaignReader(Path(path)) as r:
        types, box = r.types, r.box
        for s in samples:
            if images:
                save_png(Path(out) / s["image"], draw(r.read("frames/xs", s["sim"], s["frame"]), types))
            if graphs:
                origin = np.random.default_rng([seed, s["sim"], s["frame"]]).random(2)
                x = r.read("frames/x", s["sim"], s["frame"])
                result.append((s["graph"], frame_graph(x, types, box, l_win, k, origin)))
            else:
                result.append((-1, None))
    return result
