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


def run_command(fn, prog: str = "glasskit", traceback: bool = False) -> int:
    """The one boundary of every command (the CLI and each analysis script): whatever ends it
    ends in one line on stderr, ``<prog>: error: <problem> -- <fix>``, and an exit code, never a
    traceback (``traceback``: print it too, for -v / $GLASSKIT_TRACEBACK=1).

    2: a problem with the input, the files or the machine (GlasskitError, an OS error); 1: a
    LAMMPS failure; 130: interrupted; 141: stdout closed early (``| head``); 3: a bug."""
    import os
    import sys

    def say(text: str) -> None:
        print(f"{prog}: {text}", file=sys.stderr)
    try:
        return fn()
    except GlasskitError as exc:
        say(f"error: {exc.problem}" + (f" -- {exc.fix}" if exc.fix else ""))
        return 2
    except LammpsFailure as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except BrokenPipeError:  # stdout closed early: nothing more to say there
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush is quiet
        except OSError:
            pass
        say("error: the output was closed before it was all written (a pipe into head?)")
        return 141
    except OSError as exc:  # a read-only directory, a full disk, a missing file
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        say(f"error: cannot use{where}: {exc.strerror or exc} -- check that path's permissions, space and "
            "existence, then run the same command again (what is done is kept)")
        if traceback:
            import traceback as tb
            tb.print_exc()
        return 2
    except Exception as exc:  # a bug: one line, the traceback on request
        say(f"error: internal error ({type(exc).__name__}: {one_line(exc, 160)}) -- rerun with -v "
            "(or GLASSKIT_TRACEBACK=1) for the traceback and report it")
        if traceback:
            import traceback as tb
            tb.print_exc()
        return 3


def script(main) -> int:
    """Run an analysis script's ``main()`` through :func:`run_command`, named as invoked."""
    import os
    import sys
    return run_command(main, os.path.basename(sys.argv[0]), os.environ.get("GLASSKIT_TRACEBACK") == "1")


def one_line(text, limit: int = 200) -> str:
    """A message as one line for a status table: a traceback's last line (the exception), other
    text's first non-empty line, cut at ``limit`` characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return ""
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= limit else line[:limit - 3] + "..."
