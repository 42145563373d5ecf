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
    With ``scale_equivariant``, ``D(z) = z + s net(z / s)`` with ``s`` the root mean square of
    each sample: ``D(c z) = c D(z)`` for every ``c > 0``, so an image's intensity scale (how its
    volume was normalised, how bright its contrast is) is not something the prior must have
    seen in training; the unrolled and equilibrium networks around it, whose physics is
    linear, inherit the property. E2E-VarNet's U-Nets normalise their input the same way.
    """

    def __init__(self, channels: int, features: int = 64, blocks: int = 13, res_scale: float = 1.0,
                 scale_equivariant: bool = False):
        super().__init__()
        self.scale_equivariant = bool(scale_equivariant)
        self.head = conv3x3(channels, features)
        self.body = nn.Sequential(*[ResBlock(features, res_scale) for _ in range(blocks)])
        self.body_tail = conv3x3(features, features)
        self.tail = conv3x3(features, channels)
        # Zero tail: the prior starts as the identity, so an untrained network already
        # returns its physics-based starting point and training only adds to it.
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.scale_equivariant:
            # per-sample scale, floored so that an all-zero image stays finite
            scale = z.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-6)
            return z + scale * self._correction(z / scale)
        return z + self._correction(z)

    def _correction(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z)
        h = h + self.body_tail(self.body(h))
        return self.tail(h)
