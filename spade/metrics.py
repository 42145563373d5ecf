"""PSNR and SSIM with a named convention.

Convention ``volume-max`` (MRI): the magnitude image; data range 1 because every
volume is normalised to maximum 1; no crop. Convention ``sr-border`` (SR): luminance
clipped to [0, 1], a border of ``scale`` pixels cropped, data range 1.
SSIM is Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, over
the valid region (the same numbers as scikit-image's ``structural_similarity`` with
``gaussian_weights=True, use_sample_covariance=False``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    mse = torch.mean((pred.double() - target.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)[None, None]


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM of two single-channel images ``[H, W]`` (or ``[1, 1, H, W]``)."""
    x = pred.double().reshape(1, 1, *pred.shape[-2:])
    y = target.double().reshape(1, 1, *target.shape[-2:])
    w = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    vx = F.conv2d(x * x, w) - mx**2
    vy = F.conv2d(y * y, w) - my**2
    cxy = F.conv2d(x * y, w) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean().item()


def prepare(image: torch.Tensor, physics, task: str) -> torch.Tensor:
    """The ``[H, W]`` image that the task's convention scores."""
    img = physics.display(image[None] if image.dim() == 3 else image)[0, 0]
    if task == "sr":
        b = physics.scale
        img = img.clamp(0, 1)[b:-b, b:-b]
    return img


CONVENTIONS = {"mri": "volume-max: magnitude, data range 1, no crop",
               "sr": "sr-border: luminance clipped to [0,1], border = scale cropped, data range 1"}


def score(pred: torch.Tensor, target: torch.Tensor, physics, task: str) -> dict:
    """PSNR and SSIM of one image ``[C, H, W]`` under the task's convention."""
    p, t = prepare(pred, physics, task), prepare(target, physics, task)
    return {"psnr": psnr(p, t), "ssim": ssim(p, t)}
