"""A dataset's samples, and the model inputs made from them at load time.

:func:`load_samples` turns dataset N of ``jobs/datasets.toml`` into a :class:`SampleTable`: the
(sim, frame, label) of every sample with its scaled coordinates, read once from the campaign
HDF5 through :mod:`glasskit.campaign.store`. :class:`GraphSet` and :class:`ImageSet` are torch datasets
over a subset of it: graphs get a fresh random window on every access (seeded by
(seed, epoch, sample), so a run is reproducible on any number of processes and workers),
images follow the paper's recipe (:func:`glasskit.data.images.rasterize`).

Labels: ``label`` is 1 for liquid, 0 for glass. The D-MPNN is trained on it with a sigmoid;
the CNN on the authors' one-hot [1, 0] liquid / [0, 1] glass (class index ``1 - label``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from glasskit.util.errors import GlasskitError
from glasskit.ml.nets.featurize import draw_origin, featurize, to_data


@dataclass
class SampleTable:
    """M samples of one dataset: ``sim``, ``frame``, ``label`` (1 liquid / 0 glass) and ``T``
    (M,); ``xs`` (M, N, 2) float32 scaled coordinates; ``types`` (N,); ``box`` (2,) sigma."""

    dataset: int
    sim: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    T: np.ndarray
    xs: np.ndarray
    types: np.ndarray
    box: np.ndarray

    def __len__(self) -> int:
        return int(self.sim.size)


def load_samples(campaign_file: str | Path, spec_path: str | Path, dataset: int,
                 datasets_file: str | Path = "jobs/datasets.toml") -> SampleTable:
    """The samples of ``dataset`` from a collected campaign file (see :mod:`glasskit.data.datasets`)."""
    from glasskit.campaign.layout import Campaign
    from glasskit.data.datasets import load_datasets, select
    from glasskit.campaign.spec import load_spec
    from glasskit.campaign.store import open_campaign

    _, all_ds = load_datasets(datasets_file)
    if dataset not in all_ds:
        raise GlasskitError(f"no dataset {dataset} in {datasets_file}", f"defined: {sorted(all_ds)}")
    campaign = Campaign(load_spec(spec_path), Path(campaign_file).parent)
    parts = []
    with open_campaign(campaign_file) as reader:
        for name, (sel, _, _) in select(campaign, reader, all_ds[dataset]).items():
            if not len(sel):
                raise GlasskitError(f"dataset {dataset}: no {name} frames in {campaign_file}",
                                    "simulate and collect the campaign first")
            xs = np.concatenate([c["frames/xs"] for c in reader.iter_chunks(sel, ("frames/xs",))])
            parts.append((sel, xs, int(name == "liquid")))
        types, box = reader.f["frames/type"][...], reader.box
    sim = np.concatenate([p[0].sim for p in parts])
    return SampleTable(dataset, sim, np.concatenate([p[0].frame for p in parts]),
                       np.concatenate([np.full(len(p[0]), p[2], np.int64) for p in parts]),
                       np.concatenate([p[0].T for p in parts]), np.concatenate([p[1] for p in parts]),
                       types, box)


def _groups(table: SampleTable, group_by: str) -> np.ndarray:
    return table.sim if group_by == "simulation" else np.arange(len(table))


def split(table: SampleTable, fractions, seed: int, group_by: str = "simulation") -> list[np.ndarray]:
    """Sample indices of each split (fractions sum to 1); all samples of one group (simulation)
    fall in the same split. Groups are shuffled with ``seed``; each split gets
    round(fraction x groups) groups, the first split the remainder."""
    groups = np.unique(_groups(table, group_by))
    order = np.random.default_rng(seed).permutation(groups)
    sizes = [int(round(f * len(groups))) for f in fractions[1:]]
    sizes = [len(groups) - sum(sizes)] + sizes
    if min(sizes) < 1:
        raise GlasskitError(f"dataset {table.dataset}: {len(groups)} {group_by} group(s) cannot fill the "
                            f"splits {list(fractions)}", "simulate more runs, or use --hp group_by=\"none\"")
    bounds = np.cumsum([0] + sizes)
    g = _groups(table, group_by)
    return [np.nonzero(np.isin(g, order[a:b]))[0] for a, b in zip(bounds[:-1], bounds[1:])]


def kfold(table: SampleTable, K: int, seed: int, group_by: str = "simulation") -> list[np.ndarray]:
    """K outer folds (sample indices), grouped and shuffled like :func:`split`."""
    groups = np.unique(_groups(table, group_by))
    if len(groups) < 2 * K:
        raise GlasskitError(f"dataset {table.dataset}: {len(groups)} {group_by} group(s) are too few for "
                            f"{K}-fold cross-validation", f"simulate at least {2 * K} runs per class")
    order = np.random.default_rng(seed).permutation(groups)
    g = _groups(table, group_by)
    return [np.nonzero(np.isin(g, part))[0] for part in np.array_split(order, K)]


def subset(table: SampleTable, idx: np.ndarray) -> SampleTable:
    """The labels of ``table[idx]`` (no coordinates): what :func:`split` needs to split a part."""
    return SampleTable(table.dataset, table.sim[idx], table.frame[idx], table.label[idx], table.T[idx],
                       table.xs[:0], table.types, table.box)


def pairs(table: SampleTable, idx: np.ndarray) -> list[list[int]]:
    """[sim, frame] of each sample: how a split is written down, independent of load order."""
    return [[int(table.sim[i]), int(table.frame[i])] for i in idx]


def indices(table: SampleTable, split_pairs: dict[str, list]) -> dict[str, np.ndarray]:
    """The inverse of :func:`pairs` for each part of a split."""
    key = {(int(s), int(f)): i for i, (s, f) in enumerate(zip(table.sim, table.frame))}
    try:
        return {k: np.array([key[tuple(p)] for p in v], np.int64) for k, v in split_pairs.items()}
    except KeyError as exc:
        raise GlasskitError(f"sample (sim, frame) {exc.args[0]} of the split is not in dataset "
                            f"{table.dataset}", "re-collect the campaign or re-submit the CV") from None


class GraphSet(Dataset):
    """Window graphs of ``table[indices]``, a new random window on every access (see
    :mod:`glasskit.ml.nets.featurize`). Call :meth:`set_epoch` before each epoch.

    ``windows`` W: each frame appears W times per epoch, each time in its own random window
    (item ``i`` is window ``i % W`` of frame ``indices[i // W]``), so an epoch holds W x frames
    samples: the authors' augmentation, applied more often. The paper's 16,000 configurations
    per epoch are W = 1; a campaign of a few dozen simulations needs more windows per frame to
    give the optimiser as many distinct graphs. Window 0 is drawn from (seed, epoch, sample)
    exactly as with W = 1. Validation and test sets hold ``eval_windows`` windows of each frame
    (:func:`make_set`); :func:`glasskit.ml.train.predict` scores a frame by the mean P(liquid)
    of its windows. Each item carries ``sample`` (the frame's table index) and ``window`` (w)."""

    def __init__(self, table: SampleTable, indices, net, seed: int = 0, windows: int = 1):
        self.table, self.indices = table, np.asarray(indices, dtype=np.int64)
        self.net, self.seed, self.epoch, self.windows = net, int(seed), 0, max(1, int(windows))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices) * self.windows

    def __getitem__(self, i: int):
        j, w = int(self.indices[i // self.windows]), i % self.windows
        rng = np.random.default_rng([self.seed, self.epoch, j] + ([w] if w else []))
        origin = draw_origin(rng, self.net.l_win, self.net.window)
        t = self.table
        data = to_data(featurize(t.xs[j], t.types, t.box, self.net.l_win, self.net.k, origin,
                                 self.net.features, self.net.distance), y=t.label[j])
        data.sample = torch.tensor([j])
        data.window = torch.tensor([w])
        return data


class ImageSet(Dataset):
    """RGB images (3, px, px) float32 of ``table[indices]`` by the paper's recipe, in [0, 1]
    (``scale = 1 / 255``, the default) or raw 0-255 as the authors fed them (``scale = 1``);
    target: the class index of the one-hot label (0 liquid, 1 glass).

    ``views`` V and ``augment``: each frame appears V times per epoch (item ``i`` is view
    ``i % V`` of frame ``indices[i // V]``). With ``augment = "symmetry"`` each view is the frame
    under a random symmetry of its periodic box, drawn from (seed, epoch, frame, view): a
    periodic translation and, in a square box, one of the 8 rotations and reflections of the
    square (in a rectangular box the 4 that keep its axes). The physics (energy, structure,
    label) is unchanged; only the picture moves. ``"none"`` is the authors' fixed image of each
    frame. Validation and test sets use the fixed image (:func:`make_set`)."""

    def __init__(self, table: SampleTable, indices, image_px: int = 250, scale: float = 1 / 255,
                 views: int = 1, augment: str = "none", seed: int = 0):
        self.table, self.indices, self.px = table, np.asarray(indices, dtype=np.int64), int(image_px)
        self.scale, self.views, self.augment = float(scale), max(1, int(views)), augment
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices) * self.views

    def __getitem__(self, i: int):
        from glasskit.data.images import rasterize
        j, v = int(self.indices[i // self.views]), i % self.views
        xs = self.table.xs[j]
        if self.augment == "symmetry":
            xs = symmetry_view(xs, self.table.box, np.random.default_rng([self.seed, self.epoch, j, v]))
        img = rasterize(xs, self.table.types, size=self.px)
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().mul_(self.scale)
        return x, torch.tensor(1 - int(self.table.label[j])), torch.tensor(j)


def symmetry_view(xs: np.ndarray, box, rng: np.random.Generator) -> np.ndarray:
    """Scaled coordinates (N, 2) of the frame ``xs`` under a random symmetry of its periodic
    box: a uniform periodic translation, then (square box) one of the 8 operations of the
    square's dihedral group, or (rectangle) one of the 4 axis reflections."""
    out = np.mod(np.asarray(xs, dtype=np.float64) + rng.uniform(0.0, 1.0, 2), 1.0)
    square = bool(np.isclose(box[0], box[1]))
    op = int(rng.integers(8 if square else 4))
    if op & 1:
        out[:, 0] = 1.0 - out[:, 0]
    if op & 2:
        out[:, 1] = 1.0 - out[:, 1]
    if op & 4:
        out = out[:, ::-1]
    return np.mod(out, 1.0)


def make_set(cfg, table: SampleTable, indices, training: bool = False):
    """The torch dataset of a run's model over ``table[indices]``: images or window graphs
    (``windows`` per frame when ``training``, ``eval_windows`` per frame to validate and test:
    a frame's score is the mean over its windows, see :func:`glasskit.ml.train.predict`)."""
    if cfg.model == "cnn":
        if training:
            return ImageSet(table, indices, cfg.net.image_px, pixel_scale(cfg.net), cfg.net.views,
                            cfg.net.augment, cfg.train.seed)
        return ImageSet(table, indices, cfg.net.image_px, pixel_scale(cfg.net))
    return GraphSet(table, indices, cfg.net, seed=cfg.train.seed,
                    windows=cfg.net.windows if training else cfg.net.eval_windows)


def pixel_scale(net) -> float:
    """What the CNN's RGB bytes are multiplied by: 1/255 (``pixels = "unit"``) or 1 (``"raw"``)."""
    return 1.0 if net.pixels == "raw" else 1 / 255
