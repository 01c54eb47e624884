"""A newcomer's and a site's path: safe defaults, a project found from its subdirectories,
fix hints that fit the installation, logs a person can debug with, --json where a command
reports state or ids, status that tells running from waiting, figures with panel letters."""
import ast
import json
import os
import re
import subprocess

import h5py
import numpy as np

from conftest import GLASSKIT, ROOT, glasskit, write_spec
from glasskit.campaign.layout import Campaign
from glasskit.campaign.spec import load_spec

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ glasskit: ")


def run(args, cwd, env=None):
    return subprocess.run(GLASSKIT + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_a_forgotten_spec_does_not_start_the_paper_campaign_here(tmp_path):
    p = run(["submit", "simulate", "--executor", "local", "--workdir", tmp_path / "paper"], ROOT)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("glasskit: error:")]
    assert len(err) == 1 and "core-hours" in err[0] and "--allow-long" in err[0] and "--spec" in err[0]
    assert not (tmp_path / "paper").exists()  # nothing written
    dry = run(["submit", "simulate", "--executor", "local", "--workdir", tmp_path / "paper", "--dry-run"], ROOT)
    assert dry.returncode == 0 and "# refused without --allow-long" in dry.stdout


def test_every_command_finds_the_project_from_a_subdirectory(tmp_path):
    p = run(["init", "proj"], tmp_path)
    assert p.returncode == 0 and "glasskit submit simulate --spec jobs/demo.toml --executor local" in p.stdout
    deep = tmp_path / "proj" / "analysis" / "notes"
    deep.mkdir(parents=True)
    dry = run(["submit", "simulate", "--spec", "jobs/demo.toml", "--array", "0-1", "--dry-run"], deep)
    assert dry.returncode == 0, dry.stderr
    assert f"--workdir {tmp_path / 'proj' / 'runs' / 'demo'}" in dry.stdout
    assert f"--spec {tmp_path / 'proj' / 'jobs' / 'demo.toml'}" in dry.stdout
    st = run(["status", "--spec", "jobs/demo.toml", "--json"], deep)
    assert st.returncode == 0 and json.loads(st.stdout)["workdir"] == str(tmp_path / "proj" / "runs" / "demo")
    # outside any project the error names the specs it looked for
    none = run(["status", "--spec", "jobs/nope.toml"], tmp_path)
    assert none.returncode == 2 and "does not exist" in none.stderr


def test_fix_hints_fit_how_glasskit_was_installed():
    """Enumerated from the code: no module names the checkout's install script on its own."""
    from glasskit.util import paths
    bad = []
    for path in sorted(ROOT.joinpath("glasskit").rglob("*.py")):
        if path.name == "paths.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    "install.sh" in node.value or "pip install" in node.value) and not path.read_text().startswith(
                    node.value):
                if not (isinstance(node, ast.Constant) and node.value.strip().startswith(('"""', "'''"))):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    docstrings = {f"{p.relative_to(ROOT)}:{n.body[0].lineno}" for p in ROOT.joinpath("glasskit").rglob("*.py")
                  for n in ast.walk(ast.parse(p.read_text()))
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(getattr(n.body[0], "value", None), ast.Constant)}
    assert not [b for b in bad if b not in docstrings], "fix hints outside glasskit.util.paths.install_hint: " + str(bad)
    assert "install.sh" in paths.install_hint("ml")  # a checkout: its script
    saved = paths.checkout_root
    try:
        paths.checkout_root = lambda: None  # a wheel
        for extra in paths.WHEEL_HINTS:
            hint = paths.install_hint(extra)
            assert "install.sh" not in hint or extra == "mongo", hint
    finally:
        paths.checkout_root = saved


def test_log_lines_carry_utc_times_and_q_keeps_only_problems(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((1, 200),))
    loud = run(["submit", "simulate", "--spec", spec, "--executor", "local"], ROOT, {"TZ": "America/Chicago"})
    lines = [ln for ln in loud.stderr.splitlines() if "glasskit:" in ln]
    assert lines and all(STAMP.match(ln) for ln in lines), lines[:3]
    stamp = lines[0][:20]
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                - now).total_seconds()) < 600  # UTC, not Chicago's clock
    quiet = run(["-q", "collect", "--spec", spec], ROOT)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout.strip().endswith("campaign.h5")


def _leaves(parser, prefix=()):
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaves(sub, prefix + (name,))
            return
    yield prefix, parser


def test_every_command_that_reports_state_or_ids_has_json(tmp_path):
    """Enumerated from the parser: every leaf command but the array task's own entry point and
    the figure scripts (files, not state) takes --json."""
    from glasskit.cli import parser
    leaves = dict(_leaves(parser()))
    assert len(leaves) >= 14
    for path, p in leaves.items():
        if path[0] in ("run", "figure"):
            continue
        assert any("--json" in a.option_strings for a in p._actions), " ".join(path)
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((2, 200),))
    sub = json.loads(run(["submit", "simulate", "--spec", spec, "--executor", "local", "--json"], ROOT).stdout)
    (rec,) = sub["submissions"]
    assert rec["stage"] == "simulate" and rec["submission"].startswith("sub-") and os.path.isfile(rec["record"])
    col = json.loads(run(["collect", "--spec", spec, "--json"], ROOT).stdout)
    assert col["simulated"] == 2 and os.path.isfile(col["campaign_file"])
    ver = json.loads(run(["verify", "--spec", spec, "--json"], ROOT).stdout)
    assert ver["problems"] == [] and ver["rows_ok"] == 2
    exp = json.loads(run(["export", "--spec", spec, "--format", "xyz", "--out", tmp_path / "a.xyz", "--json"], ROOT).stdout)
    assert exp["files"] == [str(tmp_path / "a.xyz")]
    desc = json.loads(run(["describe", col["campaign_file"], "--json"], ROOT).stdout)
    assert desc["datasets"]["frames/x"]["units"] == "sigma_AA"


def test_status_tells_running_from_waiting_and_names_a_failure_s_log(tmp_path):
    from glasskit.campaign.index import CampaignIndex
    from glasskit.campaign.shard import PENDING, RUNNING
    from glasskit.campaign.status import stage_status, summary_lines
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((4, 200),))
    inject = json.dumps({"3": 'variable x equal 1/0\nrun 10 every 5 "print ${x}"'})
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", env={"GLASSKIT_TEST_INJECT": inject})
    c = Campaign.of(load_spec(spec))
    logs = sorted(c.workdir.glob("logs/*/sim-*.lammps.log"))
    assert [p.name for p in logs] == ["sim-000003.lammps.log"]  # successful runs keep no log (no warnings)
    assert "ERROR" in logs[0].read_text() and "Divide by 0" in logs[0].read_text()
    out = glasskit("status", "--spec", spec).stdout
    (line,) = [ln for ln in out.splitlines() if ln.strip().startswith("failed 3:")]
    assert "Divide by 0" in line and "(log: " in line and str(logs[0]) in line
    # a live submission: one simulation under way, the others not started yet
    shard = c.shards("simulate")[0]
    sub = shard.parent.name
    with h5py.File(shard, "r+") as f:
        rows = np.nonzero(f["sim/index"][...] == 0)[0]
        f["sim/done"][rows[0]] = False
        f["sim/state"][rows[0]] = RUNNING
    for other in c.shards("simulate")[1:]:
        with h5py.File(other, "r+") as f:
            f["sim/done"][...] = False
            f["sim/state"][...] = PENDING
    st = stage_status(CampaignIndex.scan(c, ("simulate",)), "simulate", {sub: None})
    assert st.running == {0, 1, 2, 3} and st.waiting == {1, 2, 3}
    head = summary_lines(c, st)[0]
    assert "running 1, waiting 3" in head and st.as_dict()["counts"]["waiting"] == 3


def test_every_multi_panel_figure_gets_panel_letters(tmp_path):
    from glasskit.util.plotting import figure, panel_letters, save
    fig, axes = figure(3, 1)
    for ax in axes[0]:
        ax.plot([0, 1], [0, 1])
    assert panel_letters(fig) == 3
    assert [t.get_text() for t in fig.texts] == ["(a)", "(b)", "(c)"]
    # each letter sits above its panel's labels and title (no overlap with them)
    renderer = fig.canvas.get_renderer()
    for t, ax in zip(fig.texts, axes[0]):
        assert t.get_window_extent(renderer).y0 >= ax.get_tightbbox(renderer).y1 - 1
    saved, axes2 = figure(2, 1)
    for ax in axes2[0]:
        ax.plot([0, 1], [0, 1])
    save(saved, tmp_path / "f")  # every saved figure goes through panel_letters
    assert [t.get_text() for t in saved.texts] == ["(a)", "(b)"]
    one, ax1 = figure(1, 1)
    ax1[0][0].plot([0, 1])
    assert panel_letters(one) == 0  # a single panel needs no letter
