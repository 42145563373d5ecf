"""Compressed-sensing (CS) baselines for MRI, run through sigpy's MRI apps.

CS reconstructs each image from its undersampled k-space ``y = M F S x`` as the minimiser of
``1/2 ||M F S x - y||_2^2 + lambda R(x)``, with no training:

* ``tv``: total variation, ``R(x) = ||G x||_1`` with ``G`` sigpy's circular finite
  differences along each image axis (:class:`sigpy.mri.app.TotalVariationRecon`, solved
  with sigpy's primal-dual hybrid gradient). sigpy soft-thresholds every complex
  difference on its own, so this is the *anisotropic* TV ``sum_i |D_i x|`` (complex modulus
  per axis), not the isotropic ``sqrt(|D_1 x|^2 + |D_2 x|^2)``.
* ``isotv``: isotropic total variation, ``R(x) = sum_p sqrt(|D_1 x|_p^2 + |D_2 x|_p^2)``: the
  same differences, data term and primal-dual solver (:class:`sigpy.app.LinearLeastSquares`),
  with the gradient's two components thresholded together (:class:`IsotropicL1Reg`), so
  that edges at every angle cost the same.
* ``wavelet``: L1 on the Daubechies-4 wavelet coefficients, ``R(x) = ||W x||_1``
  (:class:`sigpy.mri.app.L1WaveletRecon`, solved with FISTA, sigpy's accelerated
  proximal gradient).

The regularisation weight ``lambda`` is chosen on the validation split
(:func:`choose_lambda`); the iteration count is fixed by the config, so that every CS row
of a table costs the same per image. Reconstruction runs on the CPU (numpy) one sample at
a time; results come back on the device of ``y``.
"""

from __future__ import annotations

import math

import numpy as np
import sigpy as sp
import torch
from sigpy.mri.app import L1WaveletRecon, TotalVariationRecon

from spade.physics.mri import MultiCoilMRI, SingleCoilMRI
from spade.study.variants import cs_arch

METHODS = ("tv", "isotv", "wavelet")
# methods solved by sigpy's primal-dual hybrid gradient, whose dual step ``sigma`` applies
PRIMAL_DUAL = ("tv", "isotv")
# the row names under which the CS baselines appear next to the networks
ARCH = {m: cs_arch(m) for m in METHODS}


def _gradient_norm(v, keepdims: bool = False):
    """Per-pixel Euclidean norm of the gradient components (the first axis of ``v``)."""
    return np.sqrt(np.sum(np.abs(v) ** 2, axis=0, keepdims=keepdims))


class IsotropicL1Reg(sp.prox.Prox):
    """Proximal operator of ``lamda * sum_p ||v[:, p]||_2`` for ``v`` of shape ``[D, ...]``
    (``D`` gradient components): group soft-thresholding over the first axis,
    ``v * max(1 - alpha lamda / ||v||, 0)``."""

    def __init__(self, shape, lamda: float):
        self.lamda = float(lamda)
        super().__init__(shape)

    def _prox(self, alpha, input):
        norm = _gradient_norm(input, keepdims=True)
        shrink = np.maximum(1 - alpha * self.lamda / np.maximum(norm, 1e-30), 0)
        return (input * shrink).astype(input.dtype, copy=False)


class IsotropicTotalVariationRecon(sp.app.LinearLeastSquares):
    """:class:`sigpy.mri.app.TotalVariationRecon` with the isotropic TV norm: the same
    ``A = sqrt(W) F S``, the same differences ``G`` and the same solver."""

    def __init__(self, y, mps, lamda, weights=None, show_pbar=False, **kwargs):
        weights = np.asarray(weights) if weights is not None else None
        A = sp.mri.linop.Sense(mps, weights=weights)
        y = y * weights**0.5 if weights is not None else y
        G = sp.linop.FiniteDifference(A.ishape)
        proxg = IsotropicL1Reg(G.oshape, lamda)

        def g(v):
            return float(lamda * np.sum(_gradient_norm(v)))

        super().__init__(A, y, proxg=proxg, g=g, G=G, show_pbar=show_pbar, **kwargs)


_APPS = {"tv": TotalVariationRecon, "isotv": IsotropicTotalVariationRecon, "wavelet": L1WaveletRecon}

# sigpy estimates its step sizes by power iteration from a random start drawn from numpy's
# *global* generator; a fixed seed (the caller's state restored afterwards) makes a
# reconstruction a pure function of its inputs, batch or no batch.
_POWER_ITERATION_SEED = 0


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown CS method {method!r}; expected one of {METHODS}")


def _sample_mask(physics: SingleCoilMRI, b: int, shape: tuple[int, int]) -> np.ndarray:
    """Sample ``b``'s binary mask ``[H, W]`` (the mask is ``[H, W]`` or per sample
    ``[B, 1, H, W]`` / ``[B, 1, 1, H, W]``)."""
    mask = physics.mask.detach().cpu().to(torch.float64)
    if mask.dim() > 2:
        mask = mask.reshape(mask.shape[0], *mask.shape[-2:])
        mask = mask[b if mask.shape[0] > 1 else 0]
    mask = np.broadcast_to(mask.numpy(), shape).copy()
    # sigpy weights the data term by sqrt(weights) and scales y by it too: that is spade's
    # M F S only when M is 0/1, so a soft mask would silently change the model
    if not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError("CS baselines need a binary sampling mask (sigpy applies sqrt(weights))")
    return mask


def _is_multicoil(physics) -> bool:
    """Coil maps present: a multi-coil operator, or a wrapper of one (a timing wrapper
    forwards its attributes, so ``isinstance`` would not see through it)."""
    return isinstance(physics, MultiCoilMRI) or isinstance(getattr(physics, "sens", None), torch.Tensor)


def _sample_maps(physics: SingleCoilMRI, b: int, shape: tuple[int, int], dtype) -> np.ndarray:
    """Sample ``b``'s coil maps as complex ``[C, H, W]``; ones ``[1, H, W]`` for one coil."""
    if not _is_multicoil(physics):
        return np.ones((1, *shape), dtype=dtype)
    sens = physics.sens.detach().cpu().to(torch.float64)
    if sens.dim() == 5:  # [B, C, 2, H, W]
        sens = sens[b if sens.shape[0] > 1 else 0]
    sens = sens.numpy()
    return (sens[:, 0] + 1j * sens[:, 1]).astype(dtype)


def cs_recon(y: torch.Tensor, physics, method: str, lamda: float, iterations: int,
             sigma: float | None = None) -> torch.Tensor:
    """CS reconstruction of every sample of ``y`` (single-coil ``[B, 2, H, W]`` or
    multi-coil ``[B, C, 2, H, W]``) under ``physics``; returns the real-pair image
    ``[B, 2, H, W]``, float32, on ``y``'s device. ``sigma``: TV's primal-dual dual step
    (sigpy's default 1 when None; the primal step follows from it). It changes how fast the
    solver converges, not what it converges to: with sigpy's default, TV at 100 iterations
    is far from its minimiser (on validation 24.1 dB against 27.2 dB once converged).

    The forward model matches spade's exactly: sigpy's Sense operator is
    ``sqrt(weights) * fft(mps * x, center=True, norm='ortho')`` over the last two axes, and
    sigpy's centred FFT is ``fftshift(fftn(ifftshift(x), norm='ortho'))``: the same shifts,
    in the same order, and the same orthonormal scaling as :func:`spade.physics.mri.fft2c`,
    so the two agree for even and odd sizes alike. With a binary mask ``sqrt(M) = M``, so
    sigpy's ``A`` is spade's ``M F S`` (checked to 1e-5 in tests/test_classical.py).
    """
    _check_method(method)
    if not isinstance(getattr(physics, "mask", None), torch.Tensor):
        raise ValueError(f"CS baselines are defined for MRI only, not {type(physics).__name__}")
    if not lamda >= 0:
        raise ValueError(f"lambda must be non-negative, got {lamda}")
    if int(iterations) < 1:
        raise ValueError(f"iterations must be positive, got {iterations}")
    multicoil = _is_multicoil(physics)
    expected = 5 if multicoil else 4
    if y.dim() != expected or y.shape[-3] != 2:
        raise ValueError(f"expected k-space [B, {'C, ' if multicoil else ''}2, H, W], got {tuple(y.shape)}")

    dtype = np.complex64
    shape = tuple(y.shape[-2:])
    k = y.detach().cpu().to(torch.float64).numpy()
    out = []
    state = np.random.get_state()
    try:
        for b in range(y.shape[0]):
            y_c = k[b, 0] + 1j * k[b, 1] if not multicoil else k[b, :, 0] + 1j * k[b, :, 1]
            y_c = np.ascontiguousarray(y_c.reshape(-1, *shape), dtype=dtype)  # [C, H, W]
            mps = _sample_maps(physics, b, shape, dtype)
            # float32 weights keep sigpy's arrays complex64 (float64 would promote them)
            mask = _sample_mask(physics, b, shape).astype(np.float32)
            np.random.seed(_POWER_ITERATION_SEED)
            steps = {"sigma": float(sigma)} if method in PRIMAL_DUAL and sigma is not None else {}
            app = _APPS[method](y_c, mps, float(lamda), weights=mask, max_iter=int(iterations), show_pbar=False,
                                **steps)
            x = np.asarray(sp.to_device(app.run(), sp.cpu_device))  # [H, W] complex
            out.append(np.stack([x.real, x.imag]))
    finally:
        np.random.set_state(state)
    return torch.from_numpy(np.stack(out).astype(np.float32)).to(y.device)


class CSReconstructor(torch.nn.Module):
    """A CS baseline with the networks' interface, ``model(y, physics)``, for timing loops
    and evaluation. It has no parameters: ``method``, ``lamda`` and ``iterations`` fix it."""

    def __init__(self, method: str, lamda: float, iterations: int, sigma: float | None = None):
        super().__init__()
        _check_method(method)
        self.method = method
        self.lamda = float(lamda)
        self.iterations = int(iterations)
        self.sigma = None if sigma is None else float(sigma)

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        with torch.no_grad():
            return cs_recon(y, physics, self.method, self.lamda, self.iterations, self.sigma)

    def priors(self) -> list[torch.nn.Module]:
        """No learnt prior (the networks' interface: costs and time breakdowns read it)."""
        return []

    def extra_repr(self) -> str:
        return f"method={self.method!r}, lambda={self.lamda:g}, iterations={self.iterations}, sigma={self.sigma}"


def choose_lambda(ys, xs, operators, method: str, grid, iterations: int, score_fn,
                  sigma: float | None = None, units=None) -> dict:
    """The ``lambda`` of ``grid`` with the highest mean ``score_fn(pred, x, op)`` over the
    validation samples (``ys[i]`` ``[1, ...]`` k-space, ``xs[i]`` its target, ``operators[i]``
    its physics; ``pred`` is ``[1, 2, H, W]``), each of ``units`` (a subject per sample;
    None: every sample its own) weighing the same, as the networks' settings are chosen.
    Ties go to the larger lambda (the smoother, more conservative reconstruction); a NaN
    mean never wins.

    Returns ``{"method", "iterations", "grid", "scores", "lamda", "best_score"}``.
    """
    from spade.study.stats import unit_means

    _check_method(method)
    grid = [float(g) for g in grid]
    if not grid:
        raise ValueError("choose_lambda needs a non-empty lambda grid")
    bad = [g for g in grid if not g > 0]
    if bad:
        raise ValueError(f"lambda grid values must be positive, got {bad}")
    if not (len(ys) == len(xs) == len(operators)) or not ys:
        raise ValueError("need as many (>0) measurements, targets and operators, "
                         f"got {len(ys)}, {len(xs)}, {len(operators)}")
    scores = []
    for lamda in grid:
        vals = [float(score_fn(cs_recon(y, op, method, lamda, iterations, sigma), x, op))
                for y, x, op in zip(ys, xs, operators)]
        scores.append(float(unit_means(vals, units if units is not None else range(len(vals))).mean()))
    best = None
    for i, (lamda, s) in enumerate(zip(grid, scores)):
        if math.isnan(s):
            continue
        if best is None or s > scores[best] or (s == scores[best] and lamda > grid[best]):
            best = i
    if best is None:
        raise ValueError(f"every lambda of {grid} scored NaN")
    return {"method": method, "iterations": int(iterations), "sigma": sigma, "grid": grid, "scores": scores,
            "lamda": grid[best], "best_score": scores[best]}
