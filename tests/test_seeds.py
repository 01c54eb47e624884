import numpy as np

from glasskit.campaign.seeds import simulation_seeds


def test_seeds_are_unique_positive_and_deterministic():
    s = simulation_seeds(20190911, np.arange(200_000))
    assert len(np.unique(s)) == s.size
    assert s.min() >= 1 and s.max() <= 2**30
    assert np.array_equal(s[:10], simulation_seeds(20190911, range(10)))


def test_campaign_seed_changes_every_seed_and_neighbours_are_unrelated():
    a, b = simulation_seeds(1, range(1000)), simulation_seeds(2, range(1000))
    assert np.all(a != b)
    assert np.abs(np.diff(a)).min() > 1  # consecutive indices do not give consecutive seeds
