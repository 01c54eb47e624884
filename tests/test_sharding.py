import numpy as np
import pytest

from glasskit.campaign.sharding import plan


@pytest.mark.parametrize("n_sims, ranks, max_array", [(20000, 1, 1001), (20000, 2, 1001), (20000, 128, 1001),
                                                      (20000, 7, 1001), (8, 1, 1001), (8, 3, 1001),
                                                      (1000, 4, 10), (5, 8, 1001)])
def test_every_simulation_exactly_once(n_sims, ranks, max_array):
    p = plan(range(n_sims), ranks, max_array)
    assert p.n_tasks <= max_array
    owned = [s for t in range(p.n_tasks) for r in range(ranks) for s in p.block(t, r)]
    assert sorted(owned) == list(range(n_sims))
    assert len(owned) == len(set(owned))
    sizes = [len(p.block(t, r)) for t in range(p.n_tasks) for r in range(ranks)]
    assert max(sizes) - min(sizes) <= 1


def test_blocks_are_contiguous_and_task_rows_in_rank_order():
    p = plan(range(20000), 4, 1001)
    for t in (0, 500, p.n_tasks - 1):
        rows = p.task_sims(t)
        assert rows == tuple(s for r in range(4) for s in p.block(t, r))
        for r in range(4):
            b = p.block(t, r)
            assert list(b) == list(range(b[0], b[-1] + 1))


def test_paper_campaign_fits_max_array_size():
    p = plan(range(20000), 1, 1001)
    assert p.n_tasks == 1001 and p.array == "0-1000"


def test_sparse_list_is_planned_on_its_own_indices():
    sims = [3, 4, 5, 100, 101, 7000]
    p = plan(sims, 2, 1001)
    assert sorted(s for t in range(p.n_tasks) for s in p.task_sims(t)) == sims


def test_rejects_empty_and_bad_sizes():
    with pytest.raises(ValueError):
        plan([], 1, 10)
    with pytest.raises(ValueError):
        plan([1], 0, 10)
    with pytest.raises(IndexError):
        plan(range(10), 2, 10).block(99, 0)


def test_cost_balanced_blocks_even_out_the_papers_two_rates():
    """10,000 slow (2e7) and 10,000 fast (2e5) runs over 1001 tasks: by count the slow blocks
    carry ~2x the mean and the fast ones ~0.02x; by cost every block is within one slow run."""
    costs = [2e7] * 10000 + [2e5] * 10000
    by_count, by_cost = plan(range(20000), 1, 1001), plan(range(20000), 1, 1001, costs=costs)
    c = np.asarray(costs)
    cum = np.concatenate([[0], np.cumsum(c)])
    b = by_count._bounds()
    count_blocks = cum[b[1:]] - cum[b[:-1]]
    assert count_blocks.max() / count_blocks.mean() > 1.9
    assert by_cost.balance["rank"] < 1.1 and by_cost.balance["task"] < 1.1
    blocks = [by_cost.block(t, 0) for t in range(by_cost.n_tasks)]
    assert sorted(s for blk in blocks for s in blk) == list(range(20000))  # each simulation once
    assert all(blk and list(blk) == list(range(blk[0], blk[-1] + 1)) for blk in blocks)  # contiguous, none empty
    assert by_cost.block_costs().max() - by_cost.block_costs().mean() <= 2e7


@pytest.mark.parametrize("ranks", [1, 3, 8])
def test_cost_balance_over_ranks_of_few_tasks(ranks):
    rng = np.random.default_rng(ranks)
    sims = sorted(rng.choice(5000, 300, replace=False).tolist())
    costs = rng.choice([1.0, 100.0], len(sims)).tolist()
    p = plan(sims, ranks, 7, costs=costs)
    got = [s for t in range(p.n_tasks) for r in range(ranks) for s in p.block(t, r)]
    assert got == sims
    assert [s for t in range(p.n_tasks) for s in p.task_sims(t)] == sims
    assert p.balance["task"] < 1.15


def test_the_dry_run_bills_the_paper_plan_and_refuses_what_cannot_fit(tmp_path):
    """The paper's 20,000 runs: on the example site (36 h limit) with 128 ranks per task the
    plan fits; with 1 rank per task its longest task would not: with checkpoints (the shipped
    spec) its tasks requeue themselves and --ranks 2 is named as the way to fit; without, it is
    refused with --ranks 2 suggested. The local cluster's 1 h limit cannot hold one t_cool = 2e7
    run: it requeues with checkpoints and is refused without."""
    from conftest import ROOT, glasskit
    base = ["submit", "simulate", "--array", "0-19999", "--executor", "slurm", "--dry-run"]
    ok = glasskit(*base, "--cluster", "example-supercomputer")
    assert ok.returncode == 0, ok.stderr
    assert "# bill: " in ok.stdout and "core-hours" in ok.stdout and "GiB" in ok.stdout and ": fits)" in ok.stdout
    one = glasskit(*base, "--cluster", "example-supercomputer", "--ranks", "1")
    assert one.returncode == 0 and "--ranks 2 would fit" in one.stderr and "over it: requeued about" in one.stdout
    local = glasskit(*base, "--cluster", "local")
    assert local.returncode == 0 and "requeues itself" in local.stderr and "#SBATCH --requeue" in local.stdout
    off = tmp_path / "off.toml"
    off.write_text((ROOT / "jobs/simulate.toml").read_text().replace("checkpoint_every = 5 ", "checkpoint_every = 0 "))
    one = glasskit(*base, "--spec", off, "--cluster", "example-supercomputer", "--ranks", "1")
    assert one.returncode == 2 and "use --ranks 2" in one.stderr and "DOES NOT FIT" in one.stdout
    local = glasskit(*base, "--spec", off, "--cluster", "local")
    assert local.returncode == 2 and "one simulation alone needs about" in local.stderr
    assert "checkpoint_every > 0" in local.stderr
    assert "Traceback" not in one.stderr + local.stderr
