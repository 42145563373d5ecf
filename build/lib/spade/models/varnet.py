"""E2E-VarNet-style unrolling (Sriram et al. 2020): untied cascades, each a soft
data-consistency step with a learnt weight plus a U-Net refinement.

``x_{t+1} = D_t(x_t) - eta_t A^H(A x_t - y)``: refinement and data consistency act on the
same iterate, as in E2E-VarNet; the cascades' priors are pruned each on its own. For
multi-coil MRI a sensitivity network (never pruned) estimates the coil maps from the
fully sampled centre of k-space, and the physics uses those estimated maps.
"""

from __future__ import annotations

import torch
from torch import nn

from spade.models.unet import UNet
from spade.physics.mri import ifft2c


def centre_block(mask: torch.Tensor) -> tuple[int, int]:
    """``[start, stop)`` of the contiguous run of sampled columns around the centre,
    common to every sample of a batch (per-file masks may differ outside the centre)."""
    cols = (mask.reshape(-1, mask.shape[-1]) > 0).all(dim=0)
    c = cols.shape[0] // 2
    if not bool(cols[c]):
        raise ValueError("the sampling mask does not acquire the k-space centre column")
    lo, hi = c, c + 1
    while lo > 0 and bool(cols[lo - 1]):
        lo -= 1
    while hi < cols.shape[0] and bool(cols[hi]):
        hi += 1
    return lo, hi


class SensitivityNet(nn.Module):
    """Coil maps from the autocalibration (ACS) block: low-resolution coil images refined
    by a U-Net applied coil by coil, then normalised to ``sum_c |S_c|^2 = 1``."""

    def __init__(self, features: int = 8, pools: int = 2):
        super().__init__()
        self.unet = UNet(2, features, pools)

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lo, hi = centre_block(mask)
        acs = torch.zeros_like(y)
        acs[..., lo:hi] = y[..., lo:hi]
        images = ifft2c(acs)  # [B, C, 2, H, W]
        b, c = images.shape[:2]
        maps = self.unet(images.reshape(b * c, *images.shape[2:])).reshape(images.shape)
        rss = maps.pow(2).sum(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-8)
        return maps / rss


class VarNet(nn.Module):
    def __init__(self, cascades: list[nn.Module], dc_weight: float = 1.0, sens_net: nn.Module | None = None):
        super().__init__()
        self.cascades = nn.ModuleList(cascades)
        self.dc_weights = nn.Parameter(torch.full((len(cascades),), float(dc_weight)))
        self.sens_net = sens_net

    def priors(self) -> list[nn.Module]:
        """Every cascade's U-Net; the sensitivity network is never pruned."""
        return list(self.cascades)

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        if self.sens_net is not None:
            physics = physics.with_maps(self.sens_net(y, physics.mask))
        x = physics.init(y)
        for prior, eta in zip(self.cascades, self.dc_weights):
            x = prior(x) - eta * physics.adjoint(physics.forward(x) - y)
        return x

