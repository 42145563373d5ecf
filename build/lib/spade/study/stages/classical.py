"""The compressed-sensing baselines' stages: lambda chosen on the validation split, then every
split scored and the baselines timed with it (:mod:`spade.study.classical`)."""

from __future__ import annotations

from pathlib import Path

from spade.metrics import convention_for, score
from spade.study.provenance import environment, write_json
from spade.study.stages.context import data_ranges, log, open_split, sample_operator, start_job


def choose_cs(data_path, method: str, lambdas, iterations: int, out_json, threads: int,
              convention: str | None = None, sigma: float | None = None) -> dict:
    """The ``lambda`` of ``lambdas`` with the best mean validation PSNR for CS ``method``
    (:func:`spade.study.classical.choose_lambda`), written with every lambda's score to ``out_json``.
    Reads the validation split only: a classical baseline is tuned like a supervised network,
    on validation ground truth, never on test."""
    from spade.study.classical import PRIMAL_DUAL, choose_lambda

    start_job(0, threads, "cpu")
    task, physics, data = open_split(data_path, True)
    if data.split != "val":
        raise ValueError(f"{data_path}: lambda is chosen on the validation split, not on split {data.split!r}")
    convention = convention_for(task, convention)
    ranges = data_ranges(data, physics, convention)
    groups = data.groups or ["all"] * len(data)
    ops = [sample_operator(physics, data, i) for i in range(len(data))]
    rng_of = {id(op): ranges.get(g) for op, g in zip(ops, groups)}

    def psnr(pred, x, op):
        return score(pred[0], x, op, task, convention, rng_of[id(op)])["psnr"]

    chosen = choose_lambda([data.y[i][None] for i in range(len(data))], [data.x[i] for i in range(len(data))], ops,
                           method, lambdas, iterations, psnr, sigma if method in PRIMAL_DUAL else None, units=groups)
    log.info("cs %s: lambda %g (validation PSNR %.2f dB, %d images of %d units weighed equally; grid %s)", method,
             chosen["lamda"], chosen["best_score"], len(data), len(set(groups)),
             dict(zip(chosen["grid"], [round(s, 2) for s in chosen["scores"]])))
    write_json({**chosen, "task": task, "split": data.split, "images": len(data), "convention": convention,
                "data": str(data_path), **environment(0, "cpu")}, out_json)
    return chosen


def read_lambda(path) -> dict:
    """A compressed-sensing baseline as :func:`choose_cs` wrote it: its ``method``, the
    ``lamda`` chosen on validation and its ``iterations``."""
    import json

    chosen = json.loads(Path(path).read_text())
    missing = [k for k in ("method", "lamda", "iterations", "sigma", "split") if k not in chosen]
    if missing:
        raise ValueError(f"{path}: no {missing} (a lambda choice of choose_cs expected)")
    if chosen["split"] != "val":
        raise ValueError(f"{path}: lambda was chosen on split {chosen['split']!r}, not on validation")
    return {k: chosen[k] for k in ("method", "lamda", "iterations", "sigma")}


def evaluate_cs(lambda_json, test_path, out_csv, out_examples, n_examples: int, threads: int,
                convention: str | None = None):
    """Per-image PSNR/SSIM of the compressed-sensing baseline ``lambda_json`` describes
    (:func:`choose_cs`) on a labelled split (:func:`spade.study.stages.evaluate.evaluate`)."""
    from spade.study.stages.evaluate import evaluate

    return evaluate(None, test_path, out_csv, out_examples, n_examples, threads, "cpu", convention,
                    cs=read_lambda(lambda_json))


def benchmark_cs(lambda_jsons, data_path, opts: dict, threads: int, out_csv, out_info):
    """The compressed-sensing baselines timed side by side, with the benchmark's images,
    warm-up, rounds and repeats (:func:`spade.study.stages.benchmark.run_benchmark`), in eager
    PyTorch/numpy: they have no network for a runtime to deploy."""
    from spade.deploy import EAGER
    from spade.options import BenchmarkOptions
    from spade.study.stages.benchmark import run_benchmark

    variants = [{"cs": read_lambda(p)} for p in lambda_jsons]
    opts = BenchmarkOptions.of(opts).replace(runtimes=(EAGER,), deploy_runtime=EAGER, deq_loose_tol=None,
                                             channels_last=False, compile=False)
    return run_benchmark(variants, data_path, opts, "cpu", threads, out_csv, out_info)
