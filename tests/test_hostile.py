"""Round 3, profiles as data with one schema: extra sbatch lines judged by what sbatch reads
them as, an [env] that cannot reach the job's machinery, flags rendered as flags, in every job
glasskit renders (simulate and minimize arrays, training, CV and search jobs through submitit).
Each test enumerates its class from the rendered scripts or the code, not from named cases."""
import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import GLASSKIT, ROOT
from glasskit.batch import sbatchopts
from glasskit.batch.cluster import load_cluster
from glasskit.util.errors import GlasskitError

EXAMPLE = ROOT / "glasskit" / "resources" / "clusters" / "example-supercomputer.toml"


def _profile(tmp_path: Path, name: str, sbatch=None, env=None, **keys) -> Path:
    """The example profile with its extra sbatch lines, [env] and keys replaced."""
    text = EXAMPLE.read_text()
    text = re.sub(r"(?m)^name = .*$", f'name = "{name}"', text)
    if sbatch is not None:
        text = re.sub(r"(?m)^sbatch = .*$", "sbatch = [" + ", ".join(f'"{s}"' for s in sbatch) + "]", text)
    if env is not None:
        text = re.sub(r"(?ms)^\[env\].*?(?=^\[gpu\])", "[env]\n" + "".join(f'{k} = "{v}"\n' for k, v in env.items())
                      + "\n", text)
    for k, v in keys.items():
        text = re.sub(rf"(?m)^{k} = .*$", f'{k} = {v}', text)
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def _array_scripts(profile: Path) -> list[str]:
    """The rendered simulate and minimize array scripts of a small spec under ``profile``."""
    out = []
    for stage in ("simulate", "minimize"):
        p = subprocess.run(GLASSKIT + ["submit", stage, "--spec", str(ROOT / "jobs/demo.toml"), "--array", "0-3",
                                       "--cluster", str(profile), "--executor", "slurm", "--dry-run",
                                       "--workdir", "/tmp/glasskit-hostile-never-written"],
                           capture_output=True, text=True, cwd=ROOT)
        if stage == "minimize" and p.returncode != 0:
            continue  # nothing simulated: minimize renders nothing, the simulate script stands for both
        assert p.returncode == 0, p.stderr
        out.append(p.stdout)
    return out


def _submitit_scripts(profile: Path, tmp_path: Path) -> list[str]:
    """The sbatch scripts submitit renders for a training run (and a CV fold: the same
    launcher) and for a search worker and driver under ``profile``."""
    pytest.importorskip("submitit")
    from glasskit.ml.command import driver_preview
    from glasskit.ml.launch import Launcher
    prof = load_cluster(str(profile))
    train = Launcher.of("slurm", 2, prof)
    return [train.preview(tmp_path / "train"), train.for_workers().preview(tmp_path / "workers"),
            driver_preview(prof, tmp_path / "driver")]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    prof = _profile(tmp, "full", sbatch=["--mail-type=FAIL", "--contiguous"], reservation='"resv1"',
                    partition='"cpuq"', time_min='"02:00:00"', preemptible="true", charge_factor="0.5")
    return prof, _array_scripts(prof) + _submitit_scripts(prof, tmp)


def test_every_option_a_rendered_script_sets_is_refused_in_every_spelling(rendered, tmp_path):
    prof, scripts = rendered
    names = set().union(*(sbatchopts.directive_names(s) for s in scripts))
    names -= {"mail-type", "contiguous"}  # the profile's own extra lines, rendered as given
    assert {"array", "time", "output", "error", "job-name", "signal", "open-mode", "nodes", "requeue",
            "time-min"} <= names, names
    cases = 0
    for name in sorted(names):
        for spelling in sbatchopts.spellings(name):
            p = _profile(tmp_path, "bad", sbatch=[spelling])
            with pytest.raises(GlasskitError) as exc:
                load_cluster(str(p))
            assert "sbatch line" in exc.value.problem, (spelling, exc.value.problem)
            cases += 1
    assert cases >= 150
    print(f"{len(names)} options set by the rendered scripts, {cases} spellings refused")


def test_a_flag_renders_as_a_flag_in_every_job(rendered):
    _, scripts = rendered
    for s in scripts:
        lines = [ln for ln in s.splitlines() if ln.startswith("#SBATCH")]
        assert "#SBATCH --contiguous" in lines, s[:2000]
        assert "#SBATCH --mail-type=FAIL" in lines
        assert not [ln for ln in lines if ln.endswith("=")], lines


def test_the_option_table_holds_every_option_the_installed_sbatch_knows(local_slurm):
    import os
    p = subprocess.run(["sbatch", "--help"], capture_output=True, text=True, env={**os.environ, **local_slurm})
    listed = set(re.findall(r"(?m)^\s+(?:-\w, )?--([a-z][a-z0-9-]+)", p.stdout))
    assert len(listed) > 60 and not listed - set(sbatchopts.LONG), sorted(listed - set(sbatchopts.LONG))
    shorts = set(re.findall(r"(?m)^\s+-(\w), --([a-z][a-z0-9-]+)", p.stdout))
    assert all(sbatchopts.SHORT.get(s) == long for s, long in shorts), shorts


def _env_names_glasskit_reads() -> set[str]:
    """Every environment variable name glasskit's code mentions (GLASSKIT_*, SLURM_*, ...)."""
    out = set()
    for path in ROOT.joinpath("glasskit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(
                    r"(GLASSKIT|SLURM|SUBMITIT|OMP|MKL)_[A-Z0-9_]+", node.value):
                out.add(node.value)
    return out


def test_env_cannot_set_what_the_job_machinery_reads(rendered, tmp_path):
    _, scripts = rendered
    exported = {m for s in scripts for m in re.findall(r"(?m)^export ([A-Za-z_][A-Za-z0-9_]*)=", s)}
    names = (_env_names_glasskit_reads() | (exported - {"OMP_PROC_BIND"}) |
             {"SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "PMI_RANK", "PMIX_RANK", "HYDRA_HOST_FILE", "OMPI_COMM_WORLD_RANK",
              "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "ENV", "PATH", "PYTHONPATH", "PYTHONHOME", "IFS", "PS4",
              "MASTER_ADDR", "RANK", "WORLD_SIZE", "CUDA_VISIBLE_DEVICES", "BASH_FUNC_module%%"})
    assert len(names) >= 25 and "OMP_NUM_THREADS" in names and "GLASSKIT_TEST_INJECT" in names
    for name in sorted(names):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue  # not a name a TOML key can export anyway
        p = _profile(tmp_path, "envbad", env={name: "1"})
        with pytest.raises(GlasskitError, match="reserved"):
            load_cluster(str(p))
    ok = _profile(tmp_path, "envok", env={"HDF5_USE_FILE_LOCKING": "FALSE", "NCCL_SOCKET_IFNAME": "hsn"})
    assert dict(load_cluster(str(ok)).env) == {"HDF5_USE_FILE_LOCKING": "FALSE", "NCCL_SOCKET_IFNAME": "hsn"}


def test_a_profile_line_sbatch_would_not_read_is_refused(tmp_path):
    for line in ("--e=x", "--requeue=", "--mem", "--time=1 2", "--nope=1", "-Z 1", "--mail-type=$(id)", "--x;y",
                 "--mail-type FAIL extra"):
        with pytest.raises(GlasskitError, match="sbatch line"):
            load_cluster(str(_profile(tmp_path, "odd", sbatch=[line])))
    good = load_cluster(str(_profile(tmp_path, "good", sbatch=["--mail-type FAIL", "-x nid0001", "--contiguous"])))
    assert good.sbatch == (("mail-type", "FAIL"), ("exclude", "nid0001"), ("contiguous", None))


# ---- the scheduler's silence is not an answer --------------------------------------------------

def _failing_squeue(tmp_path: Path) -> dict:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("squeue", "sacct"):
        (bin_dir / tool).write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\n"
                                    "exit 1\n")
        (bin_dir / tool).chmod(0o755)
    import os
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_a_failed_squeue_is_unknown_never_failed_and_nothing_is_rerun(tmp_path):
    import json
    import os
    from conftest import glasskit, write_spec
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((3, 200),))
    sub = "sub-20260101-000000-abcd"
    (tmp_path / "c" / "submissions").mkdir(parents=True)
    (tmp_path / "c" / "submissions" / f"{sub}.json").write_text(json.dumps(
        {"submission": sub, "stage": "simulate", "sims": "0-2", "n_tasks": 1, "ranks": 1, "balance": "count",
         "executor": "slurm", "job_id": "4242", "slurm_conf": ""}))
    env = _failing_squeue(tmp_path)
    st = glasskit("status", "--spec", spec, "--json", env=env)
    assert st.returncode == 0, st.stderr
    sim = json.loads(st.stdout)["stages"][0]
    assert sim["counts"]["failed"] == 0 and sim["counts"]["missing"] == 0 and sim["unknown_submissions"] == [sub]
    assert "squeue did not answer" in glasskit("status", "--spec", spec, env=env).stdout
    again = glasskit("submit", "simulate", "--spec", spec, "--executor", "local", env=env)
    assert again.returncode == 0 and "nothing to submit" in again.stderr
    assert not (tmp_path / "c" / "shards").exists()  # nothing re-run on unknown
    # a training run's Slurm job: "unknown", and a re-submission leaves it alone
    from glasskit.ml import runs
    run_dir = tmp_path / "c" / "models" / "r1"
    run_dir.mkdir(parents=True)
    runs.write_json(run_dir / "run.json", {"executor": "slurm", "job_id": "4243", "slurm_conf": ""})
    old = os.environ["PATH"]
    os.environ["PATH"] = env["PATH"]
    try:
        assert runs.state(run_dir).state == "unknown"
    finally:
        os.environ["PATH"] = old


def test_ids_and_times_are_utc_whatever_tz_says(tmp_path):
    import json
    import os
    import time
    from conftest import glasskit, write_spec
    spec = write_spec(tmp_path / "s.toml", tmp_path / "c", runs=((1, 200),))
    glasskit("submit", "simulate", "--spec", spec, "--executor", "local", env={"TZ": "Pacific/Kiritimati"},
             check=True)  # UTC+14
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "c" / "submissions").glob("sub-*.json")]
    stamp = time.strftime("sub-%Y%m%d-%H", time.gmtime())
    assert rec["submission"].startswith(stamp[:-3]) and rec["submitted"].endswith("Z")
    import calendar
    ts = calendar.timegm(time.strptime(rec["submitted"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(ts - time.time()) < 600, (rec["submitted"], os.environ.get("TZ"))


# ---- servers glasskit starts are stopped by glasskit --------------------------------------------

@pytest.mark.parametrize("how", ["binary", "symlink", "wrapper"])
def test_the_embedded_server_is_stopped_however_it_was_launched(tmp_path, monkeypatch, how):
    import os
    import socket
    pytest.importorskip("pymongo")
    from glasskit.ml.search import mongoserver
    try:
        real = mongoserver.binary()
    except GlasskitError:
        pytest.skip("the embedded server is not installed (GLASSKIT_EMBEDDED_MONGO=0)")
    exe = real
    if how == "symlink":
        exe = tmp_path / "mongo-link"
        exe.symlink_to(real)
    elif how == "wrapper":  # a site's wrapper that forks the server and waits for it
        exe = tmp_path / "run-mongo.sh"
        exe.write_text(f"#!/bin/sh\n{real} \"$@\" &\nwait\n")
        exe.chmod(0o755)
    monkeypatch.setenv("GLASSKIT_MONGOD", str(exe))
    server = mongoserver.EmbeddedMongo(tmp_path / "mongo.log")
    url = server.start()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    pgid = server.proc.pid
    assert mongoserver._group_alive(pgid)
    server.stop()
    assert not mongoserver._group_alive(pgid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    assert os.path.exists(tmp_path / "mongo.log")


# ---- every command ends in one line -------------------------------------------------------------

def _argv(path: tuple, spec: Path, work: Path) -> list[str] | None:
    """A valid argv for a leaf command of the parser (None: the matrix cannot run it here)."""
    base = ["--spec", str(spec)]
    table = {
        ("submit", "simulate"): base + ["--executor", "local"],
        ("submit", "minimize"): base + ["--executor", "local"],
        ("submit", "train"): ["--model", "dmpnn", "--dataset", "1"] + base + ["--executor", "local"],
        ("submit", "cv"): ["--model", "dmpnn", "--dataset", "1"] + base + ["--executor", "local"],
        ("submit", "search"): ["--model", "dmpnn", "--dataset", "1", "--evals", "1"] + base + ["--executor", "local"],
        ("run", ): ["simulate"] + base + ["--sims", "0", "--tasks", "1", "--ranks", "1", "--task", "0",
                                          "--submission", "sub-matrix"],
        ("status",): base, ("collect",): base, ("verify",): base,
        ("export",): base + ["--format", "xyz", "--out", str(work / "out.xyz")],
        ("dataset", "build"): ["1"] + base,
        ("describe",): [str(work / "campaign.h5")],
        ("init",): [str(work / "newproject")],
        ("figure",): ["ise", str(work / "campaign.h5"), "--T", "0.05"],
    }
    h5, figs, models = str(work / "campaign.h5"), work / "figs", str(work / "models")
    scripts = {  # every analysis script, each with arguments that reach its work
        "rdf": [h5, "--spec", str(spec), "--dataset", "1", "--out", str(figs / "rdf")],
        "ise": [h5, "--T", "0.05", "--plot", str(figs / "ise")],
        "graph_metrics": [h5, "--out", str(figs / "gm")],
        "fivefold": ["--out", str(figs / "ff"), "--count", "1"],
        "accuracy": [models, "--out", str(figs / "acc")],
        "attention": [models + "/none", "--out", str(figs)],
        "feature_maps": [models + "/none", "--out", str(figs)],
        "nfold_verdict": [models + "/none", "--out", str(figs)],
        "search": [str(work / "searches"), "--out", str(figs / "search")],
        "training_time": ["--campaign", h5, "--spec", str(spec), "--steps", "1", "--batch", "1", "--l-win", "0.6",
                          "--out", str(figs / "tt")],
        "transfer": [models, "--model", "dmpnn", "--out", str(figs / "tr")],
    }
    if path[:1] == ("figure",) and len(path) == 2:
        return ["figure", path[1]] + scripts[path[1]]
    return list(path) + table[path] if path in table else None


def _conditions(tmp_path: Path, spec: Path, work: Path) -> dict:
    """name -> (env, how stdout is given, prepare()) of each hostile condition."""

    def damaged():
        (work / "campaign.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # a truncated HDF5 file
        spec.write_text(spec.read_text() + "\n[system\n")  # not TOML any more
    return {"failing scheduler": (_failing_squeue(tmp_path), None, lambda: None),
            "damaged input": ({}, None, damaged),
            "closed stdout": ({}, "closed", lambda: None),
            "read-only workdir": ({}, "readonly", lambda: None)}


def _run(argv, env, stdout_mode, user_prefix, cwd):
    import os
    full = {**os.environ, **env}
    if stdout_mode == "closed":
        r, w = os.pipe()
        os.close(r)  # whatever the command prints meets a closed pipe
        try:
            return subprocess.run(argv, stdout=w, stderr=subprocess.PIPE, text=True, env=full, cwd=cwd, timeout=600)
        finally:
            os.close(w)
    return subprocess.run(user_prefix + argv, capture_output=True, text=True, env=full, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_every_command_ends_in_one_line_under_every_hostile_condition(tmp_path):
    """Enumerated from the parser's leaf commands and the figure scripts: read-only workdir,
    damaged input, closed stdout, failing scheduler. No traceback, no internal error, at most
    one error line, and what was done is still there."""
    import shutil as sh
    from conftest import glasskit, write_spec
    from glasskit.cli import parser
    from test_newcomer import _leaves
    from glasskit.analysis import FIGURES
    leaves = [p for p, _ in _leaves(parser())] + [("figure", name) for name in FIGURES]
    assert len(leaves) >= 25
    cases = 0
    problems = []
    for cond in ("failing scheduler", "damaged input", "closed stdout", "read-only workdir"):
        d = tmp_path / cond.replace(" ", "-")
        d.mkdir()
        spec = write_spec(d / "s.toml", d / "c", runs=((2, 200),))
        glasskit("submit", "simulate", "--spec", spec, "--executor", "local", check=True)
        glasskit("collect", "--spec", spec, check=True)
        work = d / "c"
        env, mode, prepare = _conditions(tmp_path, spec, work)[cond]
        prepare()
        user = []
        before = sorted(p.relative_to(work) for p in work.rglob("*.h5"))
        if mode == "readonly":  # immutable (chattr +i): even root cannot write there
            if subprocess.run(["chattr", "-R", "+i", str(work)], capture_output=True).returncode != 0:
                pytest.skip("chattr +i is not available on this file system")
        try:
            _matrix_row(leaves, spec, work, env, mode, user, d, cond, problems)
        finally:
            if mode == "readonly":
                subprocess.run(["chattr", "-R", "-i", str(work)], capture_output=True)
        cases += len(leaves)
        after = sorted(p.relative_to(work) for p in work.rglob("*.h5"))
        assert set(before) <= set(after), (cond, set(before) - set(after))  # nothing done was lost
        sh.rmtree(d, ignore_errors=True)
    assert not problems, f"{len(problems)} of {cases}:\n" + "\n".join(problems)
    print(f"{cases} command x condition cases, one line each")


def _matrix_row(leaves, spec, work, env, mode, user, d, cond, problems) -> None:
    if True:
        for path in leaves:
            argv = _argv(path, spec, work)
            assert argv is not None, f"the matrix has no argv for {' '.join(path)}: add one"
            p = _run(GLASSKIT + argv, env, mode, user, d)
            err = p.stderr or ""
            errors = [ln for ln in err.splitlines() if ": error:" in ln]
            bad = ("Traceback" in err or p.returncode == 3 or len(errors) > 1
                   or (p.returncode not in (0, 141) and not errors))
            if bad:
                problems.append(f"[{cond}] glasskit {' '.join(path)} -> {p.returncode}: {err.strip()[-300:]}")


# ---- everything stored is bound and checked -----------------------------------------------------

@pytest.fixture(scope="module")
def sealed_campaign(tmp_path_factory):
    """A simulated, minimized and collected tiny campaign (2 slow, 2 fast ramps)."""
    from conftest import glasskit, write_spec
    tmp = tmp_path_factory.mktemp("sealed")
    spec = write_spec(tmp / "s.toml", tmp / "c", runs=((2, 1000), (2, 200)))
    for args in (("submit", "simulate"), ("submit", "minimize")):
        glasskit(*args, "--spec", spec, "--executor", "local", check=True)
    glasskit("collect", "--spec", spec, check=True)
    return spec, tmp / "c"


def _datasets_of(path) -> list[str]:
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.append(n) if isinstance(o, h5py.Dataset) and not o.is_virtual else None)
    return sorted(out)


def _change_one_element(path, name) -> None:
    """Change one element of dataset ``name`` that a reader uses: row 0 (frame 0) of per-row
    data, a value of its own type and range (an enum's other name, a flipped bool, one ulp)."""
    import h5py
    import numpy as np
    with h5py.File(path, "r+") as f:
        ds = f[name]
        if ds.dtype.names:  # the provenance table
            rows = ds[...]
            rows[0]["host"] = b"elsewhere"
            ds[...] = rows
            return
        idx = (0,) * ds.ndim
        v = ds[idx]
        enum = h5py.check_enum_dtype(ds.dtype)
        if enum:
            others = sorted(set(enum.values()) - {int(v)})
            new = others[-1]
        elif ds.dtype == bool:
            new = not bool(v)
        elif ds.dtype.kind == "f":
            new = np.nextafter(v, np.inf) if np.isfinite(v) else 0.0
        else:
            new = v + 1
        ds[idx] = new


def _verify_names(spec, work, name) -> str:
    from glasskit.campaign.layout import Campaign
    from glasskit.campaign.spec import load_spec
    from glasskit.campaign.verify import verify
    rep = verify(Campaign.of(load_spec(spec, workdir=str(work))))
    return "\n".join(rep.problems)


def test_one_changed_element_of_any_dataset_of_a_shard_or_campaign_file_is_named_by_verify(sealed_campaign, tmp_path):
    """Enumerated from the files themselves: every dataset of a simulate shard, a minimize
    shard, the (virtual) campaign file and a standalone campaign file."""
    from conftest import glasskit
    spec, work = sealed_campaign
    glasskit("collect", "--spec", spec, "--standalone", "-o", work / "standalone.h5", check=True)
    sim_shard = sorted(work.glob("shards/simulate/*/task-*.h5"))[0]
    min_shard = sorted(work.glob("shards/minimize/*/task-*.h5"))[0]
    targets = [(sim_shard, n) for n in _datasets_of(sim_shard)] + [(min_shard, n) for n in _datasets_of(min_shard)]
    targets += [(work / "campaign.h5", n) for n in _datasets_of(work / "campaign.h5")]
    targets += [("standalone", n) for n in _datasets_of(work / "standalone.h5")]
    assert len(targets) >= 45
    missed = []
    for where, name in targets:
        copy = tmp_path / "w"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(work, copy)
        if where == "standalone":
            (copy / "campaign.h5").unlink()
            (copy / "standalone.h5").rename(copy / "campaign.h5")
            path = copy / "campaign.h5"
        else:
            path = copy / Path(where).relative_to(work)
        assert _verify_names(spec, copy, name) == "" or name == "never"  # clean before the change
        _change_one_element(path, name)
        text = _verify_names(spec, copy, name)
        if f"/{name}" not in text:
            missed.append(f"{where if where == 'standalone' else Path(where).name}:/{name} -> {text[:200]!r}")
    assert not missed, f"{len(missed)} of {len(targets)} changes not named:\n" + "\n".join(missed)
    print(f"{len(targets)} datasets changed one at a time, each named by verify")


def test_shards_slices_and_files_of_another_campaign_or_other_inputs_are_refused(sealed_campaign, tmp_path):
    from conftest import glasskit, write_spec
    from glasskit.campaign.index import read_slice
    spec, work = sealed_campaign
    copy = tmp_path / "c"
    shutil.copytree(work, copy)
    other = write_spec(tmp_path / "o.toml", tmp_path / "o", runs=((2, 1000), (2, 200)), extra="")
    other.write_text(other.read_text().replace("seed = 11", "seed = 12"))
    glasskit("submit", "simulate", "--spec", other, "--executor", "local", check=True)
    theirs = sorted((tmp_path / "o").glob("shards/simulate/sub-*"))[0]
    shutil.copytree(theirs, copy / "shards" / "simulate" / "sub-29990101-000000-ffff")   # a foreign shard
    (copy / "shards" / "simulate" / "sub-29990101-000000-eeee").symlink_to(theirs)       # a link out
    p = glasskit("verify", "--spec", spec, "--workdir", copy)
    assert p.returncode == 1
    assert "sub-29990101-000000-ffff" in p.stdout and "another campaign" in p.stdout
    assert "sub-29990101-000000-eeee" in p.stdout and "symbolic link" in p.stdout
    glasskit("collect", "--spec", spec, "--workdir", copy, check=True)
    import h5py
    with h5py.File(copy / "campaign.h5") as f:
        paths = [r["path"].decode() for r in f["provenance/shards"][...]]
    assert not [p for p in paths if "2999" in p]  # neither was mapped
    # an edited init.data is visible
    (copy / "init.data").write_text((copy / "init.data").read_text().replace("Atoms", "Atoms ", 1))
    p = glasskit("verify", "--spec", spec, "--workdir", copy)
    assert p.returncode == 1 and "init.data: changed since" in p.stdout
    # an index slice of another campaign
    s = copy / "submissions" / "sub-x.index.json"
    s.write_text('{"workdir_relative": true, "campaign_id": "0000000000000000", "sims": {}}')
    with pytest.raises(GlasskitError, match="another campaign"):
        read_slice(s, copy, "1111111111111111")
    s.write_text('{"workdir_relative": true, "campaign_id": "1", "sims": {"0": {"simulate": ["../../etc/x.h5", 0, true]}}}')
    with pytest.raises(GlasskitError, match="outside the campaign directory"):
        read_slice(s, copy, "1")


def test_a_repair_makes_what_was_built_from_the_data_stale(sealed_campaign, tmp_path):
    """A training run is named after the data it read: after a --redo repair re-collected, the
    same command is a new run, not "already done"."""
    pytest.importorskip("torch")
    from conftest import glasskit
    from glasskit.campaign.layout import Campaign
    from glasskit.campaign.spec import load_spec
    from glasskit.ml.submit import Inputs
    spec, work = sealed_campaign
    copy = tmp_path / "c"
    shutil.copytree(work, copy)
    c = Campaign.of(load_spec(spec, workdir=str(copy)))
    before = Inputs(c, str(spec)).data_identity(1)
    shard = sorted(copy.glob("shards/simulate/*/task-*.h5"))[0]
    _change_one_element(shard, "frames/pe")  # damage that verify condemns
    glasskit("submit", "simulate", "--spec", spec, "--workdir", copy, "--array", "0-3", "--redo", "--executor",
             "local", check=True)
    glasskit("collect", "--spec", spec, "--workdir", copy, check=True)
    after = Inputs(c, str(spec)).data_identity(1)
    assert before["physics"] == after["physics"] and before["sources"] != after["sources"]


# ---- writes never follow links and never leave their place --------------------------------------

WRITES = ("write_text", "write_bytes", "os.open", "os.replace", "torch.save", "savefig", "gsd.hoomd.open",
          "np.savetxt", "shutil.copy", "shutil.move")
# the few writes outside glasskit.util.outputs, each to a path that module handed out or checked
ALLOWED = {
    ("campaign/shard.py", "h5py.File"): "the shard, after outputs.refuse_link (every rank creates it under mpio)",
    ("campaign/store.py", "h5py.File"): "the temporary of outputs.atomic",
    ("campaign/export.py", "h5py.File"): "the temporary of outputs.replace_file",
    ("campaign/export.py", "gsd.hoomd.open"): "the temporary of outputs.replace_file",
    ("campaign/export.py", "open"): "the temporary of outputs.replace_file",
    ("campaign/export.py", "write_text"): "the temporary of outputs.replace_file",
    ("stages/simulate.py", "h5py.File"): "init.h5's temporary, refuse_link'd, renamed into place",
    ("stages/simulate.py", "os.replace"): "init.data and init.h5's temporaries, refuse_link'd",
    ("data/graphs.py", "torch.save"): "the temporary of outputs.replace_file",
    ("data/datasets.py", "write_text"): "the temporary of outputs.replace_file",
    ("ml/files.py", "torch.save"): "the temporary of outputs.atomic",
    ("ml/files.py", "write_text"): "the temporary of outputs.atomic",
    ("util/tables.py", "write_text"): "the temporary of outputs.replace_file",
    ("util/plotting.py", "savefig"): "a path outputs.claim checked (no link, glasskit's own)",
    ("util/errors.py", "os.open"): "/dev/null, for a closed stdout",
}


def _write_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        mode = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        mode += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
        if name.endswith(WRITES) or (name.split(".")[-1] in ("open", "File") and any(set(m) & set("wax+")
                                                                                     for m in mode)):
            short = next((w for w in (*WRITES, "h5py.File", "open") if name.endswith(w)), name)
            yield short, node.lineno


def test_every_write_of_glasskit_goes_through_the_one_writer():
    """Enumerated from the code: a new file write outside glasskit.util.outputs fails here
    until it goes through it (or is argued for in ALLOWED)."""
    bad = []
    for path in sorted(ROOT.joinpath("glasskit").rglob("*.py")):
        rel = str(path.relative_to(ROOT / "glasskit"))
        if rel == "util/outputs.py":
            continue
        for name, line in _write_calls(path):
            if (rel, name) not in ALLOWED:
                bad.append(f"glasskit/{rel}:{line}: {name}")
    assert not bad, "writes outside glasskit.util.outputs:\n" + "\n".join(bad)


def _canary(tmp_path: Path, name: str) -> tuple[Path, Path]:
    canary = tmp_path / f"canary-{name}"
    canary.write_text("the user's file\n")
    link = tmp_path / "place" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(canary)
    return canary, link


def test_every_writer_refuses_a_link_and_the_canary_stays(tmp_path, sealed_campaign):
    """Each writer of glasskit.util.outputs, and the commands that write through it, pointed at
    a symbolic link to a canary file: refused, the canary unchanged."""
    import glasskit.util.outputs as out
    from glasskit.util.tables import write_table
    from conftest import glasskit as gk
    spec, work = sealed_campaign
    writers = {
        "replace_text": lambda p: out.replace_text(p, "x"),
        "append_line": lambda p: out.append_line(p, "x\n"),
        "open_log": lambda p: out.open_log(p).close(),
        "lock_open": lambda p: __import__("os").close(out.lock_open(p)),
        "claim": out.claim,
        "output": lambda p: out.output(p).__enter__(),
        "replace_file": lambda p: out.replace_file(p).__enter__(),
        "atomic": lambda p: out.atomic(p).__enter__(),
        "claim_many": lambda p: out.claim_many(p.parent, [p.name]),
        "write_table": lambda p: write_table(p, [{"a": 1}]),
        "runs.write_json": lambda p: __import__("glasskit.ml.runs", fromlist=["x"]).write_json(p, {"a": 1}),
        "record_failure": lambda p: __import__("glasskit.campaign.shard", fromlist=["x"]).record_failure(
            p.with_name("task-00000.h5"), 0, 1, "x"),
        "triallog.append": lambda p: __import__("glasskit.ml.search.triallog", fromlist=["x"]).append(p.parent, {}),
        "lammps log": lambda p: __import__("glasskit.stages.engine", fromlist=["x"]).new_lammps(None, p),
    }
    names = {"record_failure": "task-00000.rank-0.errors.jsonl", "triallog.append": "trials.jsonl"}
    for what, write in writers.items():
        sub = tmp_path / what.replace(" ", "-")
        sub.mkdir()
        canary, link = _canary(sub, names.get(what, "target"))
        with pytest.raises(GlasskitError, match="symbolic link"):
            write(link)
        assert canary.read_text() == "the user's file\n", what
    commands = {
        "collect -o": ["collect", "--spec", spec, "-o", "{link}"],
        "collect --standalone -o": ["collect", "--spec", spec, "--standalone", "-o", "{link}"],
        "export gsd": ["export", "--spec", spec, "--format", "gsd", "--out", "{link}", "--sim", "0"],
        "export lammps-data": ["export", "--spec", spec, "--format", "lammps-data", "--out", "{link}", "--sim", "0",
                               "--frames", "0"],
        "figure ise --csv": ["figure", "ise", str(work / "campaign.h5"), "--T", "0.05", "--csv", "{link}"],
    }
    for what, argv in commands.items():
        sub = tmp_path / what.replace(" ", "-")
        sub.mkdir()
        canary, link = _canary(sub, "target")
        p = gk(*[str(link) if a == "{link}" else a for a in argv])
        assert p.returncode == 2 and "symbolic link" in p.stderr and "Traceback" not in p.stderr, (what, p.stderr)
        assert canary.read_text() == "the user's file\n", what
    print(f"{len(writers) + len(commands)} writers refused a link; every canary unchanged")
