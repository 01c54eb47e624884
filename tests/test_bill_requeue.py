"""What a submission asks of Slurm when its tasks can checkpoint and requeue, and what the bill
says: per-style throughput, preemptible QOS, time_min, limits shorter than a ramp (dry runs:
nothing is written or submitted)."""
import re
from pathlib import Path

import pytest

from conftest import ROOT, glasskit

LOCAL = ROOT / "glasskit" / "resources" / "clusters" / "local.toml"


def _profile(tmp_path: Path, name="p", **keys) -> Path:
    text = LOCAL.read_text().replace('name = "local"', f'name = "{name}"')
    extra = ""
    for k, v in keys.items():
        if re.search(rf"(?m)^{k} = ", text):
            text = re.sub(rf"(?m)^{k} = .*$", f"{k} = {v}", text)
        else:
            extra += f"{k} = {v}\n"
    text = extra + text
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def _spec(tmp_path: Path, engine: str = "") -> Path:
    p = tmp_path / "s.toml"
    p.write_text((ROOT / "jobs/demo.toml").read_text() + ("\n[engine]\n" + engine if engine else ""))
    return p


def _dry(spec, profile, stage="simulate"):
    return glasskit("submit", stage, "--spec", spec, "--cluster", profile, "--executor", "slurm", "--dry-run",
                    "--workdir", "/tmp/glasskit-bill-never-written")


def _core_hours(out: str) -> float:
    return float(re.search(r"# bill: ([\d,.]+) core-hours", out).group(1).replace(",", ""))


def test_the_bill_follows_the_pair_style_of_the_spec(tmp_path):
    text = LOCAL.read_text().replace('name = "local"', 'name = "t"')
    text = re.sub(r"(?m)^atom_steps_per_s = .*$", "", text)  # a table instead, before [gpu]
    text = text.replace("[gpu]", '[atom_steps_per_s]\n"lj/cut" = 1.0e5\n"lj/cut/opt" = 2.0e5\n\n[gpu]')
    prof = tmp_path / "t.toml"
    prof.write_text(text)
    plain = _dry(_spec(tmp_path, 'pair_style = "lj/cut"\n'), prof)
    opt = _dry(_spec(tmp_path, 'pair_style = "lj/cut/opt"\n'), prof)
    omp = _dry(_spec(tmp_path, 'pair_style = "lj/cut/omp"\n'), prof)
    assert plain.returncode == opt.returncode == omp.returncode == 0, plain.stderr + opt.stderr + omp.stderr
    assert _core_hours(plain.stdout) == pytest.approx(2 * _core_hours(opt.stdout), rel=0.02)
    assert "# throughput: no figure for lj/cut/omp" in omp.stdout and "# throughput" not in opt.stdout
    assert _core_hours(omp.stdout) == pytest.approx(_core_hours(plain.stdout), rel=0.02)  # the slowest is used


def test_a_limit_shorter_than_a_task_requeues_when_it_can_and_refuses_when_it_cannot(tmp_path):
    prof = _profile(tmp_path, time='"00:02:00"', atom_steps_per_s="1.0e4")
    ok = _dry(_spec(tmp_path), prof)
    assert ok.returncode == 0, ok.stderr
    assert "#SBATCH --time=00:02:00\n" in ok.stdout and "#SBATCH --requeue\n" in ok.stdout
    assert "requeued about" in ok.stdout and "requeues itself" in ok.stderr
    off = _dry(_spec(tmp_path, "checkpoint_every = 0\n"), prof)
    assert off.returncode == 2 and "over the time limit" in off.stderr
    assert "#SBATCH --requeue" not in off.stdout and "Traceback" not in off.stderr


def test_a_preemptible_qos_with_time_min_renders_and_bills(tmp_path):
    prof = _profile(tmp_path, qos='"preempt"', preemptible="true", charge_factor="0.5", time_min='"00:20:00"')
    out = _dry(_spec(tmp_path), prof)
    assert out.returncode == 0, out.stderr
    for line in ("#SBATCH --qos=preempt", "#SBATCH --time-min=00:20:00", "#SBATCH --requeue",
                 "#SBATCH --open-mode=append"):
        assert line + "\n" in out.stdout
    assert re.search(r"#SBATCH --signal=B:USR1@\d+\n", out.stdout)
    assert "qos charge x0.5" in out.stdout and "# preemptible qos: each preemption costs up to" in out.stdout
    full = _core_hours(out.stdout) * 2
    m = re.search(r"qos charge x0.5: ([\d,.]+) at the regular rate", out.stdout)
    assert float(m.group(1).replace(",", "")) == pytest.approx(full, rel=0.05)
    refused = _dry(_spec(tmp_path, "checkpoint_every = 0\n"), prof)
    assert refused.returncode == 2 and "checkpoint_every = 0" in refused.stderr and len(refused.stderr.splitlines()) <= 2


def test_the_new_profile_keys_are_checked(tmp_path):
    from glasskit.batch.cluster import load_cluster
    from glasskit.util.errors import GlasskitError
    for bad in ('preemptible = "yes"', 'time_min = "soon"', "charge_factor = -1"):
        p = tmp_path / "bad.toml"
        p.write_text(bad + "\n" + LOCAL.read_text())
        with pytest.raises(GlasskitError):
            load_cluster(str(p))
