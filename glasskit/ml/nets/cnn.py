"""The authors' CNN (SI section II), a plain ``torch.nn.Module``.

Input (B, 3, P, P) RGB in [0, 1] (P = 250 in the paper). conv k1 x k1, c1 maps, ReLU; conv
k2 x k2, c2 maps, ReLU; valid padding, no pooling; flatten ((P - k1 - k2 + 2)^2 c2 = 237^2 x 16
for the paper); dense 80, ReLU, dropout; dense 2 (logits of [liquid, glass]).

The authors' details (their TensorFlow code, ``CNN/``), each the default here or a stated option:

* **L2**: their loss adds ``0.01 * tf.nn.l2_loss(w)`` = c sum(w^2) / 2 per kernel (c = 0.01),
  whose gradient is c w. The trainer gives Adam exactly that as ``weight_decay = c`` on
  :meth:`kernels` (coupled L2, not AdamW; biases unpenalised), which spares a pass over the 72 M
  weights per step; :meth:`l2_penalty` is the term c sum(w^2) / 2 itself (the authors').
* **initialisation** ``init``: ``"authors"`` = truncated normal, sd 0.1 (cut at 2 sd, as
  ``tf.truncated_normal``) for every kernel and 0.1 for every bias (their ``nn_utils.py``);
  ``"xavier"`` (the default, a departure) = Glorot-uniform kernels and zero biases. With the
  authors' sd 0.1 the 898,704 inputs of the dense layer give logits of order 10^3-10^4 on the
  first step (softmax saturated, loss ~10^3), which Adam at lr 1e-4 takes many steps to leave;
  Glorot scales each layer to its fan-in and trains from the first step.
* **input scale**: the authors fed raw 0-255 bytes (``generator.py``: ``pixels = "raw"``); the
  default divides by 255 (``"unit"``), a departure that matters only with ``init = "authors"``
  (Glorot-initialised layers would see inputs 255x larger than they were scaled for).
"""
from __future__ import annotations

import torch
from torch import nn


class CNN(nn.Module):
    def __init__(self, image_px: int = 250, conv1=(10, 6), conv2=(5, 16), dense: int = 80,
                 dropout: float = 0.5, init: str = "xavier"):
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
                if init == "authors":  # tf.truncated_normal(stddev=0.1), tf.constant(0.1)
                    nn.init.trunc_normal_(m.weight, std=0.1, a=-0.2, b=0.2)
                    nn.init.constant_(m.bias, 0.1)
                else:
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x, return_maps: bool = False):
        m1 = torch.relu(self.conv1(x))
        m2 = torch.relu(self.conv2(m1))
        logits = self.fc2(self.drop(torch.relu(self.fc1(m2.flatten(1)))))
        return (logits, (m1, m2)) if return_maps else logits

    def kernels(self) -> list[torch.nn.Parameter]:
        return [m.weight for m in (self.conv1, self.conv2, self.fc1, self.fc2)]

    def l2_penalty(self, c: float = 0.01) -> torch.Tensor:
        """The authors' penalty c * sum over kernels of ``tf.nn.l2_loss(w)`` = c sum(w^2) / 2."""
        return c * sum((m.weight ** 2).sum() for m in (self.conv1, self.conv2, self.fc1, self.fc2)) / 2

    @classmethod
    def from_config(cls, net) -> "CNN":
        return cls(net.image_px, tuple(net.conv1), tuple(net.conv2), net.dense, net.dropout, net.init)
