import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from spade.metrics import prepare, psnr, score, ssim
from spade.physics import SingleCoilMRI, SuperResolution, blur_kernel, cartesian_mask


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(40, 36, generator=g)
    pred = (target + 0.05 * torch.randn(40, 36, generator=g)).clamp(0, 1)
    return pred, target


def test_psnr_matches_the_definition_and_scikit_image(pair):
    pred, target = pair
    mse = np.mean((pred.numpy().astype(np.float64) - target.numpy()) ** 2)
    assert psnr(pred, target) == pytest.approx(10 * math.log10(1 / mse), rel=1e-9)
    assert psnr(pred, target) == pytest.approx(peak_signal_noise_ratio(target.numpy(), pred.numpy(), data_range=1))


def test_ssim_matches_scikit_image(pair):
    pred, target = pair
    ref = structural_similarity(target.numpy().astype(np.float64), pred.numpy().astype(np.float64), data_range=1,
                                gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(pred, target) == pytest.approx(ref, abs=1e-6)
    assert ssim(target, target) == pytest.approx(1.0)


def test_mri_convention_scores_the_magnitude():
    physics = SingleCoilMRI(cartesian_mask((16, 16), 2, 0.1))
    target = torch.zeros(2, 16, 16)
    target[0] = torch.rand(16, 16)
    rotated = torch.stack([target[0] * math.cos(0.7), target[0] * math.sin(0.7)])  # same magnitude, other phase
    assert score(rotated, target, physics, "mri")["psnr"] > 100


def test_sr_convention_crops_the_border_and_clips():
    physics = SuperResolution(blur_kernel("bicubic", 2), 2)
    target = torch.rand(1, 20, 20)
    pred = target.clone()
    pred[..., :2, :] = 5.0  # errors inside the cropped border do not count
    pred[..., 10, 10] = 1.7  # values above 1 are clipped before scoring
    assert prepare(pred, physics, "sr").shape == (16, 16)
    clipped = target.clone()[0, 2:-2, 2:-2]
    clipped[8, 8] = 1.0
    assert score(pred, target, physics, "sr")["psnr"] == pytest.approx(psnr(clipped, target[0, 2:-2, 2:-2]))
