"""The compressed-sensing baselines (spade.study.classical): sigpy's forward model is spade's,
CS beats zero-filling where it should, and lambda selection picks the best grid point."""

from __future__ import annotations

import numpy as np
import pytest
import sigpy.mri as mr
import torch

from spade.study.classical import ARCH, METHODS, CSReconstructor, IsotropicL1Reg, _sample_mask, _sample_maps, choose_lambda, cs_recon
from spade.metrics import score
from spade.physics import batch_physics
from spade.physics.mri import MultiCoilMRI, SingleCoilMRI, cartesian_mask, simulate_coil_maps, to_complex

N = 32


def phantom(n: int = N, shift: int = 0) -> torch.Tensor:
    """Piecewise-constant ``[1, 2, n, n]`` image (real, maximum 1): a disc, a bright
    rectangle and a small spot; ``shift`` rolls it for a second, different sample."""
    yy, xx = np.mgrid[0:n, 0:n] / n
    img = np.zeros((n, n))
    img[(yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.16] = 0.5
    img[(yy > 0.3) & (yy < 0.55) & (xx > 0.25) & (xx < 0.45)] = 1.0
    img[(yy - 0.65) ** 2 + (xx - 0.62) ** 2 < 0.01] = 0.8
    img = np.roll(img, shift, axis=1)
    x = torch.zeros(1, 2, n, n)
    x[0, 0] = torch.from_numpy(img)
    return x


def smooth_phantom(n: int = N, sigma: float = 2.0) -> torch.Tensor:
    """The piecewise-constant phantom blurred by a Gaussian of ``sigma`` pixels (circularly,
    through the FFT): smooth, so its detail wavelet coefficients are small."""
    img = phantom(n)[0, 0].double().numpy()
    f = np.fft.fftfreq(n)
    g = np.exp(-2 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    img = np.fft.ifft2(np.fft.fft2(img) * g).real
    x = torch.zeros(1, 2, n, n)
    x[0, 0] = torch.from_numpy(img)
    return x


def psnr_np(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of the magnitude images, data range the target's maximum (numpy, not spade.metrics)."""
    p = np.hypot(pred[0, 0].double().numpy(), pred[0, 1].double().numpy())
    t = np.hypot(target[0, 0].double().numpy(), target[0, 1].double().numpy())
    return float(10 * np.log10(t.max() ** 2 / np.mean((p - t) ** 2)))


def total_variation(x: torch.Tensor) -> float:
    """Anisotropic TV of the magnitude image."""
    m = np.hypot(x[0, 0].double().numpy(), x[0, 1].double().numpy())
    return float(np.abs(np.diff(m, axis=0)).sum() + np.abs(np.diff(m, axis=1)).sum())


def mask(shape=(N, N)) -> np.ndarray:
    return cartesian_mask(shape, 4, 0.08)


@pytest.mark.parametrize("shape", [(N, N), (31, 33)])  # even and odd sizes: fftshift conventions
@pytest.mark.parametrize("coils", [1, 4])
def test_sigpy_sense_equals_spade_forward(shape, coils):
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(1, 2, *shape)).astype(np.float32))
    m = mask(shape)
    physics = SingleCoilMRI(m) if coils == 1 else MultiCoilMRI(m, simulate_coil_maps(coils, shape, seed=2))
    # the maps and mask exactly as cs_recon builds them
    mps = _sample_maps(physics, 0, shape, np.complex128)
    weights = _sample_mask(physics, 0, shape)
    A = mr.linop.Sense(mps, weights=weights)
    z = to_complex(x.double())[0].numpy()
    k = A(z)  # [C, H, W]
    y = physics.forward(x)[0].double().numpy().reshape(coils, 2, *shape)
    np.testing.assert_allclose(k.real, y[:, 0], atol=1e-5)
    np.testing.assert_allclose(k.imag, y[:, 1], atol=1e-5)
    # and the adjoints agree, so sigpy's gradients are spade's
    back = A.H(y[:, 0] + 1j * y[:, 1])
    ref = physics.adjoint(physics.forward(x))[0].double().numpy()
    np.testing.assert_allclose(back.real, ref[0], atol=1e-5)
    np.testing.assert_allclose(back.imag, ref[1], atol=1e-5)


def test_per_sample_maps_and_masks_are_indexed_per_sample():
    masks = np.stack([mask(), np.roll(mask(), 1, axis=1)])  # [2, H, W]
    sens = np.stack([simulate_coil_maps(3, (N, N), seed=s) for s in (0, 1)])  # [2, C, 2, H, W]
    physics = MultiCoilMRI(masks, sens)  # mask stored as [2, 1, 1, H, W]
    assert physics.mask.shape == (2, 1, 1, N, N)
    np.testing.assert_array_equal(_sample_mask(physics, 1, (N, N)), masks[1])
    np.testing.assert_allclose(_sample_maps(physics, 1, (N, N), np.complex128), sens[1, :, 0] + 1j * sens[1, :, 1])


def test_tv_beats_zero_filling_and_fits_the_data():
    x = phantom()
    physics = SingleCoilMRI(mask())
    y = physics.forward(x)
    zf = psnr_np(physics.init(y), x)
    rec = cs_recon(y, physics, "tv", 0.02, 500)
    assert rec.shape == (1, 2, N, N) and rec.dtype == torch.float32
    tv = psnr_np(rec, x)
    assert tv >= zf + 2.0, (tv, zf)
    residual = float((physics.forward(rec) - y).norm() / y.norm())
    assert residual < 0.05, residual


def test_isotropic_prox_shrinks_the_gradient_vector_as_a_whole():
    # gradient (3, 4) at one pixel, norm 5: alpha*lambda 1 scales it by 4/5; (0.3, 0.4) is
    # below the threshold and vanishes; the anisotropic prox would give (2, 3) instead
    v = np.zeros((2, 1, 2), dtype=np.complex64)
    v[:, 0, 0] = [3, 4j]
    v[:, 0, 1] = [0.3, 0.4]
    out = IsotropicL1Reg(v.shape, 0.5)(2.0, v)
    np.testing.assert_allclose(out[:, 0, 0], [2.4, 3.2j], rtol=1e-6)
    np.testing.assert_array_equal(out[:, 0, 1], [0, 0])


def test_isotropic_tv_beats_zero_filling_fits_the_data_and_differs_from_anisotropic():
    x = phantom()
    physics = SingleCoilMRI(mask())
    y = physics.forward(x)
    iso = cs_recon(y, physics, "isotv", 0.02, 500, sigma=0.1)
    assert psnr_np(iso, x) >= psnr_np(physics.init(y), x) + 2.0
    assert float((physics.forward(iso) - y).norm() / y.norm()) < 0.05
    assert (iso - cs_recon(y, physics, "tv", 0.02, 500, sigma=0.1)).abs().max() > 1e-3


def test_tv_multicoil_beats_zero_filling():
    x = phantom()
    physics = MultiCoilMRI(mask(), simulate_coil_maps(4, (N, N), seed=0))
    y = physics.forward(x)
    assert psnr_np(cs_recon(y, physics, "tv", 0.02, 300), x) >= psnr_np(physics.init(y), x) + 2.0


def test_wavelet_beats_zero_filling_on_a_smooth_phantom():
    x = smooth_phantom()
    physics = SingleCoilMRI(mask())
    y = physics.forward(x)
    zf = psnr_np(physics.init(y), x)
    wav = psnr_np(cs_recon(y, physics, "wavelet", 1e-3, 100), x)
    assert wav >= zf + 1.0, (wav, zf)


def _psnr_score(pred, x, op):
    return score(pred[0], x[0], op, "mri")["psnr"]


def test_choose_lambda_picks_the_best_grid_point():
    xs = [phantom(), phantom(shift=5)]
    ops = [SingleCoilMRI(mask()), SingleCoilMRI(cartesian_mask((N, N), 3, 0.08))]
    ys = [op.forward(x) for op, x in zip(ops, xs)]
    grid = [1e-3, 1e-2, 3e-2, 3e-1]
    result = choose_lambda(ys, xs, ops, "tv", grid, 100, _psnr_score)
    direct = [np.mean([_psnr_score(cs_recon(y, op, "tv", lam, 100), x, op) for y, x, op in zip(ys, xs, ops)])
              for lam in grid]
    np.testing.assert_allclose(result["scores"], direct, rtol=1e-6)
    assert result["lamda"] == grid[int(np.argmax(direct))]
    assert result["best_score"] == pytest.approx(max(direct))
    assert result["method"] == "tv" and result["iterations"] == 100 and result["grid"] == grid
    # the grid must matter here, or the test could not catch a wrong pick
    assert max(direct) - min(direct) > 0.5


def test_choose_lambda_ties_go_to_the_larger_lambda_and_bad_grids_raise():
    x = phantom()
    op = SingleCoilMRI(mask())
    y = op.forward(x)
    result = choose_lambda([y], [x], [op], "tv", [0.1, 0.01, 0.05], 5, lambda p, t, o: 1.0)
    assert result["lamda"] == 0.1
    for grid in ([], [0.01, 0.0], [-1.0]):
        with pytest.raises(ValueError):
            choose_lambda([y], [x], [op], "tv", grid, 5, _psnr_score)


def test_larger_lambda_gives_a_smoother_tv_result():
    x = phantom()
    physics = SingleCoilMRI(mask())
    y = physics.forward(x)
    rough = total_variation(cs_recon(y, physics, "tv", 1e-3, 100))
    smooth = total_variation(cs_recon(y, physics, "tv", 1e-1, 100))
    assert smooth < 0.9 * rough, (smooth, rough)


@pytest.mark.parametrize("coils,method", [(1, "tv"), (1, "isotv"), (3, "wavelet")])
def test_reconstructor_batch_equals_per_sample_recon(coils, method):
    xs = torch.cat([phantom(), smooth_phantom()])
    masks = np.stack([mask(), np.roll(mask(), 1, axis=1)])
    base = SingleCoilMRI(mask()) if coils == 1 else MultiCoilMRI(mask(), simulate_coil_maps(coils, (N, N)))
    params = {"mask": masks}
    if coils > 1:
        params["sens"] = np.stack([simulate_coil_maps(coils, (N, N), seed=s) for s in (0, 1)])
    physics = batch_physics(base, params)
    y = physics.forward(xs)
    model = CSReconstructor(method, 0.01, 20)
    assert (model.method, model.lamda, model.iterations) == (method, 0.01, 20)
    assert not list(model.parameters())
    assert not any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in model.modules())
    assert method in repr(model) and "lambda=0.01" in repr(model) and "iterations=20" in repr(model)
    state = np.random.get_state()[1].copy()
    out = model(y, physics)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the caller's RNG is left alone
    assert out.shape == (2, 2, N, N) and out.dtype == torch.float32 and not out.requires_grad
    for b in range(2):
        single = SingleCoilMRI(masks[b]) if coils == 1 else MultiCoilMRI(masks[b], params["sens"][b])
        ref = cs_recon(y[b : b + 1], single, method, 0.01, 20)
        torch.testing.assert_close(out[b : b + 1], ref, rtol=0, atol=1e-6)
    # different samples, different operators: the batch is not one sample repeated
    assert (out[0] - out[1]).abs().max() > 1e-2


def test_bad_method_raises():
    physics = SingleCoilMRI(mask())
    y = physics.forward(phantom())
    with pytest.raises(ValueError, match="admm.*tv"):
        cs_recon(y, physics, "admm", 0.01, 5)
    with pytest.raises(ValueError, match="'l1'"):
        CSReconstructor("l1", 0.01, 5)
    with pytest.raises(ValueError, match="'bm3d'"):
        choose_lambda([y], [phantom()], [physics], "bm3d", [0.01], 5, _psnr_score)
    assert set(ARCH) == set(METHODS) == {"tv", "isotv", "wavelet"}
    assert ARCH == {"tv": "cs-tv", "isotv": "cs-isotv", "wavelet": "cs-wavelet"}


def test_soft_mask_raises():
    physics = SingleCoilMRI(0.5 * mask())  # sigpy's sqrt(weights) would no longer be spade's M
    with pytest.raises(ValueError, match="binary"):
        cs_recon(physics.forward(phantom()), physics, "tv", 0.01, 5)


# --- the study's stages: lambda chosen on validation only, then scored and timed with it


def _split(path, split, n, seed):
    from spade.study.data.h5 import write_split
    from spade.physics import make_physics

    msk = mask()
    physics = make_physics("mri", {"mask": msk})
    xs, ys = [], []
    for i in range(n):
        x = phantom(shift=seed * n + i)
        xs.append(x[0].numpy())
        ys.append(physics.forward(x)[0].numpy())
    write_split(path, "mri", split, ys, xs, [f"{split}{i}" for i in range(n)], {"mask": msk}, {"seed": seed})


def test_lambda_is_chosen_on_validation_then_scored_and_timed(tmp_path):
    import json

    from spade.study.stages import benchmark_cs, choose_cs, evaluate, evaluate_cs

    _split(tmp_path / "val.h5", "val", 3, 0)
    _split(tmp_path / "test.h5", "test", 3, 1)
    with pytest.raises(ValueError, match="chosen on the validation split, not on split 'test'"):
        choose_cs(tmp_path / "test.h5", "tv", [1e-2], 20, tmp_path / "no.json", 1)
    assert not (tmp_path / "no.json").exists()
    chosen = choose_cs(tmp_path / "val.h5", "tv", [1e-3, 2e-2], 100, tmp_path / "tv.json", 1, sigma=0.03)
    record = json.loads((tmp_path / "tv.json").read_text())
    assert record["split"] == "val" and record["lamda"] == chosen["lamda"] and record["sigma"] == 0.03
    assert record["lamda"] == record["grid"][int(np.argmax(record["scores"]))]
    frame = evaluate_cs(tmp_path / "tv.json", tmp_path / "test.h5", tmp_path / "cs.csv", tmp_path / "cs.npz", 0, 1)
    zero = evaluate(None, tmp_path / "test.h5", tmp_path / "zf.csv", tmp_path / "zf.npz", 0, 1)
    assert set(frame.arch) == {"cs-tv"} and set(frame.strategy) == {"classical"} and (frame.cs_lambda == chosen["lamda"]).all()
    assert frame.psnr.mean() > zero.psnr.mean() + 1.0, "TV beats zero-filling on piecewise-constant images"
    opts = {"batch_sizes": [1], "images": 2, "warmup": 1, "rounds": 2, "repeats": 1, "breakdown_repeats": 1,
            "threads": 1, "runtimes": ["eager", "onnxruntime"], "deploy_runtime": "onnxruntime"}
    table = benchmark_cs([tmp_path / "tv.json"], tmp_path / "val.h5", opts, 1, tmp_path / "b.csv", tmp_path / "b.json")
    assert list(table.variant) == ["cs-tv"] and (table.latency_ms > 0).all() and (table.runtime == "eager").all()
    assert (table.macs == 0).all() and (table.params == 0).all()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**record, "split": "test"}))
    with pytest.raises(ValueError, match="chosen on split 'test', not on validation"):
        evaluate_cs(bad, tmp_path / "test.h5", tmp_path / "x.csv", tmp_path / "x.npz", 0, 1)
