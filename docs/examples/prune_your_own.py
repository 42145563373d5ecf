"""Prune your own MBDL network with the spade API, on inverse problems the study does not
cover: image deblurring and inpainting.

Everything problem-specific is defined here, outside the spade package: the operators
(a Gaussian blur and a random pixel mask, each with its adjoint) and the network (a
proximal-gradient unrolled network whose one denoiser is called at every step). The
script trains it briefly on photographs that scikit-image ships, prunes the denoiser
through ``spade.prune_priors``, fine-tunes one pruned copy with the unpruned network as
teacher (school) and one with equivariant self-supervision (no ground truth for either),
and prints PSNR, MACs and measured latency before and after.

    python docs/examples/prune_your_own.py deblur      # or inpaint; --ratio 0.5 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

import spade

# --------------------------------------------------------------------- the operators


class Blur:
    """``A x = k * x`` (circular convolution with a Gaussian kernel, by FFT), and ``A^T``."""

    def __init__(self, size: tuple[int, int], sigma: float = 1.5):
        h, w = size
        yy = torch.fft.fftfreq(h)[:, None] * h
        xx = torch.fft.fftfreq(w)[None] * w
        kernel = torch.exp(-(yy**2 + xx**2) / (2 * sigma**2))
        self.otf = torch.fft.fft2(kernel / kernel.sum())

    def forward(self, x):
        return torch.fft.ifft2(torch.fft.fft2(x) * self.otf).real

    def adjoint(self, y):
        return torch.fft.ifft2(torch.fft.fft2(y) * self.otf.conj()).real

    def init(self, y):
        return y

    def to(self, device):
        self.otf = self.otf.to(device)
        return self


class Inpaint:
    """``A x = m * x`` with a random mask ``m`` keeping ``keep`` of the pixels; ``A^T = A``."""

    def __init__(self, size: tuple[int, int], keep: float = 0.5, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.mask = (torch.rand(size, generator=gen) < keep).float()

    def forward(self, x):
        return self.mask * x

    def adjoint(self, y):
        return self.mask * y

    def init(self, y):
        """Missing pixels filled by normalised convolution: the mean of the known pixels in
        a 5 x 5 window (the classical interpolation the network starts from)."""
        box = torch.ones(1, 1, 5, 5, device=y.device)
        num = torch.nn.functional.conv2d(self.mask * y, box, padding=2)
        den = torch.nn.functional.conv2d(self.mask.expand_as(y[:, :1]), box, padding=2)
        fill = torch.where(den > 0, num / den.clamp(min=1e-6), y.mean(dim=(-2, -1), keepdim=True))
        return self.mask * y + (1 - self.mask) * fill

    def to(self, device):
        self.mask = self.mask.to(device)
        return self


# --------------------------------------------------------------------- the network


class Denoiser(nn.Module):
    """A residual CNN prior: ``D(z) = z + net(z)``, starting as the identity."""

    def __init__(self, features: int = 24, layers: int = 4):
        super().__init__()
        mods = [nn.Conv2d(1, features, 3, padding=1), nn.LeakyReLU(0.1)]
        for _ in range(layers - 2):
            mods += [nn.Conv2d(features, features, 3, padding=1), nn.LeakyReLU(0.1)]
        mods.append(nn.Conv2d(features, 1, 3, padding=1))
        nn.init.zeros_(mods[-1].weight)
        nn.init.zeros_(mods[-1].bias)
        self.net = nn.Sequential(*mods)

    def forward(self, z):
        return z + self.net(z)


class UnrolledPGD(nn.Module):
    """``x <- D(x - g_k A^T(A x - y))`` for ``steps`` steps, one denoiser shared by all."""

    def __init__(self, steps: int = 4, features: int = 24):
        super().__init__()
        self.denoiser = Denoiser(features)
        self.step = nn.Parameter(torch.ones(steps))

    def forward(self, y, physics):
        x = physics.init(y)
        for g in self.step:
            x = self.denoiser(x - g * physics.adjoint(physics.forward(x) - y))
        return x


# --------------------------------------------------------------------- data and scores


def photographs(names, patch: int | None, per_image: int, seed: int) -> torch.Tensor:
    """Grey-level photographs that scikit-image ships: random ``patch`` crops, or whole
    centre crops of 128 x 128 when ``patch`` is None."""
    from skimage import data as skdata
    from skimage.color import rgb2gray

    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        img = getattr(skdata, name)()
        img = rgb2gray(img[..., :3]) if img.ndim == 3 else img / 255.0
        img = img[::2, ::2].astype(np.float32)  # half size: finer detail per pixel
        if patch is None:
            r, c = (img.shape[0] - 128) // 2, (img.shape[1] - 128) // 2
            out.append(img[r:r + 128, c:c + 128])
            continue
        for _ in range(per_image):
            r, c = rng.integers(0, img.shape[0] - patch), rng.integers(0, img.shape[1] - patch)
            out.append(img[r:r + patch, c:c + patch])
    return torch.from_numpy(np.stack(out))[:, None]


def psnr(x, ref) -> float:
    mse = ((x.clamp(0, 1) - ref) ** 2).mean(dim=(1, 2, 3))
    return float((10 * torch.log10(1 / mse)).mean())


def measure(op, x, noise: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    y = op.forward(x)
    return y + noise * torch.randn(y.shape, generator=gen)


def reconstruct_all(net, op, y):
    with torch.inference_mode():
        return net(y, op)


def run(problem: str, ratio: float = 0.5, epochs: int = 40, finetune_epochs: int = 8, patches: int = 24,
        lr: float = 2e-3, noise: float = 0.01, threads: int = 2, seed: int = 0, log=print) -> dict:
    """Train, prune, fine-tune (school, selfsup) and compare; returns the numbers printed."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    make_op = Blur if problem == "deblur" else Inpaint
    train_x = photographs(["brick", "grass", "gravel", "moon", "page", "text", "coins"], 32, patches, seed)
    unlabelled_x = photographs(["rocket", "retina", "hubble_deep_field"], 32, patches, seed + 1)
    test_x = photographs(["camera", "astronaut", "coffee"], None, 1, seed + 2)
    op_train, op_test = make_op((32, 32)), make_op((128, 128))
    train_y = measure(op_train, train_x, noise, seed)
    unlabelled_y = measure(op_train, unlabelled_x, noise, seed + 1)  # measurements only
    test_y = measure(op_test, test_x, noise, seed + 2)

    net = UnrolledPGD()
    spade.finetune(net, "supervised", op_train, spade.Pairs(train_y, train_x), epochs=epochs, lr=lr,
                   batch_size=8, seed=seed, log=lambda m: None)  # brief training of the unpruned network
    unpruned = copy.deepcopy(net).eval()

    rows = {"unpruned": unpruned, "classical: physics.init(y)": None}
    pruned = copy.deepcopy(unpruned)
    report = spade.prune_priors(pruned, ["denoiser"], example=lambda m: m(test_y[:1], op_test), ratio=ratio)
    log(str(report))
    rows["pruned, not fine-tuned"] = copy.deepcopy(pruned)
    for strategy in ("school", "selfsup"):
        tuned = copy.deepcopy(pruned)
        spade.finetune(tuned, strategy, op_train, spade.Measurements(unlabelled_y), teacher=unpruned,
                       epochs=finetune_epochs, lr=1e-3, batch_size=4, seed=seed, log=lambda m: None)
        rows[f"pruned + {strategy}"] = tuned.eval()

    nets = {k: v for k, v in rows.items() if v is not None}
    timing = spade.benchmark_variants(nets, op_test, test_y[:1], warmup=2, repeats=15, threads=threads)
    results = {}
    for name, model in rows.items():
        pred = op_test.init(test_y) if model is None else reconstruct_all(model, op_test, test_y)
        results[name] = {"psnr": psnr(pred, test_x)}
        if model is not None:
            t = timing[timing.variant == name].iloc[0]
            results[name].update(latency_ms=float(t.latency_ms), speedup=float(t.speedup), macs=int(t.macs))
    log(f"\n{problem}: test PSNR on 3 photographs (128 x 128), latency at batch 1 on {threads} thread(s)")
    for name, r in results.items():
        extra = (f"  {r['latency_ms']:7.2f} ms  {r['speedup']:.2f}x  {r['macs'] / 1e6:7.1f} M MACs"
                 if "latency_ms" in r else "")
        log(f"  {name:30s} {r['psnr']:6.2f} dB{extra}")
    return {"report": report, "results": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("problem", choices=["deblur", "inpaint"])
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tic = time.perf_counter()
    run(args.problem, args.ratio, threads=args.threads)
    print(f"({time.perf_counter() - tic:.0f} s)")
