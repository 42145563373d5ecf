"""Prune DeepInverse networks with the spade API: an unrolled proximal-gradient network and a
deep equilibrium network, each with deepinv's DnCNN prior, on deepinv's Gaussian deblurring.

Nothing here is adapted for spade: the networks are deepinv's own (``dinv.optim.PGD`` with a
``PnP(DnCNN)`` prior, unrolled for 4 steps, or solved to a fixed point with Anderson
acceleration and a Jacobian-free backward pass), the operator is deepinv's ``BlurFFT`` with
Gaussian noise (``A``, ``A_adjoint`` and a noisy ``forward``). The script trains each network
briefly on scikit-image photographs (spade's supervised fine-tuning from random weights), prunes
the DnCNN at ``prior.0.denoiser`` with ``spade.prune_priors`` (deepinv builds it with in-place
ReLUs and calls it as ``(x, sigma)``: both handled), fine-tunes a pruned copy with each
strategy (supervised; school, with the unpruned network as teacher; selfsup, equivariant
self-supervision on measurements alone), scores every variant on held-out photographs, and
times them side by side with the time breakdown (the prior's share, the Amdahl bound) and the
DEQ's solver iterations (counted at deepinv's ``fixed_point.iterator``).

    make deepinv-example        # its own environment (deepinv needs torchvision), then this
    .venv-deepinv/bin/python docs/examples/deepinv_prune.py --ratio 0.5 --threads 2 --out results/deepinv

Gaussian blur commutes with shifts and (its kernel being isotropic) with rotations, so the
equivariance term of selfsup sees nothing a single operator hides: on this problem selfsup
is measurement consistency and little more (Tachella et al.: EI needs an operator that is
not equivariant to the group). Its row shows that, not a defect of the pruning.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import spade
from spade.study.stats import format_difference, paired_difference

# photographs scikit-image ships, split by image (no photograph in two splits)
SPLITS = {"train": ["camera", "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field",
                    "retina"],
          "val": ["coins", "moon"], "test": ["page", "text", "brick", "grass", "gravel", "cell", "clock"]}
PER_IMAGE = {"train": 12, "val": 6, "test": 6}


def photographs(names: list[str], size: int, per_image: int, seed: int) -> torch.Tensor:
    """``per_image`` random ``size`` x ``size`` grey patches of each photograph, in [0, 1]."""
    from skimage import color, data, transform

    gen = np.random.default_rng(seed)
    patches = []
    for name in names:
        image = getattr(data, name)()
        if image.ndim == 3:
            image = color.rgb2gray(image[..., :3])
        elif np.issubdtype(image.dtype, np.integer):
            image = image.astype(np.float64) / np.iinfo(image.dtype).max
        image = transform.rescale(image, 0.5, anti_aliasing=True)  # photographs at half size: more texture per patch
        for _ in range(per_image):
            top, left = (int(gen.integers(0, n - size + 1)) for n in image.shape)
            patches.append(image[top:top + size, left:left + size])
    return torch.tensor(np.stack(patches)[:, None], dtype=torch.float32)


def blur(size: int, sigma: float, noise: float):
    import deepinv as dinv

    return dinv.physics.BlurFFT(img_size=(1, size, size), filter=dinv.physics.functional.blur.gaussian_blur(sigma=(sigma, sigma)),
                                noise_model=dinv.physics.GaussianNoise(sigma=noise))


def network(kind: str, features: int, depth: int, tol: float):
    """deepinv's PGD with a PnP DnCNN prior: unrolled for 4 steps (``du``), or a DEQ solved to
    ``tol`` with Anderson acceleration and a Jacobian-free backward pass (``deq``)."""
    import deepinv as dinv

    prior = dinv.optim.PnP(denoiser=dinv.models.DnCNN(1, 1, depth=depth, nf=features, pretrained=None))
    common = {"prior": prior, "data_fidelity": dinv.optim.L2(), "stepsize": 1.0, "g_param": 0.05, "unfold": True,
              "trainable_params": ["stepsize", "g_param"]}
    if kind == "du":
        return dinv.optim.PGD(max_iter=4, **common)
    return dinv.optim.PGD(max_iter=60, early_stop=True, thres_conv=tol, crit_conv="residual",
                          DEQ=dinv.optim.DEQConfig(jacobian_free=True), anderson_acceleration=True, **common)


def psnr(net, physics, y, x) -> pd.DataFrame:
    """Per-patch PSNR (peak 1) of ``net``'s reconstructions, in batches of 8, with the
    photograph each patch comes from (the resampling unit: patches of one photograph are
    not independent)."""
    with torch.no_grad():
        out = torch.cat([net(y[i:i + 8], physics) for i in range(0, len(y), 8)])
    mse = ((out.clamp(0, 1) - x) ** 2).flatten(1).mean(1)
    return pd.DataFrame({"image": range(len(x)), "psnr": (10 * torch.log10(1 / mse)).tolist(),
                         "photograph": np.repeat(SPLITS["test"], PER_IMAGE["test"])})


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--train-epochs", type=int, default=6)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--archs", nargs="+", default=["du", "deq"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for results.json and results.md")
    args = parser.parse_args(argv)
    import deepinv as dinv

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    physics = blur(args.size, 1.5, 0.01)
    split = {name: photographs(names, args.size, PER_IMAGE[name], args.seed + i)
             for i, (name, names) in enumerate(SPLITS.items())}
    torch.manual_seed(args.seed)
    meas = {name: physics(x) for name, x in split.items()}  # noisy measurements, drawn once
    quiet = {"log": lambda *a: None, "seed": args.seed, "device": "cpu"}
    results = {"deepinv": dinv.__version__, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
               "threads": torch.get_num_threads(), "args": vars(args), "archs": {}}
    for arch in args.archs:
        torch.manual_seed(args.seed)
        unpruned = network(arch, args.features, args.depth, args.tol)
        history = spade.finetune(unpruned, "supervised", physics, spade.Pairs(meas["train"], split["train"]),
                                 val=spade.Pairs(meas["val"], split["val"]), epochs=args.train_epochs, batch_size=4,
                                 lr=1e-3, **quiet)
        variants, scores, fits = {"unpruned": unpruned}, {}, {"unpruned": len(history)}
        # the control for fine-tuning's extra epochs: the unpruned network trained on for as long
        longer = copy.deepcopy(unpruned)
        fits["unpruned-long"] = len(history) + len(spade.finetune(
            longer, "supervised", physics, spade.Pairs(meas["train"], split["train"]),
            val=spade.Pairs(meas["val"], split["val"]), epochs=args.finetune_epochs, batch_size=2, lr=5e-4, **quiet))
        variants["unpruned-long"] = longer
        example = lambda m: m(meas["train"][:1], physics)  # noqa: E731  (one call of the prior per step)
        for strategy in ["none", "supervised", "school", "selfsup"]:
            pruned = copy.deepcopy(unpruned)
            report = spade.prune_priors(pruned, ["prior.0.denoiser"], example=example, ratio=args.ratio)
            if strategy != "none":
                data = (spade.Pairs(meas["train"], split["train"]) if strategy == "supervised"
                        else spade.Measurements(meas["train"]))  # school and selfsup: measurements only
                val = spade.Pairs(meas["val"], split["val"]) if strategy == "supervised" else spade.Measurements(meas["val"])
                fits[strategy] = len(spade.finetune(pruned, strategy, physics, data, val=val,
                                                    teacher=unpruned if strategy == "school" else None,
                                                    epochs=args.finetune_epochs, batch_size=2, lr=5e-4, **quiet))
            variants[f"pruned {strategy}"] = pruned
        for name, net in variants.items():
            scores[name] = psnr(net.eval(), physics, meas["test"], split["test"])
        table = spade.benchmark_variants(variants, physics, meas["test"][:1], warmup=2, repeats=15,
                                         threads=args.threads, priors=["prior.0.denoiser"],
                                         iterations="fixed_point.iterator" if arch == "deq" else None)
        rows = []
        for row in table.to_dict("records"):
            name = row["variant"]
            # paired over the same patches, bootstrap over whole photographs (95%)
            against = {ref: paired_difference(scores[name], scores[ref], unit="photograph", seed=args.seed)
                       for ref in ("unpruned", "unpruned-long")}
            rows.append({**{k: row[k] for k in ("variant", "latency_ms", "speedup", "macs", "prior_share",
                                                "amdahl_speedup", "iterations")},
                         "test_psnr": float(scores[name].psnr.mean()),
                         **{f"minus_{ref.replace('-', '_')}": d for ref, d in against.items()},
                         "epochs": fits.get(name.removeprefix("pruned "), 0)})
        results["archs"][arch] = {"report": str(report), "rows": rows}
        print(f"\n## {arch}: deepinv PGD ({'4 unrolled steps' if arch == 'du' else f'DEQ, tol {args.tol:g}'}), "
              f"DnCNN {args.depth} x {args.features}, pruned at {args.ratio:g}\n{report}")
        print(markdown(rows))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
        (out / "results.md").write_text("\n\n".join(f"## {a}\n\n{markdown(r['rows'])}" for a, r in results["archs"].items()) + "\n")
    return results


def markdown(rows: list[dict]) -> str:
    lines = ["| variant | test PSNR | minus unpruned | minus unpruned-long | epochs | latency ms | speedup | MACs (M) | "
             "prior share | Amdahl bound | iterations |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        iters = "" if r["iterations"] is None or np.isnan(r["iterations"]) else f"{r['iterations']:.0f}"
        diffs = [format_difference(d["diff"], d["low"], d["high"]) if d["images"] and d["diff"] else "+0.00"
                 for d in (r["minus_unpruned"], r["minus_unpruned_long"])]
        lines.append(f"| {r['variant']} | {r['test_psnr']:.2f} | {diffs[0]} | {diffs[1]} | {r['epochs']} | "
                     f"{r['latency_ms']:.2f} | {r['speedup']:.2f} | {r['macs'] / 1e6:.1f} | {r['prior_share']:.2f} | "
                     f"{r['amdahl_speedup']:.2f} | {iters} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
