"""DnCNN-style plain CNN prior (Zhang et al. 2017) without BatchNorm."""

from __future__ import annotations

import torch
from torch import nn


class DnCNN(nn.Module):
    """``layers`` 3x3 convs with ReLUs that predict the residual: ``D(z) = z - net(z)``."""

    def __init__(self, channels: int, features: int = 64, layers: int = 17):
        super().__init__()
        if layers < 2:
            raise ValueError(f"DnCNN needs at least 2 layers, got {layers}")
        mods: list[nn.Module] = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU()]
        for _ in range(layers - 2):
            mods += [nn.Conv2d(features, features, 3, padding=1), nn.ReLU()]
        mods.append(nn.Conv2d(features, channels, 3, padding=1))
        self.net = nn.Sequential(*mods)
        # Zero last layer: the prior starts as the identity (see EDSR).
        nn.init.zeros_(mods[-1].weight)
        nn.init.zeros_(mods[-1].bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z - self.net(z)
