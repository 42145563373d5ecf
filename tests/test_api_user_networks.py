"""Networks built the way DeepInverse builds them, pruned through the API as a new user would:
stand-ins of the same shapes (a DnCNN with in-place ReLUs, a prior called as ``(x, sigma)``,
a prior nested as ``prior.0.denoiser``, a physics with only ``A``, ``A_adjoint`` and a noisy
``forward``), and the smaller gaps a user met (iterations, ``spade info``, the teacher left
as it was, the exports)."""

import subprocess
import sys

import pytest
import torch
from torch import nn

import spade
from spade.cli import main


class NoisyInpainting(nn.Module):
    """deepinv's physics protocol: ``A`` (noiseless), ``A_adjoint``, and ``forward`` = A + noise."""

    def __init__(self, mask: torch.Tensor, sigma: float = 0.01):
        super().__init__()
        self.register_buffer("mask", mask)
        self.sigma = sigma

    def A(self, x):  # noqa: N802 (deepinv's name)
        return self.mask * x

    def A_adjoint(self, y):  # noqa: N802
        return self.mask * y

    def forward(self, x):
        return self.A(x) + self.sigma * torch.randn_like(x)


class DnCNN(nn.Module):
    """deepinv's DnCNN shape: in-place ReLUs (no constructor argument to turn them off)."""

    def __init__(self, channels=1, features=16, depth=4):
        super().__init__()
        layers = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1), nn.BatchNorm2d(features), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(features, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x, sigma=None):
        return x - self.net(x)


class SigmaPrior(nn.Module):
    """DRUNet's call: ``(x, sigma)``, the noise level as an extra input channel."""

    def __init__(self, channels=1, features=16):
        super().__init__()
        self.head = nn.Conv2d(channels + 1, features, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(features, features, 3, padding=1), nn.ReLU())
        self.tail = nn.Conv2d(features, channels, 3, padding=1)

    def forward(self, x, sigma):
        level = torch.full_like(x[:, :1], float(sigma))
        return x + self.tail(self.body(self.head(torch.cat([x, level], 1))))


class Holder(nn.Module):
    def __init__(self, denoiser):
        super().__init__()
        self.denoiser = denoiser


class Unrolled(nn.Module):
    """deepinv's unrolled layout: the prior at ``prior.0.denoiser``, called as ``(x, sigma)``."""

    def __init__(self, denoiser, steps=3):
        super().__init__()
        self.prior = nn.ModuleList([Holder(denoiser)])
        self.steps = steps

    def forward(self, y, physics):
        x = physics.A_adjoint(y)
        for _ in range(self.steps):
            x = x - 0.5 * physics.A_adjoint(physics.A(x) - y)
            x = self.prior[0].denoiser(x, sigma=0.05)
        return x


def _problem(n=6, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mask = (torch.rand(1, 1, size, size, generator=gen) < 0.6).float()
    physics = NoisyInpainting(mask)
    g = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    x = torch.stack([torch.exp(-((xx - 0.3 * i / n) ** 2 + yy ** 2) * 4)[None] for i in range(n)])
    torch.manual_seed(seed)
    return physics, x, physics(x)


def _run(net, physics, y):
    return lambda m: m(y[:1], physics)


@pytest.mark.parametrize("denoiser", [DnCNN, SigmaPrior])
def test_deepinv_shapes_prune_with_every_argument_and_inplace_activations(denoiser, tmp_path):
    physics, x, y = _problem()
    torch.manual_seed(0)
    net = Unrolled(denoiser())
    before = net(y, physics).detach()
    report = spade.prune_priors(net, ["prior.0.denoiser"], example=_run(net, physics, y), ratio=0.5)
    assert report.params_after < report.params_before and report.macs_reduction > 1.5
    switched = report.inplace_off["prior.0.denoiser"]
    assert switched and all(not m.inplace for m in net.modules() if hasattr(m, "inplace"))
    assert "in-place activations switched off" in str(report)
    assert net(y, physics).shape == before.shape
    # save and load: narrowed to the saved widths, the activations switched off again
    spade.save_network(net, tmp_path / "pruned.pt")
    again = spade.load_network(tmp_path / "pruned.pt", Unrolled, denoiser())
    assert all(not m.inplace for m in again.modules() if hasattr(m, "inplace"))
    torch.testing.assert_close(again.eval()(y, physics), net.eval()(y, physics))


def test_a_name_that_matches_nothing_lists_candidates_by_full_path():
    net = Unrolled(DnCNN())
    with pytest.raises(ValueError, match=r"prior\.0\.denoiser") as err:
        spade.prune_priors(net, ["denoiser"], example=torch.rand(1, 1, 8, 8), ratio=0.5)
    assert "candidate priors" in str(err.value) and "'prior.0.denoiser.net'" in str(err.value)


def test_finetune_and_benchmark_with_a_physics_of_A_adjoint_and_noisy_forward():
    """Every strategy trains on this protocol (forward is noisy: EI re-measures with noise, as
    deepinv's own EI loss does), the caller's teacher stays as it was, and the iterations of
    a network the API cannot see inside come from a callable."""
    physics, x, y = _problem()
    torch.manual_seed(0)
    net = Unrolled(SigmaPrior())
    teacher = Unrolled(SigmaPrior())
    teacher.load_state_dict(net.state_dict())
    teacher.train()
    spade.prune_priors(net, ["prior.0.denoiser"], example=_run(net, physics, y), ratio=0.5)
    for strategy, data in (("supervised", spade.Pairs(y, x)), ("school", spade.Measurements(y)),
                           ("selfsup", spade.Measurements(y))):
        history = spade.finetune(net, strategy, physics, data, teacher=teacher if strategy == "school" else None,
                                 epochs=3, batch_size=2, lr=1e-3, log=lambda *a: None)
        assert len(history) == 3 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)
    assert teacher.training and all(p.requires_grad for p in teacher.parameters()), "the teacher is the caller's"
    table = spade.benchmark_variants({"unpruned": teacher, "pruned": net}, physics, y[:1], warmup=1, repeats=2,
                                     iterations=lambda m: m.steps)
    assert list(table.iterations) == [3.0, 3.0] and table.macs.iloc[1] < table.macs.iloc[0]


class Iterator(nn.Module):
    """One fixed-point step, as deepinv's ``OptimIterator``: a gradient step, then the prior."""

    def __init__(self, denoiser):
        super().__init__()
        self.denoiser = denoiser

    def forward(self, x, y, physics):
        return 0.5 * x + 0.5 * self.denoiser(x - 0.5 * physics.A_adjoint(physics.A(x) - y))


class FixedPoint(nn.Module):
    """deepinv's layout: ``fixed_point.iterator`` called once per iteration until the relative
    change is below ``tol``, keeping no count of its iterations."""

    def __init__(self, iterator, tol, max_iter=200):
        super().__init__()
        self.iterator, self.tol, self.max_iter = iterator, tol, max_iter

    def forward(self, y, physics):
        x = physics.A_adjoint(y)
        for _ in range(self.max_iter):
            new = self.iterator(x, y, physics)
            done = (new - x).norm() <= self.tol * new.norm()
            x = new
            if done:
                break
        return x


class Equilibrium(nn.Module):
    def __init__(self, denoiser, tol):
        super().__init__()
        self.fixed_point = FixedPoint(Iterator(denoiser), tol)

    def forward(self, y, physics):
        return self.fixed_point(y, physics)


def test_iterations_of_a_solver_counted_by_its_submodule_path():
    """deepinv's equilibrium networks keep no iteration count: ``iterations="fixed_point.iterator"``
    counts that submodule's calls, the same number an independent count of the solve gives,
    and more at a tighter tolerance."""
    physics, _, y = _problem()
    torch.manual_seed(0)
    denoiser = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))
    for conv in (denoiser[0], denoiser[2]):
        nn.init.normal_(conv.weight, std=0.05)
    loose, tight = Equilibrium(denoiser, 1e-2), Equilibrium(denoiser, 1e-5)
    table = spade.benchmark_variants({"loose": loose, "tight": tight}, physics, y[:1], warmup=1, repeats=2,
                                     iterations="fixed_point.iterator")
    counted = []
    for net in (loose, tight):
        calls = [0]
        handle = net.fixed_point.iterator.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
        with torch.no_grad():
            net(y[:1], physics)
        handle.remove()
        counted.append(float(calls[0]))
    assert list(table.iterations) == counted and 1 < counted[0] < counted[1] < 200
    with pytest.raises(ValueError, match="no such submodule.*fixed_point.iterator"):
        spade.benchmark_variants({"x": loose}, physics, y[:1], warmup=0, repeats=1, iterations="iterator")


def test_spade_info_reads_save_network_files(tmp_path, capsys):
    physics, x, y = _problem()
    net = Unrolled(DnCNN())
    spade.prune_priors(net, ["prior.0.denoiser"], example=_run(net, physics, y), ratio=0.5)
    spade.save_network(net, tmp_path / "mine.pt", meta={"note": "pruned at 0.5"})
    assert main(["info", str(tmp_path / "mine.pt")]) == 0
    out = capsys.readouterr().out
    assert "spade.save_network" in out and "pruned at 0.5" in out and "params:" in out


def test_exports_and_submodules_without_using_the_api_first():
    code = ("import spade; assert spade.PruningError.__name__ == 'PruningError'; "
            "import importlib; s = importlib.import_module('spade'); "
            "assert spade.prune.prune_prior and spade.benchmark.count_macs; print('ok')")
    fresh = subprocess.run([sys.executable, "-c", "import spade; print(spade.prune.__name__)"], capture_output=True,
                           text=True)
    assert fresh.returncode == 0 and fresh.stdout.strip() == "spade.prune", fresh.stderr
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    with pytest.raises(AttributeError):
        spade.no_such_thing  # noqa: B018
