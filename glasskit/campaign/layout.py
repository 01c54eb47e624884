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
from glasskit.util.outputs import replace_text

INIT_DATA = "init.data"  # the shared FIRE-minimized start, as LAMMPS reads it
INIT_H5 = "init.h5"      # the same, with its types, for readers and checks
SLICE_SUFFIX = ".index.json"


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
        out = []
        for p in sorted(self.submissions_dir.glob("*.json")):
            if p.name.endswith(SLICE_SUFFIX):  # an index slice, not a record
                continue
            try:
                rec = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            if stage is None or rec.get("stage") == stage:
                out.append(rec)
        return out


def new_submission_id() -> str:
    """Sortable and unique: ``sub-YYYYmmdd-HHMMSS-xxxx``."""
    return time.strftime("sub-%Y%m%d-%H%M%S-") + secrets.token_hex(2)
