"""fastMRI-style U-Net prior (Ronneberger et al. 2015; Zbontar et al. 2018).

Conv blocks of two 3x3 convs, each followed by instance norm and leaky ReLU; average
pooling down, transposed convs up, skip concatenations, a final 1x1 conv. The input is
standardised per sample (as fastMRI's NormUnet) and the output is added to it, with the
final conv zero-initialised so the prior starts as the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm(nn.Module):
    """Instance norm without affine parameters or a channel count, so that pruning the
    channels around it leaves nothing stale (``nn.InstanceNorm2d`` keeps ``num_features``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, eps=1e-5)


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), InstanceNorm(), nn.LeakyReLU(0.2),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), InstanceNorm(), nn.LeakyReLU(0.2),
        )


class UpBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False), InstanceNorm(),
                         nn.LeakyReLU(0.2))


class UNet(nn.Module):
    """``features`` channels at full resolution, doubled at each of ``pools`` levels."""

    def __init__(self, channels: int, features: int = 18, pools: int = 4):
        super().__init__()
        self.pools = pools
        chans = [features * 2**i for i in range(pools + 1)]
        self.down = nn.ModuleList([ConvBlock(channels, chans[0])] +
                                  [ConvBlock(chans[i], chans[i + 1]) for i in range(pools - 1)])
        self.bottom = ConvBlock(chans[pools - 1], chans[pools]) if pools else nn.Identity()
        self.up = nn.ModuleList([UpBlock(chans[i + 1], chans[i]) for i in reversed(range(pools))])
        self.merge = nn.ModuleList([ConvBlock(2 * chans[i], chans[i]) for i in reversed(range(pools))])
        self.out = nn.Conv2d(chans[0], channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        flat = z.reshape(b, -1)
        mean = flat.mean(1).view(b, 1, 1, 1)
        std = flat.std(1).view(b, 1, 1, 1).clamp_min(1e-6)
        h, w = z.shape[-2:]
        m = 2**self.pools
        ph, pw = (-h) % m, (-w) % m  # pad to a multiple of 2^pools, crop afterwards
        x = F.pad((z - mean) / std, (0, pw, 0, ph), mode="reflect" if max(ph, pw) < min(h, w) else "replicate")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        x = self.bottom(x) if self.pools else self.down[0](x)
        for up, merge in zip(self.up, self.merge):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        x = self.out(x)[..., :h, :w]
        return z + x * std
