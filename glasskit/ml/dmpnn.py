"""The D-MPNN: directed message passing on edge hidden states with self-attention (ml.md 3).

With f_vw = [x_v ; d_vw] for the edge v -> w (``edge_index[0] = v``, ``edge_index[1] = w``):

    a_vw = W_i f_vw            (no bias)          h0_vw = ReLU(a_vw)
    for t = 1 .. T-1:
        m_vw  = sum_{k in N(v)} h_kv - h_wv      (messages into v, less the reverse edge)
        h_vw  = ReLU(a_vw + W_h m_vw)            (W_h shared across steps, no bias)
        s_vw  = V ReLU(W h_vw) + b               (self-attention score, one per edge)
        alpha = softmax(s) over the edges of each graph ("graph", default) or over the whole
                mini-batch ("batch", the authors' code); h_vw <- alpha_vw h_vw; dropout
    readout: m_v = sum_{k in N(v)} h_kv,  h_v = dropout(ReLU(W_o [x_v ; m_v])),  mean over nodes
    FFN of ``ffn_layers`` layers (hidden width h) -> one logit (liquid).

Shapes: ``x`` (n, F), ``edge_attr`` (E, 1), ``edge_index`` (2, E), ``rev`` (E,), ``batch`` (n,).
Weights are Xavier-normal, biases zero. ``forward(..., return_attention=True)`` also returns the
attention (E,) of step T-1 (None when T = 1 or attention is off), for Fig. 6.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter, softmax


class DMPNN(nn.Module):
    def __init__(self, node_dim: int, edge_dim: int = 1, hidden: int = 300, depth: int = 3,
                 ffn_layers: int = 2, dropout: float = 0.5, attention: str = "graph"):
        super().__init__()
        self.depth, self.attention = depth, attention
        self.W_i = nn.Linear(node_dim + edge_dim, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_att = nn.Linear(hidden, hidden, bias=False)
        self.V_att = nn.Linear(hidden, 1)
        self.W_o = nn.Linear(node_dim + hidden, hidden)
        self.drop = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        for _ in range(ffn_layers - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout)]
        self.ffn = nn.Sequential(*layers, nn.Linear(hidden, 1))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x, edge_index, edge_attr, rev, batch, return_attention: bool = False):
        src, dst = edge_index
        n = x.size(0)
        a = self.W_i(torch.cat([x[src], edge_attr], dim=1))
        h = torch.relu(a)
        alpha = None
        groups = batch[src] if self.attention == "graph" else torch.zeros_like(src)
        for _ in range(1, self.depth):
            into = scatter(h, dst, dim=0, dim_size=n, reduce="sum")  # sum_k h_kv at node v
            h = torch.relu(a + self.W_h(into[src] - h[rev]))
            if self.attention != "none":
                score = self.V_att(torch.relu(self.W_att(h))).squeeze(-1)
                alpha = softmax(score, groups)
                h = alpha.unsqueeze(-1) * h
            h = self.drop(h)
        m = scatter(h, dst, dim=0, dim_size=n, reduce="sum")
        hv = self.drop(torch.relu(self.W_o(torch.cat([x, m], dim=1))))
        graph = scatter(hv, batch, dim=0, reduce="mean")
        logit = self.ffn(graph).squeeze(-1)
        return (logit, alpha) if return_attention else logit

    @classmethod
    def from_config(cls, net, node_dim: int) -> "DMPNN":
        return cls(node_dim, 1, net.hidden, net.depth, net.ffn_layers, net.dropout, net.attention)
