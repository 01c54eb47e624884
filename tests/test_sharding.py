import pytest

from glasskit.sharding import plan


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
