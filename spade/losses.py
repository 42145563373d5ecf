"""The fine-tuning strategies' losses.

Every loss takes the network and the measurements; only :func:`supervised_loss` takes
a ground-truth image. The label-free losses (:func:`school_loss`, :func:`hybrid_loss`,
:func:`ssdu_loss`, :func:`ei_loss`) have no parameter through which ground truth could reach them,
nor have the label-free validation scores (:func:`heldout_kspace_score`, :func:`cross_scale_score`).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss, "smoothl1": F.smooth_l1_loss}


def pixel_loss(name: str):
    try:
        return PIXEL_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(PIXEL_LOSSES)}") from None


def supervised_loss(model, physics, y, x, loss: str = "l1") -> torch.Tensor:
    """``l(f(y), x)`` against the ground-truth image."""
    return pixel_loss(loss)(model(y, physics), x)


def school_loss(model, teacher, physics, y, loss: str = "l1") -> torch.Tensor:
    """``l(f(y), f_teacher(y))``: the frozen unpruned network's output is the target."""
    with torch.no_grad():
        target = teacher(y, physics)
    return pixel_loss(loss)(model(y, physics), target)


def distill_loss(model, teacher, physics, y, x, weight: float = 1.0, loss: str = "l1",
                 teacher_output: torch.Tensor | None = None) -> torch.Tensor:
    """``l(f(y), x) + weight * l(f(y), f_teacher(y))``: the supervised loss plus the frozen
    unpruned network's output as a second target (``teacher_output`` when precomputed)."""
    if teacher_output is None:
        with torch.no_grad():
            teacher_output = teacher(y, physics)
    out = model(y, physics)
    return pixel_loss(loss)(out, x) + weight * pixel_loss(loss)(out, teacher_output)


def hybrid_loss(model, teacher, physics, y, mc_weight: float = 1.0, loss: str = "l1",
                teacher_output: torch.Tensor | None = None) -> torch.Tensor:
    """School plus measurement consistency (the official SPADE code's hybrid):
    ``l(f(y), f_teacher(y)) + mc_weight * ||A f(y) - y||^2``. The teacher fills what the
    measurements cannot see (the null space of ``A``); consistency pulls the student toward
    the measurements where the teacher is wrong. ``teacher_output`` when precomputed."""
    if teacher_output is None:
        with torch.no_grad():
            teacher_output = teacher(y, physics)
    out = model(y, physics)
    return pixel_loss(loss)(out, teacher_output) + mc_weight * F.mse_loss(physics.forward(out), y)


def _normalised_l1_l2(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    # SSDU's loss: relative l2 plus relative l1, per sample, so that every image counts equally.
    dims = tuple(range(1, ref.dim()))
    diff = pred - ref
    l2 = diff.pow(2).sum(dims).sqrt() / ref.pow(2).sum(dims).sqrt().clamp_min(1e-12)
    l1 = diff.abs().sum(dims) / ref.abs().sum(dims).clamp_min(1e-12)
    return (l2 + l1).mean()


def ssdu_loss(model, physics, y, generator: torch.Generator, loss_fraction: float = 0.4,
              center_fraction: float = 0.08) -> torch.Tensor:
    """SSDU (Yaman et al. 2020): reconstruct from the samples ``theta`` and score the
    result on the disjoint held-out samples ``lam`` of the same acquisition."""
    theta, lam = physics.ssdu_split(y.shape[0], loss_fraction, center_fraction, generator)
    theta, lam = theta.to(y.device), lam.to(y.device)
    x_hat = model(theta * y, physics.restrict(theta))
    return _normalised_l1_l2(physics.restrict(lam).forward(x_hat), lam * y)


def rotate_image(x: torch.Tensor, angle: float) -> torch.Tensor:
    """``x`` rotated by ``angle`` radians about its centre (bilinear, zero outside): the
    continuous rotation group, under which a k-space mask of parallel lines is not
    invariant, unlike under 90-degree turns of a square image."""
    c, s = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_transform(x: torch.Tensor, generator: torch.Generator, rotate: bool, angles: str = "right") -> torch.Tensor:
    """A random circular shift, plus, when ``rotate``, a random multiple of 90 degrees
    (``angles="right"``) or a random angle in [0, 360) (``angles="any"``)."""
    h, w = x.shape[-2:]
    dh = int(torch.randint(0, h, (1,), generator=generator))
    dw = int(torch.randint(0, w, (1,), generator=generator))
    x = torch.roll(x, shifts=(dh, dw), dims=(-2, -1))
    if rotate and angles == "any":
        x = rotate_image(x, 2 * math.pi * float(torch.rand((), generator=generator)))
    elif rotate and h != w:
        # a 90-degree rotation of a non-square image changes its shape: shifts only
        warnings.warn(f"EI: images are {h} x {w}, not square, so the 90-degree rotations are skipped "
                      "(shifts only); set finetune.ei.rotate: false to silence this", RuntimeWarning, stacklevel=2)
    elif rotate:
        x = torch.rot90(x, int(torch.randint(0, 4, (1,), generator=generator)), dims=(-2, -1))
    return x


def ei_loss(model, physics, y, generator: torch.Generator, weight: float = 1.0,
            rotate: bool = True, angles: str = "right", mc_weight: float = 1.0,
            operators: str = "one") -> torch.Tensor:
    """Measurement consistency plus equivariant imaging (Chen et al. 2021):
    ``mc_weight * ||A f(y) - y||^2 + weight * ||f(A T f(y)) - T f(y)||^2`` for a random
    shift or rotation ``T`` (see :func:`random_transform`). Consistency alone is
    degenerate for SR (anything in the null space of ``A`` goes unpunished); equivariance
    to ``T`` fills that null space.

    ``operators="multi"`` adds multi-operator imaging (Tachella et al. 2022), the term the
    field finds best beside EI for a fixed MRI mask: ``weight * ||f(A_g f(y), A_g) - f(y)||^2``
    with ``A_g`` the operator of another mask of the same family
    (:meth:`spade.physics.mri.SingleCoilMRI.shifted_sampling`)."""
    x1 = model(y, physics)
    consistency = F.mse_loss(physics.forward(x1), y)
    x2 = random_transform(x1, generator, rotate, angles)
    x3 = model(physics.forward(x2), physics)
    loss = mc_weight * consistency + weight * F.mse_loss(x3, x2)
    if operators == "multi":
        if not hasattr(physics, "shifted_sampling"):
            raise ValueError(f"multi-operator EI needs a family of operators; {type(physics).__name__} has none "
                             "(MRI only: masks of the same family)")
        other = physics.shifted_sampling(generator)
        loss = loss + weight * F.mse_loss(model(other.forward(x1), other), x1)
    elif operators != "one":
        raise ValueError(f"unknown EI operators {operators!r}; expected one or multi")
    return loss


def heldout_kspace_score(model, physics, y, generator: torch.Generator, loss_fraction: float = 0.4,
                         center_fraction: float = 0.08) -> torch.Tensor:
    """A label-free validation score any MRI reconstruction network can be ranked by:
    reconstruct from part of the acquired samples and predict the held-out rest (the SSDU
    split, a fixed ``generator`` for the same draw for every network); no ground truth."""
    with torch.no_grad():
        return ssdu_loss(model, physics, y, generator, loss_fraction, center_fraction)


def cross_scale_score(model, physics, y) -> torch.Tensor:
    """A label-free validation score for super-resolution (the zero-shot SR idea, Shocher et
    al. 2018): the low-resolution measurement ``y`` is itself the high-resolution image one
    scale down, so ``y`` is reconstructed from ``A y`` and compared with it,
    ``||f(A y) - y||^2``. Natural images are self-similar across scales; no ground truth,
    and no loss of the study trains on this pair (EI and MC see ``y`` only as the input)."""
    if not hasattr(physics, "scale"):
        raise ValueError(f"cross_scale: {type(physics).__name__} is not a down-sampling operator (SR only)")
    with torch.no_grad():
        return F.mse_loss(model(physics.forward(y), physics), y)
