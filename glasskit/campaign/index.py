"""One scan of a campaign's shards, which every command reads instead of rescanning.

:meth:`CampaignIndex.scan` opens each shard once and keeps what the commands ask of it: per
stage, the copy of each simulation that counts (:meth:`StageIndex.located`: the newest done copy,
else the newest partial row: the one rule, used by status, submit, collect, verify and the
minimize task), the done set, the newest unfinished attempt of each simulation with the error its
task recorded, unreadable shards, the inherent structures done per located minimize row, and the
provenance (spec, templates, LAMMPS, glasskit, engine) of the shards. ``visit(stage, f, path, exc)``
lets ``verify`` check a shard's content in the same open (``f`` None and ``exc`` set where the
file cannot be opened).

A minimize submission writes the slice its tasks need (:meth:`CampaignIndex.write_slice`, beside
its sbatch script); a task reads that file (:func:`read_slice`) instead of opening every shard.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from glasskit.campaign.layout import Campaign
from glasskit.campaign.shard import FAILED, RUNNING, read_failures
from glasskit.util.outputs import replace_text

STAGES = ("simulate", "minimize")
INTERRUPTED = "interrupted (the task was killed)"


@dataclass(frozen=True)
class Location:
    path: Path
    row: int
    done: bool


@dataclass
class StageIndex:
    """What the shards of one stage hold, kept as the arrays read (shards oldest first:
    submission ids sort by time); the views commands ask for are computed once, on demand."""

    stage: str
    shards: list[Path] = field(default_factory=list)
    rows: list[tuple[Path, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)  # index, state, done
    errors: dict[Path, dict[int, str]] = field(default_factory=dict)  # shards with unfinished rows
    is_done: dict[Path, np.ndarray] = field(default_factory=dict)     # minimize: IS done per row
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    provenance: dict[tuple, dict] = field(default_factory=dict)

    @functools.cached_property
    def done(self) -> set[int]:
        parts = [index[done] for _, index, _, done in self.rows]
        return set(np.concatenate(parts).tolist()) if parts else set()

    @functools.cached_property
    def located(self) -> dict[int, Location]:
        """The copy that counts: a done copy if one exists (the newest), else the newest row."""
        if not self.rows:
            return {}
        sims = np.concatenate([index for _, index, _, _ in self.rows])
        done = np.concatenate([d for _, _, _, d in self.rows]).astype(bool)
        shard = np.concatenate([np.full(len(index), k) for k, (_, index, _, _) in enumerate(self.rows)])
        row = np.concatenate([np.arange(len(index)) for _, index, _, _ in self.rows])
        o = np.lexsort((shard, done, sims))  # by simulation, then not-done before done, then oldest first
        last = np.r_[sims[o][1:] != sims[o][:-1], True]  # each simulation's last: its newest done, else newest
        pick = o[last]
        paths = [p for p, _, _, _ in self.rows]
        return {int(s): Location(paths[k], int(r), bool(d))
                for s, k, r, d in zip(sims[pick].tolist(), shard[pick].tolist(), row[pick].tolist(),
                                      done[pick].tolist())}

    @functools.cached_property
    def attempts(self) -> dict[int, tuple[Path, int, str]]:
        """sim -> (shard, state, error) of its newest unfinished attempt (RUNNING or FAILED)."""
        out = {}
        for path, index, state, done in self.rows:
            errors = self.errors.get(path)
            if errors is None:
                continue
            for row in np.nonzero((~done) & np.isin(state, (RUNNING, FAILED)))[0].tolist():
                sim = int(index[row])
                out[sim] = (path, int(state[row]), errors.get(sim, INTERRUPTED))
        return out

    @functools.cached_property
    def frames_done(self) -> dict[int, int]:
        """minimize: inherent structures done in each simulation's located row."""
        return {sim: int(self.is_done[loc.path][loc.row]) for sim, loc in self.located.items()
                if loc.path in self.is_done}


def foreign_campaign(f, ident: str) -> str:
    """Why a glasskit file (shard, campaign file) belongs to another campaign than ``ident``
    (:attr:`glasskit.campaign.spec.Spec.campaign_id`); "" when it is this one's (or predates ids)."""
    have = f.attrs.get("campaign_id")
    if have is not None and str(have) != ident:
        return f"of another campaign (campaign_id {have}, this spec's is {ident})"
    return ""


def _foreign(path: Path, root: Path) -> str:
    """Why a shard path may not be read: a symbolic link, or a path that resolves outside the
    campaign directory ("" when it is the campaign's own file)."""
    if path.is_symlink() or path.parent.is_symlink():
        return f"a symbolic link ({path} -> {path.resolve()}): glasskit reads only its own shards; move it away"
    if root not in path.resolve().parents:
        return f"resolves outside the campaign directory ({path.resolve()}): move it away"
    return ""


@dataclass
class CampaignIndex:
    campaign: Campaign
    stages: dict[str, StageIndex]

    def __getitem__(self, stage: str) -> StageIndex:
        return self.stages[stage]

    @classmethod
    def scan(cls, campaign: Campaign, stages=STAGES,
             visit: Callable[[str, h5py.File | None, Path, OSError | None], None] | None = None,
             provenance: bool = False) -> "CampaignIndex":
        """Open every shard of ``stages`` once (oldest first); ``visit`` sees each file;
        ``provenance``: also gather the shards' attributes (status --json)."""
        out = {}
        root, ident = campaign.workdir.resolve(), campaign.spec.campaign_id
        for stage in stages:
            si = out[stage] = StageIndex(stage, campaign.shards(stage))
            listings: dict[Path, list[str]] = {}  # each submission's directory listed once
            for path in si.shards:
                foreign = _foreign(path, root)
                if foreign:  # a link out of the campaign: never read (verify names it)
                    si.unreadable.append((path, foreign))
                    if visit is not None:
                        visit(stage, None, path, OSError(foreign))
                    continue
                try:
                    with h5py.File(path, "r", locking=False) as f:
                        if visit is not None:
                            visit(stage, f, path, None)
                        other = foreign_campaign(f, ident)
                        if other:
                            si.unreadable.append((path, f"a shard {other}: move it away"))
                            continue
                        index, state, done = f["sim/index"][...], f["sim/state"][...], f["sim/done"][...]
                        if stage == "minimize" and "is/done" in f:
                            si.is_done[path] = f["is/done"][...].sum(axis=1)
                        if provenance:
                            _provenance(si, f)
                except OSError as exc:
                    si.unreadable.append((path, str(exc)))
                    if visit is not None:
                        visit(stage, None, path, exc)
                    continue
                except KeyError as exc:
                    si.unreadable.append((path, str(exc)))
                    continue
                si.rows.append((path, index, state, done))
                if ((~done) & np.isin(state, (RUNNING, FAILED))).any():
                    if path.parent not in listings:
                        listings[path.parent] = [n for n in os.listdir(path.parent) if n.endswith(".errors.jsonl")]
                    si.errors[path] = read_failures(path, listings[path.parent])
        return cls(campaign, out)

    def provenance(self, stage: str) -> list[dict]:
        return list(self.stages[stage].provenance.values())


    def write_slice(self, path: Path, sims) -> Path:
        """The locations a minimize submission's tasks need (their simulations' trajectories and
        any earlier partial minimization), as JSON with paths relative to the campaign."""
        wd = self.campaign.workdir
        rows = {}
        for s in sims:
            entry = {}
            for stage in STAGES:
                loc = self.stages[stage].located.get(int(s)) if stage in self.stages else None
                if loc is not None:
                    entry[stage] = [os.path.relpath(loc.path, wd), loc.row, loc.done]
            rows[str(int(s))] = entry
        return replace_text(path, json.dumps({"workdir_relative": True, "campaign_id": self.campaign.spec.campaign_id,
                                              "sims": rows}))


def read_slice(path: Path, workdir: Path, campaign_id: str | None = None
               ) -> tuple[dict[int, Location], dict[int, Location]] | None:
    """(simulate, minimize) locations written by :meth:`CampaignIndex.write_slice`; None when
    the file is missing or damaged (the task then scans the shards itself). A slice of another
    campaign (``campaign_id``), or one that leads out of the campaign directory, is refused."""
    from glasskit.util.errors import GlasskitError
    try:
        data = json.loads(Path(path).read_text())
        rows = data["sims"]
        out: tuple[dict, dict] = ({}, {})
        for sim, entry in rows.items():
            for k, stage in enumerate(STAGES):
                if stage in entry:
                    rel, row, done = entry[stage]
                    out[k][int(sim)] = Location(Path(workdir) / rel, int(row), bool(done))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if campaign_id is not None and data.get("campaign_id") != campaign_id:
        raise GlasskitError(f"{path}: an index slice of another campaign (campaign_id {data.get('campaign_id')!r}, "
                            f"this spec's is {campaign_id})", "move it away and submit minimize again")
    root = Path(workdir).resolve()
    for locs in out:
        for loc in locs.values():
            if root not in loc.path.resolve().parents:
                raise GlasskitError(f"{path}: names {loc.path}, outside the campaign directory {root}",
                                    "move it away and submit minimize again")
    return out


def _provenance(si: StageIndex, f) -> None:
    a = f.attrs
    key = (str(a.get("spec", "")), str(a.get("templates", "")), str(a.get("lammps_version", "")),
           str(a.get("glasskit_version", "")), str(a.get("engine", "")))
    entry = si.provenance.setdefault(key, {"spec": key[0], "templates": _json(key[1]), "lammps_version": key[2],
                                           "glasskit_version": key[3], "engine": _json(key[4]), "shards": 0})
    entry["shards"] += 1


def _json(text: str) -> dict:
    try:
        obj = json.loads(text or "{}")
    except ValueError:
        return {"unreadable": text[:200]}
    return obj if isinstance(obj, dict) else {"unreadable": text[:200]}
