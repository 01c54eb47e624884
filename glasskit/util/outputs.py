"""The one writer of every file glasskit makes: never through a link, never over what it did not write.

Every file goes through this module: shards and the campaign file (:func:`refuse_link`,
:func:`atomic`), records, slices and reports (:func:`replace_text`), logs (:func:`open_log`),
appended lines (:func:`append_line`), locks (:func:`lock_open`), and the outputs placed among
the user's own files, figures, tables, datasets and exports (:func:`claim`, :func:`output`,
:func:`replace_file`). None of them writes through a symbolic link at the target (a link is
refused with one line; ``O_NOFOLLOW`` where the file is opened here); temporaries are created
with ``O_EXCL`` beside the target and renamed over it, so a reader sees the old file or the new
one. For outputs, a path that exists but is not listed in its directory's ``.glasskit-outputs``
manifest (a shard, a spec, a file the user made) is refused; what glasskit wrote there before is
replaced freely.

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


def refuse_link(path: str | Path) -> Path:
    """``path``, unless it is a symbolic link (dangling or not): glasskit never writes through
    one, so a link planted where it writes cannot lead the write to another file."""
    path = Path(path)
    if path.is_symlink():
        raise GlasskitError(f"{path} is a symbolic link (to {os.readlink(path)}): glasskit never writes through a link",
                            "remove the link (or choose another path); nothing was written")
    return path


def claim(path: str | Path) -> Path:
    """``path``, after checking glasskit may write it (creating its directory)."""
    path = refuse_link(path)
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
    directory = refuse_link(directory)
    if directory.is_dir():
        links = [n for n in names if (directory / n).is_symlink()]
        if links:
            refuse_link(directory / links[0])
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
        append_line(directory / MANIFEST, "".join(n + "\n" for n in new))


@contextmanager
def open_output(path: str | Path, mode: str = "w", **kwargs):
    """``open`` for an output file: claimed before, recorded after."""
    with output(path) as p, open(p, mode, **kwargs) as fh:
        yield fh


def _temporary(path: Path) -> Path:
    """A new, empty file beside ``path`` (``O_EXCL``: never an existing file or link)."""
    import tempfile
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # the mode a plain open() would give, not mkstemp's 0600
    finally:
        os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


@contextmanager
def atomic(path: str | Path):
    """Yield a fresh temporary beside ``path`` for the block to write (any library: h5py, torch,
    LAMMPS), then rename it over ``path``; on any error the temporary goes and ``path`` is left
    as it was. A link at ``path`` is refused; OSErrors pass through (callers word them)."""
    path = refuse_link(path)
    tmp = _temporary(path)
    try:
        yield tmp
        refuse_link(path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary beside ``path`` and rename it over ``path``: a reader sees
    the old file or the new one, never half of one (records, index slices, progress reports).
    A failed write removes its temporary and raises the OSError."""
    with atomic(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def append_line(path: str | Path, text: str) -> None:
    """Append ``text`` in one ``write`` under an exclusive ``flock`` (concurrent writers' lines
    never interleave), opened ``O_NOFOLLOW``: a link at ``path`` is refused."""
    path = refuse_link(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def open_log(path: str | Path, append: bool = False):
    """A log file to write (binary), ``O_NOFOLLOW``: a link at ``path`` is refused."""
    path = refuse_link(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o644), "ab" if append else "wb")


def lock_open(path: str | Path) -> int:
    """A lock file's descriptor (``O_NOFOLLOW``), for ``flock``."""
    return os.open(refuse_link(path), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)


def create_new(path: str | Path, text: str) -> None:
    """Write a file that must not exist yet (``O_EXCL``: never over a file, or through a link,
    that appeared meanwhile); FileExistsError otherwise."""
    fd = os.open(refuse_link(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def probe_writable(directory: str | Path) -> None:
    """Create and remove a new file in ``directory``; the OSError if it cannot be written."""
    import secrets
    p = Path(directory) / f".write-test-{secrets.token_hex(6)}"
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
    p.unlink()


@contextmanager
def replace_file(path: str | Path):
    """Write a (binary) output file whole or not at all: claim ``path`` (:func:`claim`), let the
    block write the temporary :func:`atomic` gives it, rename it over ``path``, record it. On any
    error the temporary goes and ``path`` is left as it was: never a partial file that looks
    complete."""
    p = claim(path)
    try:
        with atomic(p) as tmp:
            yield tmp
    except OSError as exc:
        raise GlasskitError(f"cannot write {p}: {exc.strerror or exc}", "check the directory's permissions and space") from None
    record(p)
