"""Single-coil Cartesian compressed-sensing MRI: ``A = M F``.

Complex images and k-space are real tensors with a trailing pair of channels
``[B, 2, H, W]`` (real, imaginary), so that every CNN sees real inputs. The FFT is
orthonormal and centred, hence ``F^H = F^{-1}`` and ``A^H = F^H M``.
"""

from __future__ import annotations

import numpy as np
import torch


def to_complex(x: torch.Tensor) -> torch.Tensor:
    """``[B, 2, H, W]`` real pair to ``[B, H, W]`` complex."""
    if x.shape[-3] != 2:
        raise ValueError(f"expected 2 channels (real, imaginary), got shape {tuple(x.shape)}")
    return torch.complex(x[..., 0, :, :], x[..., 1, :, :])


def to_real(z: torch.Tensor) -> torch.Tensor:
    """``[B, H, W]`` complex to ``[B, 2, H, W]`` real pair."""
    return torch.stack([z.real, z.imag], dim=-3)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal centred 2-D FFT of a ``[..., 2, H, W]`` real-pair image."""
    z = torch.fft.ifftshift(to_complex(x), dim=(-2, -1))
    z = torch.fft.fft2(z, norm="ortho")
    return to_real(torch.fft.fftshift(z, dim=(-2, -1)))


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c`."""
    z = torch.fft.ifftshift(to_complex(k), dim=(-2, -1))
    z = torch.fft.ifft2(z, norm="ortho")
    return to_real(torch.fft.fftshift(z, dim=(-2, -1)))


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """Magnitude ``[B, 1, H, W]`` of a real-pair image."""
    return torch.sqrt(x[..., 0:1, :, :] ** 2 + x[..., 1:2, :, :] ** 2)


def cartesian_mask(shape: tuple[int, int], acceleration: int, center_fraction: float) -> np.ndarray:
    """The paper's fixed mask: every ``acceleration``-th phase-encode column plus a
    fully sampled centre block of ``round(center_fraction * W)`` columns.

    Phase encoding runs along the last axis (fastMRI's convention). Returns a float32
    ``[H, W]`` array of zeros and ones.
    """
    height, width = shape
    if acceleration < 1:
        raise ValueError(f"acceleration must be >= 1, got {acceleration}")
    if not 0 <= center_fraction <= 1:
        raise ValueError(f"center_fraction must lie in [0, 1], got {center_fraction}")
    columns = np.zeros(width, dtype=bool)
    # Anchor the regular lattice on the k-space centre so that DC is always acquired.
    centre = width // 2
    columns[centre % acceleration :: acceleration] = True
    n_centre = int(round(center_fraction * width))
    start = centre - n_centre // 2
    columns[start : start + n_centre] = True
    return np.broadcast_to(columns[None, :], (height, width)).astype(np.float32)


class SingleCoilMRI:
    """``A x = M F x`` with a binary sampling mask ``M`` (``[H, W]`` or ``[B, 1, H, W]``)."""

    image_channels = 2

    def __init__(self, mask):
        mask = torch.as_tensor(np.asarray(mask) if not torch.is_tensor(mask) else mask)
        self.mask = mask.to(torch.float32)

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

    def ssdu_split(self, batch: int, loss_fraction: float, center_fraction: float,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """SSDU split (Yaman et al. 2020) of the acquired samples into two disjoint sets.

        Returns ``(theta, lam)`` masks ``[B, 1, H, W]``: ``theta`` feeds data consistency,
        ``lam`` (about ``loss_fraction`` of the acquired samples, never the central
        calibration block) is held out for the loss. A fresh split is drawn per call.
        """
        mask = self.mask
        if mask.dim() == 2:
            mask = mask[None, None].expand(batch, 1, *mask.shape)
        height, width = mask.shape[-2:]
        n_centre = max(1, int(round(center_fraction * width)))
        keep = torch.zeros(width, dtype=torch.bool)
        keep[width // 2 - n_centre // 2 : width // 2 - n_centre // 2 + n_centre] = True
        draw = torch.rand(mask.shape, generator=generator) < loss_fraction
        lam = mask.bool() & draw & ~keep.view(1, 1, 1, width)
        theta = mask.bool() & ~lam
        return theta.float(), lam.float()
