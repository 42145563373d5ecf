"""Deep unfolding (DU): ``K`` unrolled proximal-gradient steps with a weight-tied prior."""

from __future__ import annotations

import torch
from torch import nn


class Unrolled(nn.Module):
    """``x_{k+1} = D(x_k - gamma_k A^H(A x_k - y))`` from ``x_0 = physics.init(y)``.

    One prior ``D`` is shared by all steps; the step sizes ``gamma_k`` are learnt.
    """

    def __init__(self, prior: nn.Module, steps: int, step_size: float = 1.0):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.prior = prior
        self.step_sizes = nn.Parameter(torch.full((steps,), float(step_size)))

    def priors(self) -> list[nn.Module]:
        """The CNNs that pruning may touch."""
        return [self.prior]

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        x = physics.init(y)
        for gamma in self.step_sizes:
            x = self.prior(x - gamma * physics.adjoint(physics.forward(x) - y))
        return x
