"""What a submission makes sure of before it writes: the campaign directory is writable, the
disk has room for the shards, and no other submit of the campaign is deciding at the same time."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger


def check_space(workdir: Path, need: int) -> None:
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise GlasskitError(f"not enough disk space in {workdir}: this submission writes up to "
                            f"{need / 2**20:.1f} MiB, {free / 2**20:.1f} MiB free",
                            "free space, choose another --workdir, or submit a smaller --array")


class submit_lock:
    """An exclusive ``flock`` on <workdir>/.submit.lock, held while a submit decides what to run
    and records it (for a local run, not while the run itself goes on)."""

    def __init__(self, workdir: Path):
        self.path, self.fd = Path(workdir) / ".submit.lock", None

    def __enter__(self) -> "submit_lock":
        import fcntl
        from glasskit.util.outputs import lock_open
        self.fd = lock_open(self.path)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("another submit of this campaign is deciding what to run: waiting for it")
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None

    def __exit__(self, *exc) -> None:
        self.release()


def check_writable(workdir: Path) -> None:
    try:
        from glasskit.util.outputs import probe_writable
        workdir.mkdir(parents=True, exist_ok=True)
        probe_writable(workdir)
    except OSError as exc:
        raise GlasskitError(f"cannot write to the campaign directory {workdir}: {exc.strerror}",
                            "choose another --workdir or fix its permissions") from None
