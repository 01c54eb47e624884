"""The learning half's part of ``glasskit status``: training runs and searches of a campaign."""
from __future__ import annotations

from glasskit.ml.runs import all_states as all_runs
from glasskit.ml.search.driver import all_states as all_searches

RUN_STATES = ("done", "running", "unknown", "interrupted", "failed", "damaged")


def learning_status(workdir) -> dict:
    """{training, searches} as status --json prints them, and the lines status prints."""
    runs, searches = all_runs(workdir), all_searches(workdir)
    from glasskit.util.errors import one_line
    lines = []
    if runs:
        counts = {s: sum(r.state == s for r in runs) for s in RUN_STATES}
        lines += [f"train: {len(runs)} run(s): " + ", ".join(f"{k} {v}" for k, v in counts.items())]
        lines += [f"  {r.state:<11} {r.run}  {one_line(r.detail, 300)}" for r in runs]
    if searches:
        lines += [f"search: {len(searches)} experiment(s)"] + [f"  {r.state:<11} {r.name}  {one_line(r.detail, 300)}"
                                                                      for r in searches]
    return {"training": [{"run": r.run, "state": r.state, "detail": r.detail} for r in runs],
            "searches": [{"experiment": r.name, "state": r.state, "detail": r.detail} for r in searches],
            "lines": lines}
