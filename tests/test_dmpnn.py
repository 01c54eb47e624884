"""The D-MPNN against its equations, written out as a direct loop over edges."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch_geometric.data import Batch  # noqa: E402

from glasskit.ml.nets.dmpnn import DMPNN  # noqa: E402
from glasskit.ml.nets.featurize import featurize, reverse_index, to_data  # noqa: E402


def _graph(seed, n=12, k=3):
    rng = np.random.default_rng(seed)
    xs = rng.random((n, 2))
    types = rng.integers(1, 3, n)
    return to_data(featurize(xs, types, np.array([5.0, 5.0]), 1.0, k, np.zeros(2), features="authors"), y=seed % 2)


def _reference(model, g):
    """The equations with Python loops over edges and nodes (no scatter, no batching)."""
    x, ei, d = g.x.double(), g.edge_index.tolist(), g.edge_attr.double()
    Wi, Wh = model.W_i.weight.double(), model.W_h.weight.double()
    Wa, Va, ba = model.W_att.weight.double(), model.V_att.weight.double(), model.V_att.bias.double()
    E = len(ei[0])
    a = [Wi @ torch.cat([x[ei[0][e]], d[e]]) for e in range(E)]
    h = [torch.relu(v) for v in a]
    alpha = None
    for _ in range(1, model.depth):
        new = []
        for e in range(E):
            v, w = ei[0][e], ei[1][e]
            m = sum((h[j] for j in range(E) if ei[1][j] == v), torch.zeros_like(h[0]))
            rev = next(j for j in range(E) if ei[0][j] == w and ei[1][j] == v)
            new.append(torch.relu(a[e] + Wh @ (m - h[rev])))
        s = torch.stack([Va @ torch.relu(Wa @ hv) + ba for hv in new]).view(-1)
        alpha = torch.softmax(s, 0)
        scale = alpha * E if model.attention_norm == "mean" else alpha
        h = [scale[e] * new[e] for e in range(E)]
    Wo, bo = model.W_o.weight.double(), model.W_o.bias.double()
    hv = []
    for v in range(x.shape[0]):
        m = sum((h[j] for j in range(E) if ei[1][j] == v), torch.zeros_like(h[0]))
        hv.append(torch.relu(Wo @ torch.cat([x[v], m]) + bo))
    graph = torch.stack(hv).mean(0)
    return model.ffn.double()(graph).squeeze(-1), alpha


@pytest.mark.parametrize("depth, norm", [(1, "sum"), (2, "sum"), (4, "sum"), (3, "mean")])
def test_message_passing_matches_the_equations(depth, norm):
    torch.manual_seed(0)
    model = DMPNN(node_dim=3, hidden=8, depth=depth, ffn_layers=2, dropout=0.0, attention_norm=norm).double().eval()
    g = _graph(1)
    logit, att = model(g.x.double(), g.edge_index, g.edge_attr.double(), g.rev,
                       torch.zeros(g.num_nodes, dtype=torch.long), return_attention=True)
    ref, ref_att = _reference(model, g)
    assert torch.allclose(logit, ref, atol=1e-10)
    if depth == 1:
        assert att is None
    else:
        assert torch.allclose(att, ref_att, atol=1e-12)


def test_messages_never_cross_graphs_and_attention_sums_to_one_per_graph():
    torch.manual_seed(0)
    model = DMPNN(node_dim=3, hidden=16, depth=3, ffn_layers=1, dropout=0.0).eval()
    graphs = [_graph(s, n=8 + 3 * s) for s in range(3)]
    batch = Batch.from_data_list(graphs)
    # the batched reverse index still points at each edge's reverse
    src, dst = batch.edge_index
    assert torch.equal(src[batch.rev], dst) and torch.equal(dst[batch.rev], src)
    logit, att = model(batch.x, batch.edge_index, batch.edge_attr, batch.rev, batch.batch, return_attention=True)
    alone = torch.cat([model(g.x, g.edge_index, g.edge_attr, g.rev,
                               torch.zeros(g.num_nodes, dtype=torch.long)) for g in graphs])
    assert torch.allclose(logit, alone, atol=1e-5)  # no message leaks between graphs
    sums = torch.zeros(3).index_add_(0, batch.batch[src], att)
    assert torch.allclose(sums, torch.ones(3), atol=1e-5)
    # changing graph 0 changes only graph 0's output
    graphs[0].x[:, 0] += 0.3
    logit2 = model(*[getattr(Batch.from_data_list(graphs), k) for k in ("x", "edge_index", "edge_attr", "rev", "batch")])
    assert not torch.isclose(logit2[0], logit[0]) and torch.allclose(logit2[1:], logit[1:], atol=1e-6)


def test_batch_wide_attention_sums_to_one_over_the_batch():
    torch.manual_seed(0)
    model = DMPNN(node_dim=3, hidden=8, depth=2, ffn_layers=1, dropout=0.0, attention="batch").eval()
    batch = Batch.from_data_list([_graph(s) for s in range(2)])
    _, att = model(batch.x, batch.edge_index, batch.edge_attr, batch.rev, batch.batch, return_attention=True)
    assert abs(float(att.sum()) - 1.0) < 1e-5


def test_reverse_index_rejects_asymmetric_edges():
    with pytest.raises(ValueError):
        reverse_index(np.array([[0, 1], [1, 2]]), 3)


def _grad_W_h(attention, norm, g):
    torch.manual_seed(3)
    model = DMPNN(node_dim=3, hidden=32, depth=3, ffn_layers=2, dropout=0.0, attention=attention, attention_norm=norm)
    logit = model(g.x, g.edge_index, g.edge_attr, g.rev, torch.zeros(g.num_nodes, dtype=torch.long))
    torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.ones(1)).backward()
    return float(model.W_h.weight.grad.norm())


def test_weights_that_sum_to_one_starve_W_h_on_a_paper_sized_window_and_mean_does_not():
    """~390 particles and ~1,400 edges, as an l_win = 0.3 window of the paper's frames: the
    softmax's 1/E shrinks what W_h receives by orders of magnitude; averaging to 1 restores it."""
    g = _graph(4, n=390, k=3)
    assert g.edge_index.size(1) > 1000
    none, mean, total = (_grad_W_h(a, n, g) for a, n in (("none", "mean"), ("graph", "mean"), ("graph", "sum")))
    assert total < 1e-2 * mean and 0.1 < mean / none < 10


def test_mean_attention_has_the_same_softmax_weights_as_sum():
    """"mean" rescales edge states, not the softmax: at depth 2 (one attention step, same input
    h in both modes) the weights Fig. 6 reads are identical and still sum to 1 per graph."""
    g = _graph(5, n=30)
    out = {}
    for norm in ("sum", "mean"):
        torch.manual_seed(0)
        model = DMPNN(node_dim=3, hidden=8, depth=2, dropout=0.0, attention_norm=norm).eval()
        out[norm] = model(g.x, g.edge_index, g.edge_attr, g.rev, torch.zeros(g.num_nodes, dtype=torch.long),
                          return_attention=True)[1]
    assert torch.allclose(out["sum"], out["mean"]) and abs(float(out["mean"].sum()) - 1) < 1e-5


def test_the_ffn_drops_the_graph_vector_first_as_the_authors():
    torch.manual_seed(0)
    g = _graph(6, n=40)
    for layers in (1, 2):
        model = DMPNN(node_dim=3, hidden=64, depth=2, ffn_layers=layers, dropout=0.5).train()
        seen = []
        first = next(m for m in model.ffn if isinstance(m, torch.nn.Linear))
        first.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach()))
        model(g.x, g.edge_index, g.edge_attr, g.rev, torch.zeros(g.num_nodes, dtype=torch.long))
        zeros = float((seen[0] == 0).float().mean())
        assert 0.3 < zeros < 0.8, (layers, zeros)  # half the graph vector dropped before the first layer
        off = DMPNN(node_dim=3, hidden=64, depth=2, ffn_layers=layers, dropout=0.5, input_dropout=False)
        assert not isinstance(off.ffn[0], torch.nn.Dropout)
