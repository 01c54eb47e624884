"""One exception type for everything a user can get wrong.

The CLI turns a :class:`GlasskitError` into one line on stderr and exit code 2; nothing is
written before the error is raised (specs, arrays and paths are validated first).
"""
from __future__ import annotations


class GlasskitError(Exception):
    """A user-facing error: ``problem`` says what is wrong, ``fix`` how to put it right."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem} ({fix})")


class LammpsFailure(RuntimeError):
    """LAMMPS stopped with an error during one simulation; ``index`` names the simulation."""

    def __init__(self, index: int, message: str):
        self.index = index
        self.message = message
        super().__init__(f"simulation {index}: LAMMPS error: {message}")


def script(main) -> int:
    """Run an ``analysis/`` script's ``main()``: a :class:`GlasskitError` becomes one line on
    stderr and exit code 2, as in the CLI."""
    import os
    import sys
    try:
        return main()
    except GlasskitError as exc:
        name = os.path.basename(sys.argv[0])
        print(f"{name}: error: {exc.problem}" + (f" -- {exc.fix}" if exc.fix else ""), file=sys.stderr)
        return 2


def one_line(text, limit: int = 200) -> str:
    """A message as one line for a status table: a traceback's last line (the exception), other
    text's first non-empty line, cut at ``limit`` characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= limit else line[:limit - 3] + "..."
