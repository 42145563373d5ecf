"""Single-coil Cartesian compressed-sensing MRI: ``A = M F``.

Complex images and k-space are real tensors with a trailing pair of channels
``[B, 2, H, W]`` (real, imaginary), so that every CNN sees real inputs. The FFT is
orthonormal and centred, hence ``F^H = F^{-1}`` and ``A^H = F^H M``.
"""

from __future__ import annotations

import numpy as np
import torch

from spade.physics.masks import make_mask


def to_complex(x: torch.Tensor) -> torch.Tensor:
    """``[B, 2, H, W]`` real pair to ``[B, H, W]`` complex."""
    if x.shape[-3] != 2:
        raise ValueError(f"expected 2 channels (real, imaginary), got shape {tuple(x.shape)}")
    return torch.complex(x[..., 0, :, :], x[..., 1, :, :])


def to_real(z: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]`` complex to ``[B, 2, H, W]`` real pair."""
    return torch.stack([z.real, z.imag], dim=-3)


def centred_fft2(z: torch.Tensor) -> torch.Tensor:
    """Orthonormal centred 2-D FFT over the last two axes: the centre of the image (index
    ``n // 2``) maps to the centre of k-space. The one home of the convention (the fastMRI
    preparation calls it on its arrays)."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(z, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def centred_ifft2(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`centred_fft2`."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal centred 2-D FFT of a ``[..., 2, H, W]`` real-pair image."""
    return to_real(centred_fft2(to_complex(x)))


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c`."""
    return to_real(centred_ifft2(to_complex(k)))


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """Magnitude ``[B, 1, H, W]`` of a real-pair image."""
    return torch.sqrt(x[..., 0:1, :, :] ** 2 + x[..., 1:2, :, :] ** 2)


def cartesian_mask(shape: tuple[int, int], acceleration: int, center_fraction: float) -> np.ndarray:
    """The paper's fixed mask: every ``acceleration``-th phase-encode column plus a
    fully sampled centre block of ``round(center_fraction * W)`` columns
    (:func:`spade.physics.masks.fixed_columns`).

    Phase encoding runs along the last axis (fastMRI's convention). Returns a float32
    ``[H, W]`` array of zeros and ones.
    """
    return make_mask("fixed", shape, acceleration, center_fraction)


def centre_columns(width: int, center_fraction: float) -> torch.Tensor:
    """The phase-encode columns of the central calibration block that a k-space split never
    holds out (``center_fraction`` of ``width``, at least one)."""
    n_centre = max(1, int(round(center_fraction * width)))
    centre = torch.zeros(width, dtype=torch.bool)
    centre[width // 2 - n_centre // 2: width // 2 - n_centre // 2 + n_centre] = True
    return centre


class SingleCoilMRI:
    """``A x = M F x`` with a binary sampling mask ``M`` (``[H, W]`` or ``[B, 1, H, W]``)."""

    image_channels = 2
    measurement_dims = 3  # [2, H, W] per sample

    def __init__(self, mask):
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.dim() > 2:
            # one mask per sample ([B, H, W], [B, 1, H, W] ...): shaped to broadcast over
            # the measurements of that sample ([B, 1, H, W]; multi-coil [B, 1, 1, H, W])
            mask = mask.reshape(mask.shape[0], *([1] * (self.measurement_dims - 2)), *mask.shape[-2:])
        self.mask = mask

    def to(self, device) -> "SingleCoilMRI":
        return SingleCoilMRI(self.mask.to(device))

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        return self.mask.to(like.device, like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mask(x) * fft2c(x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return ifft2c(self._mask(y) * y)

    def init(self, y: torch.Tensor) -> torch.Tensor:
        """Zero-filled reconstruction, the classical baseline and the networks' start."""
        return self.adjoint(y)

    def display(self, x: torch.Tensor) -> torch.Tensor:
        """What metrics and figures look at: the magnitude image."""
        return magnitude(x)

    def restrict(self, submask: torch.Tensor) -> "SingleCoilMRI":
        """The operator that acquires only ``submask`` (a subset of this mask)."""
        return SingleCoilMRI(submask)

    def shifted_sampling(self, generator: torch.Generator) -> "SingleCoilMRI":
        """The operator of another mask of the same family: this mask's outer columns rolled by a
        random offset along the phase-encode axis (the fully sampled centre kept), so that
        together such masks reach every column a single fixed mask never acquires (the
        operators of multi-operator imaging, Tachella et al. 2022)."""
        mask = (self.mask if self.mask.dim() == 2 else self.mask.reshape(-1, *self.mask.shape[-2:])).bool()
        width = mask.shape[-1]
        offset = int(torch.randint(1, width, (1,), generator=generator))
        # the centre block: the run of acquired columns around the centre, in every row
        acquired = mask.all(dim=-2).reshape(-1, width).all(dim=0)
        centre = torch.zeros(width, dtype=torch.bool, device=mask.device)
        lo = hi = width // 2
        while lo > 0 and acquired[lo - 1] and acquired[lo]:
            lo -= 1
        while hi + 1 < width and acquired[hi + 1] and acquired[hi]:
            hi += 1
        if acquired[width // 2]:
            centre[lo : hi + 1] = True
        rolled = torch.roll(mask & ~centre, offset, dims=-1) | centre
        return self.restrict(rolled.float().reshape(self.mask.shape))

    def batch_mask(self, batch: int) -> torch.Tensor:
        """The mask of each of ``batch`` samples, shaped to broadcast over their measurements."""
        mask = self.mask
        if mask.dim() == 2:
            mask = mask[None, None].expand(batch, 1, *mask.shape)
        return mask.reshape(batch, *([1] * (self.measurement_dims - 2)), *mask.shape[-2:])

    def ssdu_split(self, batch: int, loss_fraction: float, center_fraction: float,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """SSDU split (Yaman et al. 2020) of the acquired samples into two disjoint sets.

        Returns ``(theta, lam)`` masks shaped to broadcast over the measurements: ``theta`` feeds data consistency,
        ``lam`` (about ``loss_fraction`` of the acquired samples, never the central
        calibration block) is held out for the loss. A fresh split is drawn per call.
        """
        mask = self.batch_mask(batch)
        keep = centre_columns(mask.shape[-1], center_fraction).to(mask.device)
        # drawn on the CPU generator (the same split on every device), then moved to the mask's
        draw = (torch.rand(mask.shape, generator=generator) < loss_fraction).to(mask.device)
        lam = mask.bool() & draw & ~keep

        theta = mask.bool() & ~lam
        return theta.float(), lam.float()


def complex_mul(a: torch.Tensor, b: torch.Tensor, conj_a: bool = False) -> torch.Tensor:
    """Product of real-pair tensors ``[..., 2, H, W]`` (``conj(a) b`` when ``conj_a``)."""
    ar, ai = a[..., 0, :, :], a[..., 1, :, :]
    if conj_a:
        ai = -ai
    br, bi = b[..., 0, :, :], b[..., 1, :, :]
    return torch.stack([ar * br - ai * bi, ar * bi + ai * br], dim=-3)


class MultiCoilMRI(SingleCoilMRI):
    """``A x = M F S x`` with coil sensitivities ``S`` (``[C, 2, H, W]`` or ``[B, C, 2, H, W]``).

    Measurements are ``[B, C, 2, H, W]``; images stay ``[B, 2, H, W]``. With maps
    normalised to ``sum_c |S_c|^2 = 1`` the zero-filled ``A^H y`` is the coil combination.
    """

    measurement_dims = 4

    def __init__(self, mask, sens):
        super().__init__(mask)
        self.sens = torch.as_tensor(sens, dtype=torch.float32)
        if self.sens.dim() not in (4, 5) or self.sens.shape[-3] != 2:
            raise ValueError(f"coil maps must be [C, 2, H, W] or [B, C, 2, H, W], got {tuple(self.sens.shape)}")

    def to(self, device) -> "MultiCoilMRI":
        return MultiCoilMRI(self.mask.to(device), self.sens.to(device))

    def _sens(self, like: torch.Tensor) -> torch.Tensor:
        return self.sens.to(like.device, like.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._mask(x) * fft2c(complex_mul(self._sens(x), x.unsqueeze(-4)))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return complex_mul(self._sens(y), ifft2c(self._mask(y) * y), conj_a=True).sum(dim=-4)

    def restrict(self, submask: torch.Tensor) -> "MultiCoilMRI":
        return MultiCoilMRI(submask, self.sens)

    def with_maps(self, sens: torch.Tensor) -> "MultiCoilMRI":
        """The same sampling with other (e.g. estimated) coil maps."""
        return MultiCoilMRI(self.mask, sens)


def simulate_coil_maps(coils: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Smooth, realistic-looking coil sensitivities ``[C, 2, H, W]``, normalised so that
    ``sum_c |S_c|^2 = 1`` at every pixel.

    Coils sit evenly on a ring around the field of view; each map falls off with the
    distance to its coil (Biot-Savart-like ``1 / (1 + (d / r)^2)``) and carries a smooth
    phase that turns with the coil's angle plus a small random linear ramp.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = []
    for c in range(coils):
        angle = 2 * np.pi * c / coils + rng.uniform(-0.1, 0.1)
        cy, cx = 1.5 * np.sin(angle), 1.5 * np.cos(angle)
        dist2 = (yy - cy) ** 2 + (xx - cx) ** 2
        mag = 1.0 / (1.0 + dist2 / 1.2)
        ramp = rng.uniform(-0.5, 0.5, size=2)
        phase = angle + ramp[0] * yy + ramp[1] * xx
        maps.append(mag * np.exp(1j * phase))
    maps = np.stack(maps)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(0, keepdims=True))
    return np.stack([maps.real, maps.imag], axis=1).astype(np.float32)


def smooth_phase(shape: tuple[int, int], seed: int, strength: float = 1.0) -> np.ndarray:
    """A smooth random phase map (radians): low-order polynomial in x and y."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    c = rng.normal(0, strength, size=5)
    return c[0] + c[1] * yy + c[2] * xx + c[3] * yy * xx + c[4] * (yy**2 - xx**2)
