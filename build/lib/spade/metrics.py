"""PSNR and SSIM under a named convention, chosen per task (``evaluate.conventions``).

MRI (scored on the magnitude image):

* ``volume-max`` (default): data range 1, as every volume is normalised to maximum 1;
  no crop; Gaussian SSIM.
* ``fastmri``: fastMRI's ``evaluate.py`` convention: data range = the maximum of the
  target *volume* (the slices sharing a group); SSIM with a 7x7 uniform window and
  sample covariance (scikit-image's defaults), per slice; PSNR per slice with the
  volume's data range.
* ``paper``: the SPADE paper's: centre crop to a square, each image min-max scaled
  to [0, 1], data range 1; Gaussian SSIM.

SR:

* ``y_border`` (default): luminance clipped to [0, 1] (BT.601 ``Y = 16/255 + (65.481 R
  + 128.553 G + 24.966 B) / 255`` of an RGB image, the image itself when grey), a border
  of ``scale`` pixels cropped, data range 1 (the SR literature's convention).
* ``rgb``: RGB clipped to [0, 1], the same border; PSNR over all channels, SSIM the mean
  over channels.

Gaussian SSIM is Wang et al. (2004): 11x11 window, sigma 1.5, K1 0.01, K2 0.03, over the
valid region (scikit-image's ``structural_similarity`` with ``gaussian_weights=True,
use_sample_covariance=False``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CONVENTIONS = {
    "volume-max": "MRI magnitude, data range 1 (volumes normalised to maximum 1), no crop, Gaussian SSIM",
    "fastmri": "MRI magnitude, data range = target volume maximum, SSIM 7x7 uniform window per slice (fastMRI)",
    "paper": "MRI magnitude centre-cropped to a square, min-max to [0, 1] per image, Gaussian SSIM (SPADE paper)",
    "y_border": "SR luminance (BT.601 Y) clipped to [0, 1], border = scale cropped, data range 1, Gaussian SSIM",
    "rgb": "SR RGB clipped to [0, 1], border = scale cropped, data range 1, SSIM mean over channels",
}
TASK_CONVENTIONS = {"mri": ("volume-max", "fastmri", "paper"), "sr": ("y_border", "rgb")}
DEFAULT_CONVENTIONS = {"mri": "volume-max", "sr": "y_border"}


def convention_for(task: str, name: str | None) -> str:
    """The convention ``name`` checked against ``task`` (None: the task's default)."""
    name = name or DEFAULT_CONVENTIONS[task]
    if name not in TASK_CONVENTIONS[task]:
        raise ValueError(f"convention {name!r} does not apply to task {task!r}; expected one of {TASK_CONVENTIONS[task]}")
    return name


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    mse = torch.mean((pred.double() - target.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(data_range**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)[None, None]


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, window: str = "gaussian") -> float:
    """Mean SSIM of two single-channel images ``[H, W]`` (or ``[1, 1, H, W]``).

    ``window``: ``gaussian`` (11x11, sigma 1.5, population covariance) or ``uniform``
    (7x7, sample covariance: scikit-image's defaults, which fastMRI uses)."""
    x = pred.double().reshape(1, 1, *pred.shape[-2:])
    y = target.double().reshape(1, 1, *target.shape[-2:])
    if window == "gaussian":
        w, cov_norm = _gaussian_window(), 1.0
    elif window == "uniform":
        w, cov_norm = torch.full((1, 1, 7, 7), 1 / 49, dtype=torch.float64), 49 / 48
    else:
        raise ValueError(f"unknown SSIM window {window!r}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    vx = cov_norm * (F.conv2d(x * x, w) - mx**2)
    vy = cov_norm * (F.conv2d(y * y, w) - my**2)
    cxy = cov_norm * (F.conv2d(x * y, w) - mx * my)
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean().item()


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of ``[3, H, W]`` RGB in [0, 1], in [16/255, 235/255] (MATLAB's rgb2ycbcr)."""
    r, g, b = rgb[0], rgb[1], rgb[2]
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def prepare(image: torch.Tensor, physics, task: str, convention: str | None = None) -> torch.Tensor:
    """The image that the convention scores: ``[H, W]``, or ``[H, W, 3]`` for ``rgb``."""
    convention = convention_for(task, convention)
    img = physics.display(image[None] if image.dim() == 3 else image)[0]  # [C, H, W]
    if task == "sr":
        b = physics.scale
        img = img.clamp(0, 1)[:, b:-b, b:-b] if b > 0 else img.clamp(0, 1)
        if convention == "rgb":
            return img.permute(1, 2, 0) if img.shape[0] > 1 else img[0]
        return rgb_to_y(img) if img.shape[0] == 3 else img[0]
    img = img[0]
    if convention == "paper":
        h, w = img.shape
        side = min(h, w)
        img = img[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo).clamp_min(1e-12)
    return img


def score(pred: torch.Tensor, target: torch.Tensor, physics, task: str, convention: str | None = None,
          data_range: float | None = None) -> dict:
    """PSNR and SSIM of one image ``[C, H, W]`` under ``convention`` (the task's default
    when None). ``data_range``: the target volume's maximum (``fastmri`` only; default:
    this image's target maximum)."""
    convention = convention_for(task, convention)
    p, t = prepare(pred, physics, task, convention), prepare(target, physics, task, convention)
    if convention == "fastmri":
        rng = float(t.max()) if data_range is None else float(data_range)
        return {"psnr": psnr(p, t, rng), "ssim": ssim(p, t, rng, window="uniform")}
    if p.dim() == 3:  # rgb: SSIM per channel, averaged
        return {"psnr": psnr(p, t), "ssim": sum(ssim(p[..., c], t[..., c]) for c in range(p.shape[-1])) / p.shape[-1]}
    return {"psnr": psnr(p, t), "ssim": ssim(p, t)}
