"""The scheduler asked once per command, as submitit's watcher does: which submissions live.

:func:`live` answers for every submission record of a campaign at once: local ones by their
process (PID and host), Slurm ones with one ``squeue`` per Slurm configuration for all their
jobs. :func:`campaign_status` is what ``glasskit status`` and ``submit`` read: the campaign index
(each shard opened once) and that answer, composed by :func:`glasskit.campaign.status.stage_status`.
"""
from __future__ import annotations

import getpass
import os
import re
import subprocess

from glasskit.batch.cluster import load_cluster
from glasskit.batch.executors import LocalExecutor
from glasskit.campaign.index import STAGES, CampaignIndex
from glasskit.campaign.layout import Campaign
from glasskit.campaign.status import Live, StageStatus, stage_status as status_of
from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger

_ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
          "DEADLINE"}
squeue_calls = 0  # how many times this process asked squeue (tests count them)


class LiveAnswer(dict):
    """:data:`Live` plus ``unknown``: the Slurm submissions squeue did not answer for. Their
    simulations count as running (never "failed", never re-submitted) until it answers again."""

    unknown: set[str]


def live(campaign: Campaign, stages=STAGES) -> Live:
    """submission id -> active array tasks (None: all of them) for every live submission; a
    submission whose scheduler did not answer is live (``.unknown`` names them)."""
    out = LiveAnswer()
    out.unknown = set()
    slurm: dict[str, list[dict]] = {}
    for stage in stages:
        for rec in campaign.records(stage):
            if rec.get("executor") == "local" and LocalExecutor.active(rec):
                out[rec["submission"]] = None
            elif rec.get("executor") == "slurm" and str(rec.get("job_id", "")).isdigit():
                slurm.setdefault(_conf(rec), []).append(rec)
    for conf, recs in slurm.items():
        jobs = queue(conf)
        if jobs is None:  # the scheduler's silence is not an answer: nothing of these is re-run
            for rec in recs:
                if not rec.get("ended"):
                    out[rec["submission"]] = None
                    out.unknown.add(rec["submission"])
            if out.unknown:
                logger.warning("squeue did not answer (SLURM_CONF %s): %d submission(s) of unknown state are "
                               "counted as running and not re-submitted", conf or "default", len(out.unknown))
            continue
        for rec in recs:
            tasks = jobs.get(str(rec["job_id"]), set())
            if tasks is None or tasks:
                out[rec["submission"]] = tasks
    return out


def job_active(job_id: str, conf: str = "", answers: dict | None = None) -> bool | None:
    """Whether Slurm job ``job_id`` is queued or running: True, False, or None when squeue did
    not answer (unknown: never "failed"). ``answers`` (Slurm configuration -> :func:`queue`'s
    answer) is shared by a command's callers, so it asks squeue once per configuration."""
    answers = {} if answers is None else answers
    if conf not in answers:
        answers[conf] = queue(conf)
    jobs = answers[conf]
    return None if jobs is None else str(job_id).split("_")[0] in jobs


def _conf(rec: dict) -> str:
    if "slurm_conf" in rec:
        return str(rec["slurm_conf"] or "")
    try:  # records written before slurm_conf was recorded
        return load_cluster(rec.get("cluster", "local")).slurm_conf
    except GlasskitError:
        return ""


def queue(conf: str = "") -> dict[str, set[int] | None] | None:
    """job id -> its queued or running array task ids (None: pending as one entry), for every
    job of this user that this Slurm configuration's controller knows; None when squeue cannot
    be run from here (which is no proof that a job ended)."""
    global squeue_calls
    squeue_calls += 1
    env = {**os.environ, **({"SLURM_CONF": conf} if conf else {})}
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%T"], capture_output=True,
                              text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:  # a controller down, a bad configuration: no answer, not "nothing runs"
        return None
    jobs: dict[str, set[int] | None] = {}
    for line in proc.stdout.split():
        jid, _, state = line.partition("|")
        if state in _ENDED:
            continue
        m = re.fullmatch(r"(\d+)_(\d+)", jid)
        if m:
            if jobs.get(m.group(1), set()) is not None:
                jobs.setdefault(m.group(1), set()).add(int(m.group(2)))
        elif m := re.fullmatch(r"(\d+)(_\[.*\])?", jid):
            jobs[m.group(1)] = None
    return jobs


def campaign_status(campaign: Campaign, provenance: bool = False) -> tuple[CampaignIndex, list[StageStatus]]:
    """The index (one scan) and the status of both stages (one scheduler query)."""
    index = CampaignIndex.scan(campaign, provenance=provenance)
    answer = live(campaign)
    sim = status_of(index, "simulate", answer)
    return index, [sim, status_of(index, "minimize", answer, simulated=sim.done)]


def stage_status(campaign: Campaign, stage: str = "simulate", simulated: set[int] | None = None) -> StageStatus:
    """One stage's status, asked afresh (index and scheduler)."""
    index = CampaignIndex.scan(campaign, stages=STAGES if stage == "minimize" else (stage,))
    return status_of(index, stage, live(campaign, (stage,)), simulated=simulated)
