"""The library's whole API path, run by tests/test_wheel.py with the python of a clean
virtualenv that holds only the installed wheel, its core requirements and the `deploy` extra,
from a folder outside the checkout: prune -> fine-tune (every strategy) -> benchmark (eager and
ONNX Runtime) -> export -> save/load, on an unrolled network with a Cartesian MRI (FFT)
operator of its own, then on a deepinv-shaped stand-in (an `A` / `A_adjoint` physics, a
denoiser called with `(x, sigma)` and in-place activations). Plain asserts: no pytest here."""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

import spade


def fft2(x):  # [B, 2, H, W] real pair -> k-space, orthonormal
    return torch.view_as_real(torch.fft.fft2(torch.complex(x[:, 0], x[:, 1]), norm="ortho")).permute(0, 3, 1, 2)


def ifft2(k):
    return torch.view_as_real(torch.fft.ifft2(torch.complex(k[:, 0], k[:, 1]), norm="ortho")).permute(0, 3, 1, 2)


class CartesianMRI:
    """``A x = M F x``: every other column plus the centre, single coil."""

    def __init__(self, size=16):
        self.mask = torch.zeros(size, size)
        self.mask[:, ::2] = 1
        self.mask[:, size // 2 - 2 : size // 2 + 2] = 1

    def forward(self, x):
        return self.mask * fft2(x)

    def adjoint(self, y):
        return ifft2(self.mask * y)

    def init(self, y):
        return self.adjoint(y)

    def to(self, device):
        return self


def cnn(channels, features=16, inplace=False):
    return nn.Sequential(nn.Conv2d(channels, features, 3, padding=1), nn.ReLU(inplace=inplace),
                         nn.Conv2d(features, features, 3, padding=1), nn.ReLU(inplace=inplace),
                         nn.Conv2d(features, channels, 3, padding=1))


class Unrolled(nn.Module):
    def __init__(self, channels=2, steps=3):
        super().__init__()
        self.prior = cnn(channels)
        self.steps = steps

    def forward(self, y, physics):
        x = physics.init(y)
        for _ in range(self.steps):
            z = x - physics.adjoint(physics.forward(x) - y)
            x = z + self.prior(z)
        return x


class DeepinvPhysics(nn.Module):
    """deepinv's shape: ``A``, ``A_adjoint``, a noisy ``forward``."""

    def __init__(self, size=16):
        super().__init__()
        self.register_buffer("mask", (torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0)) < 0.6)
                             .float())

    def A(self, x):  # noqa: N802
        return self.mask * x

    def A_adjoint(self, y):  # noqa: N802
        return self.mask * y

    def forward(self, x):
        return self.A(x) + 0.01 * torch.randn_like(x)


class SigmaDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = cnn(1, inplace=True)

    def forward(self, x, sigma):
        return x - self.net(x) * (1 + 0 * sigma)


class DeepinvUnrolled(nn.Module):
    def __init__(self):
        super().__init__()
        self.denoiser = SigmaDenoiser()

    def forward(self, y, physics):
        x = physics.A_adjoint(y)
        for _ in range(3):
            x = self.denoiser(x - 0.5 * physics.A_adjoint(physics.A(x) - y), 0.05)
        return x


def path(name, net, physics, x, prior, channels):
    torch.manual_seed(0)
    y = physics.A(x) if hasattr(physics, "A") else physics.forward(x)
    teacher = copy.deepcopy(net)
    report = spade.prune_priors(net, [prior], example=lambda m: m(y[:1], physics), ratio=0.5)
    assert report.params_after < report.params_before, report
    for strategy in ("supervised", "distill", "school", "hybrid", "selfsup"):
        student = copy.deepcopy(net)
        labelled = strategy in ("supervised", "distill")
        data = spade.Pairs(y, x) if labelled else spade.Measurements(y)
        history = spade.finetune(student, strategy, physics, data, teacher=teacher, epochs=1, batch_size=2,
                                 log=lambda *_: None)
        assert history and all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history), (strategy, history)
    runtimes = []
    for runtime in ("eager", "onnxruntime"):
        table = spade.benchmark_variants({"unpruned": teacher, "pruned": net}, physics, y[:1], priors=[prior],
                                         runtime=runtime, warmup=1, repeats=3)
        assert (table.runtime == runtime).all() and (table.latency_ms > 0).all(), table
        assert table.macs.iloc[1] < table.macs.iloc[0], table
        runtimes.append(runtime)
    with tempfile.TemporaryDirectory() as tmp:
        module = dict(net.named_modules())[prior]
        diff = spade.export(module, torch.randn(1, channels, 16, 16), Path(tmp) / "prior.onnx")
        assert diff < 1e-4, diff
        spade.save_network(net, Path(tmp) / "net.pt")
        loaded = spade.load_network(Path(tmp) / "net.pt", type(net))
        with torch.no_grad():
            assert torch.allclose(loaded(y, physics), net(y, physics), atol=1e-6)
    print(f"{name}: pruned {report.params_before} -> {report.params_after} parameters; 5 strategies; "
          f"timed in {runtimes}; exported within {diff:.1e}; saved and loaded")


def main() -> int:
    here = Path(spade.__file__).resolve()
    if "--installed" in sys.argv:  # tests/test_wheel.py: the wheel, not a checkout on the path
        assert "site-packages" in str(here), f"spade imported from {here}, not from the installed wheel"
    path("unrolled network, Cartesian MRI", Unrolled(), CartesianMRI(), torch.randn(6, 2, 16, 16), "prior", 2)
    path("deepinv-shaped stand-in", DeepinvUnrolled(), DeepinvPhysics(), torch.rand(6, 1, 16, 16), "denoiser.net", 1)
    heavy = sorted(m for m in ("snakemake", "nilearn", "dipy", "sigpy", "seaborn", "h5py", "yaml") if m in sys.modules)
    assert not heavy, f"the API path imported study packages: {heavy}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
