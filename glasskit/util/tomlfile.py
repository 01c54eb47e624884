"""Reading a settings file (spec, cluster profile, datasets, models) as a hostile user may write it.

:func:`read_toml` turns every way a file can be unreadable into one :class:`GlasskitError`:
missing, a directory, unreadable, larger than any settings file should be, not UTF-8, not TOML,
or nested deeply enough to exhaust the parser's recursion.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

from glasskit.util.errors import GlasskitError

MAX_BYTES = 4 << 20  # 4 MiB: jobs/simulate.toml is 2 KiB


def read_toml(path: str | Path, what: str = "settings file", hint: str = "") -> tuple[str, dict]:
    """(text, parsed table) of ``path`` (a relative path not found here is looked for in the
    project root: every command works from a project's subdirectories); a GlasskitError naming
    the file and the problem."""
    from glasskit.util.paths import in_project
    path = in_project(path)
    if not path.is_file():
        raise GlasskitError(f"{what} {str(path)!r} does not exist" + (" (it is a directory)" if path.is_dir() else ""),
                            hint or None)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise GlasskitError(f"{path}: {size:,} bytes is far too large for a {what}", "point at the right file")
        raw = path.read_bytes()
    except OSError as exc:
        raise GlasskitError(f"cannot read {what} {path}: {exc.strerror}", "check its permissions") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GlasskitError(f"{path}: not UTF-8 text (byte {exc.start})", "save it as UTF-8") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GlasskitError(f"{path}: not valid TOML: {exc}", "fix the syntax at the line shown") from None
    except RecursionError:
        raise GlasskitError(f"{path}: nested too deeply to be a {what}", "flatten its arrays and tables") from None
