"""Trained runs back from disk, for analysis: the model, its data, its predictions and attention.

:func:`load_run` reads ``<run>/config.json`` and ``<run>/best.pt`` (``weights_only=True``);
:func:`samples_of` loads a dataset's :class:`~glasskit.ml.samples.SampleTable` from the campaign
the run was trained on; :func:`scores` and :func:`attention` evaluate it. Everything is on CPU
unless ``device`` says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from glasskit.util.errors import GlasskitError
from glasskit.ml import runs
from glasskit.ml.config import RunConfig
from glasskit.ml.samples import SampleTable, load_samples
from glasskit.ml.train import build_model, load_weights


@dataclass
class LoadedRun:
    run_dir: Path
    cfg: RunConfig
    model: torch.nn.Module
    meta: dict  # config.json: campaign, spec, datasets, splits

    def training_sims(self) -> set[int]:
        """Simulations whose frames the run trained on (read from predictions' complement)."""
        sp = self.meta.get("splits")
        if sp:
            return {int(s) for s, _ in sp["train"]}
        held = {int(r["sim"]) for r in predictions(self.run_dir)}
        table = samples_of(self, self.cfg.dataset)
        return set(table.sim.tolist()) - held


def load_run(run_dir: str | Path, device: str = "cpu") -> LoadedRun:
    run_dir = Path(run_dir)
    meta = runs.read_json(run_dir / "config.json")
    if not meta or not (run_dir / "best.pt").is_file():
        raise GlasskitError(f"{run_dir} is not a trained run (config.json and best.pt are needed)",
                            "pass a directory under runs/<campaign>/models/ whose status is done")
    try:
        cfg = RunConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError, GlasskitError) as exc:
        raise GlasskitError(f"{run_dir / 'config.json'} is damaged ({type(exc).__name__}: {exc})",
                            f"move the run aside (mv {run_dir} {run_dir}.damaged)") from None
    model = build_model(cfg)
    load_weights(run_dir / "best.pt", model, device)
    return LoadedRun(run_dir, cfg, model.to(device).eval(), meta)


def provenance(run: LoadedRun) -> tuple[str, bool]:
    """(one line naming the run, its dataset, test AUC / accuracy and n, and whether it is a
    result by :func:`glasskit.ml.runs.verdict`). Figures drawn from a model print the line."""
    m = runs.read_json(run.run_dir / "metrics.json") or {}
    test, val = m.get("test") or {}, m.get("val") or {}
    head = f"{run.cfg.model} run {run.run_dir.name}, dataset {run.cfg.dataset}"
    if not test:
        return f"{head}: no metrics (unfinished run): NOT A RESULT", False
    line = f"{head}: test AUC {test['auc']:.3f}, accuracy {test['accuracy']:.3f} (n = {test['n']})"
    v = runs.verdict(val.get("accuracy", 0.0) * val.get("n", 0), int(val.get("n", 0)), int(test["n"]))
    if v == "chance":
        return f"{line}; validation accuracy at chance: NOT A RESULT", False
    if v == "small test set":
        return f"{line}; fewer than {runs.MIN_TEST} test samples: a demonstration, not a result", False
    return line, True


def stamp(fig, run: LoadedRun) -> None:
    """Write :func:`provenance`'s line under ``fig`` (red when not a result) and print it."""
    source, is_result = provenance(run)
    fig.text(0.5, 0.0, source, ha="center", va="top", fontsize=6, color="black" if is_result else "tab:red")
    print(source)


from glasskit.ml.train import PREDICTION_COLUMNS  # noqa: E402  the one list of its columns


def predictions(run_dir: Path) -> list[dict]:
    """The rows of a run's predictions.csv (sample, sim, frame, T, label, score, split), in order,
    validated: the header, integer ids, a label of 0 or 1, a score in [0, 1], split test or val.
    A damaged file is one :class:`GlasskitError` naming it and the row."""
    import csv
    import math
    from glasskit.util.tables import bare, header
    path = Path(run_dir) / "predictions.csv"
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            want = [header(c) for c in PREDICTION_COLUMNS]
            if reader.fieldnames != want:
                raise ValueError(f"header {reader.fieldnames}, expected {','.join(want)}")
            rows = []
            for n, r in enumerate(reader, 2):
                r = {bare(k): v for k, v in r.items()}
                ok = (all(str(r.get(k, "")).lstrip("-").isdigit() for k in ("sample", "sim", "frame"))
                      and r["label"] in ("0", "1") and r["split"] in ("test", "val"))
                score = float(r["score"]) if ok else math.nan
                if not (ok and 0 <= score <= 1):
                    raise ValueError(f"row {n} is not a prediction: {dict(r)}"[:200])
                rows.append(r)
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise GlasskitError(f"{path} is damaged or missing ({exc})",
                            f"move the run aside (mv {Path(run_dir)} {Path(run_dir)}.damaged)") from None
    return rows


def test_examples(run: LoadedRun, order=("liquid", "glass")) -> dict[str, int]:
    """The first liquid and the first glass sample (table indices) of the run's test split."""
    held = [r for r in predictions(run.run_dir) if r["split"] == "test"]
    picks = {}
    for name in order:
        cand = [int(r["sample"]) for r in held if int(r["label"]) == int(name == "liquid")]
        if not cand:
            raise GlasskitError(f"the test split of {run.run_dir.name} has no {name} sample",
                                "train with more simulations per class")
        picks[name] = cand[0]
    return picks


def samples_of(run: LoadedRun, dataset: int | None = None) -> SampleTable:
    return load_samples(run.meta["campaign"], run.meta["spec"], dataset or run.cfg.dataset, run.meta["datasets"])


def scores(run: LoadedRun, table: SampleTable, indices=None) -> np.ndarray:
    """P(liquid) of ``table[indices]`` (all by default), in that order, scored as the run's own
    test split was: its validation/test set (:func:`glasskit.ml.samples.make_set`, a D-MPNN's
    ``eval_windows`` windows per frame, epoch 0's draw) through :func:`glasskit.ml.train.predict`."""
    import dataclasses
    from glasskit.ml.samples import make_set
    from glasskit.ml.train import Dist, loader, predict
    idx = np.arange(len(table)) if indices is None else np.asarray(indices, dtype=np.int64)
    if not len(idx):
        return np.empty(0)
    cfg = dataclasses.replace(run.cfg, train=dataclasses.replace(run.cfg.train, workers=0))
    ids, s = predict(run.model, cfg, loader(cfg, make_set(cfg, table, idx), Dist(), shuffle=False), Dist())
    return s[np.searchsorted(ids, idx)].astype(np.float64)


def graph(run: LoadedRun, table: SampleTable, j: int, seed: int = 0):
    """The window graph of sample ``j`` that the run's own test set draws first
    (:func:`glasskit.ml.samples.make_set`, window 0); ``seed`` > 0 takes the window of that
    later draw (the set's epoch) instead, another window of the same frame."""
    from glasskit.ml.samples import make_set
    ds = make_set(run.cfg, table, [int(j)])
    ds.set_epoch(int(seed))
    return ds[0]


@torch.no_grad()
def attention(run: LoadedRun, table: SampleTable, j: int, seed: int = 0, companions=()):
    """(graph, P(liquid), attention (E,) of step T-1) of sample ``j`` in one window.

    In the batch context the model was trained with: with ``attention = "batch"`` the softmax
    runs over every edge of a mini-batch, so ``j`` is evaluated beside ``batch - 1`` other
    samples (``companions``, table indices; e.g. the rest of its test batch) and its own edges'
    weights are returned (they sum to less than 1, as in training). Per-graph attention needs
    no companions: a graph's weights do not depend on the others of its batch."""
    from torch_geometric.data import Batch
    if run.cfg.model != "dmpnn" or run.cfg.net.depth < 2 or run.cfg.net.attention == "none":
        raise GlasskitError(f"{run.run_dir.name} has no attention to show",
                            "pass a D-MPNN run with depth >= 2 and attention on")
    others = [int(c) for c in companions if int(c) != j][: run.cfg.net.batch - 1] \
        if run.cfg.net.attention == "batch" else []
    b = Batch.from_data_list([graph(run, table, j, seed)] + [graph(run, table, c, seed) for c in others])
    logit, alpha = run.model(b.x, b.edge_index, b.edge_attr, b.rev, b.batch, return_attention=True)
    g = b.get_example(0)
    return g, float(torch.sigmoid(logit[0])), alpha[: g.edge_index.size(1)].numpy()


def authors_cut(w: np.ndarray) -> np.ndarray:
    """The authors' high-attention edges of one graph (their visualize_bond_attention_pooling):
    w' = 4 (w - min) / max(w - min) + 0.1 > 0.11, i.e. (w - min) / (max - min) > 0.0025."""
    span = float(w.max() - w.min())
    return (w - w.min()) / span > 0.0025 if span > 0 else np.zeros(w.shape, bool)


def otsu_cut(values: np.ndarray, bins: int = 64) -> float:
    """The threshold between the two modes of ``values`` (Otsu: maximal between-class variance),
    the 'clear trough' of the SI's attention histogram when applied to log weights."""
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:][np.argmax(between)])
