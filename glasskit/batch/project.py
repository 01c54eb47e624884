"""``glasskit init``: a user's project laid out beside an installed glasskit.

Copies the shipped specs (package data, :mod:`glasskit.util.paths`) into ``<dir>/jobs/`` and, with
``--cluster NAME``, writes ``<dir>/hpc/clusters/NAME.toml`` from the shipped example profile,
where ``--cluster NAME`` finds it. Existing files are never overwritten: each is named and kept.
"""
from __future__ import annotations

import re
from pathlib import Path

from glasskit.batch.cluster import SHIPPED
from glasskit.util.errors import GlasskitError
from glasskit.util.outputs import create_new
from glasskit.util.log import logger
from glasskit.util.paths import JOBS

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def init_project(directory: str | Path = ".", cluster: str | None = None) -> list[Path]:
    """Lay out a project in ``directory``; returns the files written (kept ones are logged)."""
    root = Path(directory)
    if cluster is not None and not _NAME.fullmatch(cluster):
        raise GlasskitError(f"cluster name {cluster!r} is not allowed", "letters, digits and _ . - only, a letter first")
    if root.exists() and not root.is_dir():
        raise GlasskitError(f"{root} exists and is not a directory", "choose another directory")
    files = {root / "jobs" / p.name: p.read_text() for p in sorted(JOBS.glob("*.toml"))}
    if cluster:
        text = (SHIPPED / "example-supercomputer.toml").read_text()
        files[root / "hpc" / "clusters" / f"{cluster}.toml"] = re.sub(
            r'^name = "example-supercomputer"', f'name = "{cluster}"', text, count=1, flags=re.M)
    written = []
    try:
        for path, text in files.items():
            if path.exists():
                logger.info("kept your %s (not overwritten)", path)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            create_new(path, text)  # never over a file (or a link) that appeared meanwhile
            written.append(path)
    except OSError as exc:
        raise GlasskitError(f"cannot write {exc.filename}: {exc.strerror}", "choose a directory you can write") from None
    for p in written:
        logger.info("wrote %s", p)
    return written
