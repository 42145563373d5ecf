"""Metric conventions, each against an independent computation (scikit-image, numpy)."""

import numpy as np
import pytest
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from spade.metrics import convention_for, prepare, rgb_to_y, score
from spade.physics import SingleCoilMRI, SuperResolution, blur_kernel, cartesian_mask


def complex_pair(mag, phase=0.3):
    return torch.stack([mag * np.cos(phase), mag * np.sin(phase)]).float()


@pytest.fixture
def mri_pair():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(24, 30, generator=g) * 0.7
    pred = (target + 0.03 * torch.randn(24, 30, generator=g)).abs()
    return complex_pair(pred.double()), complex_pair(target.double(), 0.3)


def test_fastmri_convention_matches_fastmri_evaluate(mri_pair):
    """fastMRI's evaluate.py: data range = volume maximum, skimage's default SSIM per slice."""
    pred, target = mri_pair
    physics = SingleCoilMRI(cartesian_mask((24, 30), 2, 0.1))
    vmax = 0.9  # the volume's maximum, larger than this slice's
    p = torch.sqrt(pred[0] ** 2 + pred[1] ** 2).double().numpy()
    t = torch.sqrt(target[0] ** 2 + target[1] ** 2).double().numpy()
    got = score(pred, target, physics, "mri", "fastmri", data_range=vmax)
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=vmax), abs=1e-4)
    assert got["ssim"] == pytest.approx(structural_similarity(t, p, data_range=vmax), abs=1e-5)


def test_paper_convention_crops_a_square_and_min_max_scales(mri_pair):
    pred, target = mri_pair
    physics = SingleCoilMRI(cartesian_mask((24, 30), 2, 0.1))

    def ref(img):
        mag = torch.sqrt(img[0] ** 2 + img[1] ** 2).double().numpy()[:, 3:27]  # centre 24 x 24
        return (mag - mag.min()) / (mag.max() - mag.min())

    assert prepare(pred, physics, "mri", "paper").shape == (24, 24)
    got = score(pred, target, physics, "mri", "paper")
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(ref(target), ref(pred), data_range=1), abs=1e-4)
    assert got["ssim"] == pytest.approx(structural_similarity(ref(target), ref(pred), data_range=1, gaussian_weights=True,
                                                              sigma=1.5, use_sample_covariance=False), abs=1e-5)


@pytest.fixture
def rgb_pair():
    g = torch.Generator().manual_seed(2)
    target = torch.rand(3, 30, 34, generator=g)
    pred = target + 0.05 * torch.randn(3, 30, 34, generator=g)
    pred[:, 10, 10] = 1.5  # clipped before scoring
    return pred, target


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_y_border_convention_matches_the_sr_literature(rgb_pair, scale):
    pred, target = rgb_pair
    physics = SuperResolution(blur_kernel("bicubic", scale), scale, channels=3)

    def ref(img):  # skimage's BT.601 Y (MATLAB rgb2ycbcr) on [0, 1] RGB, border = scale cropped
        y = rgb2ycbcr(img.clamp(0, 1).permute(1, 2, 0).double().numpy())[..., 0] / 255.0
        return y[scale:-scale, scale:-scale]

    np.testing.assert_allclose(rgb_to_y(target).numpy(), rgb2ycbcr(target.permute(1, 2, 0).numpy())[..., 0] / 255,
                               atol=1e-5)
    got = score(pred, target, physics, "sr", "y_border")
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(ref(target), ref(pred), data_range=1), abs=1e-4)
    assert got["ssim"] == pytest.approx(structural_similarity(ref(target), ref(pred), data_range=1, gaussian_weights=True,
                                                              sigma=1.5, use_sample_covariance=False), abs=1e-5)


def test_rgb_convention(rgb_pair):
    pred, target = rgb_pair
    physics = SuperResolution(blur_kernel("bicubic", 2), 2, channels=3)
    p = pred.clamp(0, 1)[:, 2:-2, 2:-2].permute(1, 2, 0).double().numpy()
    t = target[:, 2:-2, 2:-2].permute(1, 2, 0).double().numpy()
    got = score(pred, target, physics, "sr", "rgb")
    assert got["psnr"] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=1), abs=1e-4)
    assert got["ssim"] == pytest.approx(structural_similarity(t, p, data_range=1, channel_axis=2, gaussian_weights=True,
                                                              sigma=1.5, use_sample_covariance=False), abs=1e-5)


def test_conventions_are_checked_per_task():
    assert convention_for("mri", None) == "volume-max" and convention_for("sr", None) == "y_border"
    with pytest.raises(ValueError, match="does not apply"):
        convention_for("sr", "fastmri")
