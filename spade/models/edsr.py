"""EDSR-style residual CNN prior (Lim et al. 2017) without BatchNorm or upsampling."""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    """conv-ReLU-conv plus skip. The ReLU is not in-place: an in-place activation hides
    the dependency graph from Torch-Pruning, which then silently prunes nothing."""

    def __init__(self, features: int, res_scale: float):
        super().__init__()
        self.conv1 = conv3x3(features, features)
        self.act = nn.ReLU()
        self.conv2 = conv3x3(features, features)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(self.act(self.conv1(x)))


class EDSR(nn.Module):
    """Head conv, ``blocks`` residual blocks, body conv with a global skip, tail conv.

    Predicts a correction added to its input, ``D(z) = z + net(z)``, as a denoiser prior.
    """

    def __init__(self, channels: int, features: int = 64, blocks: int = 13, res_scale: float = 1.0):
        super().__init__()
        self.head = conv3x3(channels, features)
        self.body = nn.Sequential(*[ResBlock(features, res_scale) for _ in range(blocks)])
        self.body_tail = conv3x3(features, features)
        self.tail = conv3x3(features, channels)
        # Zero tail: the prior starts as the identity, so an untrained network already
        # returns its physics-based starting point and training only adds to it.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z)
        h = h + self.body_tail(self.body(h))
        return z + self.tail(h)
