import pytest

from glasskit.util.errors import GlasskitError
from glasskit.campaign.spec import load_spec

from conftest import write_spec


def test_paper_spec_has_the_papers_protocol():
    spec = load_spec("jobs/simulate.toml")
    assert spec.campaign.n_sims == 20000
    assert [(g.count, g.t_cool) for g in spec.campaign.runs] == [(10000, 20_000_000), (10000, 200_000)]
    s, p, i, m = spec.system, spec.protocol, spec.init, spec.minimize
    assert (s.n_atoms, s.n_b, s.density, s.shift) == (4320, 1512, 1.2, False)
    assert s.epsilon == (1.0, 1.5, 0.5) and s.sigma == (1.0, 0.8, 0.88) and s.cutoff == 2.5
    assert (p.timestep, p.t_start, p.t_stop, p.tdamp, p.frames, p.dump_every) == (0.005, 2.0, 0.05, 0.5, 200, 0)
    assert (i.etol, i.ftol, i.maxiter, i.maxeval) == (1e-10, 1e-5, 1000, 1000)
    assert (m.maxiter, m.maxeval) == (10_000_000, 10_000_000)
    # 200 frames per ramp at both rates (the authors' code), every t_cool / 200 steps
    assert spec.n_frames(20_000_000) == 200 and spec.n_frames(200_000) == 200
    assert spec.dump_every(20_000_000) == 100_000 and spec.dump_every(200_000) == 1_000
    assert list(spec.t_cool_of([0, 9999, 10000, 19999])) == [2e7, 2e7, 2e5, 2e5]
    assert spec.frame_temperature(100_000, 20_000_000) == pytest.approx(1.99025)
    assert spec.frame_temperature(1_000, 200_000) == pytest.approx(1.99025)
    assert spec.system.side == pytest.approx(60.0)  # square box, L^2 = N / density


def test_demo_spec_frames_match_the_papers_temperatures():
    spec = load_spec("jobs/demo.toml")
    slow, fast = (g.t_cool for g in spec.campaign.runs)
    assert slow == 100 * fast
    expected = 2.0 - 1.95 * (1 + __import__("numpy").arange(200)) / 200
    for t_cool in (slow, fast):  # 200 frames at the same temperatures at both rates
        steps = [k * spec.dump_every(t_cool) for k in range(1, spec.n_frames(t_cool) + 1)]
        assert spec.frame_temperature(steps, t_cool) == pytest.approx(expected)


@pytest.mark.parametrize("extra, key", [
    ("[protocol]\nt_stop = -0.05", "protocol.t_stop"),
    ("[protocol]\ntimestep = 0", "protocol.timestep"),
    ("[protocol]\nbogus = 1", "protocol.bogus"),
    ("[system]\ncolour = 'red'", "system.colour"),
    ("[protocol]\ndump_every = 300", "t_cool"),
    ("[protocol]\nframes = 100", "both 'frames' and 'dump_every'"),
    ("[campaign]\nname = 'a b;rm'", "campaign.name"),
    ("[system]\nshift = 'yes'", "system.shift"),
    ("[system]\nn_b = 10000", "system.n_b"),
    ("[system]\nsigma = [1.0, 0.8]", "system.sigma"),
])
def test_invalid_values_name_key_and_rule(tmp_path, extra, key):
    text = _merge(extra)
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(GlasskitError) as err:
        load_spec(p)
    assert key in str(err.value)


def _merge(extra: str) -> str:
    base = {"campaign": "name = 'x'\nseed = 1\n", "system": "lattice = [10, 12]\nn_b = 42\n",
            "protocol": "dump_every = 100\n"}
    for block in extra.split("\n\n"):
        head, _, body = block.partition("\n")
        base[head.strip("[]")] = base.get(head.strip("[]"), "") + body + "\n"
    # TOML forbids a key twice: the later value wins
    text = ""
    for table, body in base.items():
        kv = {}
        for line in body.splitlines():
            if "=" in line:
                k, _, v = line.partition("=")
                kv[k.strip()] = v.strip()
        text += f"[{table}]\n" + "".join(f"{k} = {v}\n" for k, v in kv.items())
    return text + "[[campaign.runs]]\ncount = 2\nt_cool = 2000\n"


def test_missing_spec_file_lists_available(tmp_path):
    with pytest.raises(GlasskitError) as err:
        load_spec(tmp_path / "nope.toml")
    assert "does not exist" in err.value.problem


def test_integral_float_is_accepted_for_integers(tmp_path):
    p = write_spec(tmp_path / "s.toml", tmp_path, runs=((1, 2e3),))
    assert load_spec(p).campaign.runs[0].t_cool == 2000


@pytest.mark.parametrize("frames, words", [(0, "'protocol.frames' = 0 must be > 0"),
                                           (7, "'campaign.runs[0].t_cool' = 2000 is not a multiple of 'protocol.frames' = 7")])
def test_frames_per_ramp_must_divide_every_ramp(tmp_path, frames, words):
    p = tmp_path / "bad.toml"
    p.write_text("[campaign]\nname = 'x'\nseed = 1\n[[campaign.runs]]\ncount = 2\nt_cool = 2000\n"
                 f"[system]\nlattice = [10, 12]\nn_b = 42\n[protocol]\nframes = {frames}\n")
    with pytest.raises(GlasskitError) as err:
        load_spec(p)
    assert words in str(err.value)


@pytest.mark.parametrize("extra, key", [
    ("[engine]\npair_style = 'lj/cut\\nrun 1'", "engine.pair_style"),
    ("[engine]\npair_style = 'lj/charmm/coul/long'", "engine.pair_style"),
    ("[engine]\nskin = 0", "engine.skin"),
    ("[engine]\nneigh_every = 0", "engine.neigh_every"),
    ("[engine]\nsort_every = -1", "engine.sort_every"),
    ("[engine]\nbogus = 1", "engine.bogus"),
    ("[minimize]\nintegrator = 'rk4'", "minimize.integrator"),
    ("[minimize]\ndt = 0.5", "minimize.dt"),
    ("[minimize]\ntmax = 0.5", "minimize.tmax"),
    ("[minimize]\ndtgrow = 0.9", "minimize.dtgrow"),
])
def test_engine_and_fire_settings_are_validated(tmp_path, extra, key):
    p = tmp_path / "bad.toml"
    p.write_text(_merge(extra))
    with pytest.raises(GlasskitError) as err:
        load_spec(p)
    assert key in str(err.value)


def test_plain_engine_is_one_setting_away(tmp_path):
    """The authors' plain input is reachable from the spec: pair_style and FIRE keys."""
    from glasskit.stages.simulate import cool_input
    from glasskit.stages.minimize import minimize_input
    p = tmp_path / "plain.toml"
    p.write_text(_merge("[engine]\npair_style = 'lj/cut'\n\n[minimize]\ndt = 0.005\ntmax = 10.0"))
    spec = load_spec(p)
    text = cool_input(spec, "/x/init.data", 0, 1, 2000)
    assert "pair_style lj/cut 2.5\n" in text and "package" not in text
    assert "timestep 0.005\nmin_modify integrator eulerimplicit tmax 10.0" in minimize_input(spec, "/x/init.data")
