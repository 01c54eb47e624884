"""The worker jobs of a parallel search (submitit, local or Slurm): submitted as one batch,
replaced when one dies (at most once per worker), told to stop through the store, cancelled
when they do not."""
from __future__ import annotations

import time

from glasskit.util.errors import GlasskitError
from glasskit.util.log import logger
from glasskit.ml.launch import _reason


class WorkerPool:
    """The search's submitit worker jobs; dead ones are replaced (at most ``workers`` times)."""

    def __init__(self, s, url: str):  # s: a glasskit.ml.search.driver.Search
        import submitit
        from glasskit.ml.search.worker import SearchWorker
        self.s, self.folder = s, s.directory / "workers"
        self.task = SearchWorker(url, s.name, poll_s=s.poll_s, beat_s=max(0.5, s.stale_after / 6),
                                 threads=s.threads)
        self.ex = s.launcher.for_workers().executor(self.folder)  # what the dry run showed
        try:
            if s.launcher.kind == "slurm":
                with self.ex.batch():
                    self.jobs = [self.ex.submit(self.task) for _ in range(s.workers)]
            else:
                self.jobs = [self.ex.submit(self.task) for _ in range(s.workers)]
        except submitit.core.utils.FailedJobError as exc:
            raise GlasskitError(f"the workers could not be submitted: {str(exc).strip().splitlines()[-1]}",
                                "check that Slurm runs (sinfo), or use --executor local") from None
        self.replaced, self.seen = 0, set()
        logger.info("%d %s worker(s) (jobs %s); logs in %s", s.workers, s.launcher.kind,
                    ", ".join(str(j.job_id) for j in self.jobs), self.folder)

    def alive(self) -> int:
        return sum(not j.done() for j in self.jobs)

    def check(self) -> None:
        for j in [j for j in self.jobs if j.job_id not in self.seen and j.done()]:
            self.seen.add(j.job_id)
            logger.warning("worker job %s ended before the search did: %s", j.job_id, _reason(j, "no log"))
            if self.replaced < self.s.workers:
                self.replaced += 1
                self.jobs.append(self.ex.submit(self.task))
                logger.info("replacement worker job %s", self.jobs[-1].job_id)
        if not self.alive():
            raise GlasskitError(f"all workers of search {self.s.name} exited ({len(self.jobs)} jobs)",
                                f"read their logs in {self.folder}; re-run the same command to resume")

    def close(self, grace_s: float = 30.0) -> None:
        """Wait for the workers to see the finished flag; cancel any that do not."""
        deadline = time.monotonic() + grace_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        for j in self.jobs:
            if not j.done():
                logger.warning("worker job %s did not exit within %g s: cancelled", j.job_id, grace_s)
                j.cancel(check=False)
