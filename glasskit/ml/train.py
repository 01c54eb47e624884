"""Training one model on one split, on one process or as one rank of a DDP job.

:func:`train` is what every launcher calls (submitit locally or on Slurm, a CV fold, a bench):
Adam with the warm-up / exponential-decay schedule, ``epochs`` passes, validation AUC after each
epoch, the best epoch's weights score the test split. Under ``torch.distributed`` each rank sees
``batch / world`` samples of every global batch (a ``DistributedSampler`` over one shared
permutation), gradients are averaged by DDP, predictions are gathered, and rank 0 alone writes::

    <run>/checkpoint.pt   every epoch, atomically (tmp + rename); weights_only=True loadable
    <run>/best.pt         model weights of the best validation epoch
    <run>/epochs.csv      (tidy: glasskit.util.tables) epoch, loss, val_auc, val_accuracy, val_loss, lr, seconds, samples_per_s
    <run>/predictions.csv sample, sim, frame, T, label (1 liquid), score (P(liquid)), split
    <run>/metrics.json    resolved config, parameter count, world size, per-epoch history, test

A restarted run resumes after the last finished epoch and ends with the same result as an
uninterrupted one: every epoch reseeds dropout from (seed, epoch, rank) and windows are drawn
from (seed, epoch, sample).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml.files import _atomic, _atomic_save, _atomic_text, damaged, load_weights  # noqa: F401
from glasskit.ml.config import RunConfig
from glasskit.ml.samples import SampleTable, make_set

CHECKPOINT, BEST, METRICS = "checkpoint.pt", "best.pt", "metrics.json"


@dataclass
class Dist:
    """This process's place in the job: rank, world size and the device it computes on."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); NaN if one class is absent."""
    from scipy.stats import rankdata
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def lr_factor(step: int, steps_per_epoch: int, t) -> float:
    """Learning rate / lr_max at optimizer ``step``: linear warm-up lr_init -> lr_max over
    ``warmup_epochs``, then exponential decay reaching lr_final at the last step."""
    warm = max(1, int(round(t.warmup_epochs * steps_per_epoch))) if t.warmup_epochs > 0 else 0
    total = max(warm + 1, t.epochs * steps_per_epoch)
    if step < warm:
        lr = t.lr_init + (t.lr_max - t.lr_init) * step / warm
    else:
        gamma = (t.lr_final / t.lr_max) ** (1.0 / max(1, total - 1 - warm))
        lr = t.lr_max * gamma ** (step - warm)
    return lr / t.lr_max


def build_model(cfg: RunConfig) -> torch.nn.Module:
    from glasskit.ml.nets.cnn import CNN
    from glasskit.ml.nets.dmpnn import DMPNN
    from glasskit.ml.nets.featurize import NODE_DIM
    if cfg.model == "cnn":
        return CNN.from_config(cfg.net)
    return DMPNN.from_config(cfg.net, NODE_DIM[cfg.net.features])


def optimizer(model, cfg: RunConfig) -> torch.optim.Adam:
    """Adam; for the CNN the authors' L2 kernel penalty l2 * sum(w^2) / 2 (``tf.nn.l2_loss``) as
    its exact gradient, ``weight_decay = l2`` on the kernels (biases are not penalised)."""
    fused = {"fused": True} if all(p.device.type in ("cpu", "cuda") for p in model.parameters()) else {}
    if cfg.model == "cnn" and cfg.net.l2:
        kernels = {id(p) for p in model.kernels()}
        groups = [{"params": model.kernels(), "weight_decay": cfg.net.l2},
                  {"params": [p for p in model.parameters() if id(p) not in kernels], "weight_decay": 0.0}]
        return torch.optim.Adam(groups, lr=cfg.train.lr_max, **fused)
    return torch.optim.Adam(model.parameters(), lr=cfg.train.lr_max, **fused)


def loader(cfg: RunConfig, dataset, dist: Dist, shuffle: bool) -> DataLoader:
    """A loader of ``batch / world`` samples per rank over a seeded DistributedSampler."""
    if cfg.batch % dist.world:
        raise GlasskitError(f"batch {cfg.batch} does not divide over {dist.world} DDP processes",
                            "the batch is global: choose a batch divisible by --tasks")
    per_rank = cfg.batch // dist.world
    sampler = DistributedSampler(dataset, num_replicas=dist.world, rank=dist.rank, shuffle=shuffle,
                                 seed=cfg.train.seed, drop_last=False)
    kwargs = dict(batch_size=per_rank, sampler=sampler, num_workers=cfg.train.workers,
                  pin_memory=dist.device.type == "cuda",
                  persistent_workers=False, prefetch_factor=4 if cfg.train.workers else None)
    if cfg.model == "dmpnn":
        from torch_geometric.loader import DataLoader as GraphLoader
        return GraphLoader(dataset, **kwargs)
    return DataLoader(dataset, **kwargs)


def forward(model, cfg: RunConfig, batch, device):
    """(scores (B,) = P(liquid), loss terms without penalty, sample ids (B,), batch size)."""
    if cfg.model == "dmpnn":
        batch = batch.to(device, non_blocking=True)
        logit = model(batch.x, batch.edge_index, batch.edge_attr, batch.rev, batch.batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, batch.y)
        return torch.sigmoid(logit), loss, batch.sample, batch.num_graphs
    x, target, ids = (t.to(device, non_blocking=True) for t in batch)
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, target)
    return torch.softmax(logits, dim=1)[:, 0], loss, ids, x.size(0)


def check_input(cfg: RunConfig, table: SampleTable) -> None:
    """One forward pass of a fresh model on one sample, before any run directory or job exists:
    a window too small for k neighbours, or a CNN whose convolutions and pools do not fit the
    image, is one :class:`GlasskitError` here instead of a traceback inside the job."""
    what = f"the {cfg.model} settings ({cfg.preset or 'default'} with the given --hp)"
    try:
        data = make_set(cfg, table, [0])
        one = dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, batch=1),
                                  train=dataclasses.replace(cfg.train, workers=0))  # errors in this process
        batch = next(iter(loader(one, data, Dist(), shuffle=False)))
        with torch.no_grad():
            forward(build_model(cfg).eval(), cfg, batch, torch.device("cpu"))
    except GlasskitError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        raise GlasskitError(f"{what} do not fit the input: {str(exc).splitlines()[0][:200]}",
                            "change the geometry (cnn: conv/pool sizes against the image; dmpnn: l_win against k)") from None


def _gather(dist: Dist, ids: list, scores: list, windows: list) -> tuple[np.ndarray, np.ndarray]:
    """All ranks' scores, one per sample id: the mean over the sample's distinct windows (a
    D-MPNN scores ``eval_windows`` windows of each frame; an image is one window). Duplicate
    (id, window) items, which the sampler pads the last batch with, count once."""
    if ids:
        pairs = (torch.cat(ids).cpu().numpy(), torch.cat(windows).cpu().numpy(), torch.cat(scores).float().cpu().numpy())
    else:
        pairs = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))
    if dist.world > 1:
        out = [None] * dist.world
        torch.distributed.all_gather_object(out, pairs)
        pairs = tuple(np.concatenate([o[k] for o in out]) for k in range(3))
    ids_, win, sc = pairs
    _, first = np.unique(np.stack([ids_, win]), axis=1, return_index=True)  # each (id, window) once
    uniq, inv = np.unique(ids_[first], return_inverse=True)
    total = np.bincount(inv, weights=sc[first].astype(np.float64), minlength=len(uniq))
    return uniq, (total / np.bincount(inv, minlength=len(uniq))).astype(np.float32)


@torch.no_grad()
def predict(model, cfg: RunConfig, dl: DataLoader, dist: Dist) -> tuple[np.ndarray, np.ndarray]:
    """(sample ids, P(liquid)) of every sample of ``dl``, gathered from all ranks: a sample's
    score is the mean of its windows' (``[dmpnn] eval_windows``; one image per CNN sample)."""
    model.eval()
    ids, scores, windows = [], [], []
    for batch in dl:
        s, _, i, _ = forward(model, cfg, batch, dist.device)
        ids.append(i.view(-1))
        scores.append(s.view(-1))
        w = getattr(batch, "window", None) if cfg.model == "dmpnn" else None
        windows.append(w.view(-1) if w is not None else torch.zeros_like(i.view(-1)))
    return _gather(dist, ids, scores, windows)


def score(table: SampleTable, ids: np.ndarray, scores: np.ndarray) -> dict:
    """AUC, accuracy at P(liquid) > 0.5, binary cross-entropy and count of a prediction set."""
    labels = table.label[ids]
    if not len(ids):
        return {"auc": float("nan"), "accuracy": float("nan"), "loss": float("nan"), "n": 0}
    p = np.clip(scores.astype(np.float64), 1e-7, 1 - 1e-7)
    return {"auc": roc_auc(labels, scores), "accuracy": float(np.mean((scores > 0.5) == labels)),
            "loss": float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))), "n": int(len(ids))}


def train(run_dir: Path, cfg: RunConfig, table: SampleTable, splits: dict[str, np.ndarray],
          dist: Dist | None = None, progress: bool = True, on_epoch=None) -> dict:
    """Train ``cfg`` on ``splits["train"]``, select the epoch on ``splits["val"]``, score
    ``splits["test"]``; resumes from ``run_dir/checkpoint.pt``. Returns the metrics dict.
    ``on_epoch(epoch, model, samples_seen)``, if given, is called after every epoch (rank 0 and
    every other rank alike; a learning curve scores the model there, in eval mode)."""
    dist = dist or Dist()
    run_dir = Path(run_dir)
    from glasskit.ml.runs import WriterLock
    with WriterLock(run_dir, dist.rank):
        return _train(run_dir, cfg, table, splits, dist, progress, on_epoch)


def _train(run_dir, cfg, table, splits, dist, progress, on_epoch) -> dict:
    torch.manual_seed(cfg.train.seed)  # same initial weights on every rank
    model = build_model(cfg).to(dist.device)
    n_params = sum(p.numel() for p in model.parameters())
    net = model
    if dist.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    sets = {k: make_set(cfg, table, splits[k], training=(k == "train")) for k in ("train", "val", "test")}
    loaders = {k: loader(cfg, s, dist, shuffle=(k == "train")) for k, s in sets.items()}
    steps = len(loaders["train"])
    opt = optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, cfg.train))
    state = {"epoch": 0, "history": [], "best_epoch": -1, "best_auc": -math.inf, "best_loss": math.inf}
    ck = run_dir / CHECKPOINT
    if ck.is_file():
        state = _resume(ck, model, opt, sched, state, cfg, dist.device)
        if dist.main:
            logger.info("resuming %s after epoch %d of %d", run_dir.name, state["epoch"], cfg.train.epochs)
    for epoch in range(state["epoch"], cfg.train.epochs):
        row = _epoch(net, model, cfg, loaders, sets, opt, sched, epoch, dist, table, progress)
        state["history"].append(row)
        if on_epoch is not None:
            on_epoch(epoch + 1, model, (epoch + 1) * len(sets["train"]))
        state["epoch"] = epoch + 1
        improved = _better(row, state)
        if improved:
            state["best_epoch"] = epoch
            state["best_auc"] = -math.inf if math.isnan(row["val_auc"]) else row["val_auc"]
            state["best_loss"] = row["val_loss"]
        if dist.main:
            if improved:
                _atomic_save(model.state_dict(), run_dir / BEST)
            _atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                          "scheduler": sched.state_dict(), **state}, ck)
            _write_epochs(run_dir, state["history"])
        if dist.world > 1:
            torch.distributed.barrier()
    return _finish(run_dir, cfg, model, loaders, table, splits, dist, state, n_params)


def _resume(ck: Path, model, opt, sched, state: dict, cfg: RunConfig, device) -> dict:
    """Model, optimizer and scheduler from ``checkpoint.pt``, and the training state, validated:
    the epoch within the run's, a history of that many epochs, a best epoch inside it."""
    try:
        saved = torch.load(ck, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
    except Exception as exc:  # noqa: BLE001 - see load_weights
        raise damaged(ck, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
    new = {k: saved.get(k, v) for k, v in state.items()}
    epoch, hist, best = new["epoch"], new["history"], new["best_epoch"]
    if not (isinstance(epoch, int) and 0 <= epoch <= cfg.train.epochs):
        raise damaged(ck, f"epoch {epoch!r} is not in 0..{cfg.train.epochs}")
    if not (isinstance(hist, list) and len(hist) == epoch and all(isinstance(h, dict) for h in hist)):
        raise damaged(ck, f"its history does not hold {epoch} epochs")
    if not (isinstance(best, int) and -1 <= best < max(epoch, 0) and (best >= 0) == (epoch > 0)):
        raise damaged(ck, f"best epoch {best!r} is not one of its {epoch} epochs")
    if epoch and not (ck.parent / BEST).is_file():
        raise damaged(ck, f"{BEST} of its best epoch is missing")
    return new


def _better(row: dict, state: dict) -> bool:
    """The epoch with the highest validation AUC is best; ties (small validation sets reach
    AUC 1 early) go to the lower validation loss."""
    if state["best_epoch"] < 0:
        return True
    auc = -math.inf if math.isnan(row["val_auc"]) else row["val_auc"]
    return auc > state["best_auc"] or (auc == state["best_auc"] and row["val_loss"] < state["best_loss"])


def _epoch(net, model, cfg, loaders, sets, opt, sched, epoch, dist, table, progress) -> dict:
    import tqdm as _tqdm
    from tqdm import tqdm
    # no tqdm monitor thread: the loaders fork their workers every epoch, and a fork while that
    # thread holds a lock has left a worker hung at start (seen once in the demo, 2 DDP ranks)
    _tqdm.tqdm.monitor_interval = 0
    torch.manual_seed(cfg.train.seed * 1_000_003 + epoch * 1009 + dist.rank)  # dropout masks
    for k in sets:
        sets[k].set_epoch(epoch)
        loaders[k].sampler.set_epoch(epoch)
    net.train()
    t0, seen, total = time.perf_counter(), 0, 0.0
    bar = tqdm(loaders["train"], desc=f"epoch {epoch + 1}/{cfg.train.epochs}", unit="batch",
               disable=not (progress and dist.main) or None, leave=False)
    for batch in bar:
        _, loss, _, n = forward(net, cfg, batch, dist.device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        seen += n
        total += float(loss.detach()) * n
    seconds = time.perf_counter() - t0
    totals = torch.tensor([total, seen], dtype=torch.float64)
    if dist.world > 1:
        torch.distributed.all_reduce(totals)
    ids, scores = predict(net, cfg, loaders["val"], dist)
    val = score(table, ids, scores)
    _check_finite(float(totals[0]), scores, f"epoch {epoch + 1}")
    row = {"epoch": epoch + 1, "loss": float(totals[0] / max(1, totals[1])), "val_auc": val["auc"],
           "val_accuracy": val["accuracy"], "val_loss": val["loss"], "lr": opt.param_groups[0]["lr"], "seconds": seconds,
           "samples_per_s": float(totals[1]) / seconds if seconds else float("nan")}
    if dist.main:
        logger.info("epoch %d/%d: loss %.4f, val AUC %.4f, %.1f samples/s", epoch + 1, cfg.train.epochs,
                    row["loss"], row["val_auc"], row["samples_per_s"])
    return row


def _write_epochs(run_dir: Path, history: list[dict]) -> None:
    from glasskit.util.tables import table_text
    _atomic_text(run_dir / "epochs.csv", table_text(history))


def _check_finite(loss_sum: float, scores: np.ndarray, where: str) -> None:
    """A non-finite training loss or prediction fails the run (on every rank alike: the loss is
    the all-reduced sum, the scores are gathered) before anything of it is saved."""
    if not math.isfinite(loss_sum):
        raise GlasskitError(f"training diverged: the loss is {loss_sum} at {where}",
                            "these settings cannot train: lower the learning rate (--hp lr=...) or use "
                            "another preset; a run with other settings is a new run")
    if not np.isfinite(scores).all():
        raise GlasskitError(f"the model predicts non-finite scores at {where} "
                            f"({int((~np.isfinite(scores)).sum())} of {len(scores)})",
                            "these settings cannot train: lower the learning rate (--hp lr=...)")


def _finish(run_dir, cfg, model, loaders, table, splits, dist, state, n_params) -> dict:
    # every rank passed the barrier after rank 0 wrote best.pt
    load_weights(run_dir / BEST, model, dist.device)
    # the windows of the last epoch, as an uninterrupted run has them (a run resumed after its
    # last epoch never ran _epoch in this process)
    for k in ("val", "test"):
        loaders[k].dataset.set_epoch(max(0, state["epoch"] - 1))
    t0 = time.perf_counter()
    ids, scores = predict(model, cfg, loaders["test"], dist)
    infer_s = time.perf_counter() - t0
    _check_finite(0.0, scores, "the final test scoring")
    test = score(table, ids, scores)
    if not math.isfinite(test["auc"]):
        raise GlasskitError(f"the test split's AUC is NaN (undefined): its {test['n']} sample(s) are all of one class",
                            "use more simulations per class or another split seed (--hp seed=...)")
    val_ids, val_scores = predict(model, cfg, loaders["val"], dist)
    hist = state["history"]
    train_s = sum(h["seconds"] for h in hist)
    n_train = len(make_set(cfg, table, splits["train"], training=True)) * len(hist)
    metrics = {"config": cfg.as_dict(), "parameters": int(n_params), "world_size": dist.world,
               "device": str(dist.device), "epochs": hist, "best_epoch": state["best_epoch"] + 1,
               "val": score(table, val_ids, val_scores), "test": test,
               "splits": {k: int(len(v)) for k, v in splits.items()},
               "train_ms_per_sample": 1e3 * train_s / max(1, n_train),
               "infer_ms_per_sample": 1e3 * infer_s / max(1, len(ids)),
               "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if dist.main:
        _write_predictions(run_dir, table, {"test": (ids, scores), "val": (val_ids, val_scores)})
        _atomic_text(run_dir / METRICS, json.dumps(metrics, indent=1))
        logger.info("%s: test AUC %.4f, accuracy %.4f (%d samples); outputs in %s", run_dir.name,
                    test["auc"], test["accuracy"], test["n"], run_dir)
    return metrics


# predictions.csv: one row per scored sample; T in epsilon_AA/k_B, label 1 = liquid, score = P(liquid)
PREDICTION_COLUMNS = ["sample", "sim", "frame", "T", "label", "score", "split"]


def _write_predictions(run_dir: Path, table: SampleTable, parts: dict) -> None:
    from glasskit.util.tables import table_text
    rows = [{"sample": i, "sim": int(table.sim[i]), "frame": int(table.frame[i]), "T": float(table.T[i]),
             "label": int(table.label[i]), "score": s, "split": name}
            for name, (ids, scores) in parts.items() for i, s in zip(ids.tolist(), scores.tolist())]
    _atomic_text(run_dir / "predictions.csv", table_text(rows, PREDICTION_COLUMNS))
