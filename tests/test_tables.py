"""Tidy tables: one writer for every CSV, units in the header, one number format, no lists in cells."""
import ast
import csv
import math
from pathlib import Path

import numpy as np
import pytest

from glasskit.util.errors import GlasskitError
from glasskit.util.tables import read_table, table_text, write_table

ROOT = Path(__file__).resolve().parent.parent


def test_a_table_has_units_in_its_header_and_reads_back_exactly(tmp_path):
    x = [0.1 + 0.2, 1e-17, np.float32(0.55), float("nan")]
    rows = [{"T": t, "t_cool": np.int64(200), "pair": "AB", "g": v, "ok": v == v} for t, v in zip((0.05, 1.99, 0.5, 2), x)]
    path = write_table(tmp_path / "t.csv", rows)
    lines = path.read_text().splitlines()
    assert lines[0] == "T [epsilon_AA/k_B],t_cool [MD steps],pair,g,ok"
    back = read_table(path)
    assert [float(r["g"]) for r in back[:3]] == [float(v) for v in x[:3]]  # shortest round-trip text, not %.6g
    assert math.isnan(float(back[3]["g"])) and back[0]["t_cool"] == "200" and back[3]["ok"] == "false"
    assert list(csv.reader(path.open()))[1][2] == "AB"


def test_a_cell_holds_one_value(tmp_path):
    with pytest.raises(TypeError, match="make it its own table"):
        table_text([{"hidden": [300, 300]}])
    assert not (tmp_path / "t.csv").exists()


def test_a_table_never_replaces_a_file_glasskit_did_not_write(tmp_path):
    mine = tmp_path / "results.csv"
    mine.write_text("my numbers\n")
    with pytest.raises(GlasskitError, match="not written by glasskit"):
        write_table(mine, [{"a": 1}])
    assert mine.read_text() == "my numbers\n"
    write_table(tmp_path / "ours.csv", [{"a": 1}])
    write_table(tmp_path / "ours.csv", [{"a": 2}])  # its own output: replaced
    assert read_table(tmp_path / "ours.csv") == [{"a": "2"}]


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            yield ast.unparse(f), node


def test_every_csv_of_glasskit_and_the_analysis_scripts_goes_through_the_one_writer():
    """Enumerated from the code: a new CSV written any other way fails here."""
    bad = []
    for path in sorted([*ROOT.joinpath("glasskit").rglob("*.py"), *ROOT.joinpath("analysis").glob("*.py")]):
        if path.name == "tables.py":
            continue
        for name, node in _calls(path):
            if name.endswith(("csv.writer", "csv.DictWriter", "savetxt", "to_csv")):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
            elif name.endswith(("write_text", "open")) and ".csv" in ast.unparse(node):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name} of a .csv")
    assert not bad, "CSV written outside glasskit.util.tables:\n" + "\n".join(bad)
