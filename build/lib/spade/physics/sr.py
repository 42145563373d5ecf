"""Single-image super-resolution: ``A = S_s B`` (blur then decimate by ``s``).

The blur is a circular convolution so that ``A`` has an exact, cheap adjoint. The
kernel size has the parity of ``s`` and the decimation phase is ``floor((s - 1) / 2)``:
a low-resolution pixel then sits at the same place as in ``F.interpolate`` with
``align_corners=False``, which keeps the bicubic baseline fair.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    return np.where(
        t <= 1,
        (a + 2) * t**3 - (a + 3) * t**2 + 1,
        np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0),
    )


def blur_kernel(kind: str, scale: int, sigma: float | None = None) -> np.ndarray:
    """Normalised separable anti-aliasing kernel ``[k, k]``, ``k`` of the parity of ``scale``.

    ``bicubic``: Keys' cubic (a = -0.5) stretched by ``scale`` (MATLAB ``imresize``'s
    antialiasing kernel). ``gaussian``: standard deviation ``sigma`` (HR pixels).
    """
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if kind == "bicubic":
        half = 2 * scale
    elif kind == "gaussian":
        if not sigma or sigma <= 0:
            raise ValueError(f"a gaussian kernel needs sigma > 0, got {sigma}")
        half = max(1, math.ceil(3 * sigma))
    else:
        raise ValueError(f"unknown kernel {kind!r}; expected 'bicubic' or 'gaussian'")
    size = 2 * half + (1 if scale % 2 else 0)
    offsets = np.arange(size) - (size - 1) / 2
    if kind == "bicubic":
        taps = _keys_cubic(offsets / scale)
    else:
        taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    taps = taps / taps.sum()
    return np.outer(taps, taps).astype(np.float32)


class SuperResolution:
    """``A x = (k * x)[phase::s, phase::s]`` with circular boundaries, per channel."""

    def __init__(self, kernel, scale: int, channels: int = 1):
        self.kernel = torch.as_tensor(np.asarray(kernel), dtype=torch.float32)
        if self.kernel.dim() != 2 or self.kernel.shape[0] != self.kernel.shape[1]:
            raise ValueError(f"kernel must be a square 2-D array, got {tuple(self.kernel.shape)}")
        self.scale = int(scale)
        self.image_channels = channels
        self.phase = (self.scale - 1) // 2
        size = self.kernel.shape[0]
        self.pad_lo = (size - 1) // 2
        self.pad_hi = size - 1 - self.pad_lo

    def to(self, device) -> "SuperResolution":
        op = SuperResolution(self.kernel, self.scale, self.image_channels)
        op.kernel = self.kernel.to(device)
        return op

    def _correlate(self, x: torch.Tensor, kernel: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        b, c, h, w = x.shape
        x = F.pad(x.reshape(b * c, 1, h, w), (lo, hi, lo, hi), mode="circular")
        out = F.conv2d(x, kernel.to(x.device, x.dtype)[None, None])
        return out.reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, p = self.scale, self.phase
        return self._correlate(x, self.kernel, self.pad_lo, self.pad_hi)[..., p::s, p::s]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        s, p = self.scale, self.phase
        b, c, h, w = y.shape
        up = y.new_zeros(b, c, h * s, w * s)
        up[..., p::s, p::s] = y
        # The adjoint of a circular correlation is the correlation with the flipped
        # kernel and mirrored padding.
        return self._correlate(up, torch.flip(self.kernel, (0, 1)), self.pad_hi, self.pad_lo)

    def init(self, y: torch.Tensor) -> torch.Tensor:
        """Bicubic interpolation of ``y``: the classical baseline and the networks' start."""
        return F.interpolate(y, scale_factor=self.scale, mode="bicubic", align_corners=False)

    def display(self, x: torch.Tensor) -> torch.Tensor:
        return x
