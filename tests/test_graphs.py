"""Window graphs: invariants, periodic neighbours, and a brute-force check."""
import numpy as np
import pytest

from glasskit.data.graphs import frame_graph, knn_edges, window


def brute_knn(pos, k, box=None):
    d = pos[:, None, :] - pos[None, :, :]
    if box is not None:
        d -= box * np.rint(d / box)
    dist = np.linalg.norm(d, axis=2)
    np.fill_diagonal(dist, np.inf)
    nbr = np.argsort(dist, axis=1)[:, :k]
    pairs = {(i, j) for i in range(len(pos)) for j in nbr[i]} | {(j, i) for i in range(len(pos)) for j in nbr[i]}
    return pairs


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    box = np.array([12.0, 15.0])
    return rng.random((200, 2)) * box, rng.integers(1, 3, 200), box


@pytest.mark.parametrize("k", [1, 3, 5])
def test_edges_match_brute_force_and_invariants(frame, k):
    x, types, box = frame
    g = frame_graph(x, types, box, 0.6, k, origin=(0.7, 0.6))  # the window wraps both edges
    ei = g.edge_index.numpy()
    pairs = set(map(tuple, ei.T))
    n = g.num_nodes
    assert k * n <= len(pairs) == ei.shape[1] <= 2 * k * n
    assert all((j, i) in pairs for i, j in pairs)  # both directions present
    assert np.all(np.bincount(ei[0], minlength=n) >= k)
    assert pairs == brute_knn(g.pos.numpy().astype(float), k)
    d = np.linalg.norm(g.pos.numpy()[ei[1]] - g.pos.numpy()[ei[0]], axis=1)
    assert np.allclose(g.edge_attr.numpy()[:, 0], d, atol=1e-5)
    assert np.allclose(g.x.numpy().sum(axis=1), 1) and np.array_equal(g.x.numpy().argmax(1) + 1, types[g.particle.numpy()])


def test_window_wraps_the_periodic_box(frame):
    x, types, box = frame
    idx, pos = window(x, box, 0.5, origin=(0.8, 0.8))
    xs = x / box
    inside = (np.mod(xs - 0.8, 1.0) < 0.5).all(axis=1)
    assert set(idx) == set(np.nonzero(inside)[0])
    assert pos.min() >= 0 and (pos < 0.5 * box).all()


def test_periodic_neighbours_across_the_box_edge_are_found():
    box = np.array([10.0, 10.0])
    x = np.array([[0.1, 5.0], [9.9, 5.0], [5.0, 5.0], [5.0, 2.0], [2.0, 8.0]])
    edges, dist = knn_edges(x, 1, boxsize=box)
    pairs = set(map(tuple, edges.T))
    assert (0, 1) in pairs and (1, 0) in pairs  # 0.2 apart through the boundary
    assert dist[[i for i, p in enumerate(map(tuple, edges.T)) if p == (0, 1)][0]] == pytest.approx(0.2, abs=1e-5)
    assert set(map(tuple, edges.T)) == brute_knn(x, 1, box)


def test_too_small_window_is_a_clear_error(frame):
    x, types, box = frame
    with pytest.raises(ValueError, match="enlarge l_win"):
        frame_graph(x, types, box, 0.05, 5)
