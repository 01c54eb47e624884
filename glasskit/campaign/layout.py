"""Where a campaign's files live, and the record of its submissions.

::

    <workdir>/init.data, init.h5                 shared initial configuration
    <workdir>/shards/<stage>/<submission>/task-NNNNN.h5          one HDF5 shard per array task
    <workdir>/shards/<stage>/<submission>/task-NNNNN.rank-R.errors.jsonl   failures, one per line
    <workdir>/submissions/<submission>.json      what was submitted, how, and the job id
    <workdir>/submissions/<submission>.sbatch    the rendered script
    <workdir>/submissions/<submission>.index.json   minimize: where its simulations' data are
    <workdir>/logs/<submission>/                 scheduler / local-executor output per task
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from glasskit.campaign.spec import Spec
from glasskit.util.outputs import replace_text  # noqa: F401 - records are written through it

def _submission_schema() -> dict:
    from glasskit.util.records import Field
    return {"submission": Field(str, pattern=r"sub-[A-Za-z0-9-]{1,60}"),
            "stage": Field(str, choices=("simulate", "minimize")),
            "sims": Field(str, pattern=r"[0-9][0-9,:%-]{0,100000}"),
            "n_tasks": Field(int, lo=1, hi=10_000_000), "ranks": Field(int, lo=1, hi=1_000_000),
            "balance": Field(str, required=False, choices=("cost", "count")),
            "executor": Field(str, required=False, choices=("local", "slurm")),
            "job_id": Field((str, int), required=False), "pid": Field(int, required=False, lo=1),
            "host": Field(str, required=False), "slurm_conf": Field(str, required=False),
            "finished": Field(bool, required=False)}


SUBMISSION = _submission_schema()  # <workdir>/submissions/<submission>.json

INIT_DATA = "init.data"  # the shared FIRE-minimized start, as LAMMPS reads it
INIT_H5 = "init.h5"      # the same, with its types, for readers and checks
SLICE_SUFFIX = ".index.json"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (init.data: what every simulation starts from)."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def initial_identity(workdir: Path) -> str:
    """The init.data hash recorded in init.h5 when the initial configuration was made ("" for
    an init.h5 from before it was recorded)."""
    import h5py
    with h5py.File(Path(workdir) / INIT_H5, "r", locking=False) as f:
        return str(f.attrs.get("init_sha256", ""))


def initial_types(workdir: Path):
    """Types (N,) int8 of the campaign's initial configuration (``<workdir>/init.h5``)."""
    return initial_configuration(workdir)[0]


def initial_configuration(workdir: Path):
    """Types (N,) int8 and box (2, 2) float64 ``[[xlo, xhi], [ylo, yhi]]`` (sigma_AA) of the
    campaign's initial configuration (``<workdir>/init.h5``); the box is every frame's (NVT)."""
    import h5py
    with h5py.File(Path(workdir) / INIT_H5, "r") as f:
        return f["type"][...], f["box"][...]


@dataclass(frozen=True)
class Campaign:
    spec: Spec
    workdir: Path

    @classmethod
    def of(cls, spec: Spec) -> "Campaign":
        return cls(spec, spec.workdir())

    def shard_dir(self, stage: str, submission: str) -> Path:
        return self.workdir / "shards" / stage / submission

    def shard_path(self, stage: str, submission: str, task: int) -> Path:
        return self.shard_dir(stage, submission) / f"task-{task:05d}.h5"

    def shards(self, stage: str) -> list[Path]:
        return sorted((self.workdir / "shards" / stage).glob("*/task-*.h5"))

    def log_dir(self, submission: str) -> Path:
        return self.workdir / "logs" / submission

    @property
    def submissions_dir(self) -> Path:
        return self.workdir / "submissions"

    def record(self, submission: str, record: dict) -> Path:
        """Write the submission record atomically (tmp + rename)."""
        self.submissions_dir.mkdir(parents=True, exist_ok=True)
        return replace_text(self.submissions_dir / f"{submission}.json",
                            json.dumps(record, indent=1, sort_keys=True))

    def slice_path(self, submission: str) -> Path:
        """The slice of the campaign index a minimize submission's tasks read (beside its script)."""
        return self.submissions_dir / f"{submission}{SLICE_SUFFIX}"

    def records(self, stage: str | None = None) -> list[dict]:
        """The submission records (of ``stage``), each checked against :data:`SUBMISSION`; a
        damaged one is one error naming it: skipping it would show a live job's simulations as
        missing, and they would be submitted twice."""
        from glasskit.util.records import read_json
        out = []
        for p in sorted(self.submissions_dir.glob("*.json")):
            if p.name.endswith(SLICE_SUFFIX):  # an index slice, not a record
                continue
            if p.is_symlink():
                from glasskit.util.records import RecordError
                raise RecordError(f"{p} is a symbolic link: glasskit reads only the records it wrote",
                                  "move the link away")
            rec = read_json(p, SUBMISSION)
            if rec["submission"] != p.stem:
                from glasskit.util.records import RecordError
                raise RecordError(f"{p}: records submission {rec['submission']!r}, its name says {p.stem!r}",
                                  "move the file aside; glasskit names each record after its submission")
            if stage is None or rec.get("stage") == stage:
                out.append(rec)
        return out


def new_submission_id() -> str:
    """Sortable and unique: ``sub-YYYYmmdd-HHMMSS-xxxx``."""
    return time.strftime("sub-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)  # UTC: ids sort alike under any TZ
