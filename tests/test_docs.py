"""The documentation is built and its examples run: Sphinx with warnings as errors, the doctest
builder over every ``testcode`` block (a real small campaign), the tutorial's ``$`` lines run as
written in a fresh project, and the generated references cover every key of the code."""
import dataclasses
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
pytest.importorskip("sphinx")


def _sphinx(builder: str, out: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GLASSKIT_DOCS_PROJECT": str(tmp_path / "docs-project")}
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder, str(DOCS),
                           str(out)], capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    proc = _sphinx("html", tmp / "html", tmp)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp / "html"


def test_the_site_builds_without_a_warning_and_has_its_pages(html):
    for page in ("index", "tutorial", "frames", "site", "formats", "reference/cli", "reference/api",
                 "reference/generated/spec-keys", "reference/generated/profile-keys",
                 "reference/generated/model-keys", "reference/generated/schema"):
        assert (html / f"{page}.html").is_file(), page


def test_the_references_are_generated_from_the_code_and_cover_every_key(html):
    from glasskit.batch import cluster
    from glasskit.campaign import schema, spec
    from glasskit.cli import parser
    text = {p: (html / "reference" / f"{p}.html").read_text() for p in
            ("generated/spec-keys", "generated/profile-keys", "generated/schema", "cli")}
    for cls in (*spec._TABLES.values(), spec.RunGroup):
        for f in dataclasses.fields(cls):
            if f.name != "runs":
                assert f">{f.name}<" in text["generated/spec-keys"], (cls.__name__, f.name)
    for cls in (cluster.ClusterProfile, cluster.GpuProfile):
        for f in dataclasses.fields(cls):
            if f.name not in ("source", "gpu", "md_rates"):  # md_rates: the table form of atom_steps_per_s
                assert f"{f.name}<" in text["generated/profile-keys"], f.name
    for name in schema.FIELDS:
        assert f"/{name}<" in text["generated/schema"], name
    sub = next(a for a in parser()._actions if a.dest == "command")
    for command in sub.choices:
        assert f"glasskit {command}" in text["cli"] or f">{command}<" in text["cli"], command


def test_every_code_example_of_the_docs_runs(tmp_path):
    """The doctest builder runs each testcode block (and docstring example) on a real campaign."""
    proc = _sphinx("doctest", tmp_path / "doctest", tmp_path)
    report = (tmp_path / "doctest" / "output.txt").read_text()
    assert proc.returncode == 0, report[-3000:] + proc.stderr
    tests = int(re.search(r"(\d+) tests", report.split("Doctest summary")[-1]).group(1))
    assert tests >= 5 and "0 failures in tests" in report


def tutorial_commands(page: Path = DOCS / "tutorial.rst") -> list[str]:
    """The ``$`` lines of the console blocks of a page, in order."""
    out, inside = [], False
    for line in page.read_text().splitlines():
        if line.startswith(".. code-block:: console"):
            inside = True
        elif inside and line and not line.startswith(" "):
            inside = False
        elif inside and line.strip().startswith("$ "):
            out.append(line.strip()[2:])
    return out


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path):
    cmds = tutorial_commands()
    assert len(cmds) >= 12 and cmds[0].startswith("glasskit init")
    cwd = tmp_path
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GLASSKIT_CLUSTERS": ""}
    for cmd in cmds:
        argv = shlex.split(cmd)
        if argv[0] == "cd":
            cwd = cwd / argv[1]
            continue
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"$ {cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, cmd
    # what the tutorial says it made
    demo = cwd / "runs" / "demo"
    assert (demo / "campaign.h5").is_file() and (cwd / "glass.gsd").is_file()
    assert sorted(p.name for p in (demo / "datasets" / "1" / "images").iterdir()) == ["glass", "liquid"]
    assert (cwd / "figures" / "ise.png").is_file() and (cwd / "figures" / "rdf.csv").is_file()


def test_licence_citation_and_changelog_are_at_the_root():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    cff = (ROOT / "CITATION.cff").read_text()
    for key in ("cff-version:", "message:", "title:", "authors:", "preferred-citation:", "arXiv:1909.04648"):
        assert key in cff, key
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    from glasskit import __version__
    assert f"version: {__version__}" in cff
