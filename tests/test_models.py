"""Every arch with every prior: pruning, shapes, gradients and the safe artifact."""

import pytest
import torch

from spade.checkpoint import layer_shapes, load_model, save_model
from spade.models import build_model
from spade.models.anderson import anderson
from spade.physics import MultiCoilMRI, SingleCoilMRI, cartesian_mask
from spade.physics.mri import simulate_coil_maps
from spade.prune import prune_model

from conftest import ALL_SPECS


def _physics(multicoil: bool, size=(16, 16)):
    mask = cartesian_mask(size, 3, 0.2)
    if multicoil:
        return MultiCoilMRI(mask, simulate_coil_maps(4, size, 0))
    return SingleCoilMRI(mask)


def _randomise(model, std=0.05):
    with torch.no_grad():  # zero-initialised output layers would hide wrong loads
        for p in model.parameters():
            p.add_(std * torch.randn_like(p))


@pytest.mark.parametrize("name", sorted(ALL_SPECS))
@pytest.mark.parametrize("ratio", [0.25, 0.5])
def test_every_arch_and_prior_prunes_and_round_trips(tmp_path, name, ratio):
    torch.manual_seed(0)
    spec = ALL_SPECS[name]
    model = build_model(spec)
    _randomise(model)
    physics = _physics(False)
    y = physics.forward(torch.randn(2, 2, 16, 16))
    info = prune_model(model, physics.init(y[:1]), ratio)
    assert info["params_after"] < info["params_before"]
    for prior in model.priors():  # image channels in and out stay
        convs = [m for m in prior.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        assert convs[0].in_channels == 2 and convs[-1].out_channels == 2
    model.train()
    out = model(y, physics)
    assert out.shape == y.shape
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.priors()[0].parameters())
    path = tmp_path / "m.pt"
    save_model(path, model, spec)
    loaded, _ = load_model(path)
    model.eval(), loaded.eval()
    with torch.no_grad():
        assert torch.allclose(model(y, physics), loaded(y, physics), atol=1e-6)


@pytest.mark.parametrize("arch", ["du", "deq"])
def test_scale_equivariant_prior_makes_the_network_scale_equivariant_before_and_after_pruning(tmp_path, arch):
    # D(cz) = c D(z) for the prior; with linear physics the whole network follows:
    # f(c y) = c f(y), so an image's intensity scale need not be one seen in training
    torch.manual_seed(0)
    prior = {"name": "edsr", "features": 16, "blocks": 1, "scale_equivariant": True}
    extra = {"steps": 3} if arch == "du" else {"alpha": 0.5}
    spec = {"arch": arch, "channels": 2, "prior": prior, **extra}
    model = build_model(spec)
    _randomise(model, std=0.02)
    physics = _physics(False)
    y = physics.forward(torch.randn(2, 2, 16, 16))
    plain = build_model({**spec, "prior": {**prior, "scale_equivariant": False}})
    plain.load_state_dict(model.state_dict())  # the same weights: the option adds none
    model.eval(), plain.eval()
    with torch.no_grad():
        # the DEQ's map T: its fixed point scales with y (Anderson's regularised least squares
        # makes the solver itself equivariant only approximately)
        run = (lambda m, y: m(y, physics)) if arch == "du" else (lambda m, y: m.step(physics.init(y), y, physics))
        for c in (0.05, 7.0):
            torch.testing.assert_close(run(model, c * y), c * run(model, y), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(run(plain, 7.0 * y), 7.0 * run(plain, y), atol=1e-3)
    prune_model(model, physics.init(y[:1]), 0.5)
    save_model(tmp_path / "m.pt", model, spec)
    loaded, _ = load_model(tmp_path / "m.pt")
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(run(loaded, 3.0 * y), 3.0 * run(loaded, y), rtol=1e-4, atol=1e-5)


def test_varnet_prunes_each_cascade_and_never_the_sensitivity_net():
    torch.manual_seed(0)
    spec = dict(ALL_SPECS["varnet-unet"], sens={"features": 4, "pools": 1})
    model = build_model(spec)
    _randomise(model)
    physics = _physics(True)
    y = physics.forward(torch.randn(1, 2, 16, 16))
    before = layer_shapes(model)
    prune_model(model, physics.init(y), 0.5)
    after = layer_shapes(model)
    assert {k: v for k, v in after.items() if k.startswith("sens_net")} == \
        {k: v for k, v in before.items() if k.startswith("sens_net")}
    for c in range(3):
        assert after[f"cascades.{c}.down.0.0"] == [2, 4], "each cascade loses half its channels"
    assert model(y, physics).shape == (1, 2, 16, 16)


def test_anderson_solves_a_contraction_faster_than_plain_iteration():
    torch.manual_seed(0)
    w = torch.randn(2, 40, 40) / 7
    b = torch.randn(2, 40)

    def f(x):
        return 0.9 * torch.tanh((w @ x[..., None])[..., 0]) + b

    x, iters, residual = anderson(f, torch.zeros(2, 40), memory=5, max_iter=200, tol=1e-6)
    assert (residual < 1e-6).all()
    assert torch.allclose(f(x), x, atol=1e-4)
    z, picard = torch.zeros(2, 40), 0
    while ((f(z) - z).norm(dim=1) / f(z).norm(dim=1)).max() >= 1e-6:
        z, picard = f(z), picard + 1
    assert int(iters.max()) < picard


class _Contraction(torch.nn.Module):
    """A prior with Lipschitz constant below 1, so the DEQ map has a unique fixed point."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.mul_(0.3 / self.conv.weight.abs().sum())

    def forward(self, z):
        return 0.8 * torch.tanh(self.conv(z))


def test_deq_reaches_its_fixed_point_and_records_iterations():
    from spade.models.deq import DEQ

    torch.manual_seed(0)
    model = DEQ(_Contraction(), step_size=1.0, alpha=0.5, memory=5, max_iter=60, tol=1e-5).eval()
    physics = _physics(False)
    y = physics.forward(torch.randn(3, 2, 16, 16))
    with torch.no_grad():
        x = model(y, physics)
        gap = (model.step(x, y, physics) - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert (gap < 1e-4).all()
    assert model.last_iterations.shape == (3,) and (model.last_iterations < 60).all()


def test_deq_backpropagates_through_one_application_only():
    """Jacobian-free backprop: the graph holds one prior call, whatever the solve took."""
    torch.manual_seed(0)
    model = build_model(ALL_SPECS["deq-dncnn"]).train()
    physics = _physics(False)
    y = physics.forward(torch.randn(1, 2, 16, 16))
    calls = {"n": 0}
    model.prior.register_forward_hook(lambda *a: calls.__setitem__("n", calls["n"] + int(torch.is_grad_enabled())))
    model(y, physics).sum().backward()
    assert calls["n"] == 1
    assert model.step_size.grad is not None and model.alpha.grad is not None


def test_deq_on_the_super_resolution_operator_trains_prunes_and_solves():
    """The SR DEQ end to end in miniature (the tiny study runs the DEQ on MRI only): a
    training step through the SR operator, pruning, and a test-time solve that records its
    iterations."""
    from spade.physics.sr import SuperResolution, blur_kernel

    torch.manual_seed(0)
    spec = dict(ALL_SPECS["deq-dncnn"], channels=1)
    model = build_model(spec).train()
    physics = SuperResolution(blur_kernel("gaussian", 2, 1.0), 2)
    x = torch.rand(2, 1, 16, 16)
    y = physics.forward(x)
    loss = (model(y, physics) - x).abs().mean()
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.prior.parameters())
    prune_model(model, physics.init(y[:1]), 0.5)
    model.eval()
    with torch.no_grad():
        out = model(y, physics)
    assert out.shape == x.shape and (model.last_iterations >= 1).all()
