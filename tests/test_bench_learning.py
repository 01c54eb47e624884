"""The statistics bench/learning.py reports: intervals resample simulations, n counts frames."""
import importlib.util

import numpy as np
import pytest

pytest.importorskip("torch")
from conftest import ROOT  # noqa: E402


@pytest.fixture(scope="module")
def learning():
    spec = importlib.util.spec_from_file_location("bench_learning", ROOT / "bench" / "learning.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fold(sims, labels, scores, curve=((10, 0.5), (20, 1.0))):
    return {"predictions": {"sim": list(sims), "label": list(labels), "score": list(scores)},
            "test": {"auc": 0.0, "accuracy": 0.0, "n": len(sims)}, "curve": [list(c) for c in curve], "seconds": 60}


def test_bootstrap_resamples_simulations_and_counts_frames(learning):
    rng = np.random.default_rng(0)
    sims = np.arange(40)
    label = sims % 2
    perfect = learning.bootstrap([_fold(sims[:20], label[:20], label[:20] * 0.8 + 0.1),
                                  _fold(sims[20:], label[20:], label[20:] * 0.8 + 0.1)], reps=200)
    assert perfect["auc"] == 1.0 and perfect["auc_ci"] == [1.0, 1.0] and perfect["accuracy"] == 1.0
    assert perfect["n_test"] == 40 and perfect["n_test_liquid"] == 20 and perfect["n_sims"] == 40
    noise = learning.bootstrap([_fold(sims, label, rng.random(40))], reps=500)
    lo, hi = noise["auc_ci"]
    assert lo < 0.5 < hi and hi - lo > 0.2  # 40 coin flips cannot tell a model from chance
    # a simulation's frames are one draw: n_sims counts simulations, n_test frames
    paired = learning.bootstrap([_fold(np.repeat(np.arange(20), 2), np.tile([0, 1], 20), rng.random(40))], reps=500)
    assert paired["n_sims"] == 20 and paired["n_test"] == 40


def test_summary_reports_epochs_to_the_final_auc(learning):
    folds = [_fold([0, 1], [0, 1], [0.2, 0.9], curve=[(10, 0.6), (20, 0.995), (30, 1.0), (40, 1.0)])] * 3
    s = learning.summary("m", 1, folds)
    assert s["fraction_of_epochs_to_final_auc"] == pytest.approx(0.5)  # epoch 2 of 4 is within 0.01
    assert s["n_test"] == 6 and s["auc"] == 1.0


def test_a_curve_that_touches_its_final_auc_and_leaves_has_not_settled(learning):
    noisy = [(i, a) for i, a in enumerate([0.95, 0.06, 0.94, 0.93, 0.96])]
    assert learning.settled(noisy) == 5
    assert learning.settled([(0, 0.5), (1, 1.0), (2, 1.0)]) == 2
    assert learning.settled([(0, 1.0)]) == 1
    # within 0.01 includes 0.01 itself (an AUC of 10 + 10 frames moves in steps of 0.01) ...
    assert learning.settled([(0, 0.99), (1, 1.0), (2, 0.99), (3, 1.0)]) == 1
    # ... but not more
    assert learning.settled([(0, 0.98), (1, 1.0), (2, 1.0)]) == 2


def test_a_model_with_another_ones_settings_is_one_row_of_the_table(learning):
    row = {"auc": 1.0, "auc_ci": [1.0, 1.0], "accuracy": 0.9, "accuracy_ci": [0.8, 1.0], "n_test": 60,
           "fraction_of_epochs_to_final_auc": 0.1}
    out = {"paper_auc": {"4": 0.996}, "datasets": {"4": {
        "dmpnn": {**row, "same_as": "model-i"}, "model-i": {**row, "same_as": "dmpnn"},
        "cnn": {**row, "auc": 0.5}}}}
    rows = learning.markdown(out)[2:]
    assert [r.split(" | ")[1] for r in rows] == ["dmpnn (= model-i)", "cnn"]
    assert "| 0.500 [" in rows[1] and "| 1.000 [1.000, 1.000] | 0.900 [0.800, 1.000] | 0.996 | 0.10 |" in rows[0]


def test_folds_train_only_those_asked_and_a_cell_needs_all_three(learning, tmp_path, monkeypatch):
    from glasskit.ml.config import load_models, resolve
    from glasskit.ml.timing import synthetic_table
    table = synthetic_table(12)
    cfg = resolve(load_models(ROOT / "jobs/models.toml"), "dmpnn", 1)
    trained = []
    monkeypatch.setattr(learning, "_fold", lambda cfg, table, parts, i, *a: trained.append(i) or {"fold": i})
    out = tmp_path / "runs"
    assert learning.cross_validate(cfg, table, out, {}, False, "m", only=[1]) is None
    assert trained == [1] and len(list((tmp_path / "units").glob("*fold1-*.json"))) == 1
    assert learning.cross_validate(cfg, table, out, {}, False, "m", train_missing=False) is None
    assert trained == [1]  # nothing trained when asked for nothing
    folds = learning.cross_validate(cfg, table, out, {}, False, "m")
    assert trained == [1, 0, 2] and [f["fold"] for f in folds] == [0, 1, 2]  # fold 1 read back


def test_initial_memory_measures_displacement_from_the_shared_start_by_minimum_image(learning, tmp_path):
    import h5py
    from glasskit.ml.samples import SampleTable
    rng = np.random.default_rng(1)
    box = np.array([10.0, 10.0])
    x0 = rng.random((50, 2))
    with h5py.File(tmp_path / "init.h5", "w") as f:
        f["xs"] = x0
    near = np.mod(x0 + 0.02, 1.0)  # 0.2 sigma each way, across the boundary for some: never a box length
    far = np.mod(x0 + 0.3, 1.0)    # 3 sigma each way
    t = SampleTable(1, np.arange(2), np.zeros(2, int), np.array([1, 0]), np.ones(2),
                    np.stack([near, far]).astype(np.float32), np.ones(50, int), box)
    m = learning.initial_memory({1: t}, tmp_path)["1"]
    assert m["liquid"]["msd"] == pytest.approx(0.08, rel=1e-3) and m["liquid"]["moved_1_sigma"] == 0.0
    assert m["glass"]["msd"] == pytest.approx(18.0, rel=1e-3) and m["glass"]["moved_1_sigma"] == 1.0
    assert m["liquid"]["n"] == m["glass"]["n"] == 1


def test_readme_table_is_the_committed_result(learning):
    """README's six-dataset table is bench/results/six-datasets.json as markdown() writes it,
    row for row: the numbers a reader sees are the measured ones."""
    import json
    out = json.loads((ROOT / "bench/results/six-datasets.json").read_text())
    rows = learning.markdown(out)
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index(rows[0])
    assert readme[start:start + len(rows)] == rows
    assert {str(d) for d in range(1, 7)} <= set(out["datasets"]) and out["eis"]["liquid"][2] >= 30


def test_every_state_file_of_the_bench_refuses_damage_in_one_line(learning, tmp_path):
    """Units, a fold's curve and the E_IS cache are all read by read_json: a truncated or
    bit-flipped one ends the run with one line naming it, never a traceback."""
    good = tmp_path / "unit.json"
    learning.replace_text(good, '{"fold": 0}')
    assert learning.read_json(good) == {"fold": 0} and list(tmp_path.iterdir()) == [good]
    for damage in ('{"fold": 0', '\x00\x01{', ''):
        bad = tmp_path / "bad.json"
        bad.write_text(damage)
        with pytest.raises(SystemExit) as exc:
            learning.read_json(bad)
        assert str(bad) in str(exc.value) and "delete it" in str(exc.value) and "\n" not in str(exc.value)
    src = (ROOT / "bench" / "learning.py").read_text()
    assert "json.loads(" not in src.replace("return json.loads(path.read_text())", "")
