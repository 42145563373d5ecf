"""The label-free splitting losses under one fixed mask: weighted SSDU and Equivariant
Splitting (spade.losses), on problems small enough that their expectations are known."""

import math

import pytest
import torch

from spade.losses import (
    TransformedOperator,
    dihedral,
    equivariant_splitting_loss,
    split_terms,
    ssdu_loss,
    unbiased_split_weights,
    variable_density_split,
    weighted_ssdu_loss,
)
from spade.physics.mri import SingleCoilMRI, cartesian_mask


class FixedEstimate(torch.nn.Module):
    """A 'network' whose output does not depend on its input: the splitting losses'
    expectation over splits is then known in closed form."""

    def __init__(self, image):
        super().__init__()
        self.image = torch.nn.Parameter(image.clone())

    def forward(self, y, physics):
        return self.image


def _mri(size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    physics = SingleCoilMRI(cartesian_mask((size, size), 4, 0.08))
    x = torch.randn(1, 2, size, size, generator=gen)
    x_hat = x + 0.3 * torch.randn(1, 2, size, size, generator=gen)
    return physics, x, x_hat


def test_weighted_ssdu_estimates_the_loss_on_every_acquired_sample():
    # E_split[loss] = mean |A x_hat - y|^2 (the supervised loss in the measurement domain),
    # for an estimate that does not depend on the split: Monte Carlo over 4000 splits within 3%
    physics, x, x_hat = _mri()
    y = physics.forward(x)
    model = FixedEstimate(x_hat)
    target = float((physics.forward(x_hat) - y).pow(2).mean())
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        draws = [float(weighted_ssdu_loss(model, physics, y, gen)) for _ in range(4000)]
    assert sum(draws) / len(draws) == pytest.approx(target, rel=0.03)
    # plain SSDU scores the held-out edge only: its loss is no estimate of that (it differs by
    # far more than the Monte Carlo error)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        plain = [float(ssdu_loss(model, physics, y, gen)) for _ in range(200)]
    assert abs(sum(plain) / len(plain) - target) > 0.1 * target


def test_split_weights_make_every_acquired_sample_weigh_one_exactly():
    # the expectation is linear in the masks: replacing them by their probabilities gives it exactly
    physics, x, x_hat = _mri(seed=2)
    y = physics.forward(x)
    gen = torch.Generator().manual_seed(0)
    kept, held, q = variable_density_split(physics, 1, 0.4, 0.08, gen)
    acquired = physics.mask[None, None]
    assert torch.equal(kept + held, acquired)  # every acquired sample in exactly one set
    centre_q = q[..., 8 - 1: 8 + 1]
    assert torch.all(centre_q == 0)  # the calibration block is never held out
    w_kept, w_held = unbiased_split_weights(q)
    residual = physics.forward(x_hat) - y
    expected = split_terms(residual, acquired * (1 - q), acquired * q, w_kept, w_held)
    assert float(expected) == pytest.approx(float(residual.pow(2).mean()), rel=1e-6)


class Inpainting:
    """``A x = m * x`` on a 1 x n image (a tiny problem whose group averages are known)."""

    measurement_dims = 3

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        return self.mask * x

    def adjoint(self, y):
        return self.mask * y

    def init(self, y):
        return self.adjoint(y)


def test_equivariant_splitting_expectation_is_the_supervised_loss_up_to_a_constant():
    # Inpainting under one fixed mask m, data invariant to circular shifts T_g. The splitting
    # terms of the operator A T_g average, over splits (exactly, by linearity) and over the
    # whole group, to mean(m) ||x_hat - x||^2 / n: the supervised loss times a constant. Under
    # the mask alone (no group) they see the measured pixels only, which is not.
    n = 8
    mask = torch.tensor([1.0, 1, 0, 1, 0, 0, 1, 0]).reshape(1, 1, 1, n)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 1, 1, n, generator=gen)
    x_hat = x + torch.randn(1, 1, 1, n, generator=gen)
    physics = Inpainting(mask)
    q = mask * 0.4
    weights = unbiased_split_weights(q)
    terms = []
    for g in range(n):
        op = TransformedOperator(physics, lambda t, g=g: torch.roll(t, g, -1), lambda t, g=g: torch.roll(t, -g, -1))
        # the virtual operator A T_g (which the group's invariance of the data lets the loss
        # see) and its residual for the same error x_hat - x
        residual = op.forward(x_hat) - op.forward(x)
        terms.append(float(split_terms(residual, mask * (1 - q), mask * q, *weights)))
    supervised = float((x_hat - x).pow(2).mean())
    assert sum(terms) / n == pytest.approx(float(mask.mean()) * supervised, rel=1e-6)
    assert terms[0] != pytest.approx(float(mask.mean()) * supervised, rel=0.05)


def test_reynolds_average_over_the_dihedral_group_is_equivariant():
    # f_eq(y, A) = mean_g T_g f(y, A T_g) satisfies f_eq(y, A T_h) = T_h^-1 f_eq(y, A), for a
    # network that is not equivariant itself (an asymmetric convolution of the zero-filled image)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 2, 3, padding=1)

    def net(y, physics):
        return conv(physics.init(y))

    physics = SingleCoilMRI(cartesian_mask((8, 8), 4, 0.08))
    y = physics.forward(torch.randn(1, 2, 8, 8))

    def f_eq(op):
        out = 0
        for g in range(8):
            t, t_inv = dihedral(g)
            out = out + t(net(y, TransformedOperator(op, t, t_inv)))
        return out / 8

    with torch.no_grad():
        base = f_eq(physics)
        for h in range(8):
            t, t_inv = dihedral(h)
            assert torch.allclose(f_eq(TransformedOperator(physics, t, t_inv)), t_inv(base), atol=1e-5)
        t, t_inv = dihedral(1)
        assert not torch.allclose(net(y, TransformedOperator(physics, t, t_inv)), t_inv(net(y, physics)), atol=1e-3)


@pytest.mark.parametrize("group", ["dihedral", "rotations"])
def test_equivariant_splitting_trains_an_unrolled_network(group):
    # the loss runs through a physics-using network, is finite and gives every weight a gradient
    from spade.models import Unrolled, build_prior

    physics, x, _ = _mri(size=16)
    y = physics.forward(x)
    model = Unrolled(build_prior({"name": "dncnn", "features": 4, "layers": 2}, 2), steps=2, step_size=1.0)
    loss = equivariant_splitting_loss(model, physics, y, torch.Generator().manual_seed(0), group=group)
    loss.backward()
    assert math.isfinite(float(loss)) and float(loss) > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unknown_group_is_refused():
    physics, x, _ = _mri(size=16)
    model = FixedEstimate(x)
    with pytest.raises(ValueError, match="dihedral or rotations"):
        equivariant_splitting_loss(model, physics, physics.forward(x), torch.Generator(), group="shifts")
