"""The authors' CNN (SI section II; ml.md 3), a plain ``torch.nn.Module``.

Input (B, 3, P, P) RGB in [0, 1] (P = 250 in the paper). conv k1 x k1, c1 maps, ReLU; conv
k2 x k2, c2 maps, ReLU; valid padding, no pooling; flatten ((P - k1 - k2 + 2)^2 c2 = 237^2 x 16
for the paper); dense 80, ReLU, dropout; dense 2 (logits of [liquid, glass]). The Keras L2
kernel penalty c = 0.01 adds c sum(w^2) to the loss, i.e. 2 c w to each kernel's gradient: the
trainer gives Adam exactly that as ``weight_decay`` on :meth:`kernels` (coupled L2, as Keras;
not AdamW), which spares a pass over the 72 M weights per step; :meth:`l2_penalty` is the term.
"""
from __future__ import annotations

import torch
from torch import nn


class CNN(nn.Module):
    def __init__(self, image_px: int = 250, conv1=(10, 6), conv2=(5, 16), dense: int = 80,
                 dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, conv1[1], conv1[0])
        self.conv2 = nn.Conv2d(conv1[1], conv2[1], conv2[0])
        side = image_px - conv1[0] + 1 - conv2[0] + 1
        if side < 1:
            raise ValueError(f"images of {image_px} px are smaller than the two kernels")
        self.fc1 = nn.Linear(conv2[1] * side * side, dense)
        self.fc2 = nn.Linear(dense, 2)
        self.drop = nn.Dropout(dropout)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(m.weight)  # Keras' glorot_uniform default
                nn.init.zeros_(m.bias)

    def forward(self, x, return_maps: bool = False):
        m1 = torch.relu(self.conv1(x))
        m2 = torch.relu(self.conv2(m1))
        logits = self.fc2(self.drop(torch.relu(self.fc1(m2.flatten(1)))))
        return (logits, (m1, m2)) if return_maps else logits

    def kernels(self) -> list[torch.nn.Parameter]:
        return [m.weight for m in (self.conv1, self.conv2, self.fc1, self.fc2)]

    def l2_penalty(self) -> torch.Tensor:
        """sum of squared kernel weights (Keras ``kernel_regularizer=l2(c)`` adds c times this)."""
        return sum((m.weight ** 2).sum() for m in (self.conv1, self.conv2, self.fc1, self.fc2))

    @classmethod
    def from_config(cls, net) -> "CNN":
        return cls(net.image_px, tuple(net.conv1), tuple(net.conv2), net.dense, net.dropout)
