"""Tidy CSV tables, the one writer of every CSV glasskit makes (figures, CV results, runs).

One row per observation, one column per variable; a column with a physical unit says it in its
header, ``name [unit]`` (LJ reduced units: ``T [epsilon_AA/k_B]``, ``r [sigma_AA]``, ``E_IS
[epsilon_AA]``, ``t_cool [MD steps]``); numbers in one format (integers as integers, floats as
the shortest text that reads back to the same double, ``nan`` for missing); no JSON or lists in
cells: what belongs to several rows is its own table; summaries (means, sds) go to their own
file, never into rows of observations.

>>> write_table("rdf.csv", [{"case": "liquid", "pair": "AA", "r": 1.02, "g": 2.91}],
...             units={"r": "sigma_AA"})                                     # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from glasskit.util.errors import GlasskitError
from glasskit.util.outputs import replace_file

UNITS = {  # the usual columns' units, so callers name them once
    "T": "epsilon_AA/k_B", "temperature": "epsilon_AA/k_B", "Tg": "epsilon_AA/k_B", "Tg_sd": "epsilon_AA/k_B",
    "t_cool": "MD steps", "step": "MD steps", "r": "sigma_AA", "l_win_sigma": "sigma_AA",
    "E_IS": "epsilon_AA", "E_IS_mean": "epsilon_AA", "E_IS_sd": "epsilon_AA", "pe": "epsilon_AA",
    "seconds": "s", "train_ms": "ms", "infer_ms": "ms",
}


def header(name: str, units: Mapping[str, str] | None = None) -> str:
    """``name [unit]`` for a column with a unit, else ``name``."""
    unit = (units or {}).get(name, UNITS.get(name))
    return f"{name} [{unit}]" if unit else name


def bare(column: str) -> str:
    """The variable name of a header cell: ``T [epsilon_AA/k_B]`` -> ``T``."""
    return column.split(" [", 1)[0]


def cell(value) -> str:
    """One value as text: the same format for every table."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "nan" if math.isnan(v) else repr(v)
    if isinstance(value, (list, tuple, dict, set, np.ndarray)):
        raise TypeError(f"a table cell holds one value, not {type(value).__name__}: make it its own table")
    return str(value)


def table_text(rows: Iterable[Mapping], columns: Sequence[str] | None = None,
               units: Mapping[str, str] | None = None) -> str:
    """The CSV text of ``rows`` (dicts) with ``columns`` (default: the first row's keys)."""
    rows = list(rows)
    columns = list(columns or (rows[0].keys() if rows else []))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([header(c, units) for c in columns])
    for r in rows:
        w.writerow([cell(r.get(c)) for c in columns])
    return buf.getvalue()


def write_table(path: str | Path, rows: Iterable[Mapping], columns: Sequence[str] | None = None,
                units: Mapping[str, str] | None = None) -> Path:
    """Write a tidy CSV table, whole or not at all.

    Parameters
    ----------
    path : str or pathlib.Path
        The file; one glasskit did not write is never replaced.
    rows : iterable of dict
        One observation per row, one value per cell.
    columns : sequence of str, optional
        Column order (default: the first row's keys).
    units : dict, optional
        Units of columns beyond the usual ones (``T``, ``r``, ``t_cool``, ...).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    text = table_text(rows, columns, units)
    with replace_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def read_table(path: str | Path) -> list[dict[str, str]]:
    """Read a table written by :func:`write_table`.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.

    Returns
    -------
    list of dict
        One dict per row, keyed by variable name (the units of the header dropped), values as text.
    """
    try:
        with open(path, newline="") as fh:
            return [{bare(k): v for k, v in row.items()} for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GlasskitError(f"cannot read the table {path}: {exc}", "re-create it with the command that wrote it") from None
