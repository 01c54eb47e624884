"""The D-MPNN: directed message passing on edge hidden states with self-attention (SI section II).

With f_vw = [x_v ; d_vw] for the edge v -> w (``edge_index[0] = v``, ``edge_index[1] = w``):

    a_vw = W_i f_vw            (no bias)          h0_vw = ReLU(a_vw)
    for t = 1 .. T-1:
        m_vw  = sum_{k in N(v)} h_kv - h_wv      (messages into v, less the reverse edge)
        h_vw  = ReLU(a_vw + W_h m_vw)            (W_h shared across steps, no bias)
        s_vw  = V ReLU(W h_vw) + b               (self-attention score, one per edge)
        alpha = softmax(s) over a group of edges: each graph's (``attention = "graph"``) or the
                whole mini-batch's (``"batch"``, the authors' code)
        h_vw <- (E_g alpha_vw) h_vw  (``attention_norm = "mean"``, the default) or alpha_vw h_vw
                (``"sum"``, the authors'); dropout
    readout: m_v = sum_{k in N(v)} h_kv,  h_v = dropout(ReLU(W_o [x_v ; m_v])),  mean over nodes
    FFN: dropout on the graph vector (``input_dropout``, the authors' ``ffn_input_dropout``),
         then ``ffn_layers`` Linear layers (hidden width h, ReLU + dropout between) -> one logit.

**Why "mean" is the default (a departure from the authors' code).** A softmax whose weights sum
to 1 over a group of E_g edges multiplies every edge state by ~1/E_g at initialisation (all
scores equal). An l_win = 0.3 window of a 4,320-particle frame holds ~390 particles and, at
k = 3, ~1,400 directed edges: each message is multiplied by ~7e-4 per step (by ~1.4e-4 with the
authors' batch-wide softmax over 5 graphs), so what neighbours pass on vanishes against the node
features and the gradient into W_h is orders of magnitude below that of a model without
attention. ``"mean"`` multiplies alpha by E_g, the number of edges it was normalised over: the
weights average 1 over each group, the softmax, its ranking and every ratio alpha_vw / alpha_v'w'
(what Fig. 6 reads) are unchanged, and at initialisation edge states keep the scale they have
without attention (weights of order 1 instead of 1/E_g).
The measurement behind the choice (gradient norms at initialisation and test AUC against steps
on paper-sized windows, each mode) is ``bench/attention.py``: gradient into W_h at init 4.7e-6
(graph/sum), 1.9e-7 (batch/sum), 12.8 (graph/mean), 12.4 (none); test AUC after 150 steps 0.54,
0.47, 1.00, 1.00. The table is in jobs/models.toml and the README.
``attention = "batch", attention_norm = "sum"`` is the authors' exact form ([preset.authors]).

Shapes: ``x`` (n, F), ``edge_attr`` (E, 1), ``edge_index`` (2, E), ``rev`` (E,), ``batch`` (n,).
Weights are Xavier-normal, biases zero. ``forward(..., return_attention=True)`` also returns the
softmax weights alpha (E,) of step T-1 (None when T = 1 or attention is off), for Fig. 6; they
sum to 1 over each softmax group whatever ``attention_norm`` is.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter, softmax


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU masks come from 16 random bits per element, four elements per
    draw of the CPU generator: ``F.dropout`` spends ~20 ns an element in Bernoulli sampling,
    a quarter of a Model I training step on one core. The keep probability is quantized to
    1/65536; on GPU, and for p = 0, this is ``nn.Dropout``."""

    def forward(self, x):
        if not self.training or self.p == 0 or x.is_cuda or x.numel() == 0:
            return super().forward(x)
        n = x.numel()
        bits = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
        u = bits.view(torch.int16)[:n].view(x.shape)  # uniform in [-32768, 32767]
        keep = (u >= int(round(self.p * 65536)) - 32768).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * keep  # a float mask: multiplying by a bool tensor costs ~8x more on CPU


class DMPNN(nn.Module):
    def __init__(self, node_dim: int, edge_dim: int = 1, hidden: int = 300, depth: int = 3,
                 ffn_layers: int = 2, dropout: float = 0.5, attention: str = "graph",
                 attention_norm: str = "mean", input_dropout: bool = True):
        super().__init__()
        if attention not in ("graph", "batch", "none") or attention_norm not in ("sum", "mean"):
            raise ValueError(f"attention {attention!r} / attention_norm {attention_norm!r}")
        self.depth, self.attention, self.attention_norm = depth, attention, attention_norm
        self.W_i = nn.Linear(node_dim + edge_dim, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_att = nn.Linear(hidden, hidden, bias=False)
        self.V_att = nn.Linear(hidden, 1)
        self.W_o = nn.Linear(node_dim + hidden, hidden)
        self.drop = Dropout(dropout)
        layers: list[nn.Module] = [Dropout(dropout)] if input_dropout else []
        for _ in range(ffn_layers - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU(), Dropout(dropout)]
        self.ffn = nn.Sequential(*layers, nn.Linear(hidden, 1))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x, edge_index, edge_attr, rev, batch, return_attention: bool = False):
        src, dst = edge_index
        n = x.size(0)
        a = self.W_i(torch.cat([x.index_select(0, src), edge_attr], dim=1))
        h = torch.relu(a)
        alpha = None
        groups = batch[src] if self.attention == "graph" else torch.zeros_like(src)
        for _ in range(1, self.depth):
            into = h.new_zeros(n, h.size(1)).index_add_(0, dst, h)  # sum_k h_kv at node v
            m = into.index_select(0, src) - h.index_select(0, rev)  # index_select: a cheaper backward
            h = torch.relu(torch.addmm(a, m, self.W_h.weight.t()))  # a + W_h m
            if self.attention != "none":
                score = self.V_att(torch.relu(self.W_att(h))).squeeze(-1)
                alpha = softmax(score, groups)
                scale = alpha
                if self.attention_norm == "mean":  # weights average 1 over each softmax group
                    scale = alpha * scatter(torch.ones_like(alpha), groups, dim=0, reduce="sum")[groups]
                h = scale.unsqueeze(-1) * h
            h = self.drop(h)
        m = h.new_zeros(n, h.size(1)).index_add_(0, dst, h)
        hv = self.drop(torch.relu(self.W_o(torch.cat([x, m], dim=1))))
        graph = scatter(hv, batch, dim=0, reduce="mean")
        logit = self.ffn(graph).squeeze(-1)
        return (logit, alpha) if return_attention else logit

    @classmethod
    def from_config(cls, net, node_dim: int) -> "DMPNN":
        return cls(node_dim, 1, net.hidden, net.depth, net.ffn_layers, net.dropout, net.attention,
                   net.attention_norm, net.input_dropout)
