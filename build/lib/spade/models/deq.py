"""Deep equilibrium (DEQ) network: the fixed point of a relaxed PnP proximal-gradient map.

``T(x) = alpha D(z) + (1 - alpha) z`` with ``z = x - gamma A^H(A x - y)``. The forward
pass solves ``x = T(x)`` with Anderson acceleration without gradients, then applies
``T`` once more with gradients: Jacobian-free backpropagation (Fung et al. 2022).

With ``track_jacobian`` on, each training forward also estimates ``||J_T(x*)||_F^2 / d``
at the fixed point (Hutchinson: ``||v^T J||^2`` for one Gaussian ``v``, Bai, Koltun and
Kolter 2021, "Stabilizing Equilibrium Models by Jacobian Regularization"), differentiable,
in ``jacobian_terms``: a loss that adds it keeps the map contractive, so that the fixed point
stays as quick to reach after pruning. It reads no ground truth.
"""

from __future__ import annotations

import torch
from torch import nn

from spade.models.anderson import anderson, inertial


class DEQ(nn.Module):
    """Anderson ``memory``, ``max_iter``, ``tol`` (relative residual) at test time;
    training may solve less exactly (``train_max_iter``, ``train_tol``), as is usual for
    DEQs, but evaluation and timing always use the test solver, for every variant alike."""

    def __init__(self, prior: nn.Module, step_size: float = 1.0, alpha: float = 0.2, memory: int = 5,
                 max_iter: int = 100, tol: float = 1e-4, train_max_iter: int | None = None,
                 train_tol: float | None = None):
        super().__init__()
        self.prior = prior
        self.step_size = nn.Parameter(torch.tensor(float(step_size)))
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))
        self.memory, self.max_iter, self.tol = int(memory), int(max_iter), float(tol)
        self.train_max_iter = int(train_max_iter or max_iter)
        self.train_tol = float(train_tol or tol)
        self.last_iterations: torch.Tensor | None = None  # per sample, of the latest solve
        # the test-time solver: Anderson, or inertial iteration with this momentum (set on a
        # built network to compare ways of buying speed; training always solves with Anderson)
        self.solver, self.momentum = "anderson", 0.5
        # Jacobian estimates of the training forwards since the caller last cleared them
        self.track_jacobian = False
        self.jacobian_terms: list[torch.Tensor] = []

    def priors(self) -> list[nn.Module]:
        return [self.prior]

    def step(self, x: torch.Tensor, y: torch.Tensor, physics) -> torch.Tensor:
        z = x - self.step_size * physics.adjoint(physics.forward(x) - y)
        return self.alpha * self.prior(z) + (1 - self.alpha) * z

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        x0 = physics.init(y)
        max_iter, tol = (self.train_max_iter, self.train_tol) if self.training else (self.max_iter, self.tol)
        with torch.no_grad():
            if self.solver == "inertial" and not self.training:
                x, iters, _ = inertial(lambda x: self.step(x, y, physics), x0, max_iter, tol, self.momentum)
            elif self.solver in ("anderson", "inertial"):
                x, iters, _ = anderson(lambda x: self.step(x, y, physics), x0, self.memory, max_iter, tol)
            else:
                raise ValueError(f"unknown DEQ solver {self.solver!r}; expected anderson or inertial")
        self.last_iterations = iters.cpu()
        if torch.is_grad_enabled():
            if self.track_jacobian and self.training:
                fixed = x.detach().requires_grad_()
                x = self.step(fixed, y, physics)  # one differentiable application: JFB
                self.jacobian_terms.append(jacobian_estimate(x, fixed))
            else:
                x = self.step(x.detach(), y, physics)  # one differentiable application: JFB
        return x


def jacobian_estimate(fx: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Hutchinson's estimate of ``||d fx / d x||_F^2`` divided by the dimension of one
    sample, averaged over the batch: ``||v^T J||^2 / d`` for one ``v ~ N(0, I)`` per sample
    (unbiased), kept differentiable (``create_graph``) so a loss can penalise it."""
    v = torch.randn_like(fx)
    (vjp,) = torch.autograd.grad(fx, x, v, create_graph=True)
    return vjp.pow(2).sum() / vjp.numel()
