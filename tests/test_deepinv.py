"""The API on real DeepInverse networks (`make test-deepinv`, in the environment of `make
deepinv-env`): deepinv cannot be imported beside the pinned CPU torch of `make test` (it needs
torchvision), so there this file is skipped and tests/test_api_user_networks.py checks the same
frictions on stand-ins of the same shapes."""

import copy

import pytest
import torch

dinv = pytest.importorskip("deepinv", reason="deepinv needs its own environment: make test-deepinv")

import spade  # noqa: E402

SIZE = 24


def _physics():
    return dinv.physics.BlurFFT(img_size=(1, SIZE, SIZE), filter=dinv.physics.functional.blur.gaussian_blur(sigma=(1.2, 1.2)),
                                noise_model=dinv.physics.GaussianNoise(sigma=0.01))


def _images(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, SIZE, SIZE, generator=g).cumsum(-1).cumsum(-2) / SIZE**2


def _pgd(denoiser, **kw):
    return dinv.optim.PGD(prior=dinv.optim.PnP(denoiser=denoiser), data_fidelity=dinv.optim.L2(), stepsize=1.0,
                          g_param=0.05, unfold=True, trainable_params=["stepsize", "g_param"], **kw)


def _convs(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


def test_unrolled_dncnn_pruned_with_its_inplace_relus_saved_and_reloaded(tmp_path):
    torch.manual_seed(0)
    physics, x = _physics(), _images()
    y = physics(x)
    net = _pgd(dinv.models.DnCNN(1, 1, depth=4, nf=16, pretrained=None), max_iter=3)
    assert any(getattr(m, "inplace", False) for m in net.modules()), "deepinv's DnCNN builds in-place ReLUs"
    report = spade.prune_priors(net, ["prior.0.denoiser"], example=lambda m: m(y[:1], physics), ratio=0.5)
    widths = [c.out_channels for c in _convs(net.prior[0].denoiser)]
    assert widths[:-1] == [8, 8, 8] and widths[-1] == 1, widths  # channels really removed, output kept
    assert "in-place activations switched off" in str(report)
    with torch.no_grad():
        assert net(y, physics).shape == x.shape
    spade.save_network(net, tmp_path / "net.pt")
    loaded = spade.load_network(tmp_path / "net.pt", _pgd, dinv.models.DnCNN(1, 1, depth=4, nf=16, pretrained=None),
                                max_iter=3)
    assert not any(getattr(m, "inplace", False) for m in loaded.prior[0].denoiser.modules())
    with torch.no_grad():
        torch.testing.assert_close(loaded(y, physics), net(y, physics))


def test_drunet_called_with_sigma_is_pruned():
    torch.manual_seed(0)
    physics, x = _physics(), _images(2)
    y = physics(x)
    net = _pgd(dinv.models.DRUNet(1, 1, nc=[8, 16, 32, 64], nb=1, pretrained=None), max_iter=2)
    before = sum(p.numel() for p in net.parameters())
    spade.prune_priors(net, ["prior.0.denoiser"], example=lambda m: m(y[:1], physics), ratio=0.5)
    assert sum(p.numel() for p in net.parameters()) < 0.5 * before
    with torch.no_grad():
        assert torch.isfinite(net(y, physics)).all()


def test_a_wrong_name_lists_the_real_prior_path():
    physics, x = _physics(), _images(1)
    net = _pgd(dinv.models.DnCNN(1, 1, depth=3, nf=8, pretrained=None), max_iter=2)
    with pytest.raises(ValueError, match=r"prior\.0\.denoiser"):
        spade.prune_priors(net, ["denoiser"], example=lambda m: m(physics(x), physics), ratio=0.5)


def test_strategies_train_on_deepinv_physics_and_the_deq_iterations_are_counted():
    torch.manual_seed(0)
    physics, x = _physics(), _images(6)
    y = physics(x)
    deq = _pgd(dinv.models.DnCNN(1, 1, depth=3, nf=8, pretrained=None), max_iter=40, early_stop=True, thres_conv=1e-3,
               DEQ=dinv.optim.DEQConfig(jacobian_free=True), anderson_acceleration=True)
    teacher = copy.deepcopy(deq)
    spade.prune_priors(deq, ["prior.0.denoiser"], example=lambda m: m(y[:1], physics), ratio=0.5)
    quiet = {"log": lambda *a: None, "batch_size": 2, "lr": 1e-3}
    for strategy, data in (("supervised", spade.Pairs(y, x)), ("school", spade.Measurements(y)),
                           ("selfsup", spade.Measurements(y))):
        history = spade.finetune(deq, strategy, physics, data, teacher=teacher if strategy == "school" else None,
                                 epochs=2, **quiet)
        assert len(history) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    table = spade.benchmark_variants({"unpruned": teacher, "pruned": deq}, physics, y[:1], warmup=1, repeats=2,
                                     priors=["prior.0.denoiser"], iterations="fixed_point.iterator")
    assert (table.iterations > 1).all() and (table.iterations <= 41).all()
    assert table.macs.iloc[1] < table.macs.iloc[0] and table.prior_share.between(0, 1).all()
