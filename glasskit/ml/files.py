"""A run's files on disk: written whole or not at all (a full disk leaves the old file), and
weights loaded only when they are a whole, finite state dict of the model."""
from __future__ import annotations

from pathlib import Path

import torch

from glasskit.util.errors import GlasskitError


def _atomic(path: Path, write) -> None:
    """``write(tmp)`` then rename over ``path``; a failed write (a full disk, a quota) removes
    its temporary and is one :class:`GlasskitError`: the old file, if any, is left whole."""
    from glasskit.util.outputs import atomic
    try:
        with atomic(path) as tmp:
            write(tmp)
    except OSError as exc:
        raise GlasskitError(f"cannot write {path}: {exc.strerror or exc}",
                            "free space or quota on that file system, then re-submit: the run resumes "
                            "from its last whole checkpoint") from None


def _atomic_save(obj, path: Path) -> None:
    _atomic(path, lambda tmp: torch.save(obj, tmp))


def _atomic_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: tmp.write_text(text))


def damaged(path: Path, why: str) -> GlasskitError:
    """The one-line error for a run file that cannot be trusted, with the repair."""
    run_dir = path.parent
    return GlasskitError(f"{path} is damaged ({why})",
                         f"move the run aside (mv {run_dir} {run_dir}.damaged) and re-submit to train it anew")


def load_weights(path: Path, model: torch.nn.Module, device) -> None:
    """Load a state dict saved by :func:`train` into ``model``; a truncated, foreign or
    mismatched file is one :class:`GlasskitError` naming it (never a traceback)."""
    try:
        weights = torch.load(path, map_location=device, weights_only=True)
        model.load_state_dict(weights)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, pickle errors, KeyError...
        raise damaged(Path(path), f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
    if not all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point()):
        raise damaged(Path(path), "non-finite weights")
