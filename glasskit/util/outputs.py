"""Outputs glasskit writes next to the user's own files: never replace what it did not write.

Every figure, CSV, image and dataset file goes through :func:`output`: a path that exists but
is not listed in its directory's ``.glasskit-outputs`` manifest (so: a shard, a spec, a file the
user made) is refused with one line; what glasskit wrote there before is replaced freely.

>>> with output(figures / "rdf.csv") as path:
...     np.savetxt(path, table)
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from glasskit.util.errors import GlasskitError

MANIFEST = ".glasskit-outputs"


def _listed(directory: Path) -> set[str]:
    try:
        return set((directory / MANIFEST).read_text().splitlines())
    except OSError:
        return set()


def claim(path: str | Path) -> Path:
    """``path``, after checking glasskit may write it (creating its directory)."""
    path = Path(path)
    if path.exists() and (path.name not in _listed(path.parent) or not path.is_file()):
        raise GlasskitError(f"{path} exists and was not written by glasskit: refusing to replace it",
                            "choose another --out, or move that file away yourself")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GlasskitError(f"cannot create {path.parent}: {exc.strerror}", "choose a writable --out") from None
    return path


def record(path: str | Path) -> None:
    """List ``path`` in its directory's manifest (glasskit may replace it later)."""
    path = Path(path)
    record_many(path.parent, [path.name])


@contextmanager
def output(path: str | Path):
    """Claim ``path``, let the block write it, record it."""
    p = claim(path)
    try:
        yield p
    except OSError as exc:
        raise GlasskitError(f"cannot write {p}: {exc.strerror or exc}", "check the directory's permissions and space") from None
    record(p)


def claim_many(directory: str | Path, names: list[str]) -> Path:
    """:func:`claim` for many files of one directory at once (a dataset's images)."""
    directory = Path(directory)
    if directory.is_dir():
        foreign = (set(os.listdir(directory)) & set(names)) - _listed(directory)
        if foreign:
            raise GlasskitError(f"{directory / sorted(foreign)[0]} and {len(foreign) - 1} more exist and were not "
                                "written by glasskit: refusing to replace them", "move them away yourself")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GlasskitError(f"cannot create {directory}: {exc.strerror}", "choose a writable place") from None
    return directory


def record_many(directory: str | Path, names: list[str]) -> None:
    directory = Path(directory)
    new = [n for n in names if n not in _listed(directory)]
    if new:
        fd = os.open(directory / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, "".join(n + "\n" for n in new).encode())
        finally:
            os.close(fd)


@contextmanager
def open_output(path: str | Path, mode: str = "w", **kwargs):
    """``open`` for an output file: claimed before, recorded after."""
    with output(path) as p, open(p, mode, **kwargs) as fh:
        yield fh


def replace_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary beside ``path`` and rename it over ``path``: a reader sees
    the old file or the new one, never half of one (records, index slices, progress reports).
    A failed write removes its temporary and raises the OSError."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def replace_file(path: str | Path):
    """Write a (binary) output file whole or not at all: claim ``path`` (:func:`claim`), let the
    block write the temporary it is given, rename it over ``path``, record it. On any error the
    temporary goes and ``path`` is left as it was: never a partial file that looks complete."""
    p = claim(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GlasskitError(f"cannot write {p}: {exc.strerror or exc}", "check the directory's permissions and space") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    record(p)
