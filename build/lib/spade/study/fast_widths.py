"""Which widths a runtime runs fast: the measurement behind the config's ``round_to``.

    python -m spade.study.fast_widths --out docs/benchmarks/cpu_widths

Times a prior of the default study's shape (EDSR, 3 blocks, a 64 x 64 two-channel image,
batch 1, one thread) at every width from 8 to 64 channels in steps of 4, in each runtime,
the runtimes and widths interleaved in rounds, medians over rounds. The runtime's fast
multiple ``m`` is the largest whose cost is a staircase: every width costs what the next
multiple of ``m`` up costs (:func:`fast_multiple`), so only widths rounded down to a multiple
of ``m`` turn pruning into time. That ``m`` is what ``round_to`` should be for the runtime; the study writes it into its config once, so that
the widths never follow one run's timings. Writes ``OUT.csv`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from spade import deploy
from spade.models import build_prior

CANDIDATES = (4, 8, 16, 32)


def time_widths(widths, runtimes, blocks: int = 3, size: int = 64, rounds: int = 15, repeats: int = 3,
                seed: int = 0) -> pd.DataFrame:
    """Median milliseconds per call of an EDSR prior at each width in each runtime."""
    torch.manual_seed(seed)
    x = torch.randn(1, 2, size, size)
    calls = {}
    for w in widths:
        prior = build_prior({"name": "edsr", "features": int(w), "blocks": blocks}, 2).eval()
        torch.nn.init.normal_(prior.tail.weight, std=0.01)  # no zero layer a runtime could fold away
        for runtime in runtimes:
            if runtime == deploy.CHANNELS_LAST:
                calls[(w, runtime)] = (deploy.deployed_prior(prior, runtime), x.to(memory_format=torch.channels_last))
            else:
                calls[(w, runtime)] = (deploy.deployed_prior(prior, runtime), x)
    samples = {key: [] for key in calls}
    with torch.inference_mode():
        for module, inp in calls.values():  # warm-up (and the ONNX export at this shape)
            module(inp)
            module(inp)
        keys = list(calls)
        for r in range(rounds):
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for key in order:
                module, inp = calls[key]
                tic = time.perf_counter()
                for _ in range(repeats):
                    module(inp)
                samples[key].append((time.perf_counter() - tic) * 1e3 / repeats)
    rows = []
    for (w, runtime), times in samples.items():
        macs = 2 * 9 * 2 * w * size * size + (2 * blocks + 1) * 9 * w * w * size * size
        rows.append({"runtime": runtime, "width": w, "latency_ms": statistics.median(times),
                     "latency_min_ms": min(times), "macs": macs, "rounds": rounds, "repeats": repeats})
    return pd.DataFrame(rows)


def vector_extensions() -> list[str]:
    """The CPU's SIMD extensions that set a convolution kernel's block width (Linux only)."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return []
    return [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile") if f in flags]


def fast_multiple(table: pd.DataFrame, slack: float = 0.05) -> dict[str, int | None]:
    """Per runtime, the largest candidate multiple ``m`` whose cost is a staircase: every
    width above ``m`` runs no faster (within ``slack``) than the next multiple of ``m`` up,
    so channels that are not a multiple of ``m`` cost time and buy none, and pruning pays only
    when it rounds down to a multiple. None where no candidate is a staircase."""
    out = {}
    for runtime, part in table.groupby("runtime", sort=False):
        lat = dict(zip(part.width, part.latency_ms))
        out[runtime] = None
        for m in sorted(CANDIDATES, reverse=True):
            between = [(w, -(-w // m) * m) for w in lat if w > m and w % m]
            checked = [(w, up) for w, up in between if up in lat]
            if checked and all(lat[w] >= (1 - slack) * lat[up] for w, up in checked):
                out[runtime] = m
                break
    return out


def markdown(table: pd.DataFrame, multiples: dict, note: str) -> str:
    runtimes = list(dict.fromkeys(table.runtime))
    widths = sorted(table.width.unique())
    lat = {(r.runtime, r.width): r.latency_ms for r in table.itertuples()}
    lines = ["# Fast widths on this CPU", "", note, "",
             "Median ms per call of an EDSR prior (3 blocks, 64 x 64 two-channel image, batch 1, one thread); "
             "the runtimes and widths interleaved in rounds (`python -m spade.study.fast_widths`).", "",
             "| width | " + " | ".join(runtimes) + " |", "|---" * (len(runtimes) + 1) + "|"]
    for w in widths:
        lines.append(f"| {w} | " + " | ".join(f"{lat[(r, w)]:.2f}" for r in runtimes) + " |")
    lines += ["", "Fast multiple (the largest of 4, 8, 16, 32 whose widths cost what the next multiple up costs, "
              "within 5%: channels between multiples buy no time): "
              + ", ".join(f"{r} {multiples[r] if multiples[r] else 'none of ' + str(CANDIDATES)}" for r in runtimes)
              + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m spade.study.fast_widths", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="OUT.csv and OUT.md are written")
    p.add_argument("--runtimes", nargs="+", default=[deploy.EAGER, deploy.CHANNELS_LAST, deploy.ONNXRUNTIME])
    p.add_argument("--widths", nargs="+", type=int, default=list(range(8, 65, 4)))
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    for runtime in args.runtimes:
        deploy.check_runtime(runtime, "--runtimes")
    torch.set_num_threads(args.threads)
    table = time_widths(args.widths, args.runtimes, rounds=args.rounds)
    note = (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.platform()}, "
            f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}; vector extensions: "
            f"{', '.join(vector_extensions()) or 'unknown'}), torch {torch.__version__}, "
            f"{args.threads} thread(s); onnxruntime " + (__import__("onnxruntime").__version__
                                                     if deploy.available(deploy.ONNXRUNTIME) else "absent") + ".")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    args.out.with_suffix(".md").write_text(markdown(table, fast_multiple(table), note))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
