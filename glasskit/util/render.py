"""Jinja2 rendering of LAMMPS inputs and sbatch scripts, strict about every variable.

Templates live in ``templates/`` and hold no logic beyond loops over parameters; all values
are computed (and validated) in Python. ``StrictUndefined`` turns a missing variable into a
:class:`GlasskitError`; the ``sh`` filter shell-quotes, and ``lmp_path`` rejects paths that
LAMMPS would re-interpret (``$`` variables, ``#`` comments, quotes, whitespace).
"""
from __future__ import annotations

import functools
import hashlib
import re
import shlex

import jinja2

from glasskit import __version__
from glasskit.util.errors import GlasskitError
from glasskit.util.paths import TEMPLATES

SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")  # fullmatch only: re.match's "$" accepts a trailing newline


def lmp_path(value) -> str:
    text = str(value)
    if not SAFE_PATH.fullmatch(text):
        raise GlasskitError(f"path {text!r} cannot be used in a LAMMPS input",
                            "use a work directory whose path has only letters, digits and _ . / + -")
    return text


def safe_for_sbatch(path, what: str) -> str:
    """``path`` as text, refused when it could break out of an ``#SBATCH`` line (ours or submitit's)."""
    text = str(path)
    if not SAFE_PATH.fullmatch(text):
        raise GlasskitError(f"{what} {text!r} contains characters that cannot go into an #SBATCH line",
                            "use --workdir with only letters, digits and _ . / + -")
    return text


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["sh"] = lambda v: shlex.quote(str(v))
    env.filters["lmp_path"] = lmp_path
    return env


def render(name: str, **context) -> str:
    """Render ``templates/<name>`` with ``context`` (plus ``version``)."""
    context.setdefault("version", __version__)
    try:
        return environment().get_template(name).render(**context)
    except jinja2.UndefinedError as exc:
        raise GlasskitError(f"template {name}: {exc.message}",
                            "pass the variable from the library, or fix its name in the template") from None
    except jinja2.TemplateNotFound as exc:
        raise GlasskitError(f"template {exc.name} not found under {TEMPLATES}") from None


def template_hashes() -> dict[str, str]:
    """sha256 (first 16 hex digits) of every template, for provenance in each shard."""
    return {str(p.relative_to(TEMPLATES)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(TEMPLATES.rglob("*.j2"))}
