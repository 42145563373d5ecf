import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spade.physics import SingleCoilMRI, SuperResolution, blur_kernel, cartesian_mask, fft2c, ifft2c


def inner(a, b):
    return float((a.double() * b.double()).sum())


def test_fft2c_is_orthonormal_and_inverted():
    x = torch.randn(3, 2, 16, 20)
    k = fft2c(x)
    assert inner(x, x) == pytest.approx(inner(k, k), rel=1e-5)  # Parseval
    assert torch.allclose(ifft2c(k), x, atol=1e-5)


def test_fft2c_puts_dc_at_centre():
    x = torch.zeros(1, 2, 8, 8)
    x[0, 0] = 1.0
    k = fft2c(x)
    assert k[0, 0, 4, 4] == pytest.approx(8.0, rel=1e-5)
    assert float(k.abs().sum()) == pytest.approx(8.0, rel=1e-4)


@pytest.mark.parametrize("shape", [(16, 16), (12, 20)])
def test_mri_adjoint(shape):
    physics = SingleCoilMRI(cartesian_mask(shape, 4, 0.1))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, *shape, generator=g)
    y = torch.randn(2, 2, *shape, generator=g)
    assert inner(physics.forward(x), y) == pytest.approx(inner(x, physics.adjoint(y)), rel=1e-5)


@pytest.mark.parametrize("width,acc,frac", [(80, 4, 0.08), (64, 6, 0.1), (33, 3, 0.0)])
def test_cartesian_mask_definition(width, acc, frac):
    mask = cartesian_mask((10, width), acc, frac)
    cols = np.flatnonzero(mask[0])
    assert (mask == mask[0:1]).all(), "Cartesian: whole phase-encode columns"
    centre = width // 2
    assert centre in cols
    lattice = {c for c in range(width) if (c - centre) % acc == 0}
    assert lattice <= set(cols)
    n_centre = int(round(frac * width))
    block = set(range(centre - n_centre // 2, centre - n_centre // 2 + n_centre))
    assert block <= set(cols)
    assert set(cols) == lattice | block


def test_ssdu_split_is_a_disjoint_partition_of_the_acquired_samples():
    physics = SingleCoilMRI(cartesian_mask((16, 32), 2, 0.125))
    theta, lam = physics.ssdu_split(3, 0.4, 0.125, torch.Generator().manual_seed(1))
    mask = physics.mask.expand(3, 1, 16, 32)
    assert torch.equal(theta + lam, mask)
    assert (theta * lam).sum() == 0
    assert lam.sum() > 0
    assert lam[..., 14:18].sum() == 0, "the centre block stays with data consistency"
    frac = float(lam.sum() / (mask.sum() - mask[..., 14:18].sum()))
    assert 0.25 < frac < 0.55


@pytest.mark.parametrize("kind,scale,sigma", [("bicubic", 2, None), ("bicubic", 3, None), ("gaussian", 2, 1.2),
                                              ("gaussian", 4, 1.6)])
def test_sr_adjoint(kind, scale, sigma):
    physics = SuperResolution(blur_kernel(kind, scale, sigma), scale)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 12 * scale, 8 * scale, generator=g)
    y = torch.randn(2, 1, 12, 8, generator=g)
    assert physics.forward(x).shape == y.shape
    assert inner(physics.forward(x), y) == pytest.approx(inner(x, physics.adjoint(y)), rel=1e-5)


@pytest.mark.parametrize("kind,scale,sigma", [("bicubic", 2, None), ("gaussian", 3, 1.0)])
def test_blur_kernel_is_normalised_and_of_the_scale_parity(kind, scale, sigma):
    k = blur_kernel(kind, scale, sigma)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert k.shape[0] % 2 == scale % 2
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])


def test_sr_sampling_grid_matches_bicubic_interpolation():
    """A constant-gradient ramp survives blur, decimation and bicubic upsampling only if
    the decimation phase matches ``F.interpolate``'s pixel centres."""
    physics = SuperResolution(blur_kernel("bicubic", 2), 2)
    ramp = torch.linspace(0, 1, 64).repeat(64, 1)[None, None]
    smooth = torch.sin(2 * torch.pi * ramp) + torch.sin(2 * torch.pi * ramp.transpose(-1, -2))
    up = physics.init(physics.forward(smooth))
    inner_err = (up - smooth)[..., 8:-8, 8:-8].abs().max()
    shifted = F.interpolate(physics.forward(smooth), scale_factor=2, mode="nearest")
    assert inner_err < 0.02
    assert inner_err < (shifted - smooth)[..., 8:-8, 8:-8].abs().max()


def test_bad_kernel_arguments():
    with pytest.raises(ValueError, match="sigma"):
        blur_kernel("gaussian", 2, None)
    with pytest.raises(ValueError, match="unknown kernel"):
        blur_kernel("box", 2)


def test_multicoil_adjoint_and_coil_combination():
    from spade.physics import MultiCoilMRI
    from spade.physics.mri import simulate_coil_maps

    sens = simulate_coil_maps(6, (16, 12), seed=2)
    s = torch.from_numpy(sens)
    assert torch.allclose((s**2).sum(dim=(0, 1)), torch.ones(16, 12), atol=1e-5), "sum_c |S_c|^2 = 1"
    physics = MultiCoilMRI(cartesian_mask((16, 12), 3, 0.1), sens)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 16, 12, generator=g)
    y = torch.randn(2, 6, 2, 16, 12, generator=g)
    assert physics.forward(x).shape == y.shape
    assert inner(physics.forward(x), y) == pytest.approx(inner(x, physics.adjoint(y)), rel=1e-5)
    full = MultiCoilMRI(torch.ones(16, 12), sens)
    assert torch.allclose(full.adjoint(full.forward(x)), x, atol=1e-5), "fully sampled: A^H A = I"


def test_coil_maps_are_smooth_and_distinct():
    from spade.physics.mri import simulate_coil_maps

    sens = simulate_coil_maps(8, (32, 32), seed=0)
    mag = np.sqrt(sens[:, 0] ** 2 + sens[:, 1] ** 2)
    assert np.abs(np.diff(mag, axis=-1)).max() < 0.1, "smooth"
    peaks = {np.unravel_index(m.argmax(), m.shape) for m in mag}
    assert len(peaks) == 8, "each coil sees its own region best"
