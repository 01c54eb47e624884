"""Records read back from disk, each checked against a schema: types, ranges, finite numbers,
one-line strings, unique ids; a record that fails is one error naming ``file[:line]`` and what is
wrong. Every JSON record glasskit reads back (submission records, progress reports, run records,
trial lines) goes through :func:`check` with its :class:`Field` table.

>>> SCHEMA = {"sim": Field(int, lo=0), "frame": Field(int, lo=0), "time": Field(float)}
>>> check({"sim": 3, "frame": 7, "time": 1.5}, SCHEMA, "x.json")
{'sim': 3, 'frame': 7, 'time': 1.5}
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from glasskit.util.errors import GlasskitError

MAX_TEXT = 4096  # no field of a record is longer
_LINE = re.compile(r"[^\x00-\x1f\x7f]*")  # one line, no control characters


class RecordError(GlasskitError):
    """A record that fails its schema: ``problem`` names the file (and line) and the field."""


@dataclass(frozen=True)
class Field:
    """One field: its type (int excludes bool; float accepts int and must be finite), whether it
    must be there, a range, a pattern for strings, the allowed values, or a check of its own."""

    type: type | tuple
    required: bool = True
    lo: float | None = None
    hi: float | None = None
    pattern: str | None = None
    choices: tuple | None = None
    check: Callable | None = None
    rule: str = ""


def _typed(value, kind) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k is type(None) and value is None:
            return True
        if k is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if k is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return True
        if k is str and isinstance(value, str) and len(value) <= MAX_TEXT and _LINE.fullmatch(value):
            return True
        if k in (bool, dict, list) and isinstance(value, k):
            return True
    return False


def check(record, schema: dict[str, Field], where: str) -> dict:
    """``record`` when it is a JSON object whose fields pass ``schema`` (unknown fields are
    kept, not trusted); else a :class:`RecordError` naming ``where`` and the first problem."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: not a JSON object ({type(record).__name__})", _FIX)
    for name, f in schema.items():
        if name not in record:
            if f.required:
                raise RecordError(f"{where}: missing '{name}'", _FIX)
            continue
        v = record[name]
        names = "/".join(getattr(t, "__name__", str(t)) for t in (f.type if isinstance(f.type, tuple) else (f.type,)))
        if not _typed(v, f.type):
            raise RecordError(f"{where}: '{name}' = {_show(v)} is not a {names}"
                              + (" (finite)" if float in (f.type if isinstance(f.type, tuple) else (f.type,)) else ""),
                              _FIX)
        if v is None:
            continue
        if (f.lo is not None and v < f.lo) or (f.hi is not None and v > f.hi):
            raise RecordError(f"{where}: '{name}' = {_show(v)} is outside [{f.lo}, {f.hi}]", _FIX)
        if f.pattern is not None and not re.fullmatch(f.pattern, v):
            raise RecordError(f"{where}: '{name}' = {_show(v)} does not match {f.pattern}", _FIX)
        if f.choices is not None and v not in f.choices:
            raise RecordError(f"{where}: '{name}' = {_show(v)} is not one of {', '.join(map(str, f.choices))}", _FIX)
        if f.check is not None and not f.check(v):
            raise RecordError(f"{where}: '{name}' = {_show(v)} {f.rule or 'fails its check'}", _FIX)
    return record


_FIX = "move the damaged file aside (glasskit never wrote it so) and run the command again"


def _show(v) -> str:
    text = json.dumps(v) if not isinstance(v, float) or math.isfinite(v) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def read_json(path: Path, schema: dict[str, Field]) -> dict:
    """One JSON record from ``path``, checked; an unreadable or failing file is one RecordError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not UTF-8 text", _FIX) from None
    except OSError as exc:
        raise RecordError(f"{path}: unreadable ({exc.strerror})", "check its permissions") from None
    try:
        rec = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"{path}:{getattr(exc, 'lineno', 1)}: not JSON ({exc.msg if hasattr(exc, 'msg') else exc})",
                          _FIX) from None
    return check(rec, schema, str(path))


def unique(records: list[dict], key: str, where: str) -> None:
    """Refuse two records with the same ``key``."""
    seen = set()
    for r in records:
        if r[key] in seen:
            raise RecordError(f"{where}: two records have {key} {r[key]!r}", _FIX)
        seen.add(r[key])
