"""The ``spade`` command: the study's stages on its artifacts and split files, one at a time.

    spade info results/models/mri/du/unpruned.pt
    spade prune results/models/mri/du/unpruned.pt --data results/data/mri/train.h5 --ratio 0.4 -o du-r0.4.pt
    spade finetune du-r0.4.pt --strategy school --teacher results/models/mri/du/unpruned.pt \\
        --train results/data/mri/unlabelled.h5 --val results/data/mri/val.h5 -o du-r0.4-school.pt
    spade evaluate du-r0.4-school.pt --data results/data/mri/test.h5 -o scores.csv
    spade bench results/models/mri/du/unpruned.pt du-r0.4-school.pt --data results/data/mri/test.h5

Options carry the names of the config keys (config/README.md). The Snakemake rules call
the same functions (spade.study.stages). Exit status 2 and one line naming the file or option on
bad input; nothing is written then.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spade import strategies
from spade.hooks import forward_hooks
from spade.study.variants import CRITERIA, GLOBAL

PROG = "spade"


def _fit_options(p: argparse.ArgumentParser, epochs: int, lr: float) -> None:
    g = p.add_argument_group("budget (the config's finetune.<task> keys)")
    g.add_argument("--epochs", type=int, default=epochs, help=f"passes over the training split (default {epochs})")
    g.add_argument("--batch-size", type=int, default=1, help="samples per step (default 1, as the paper)")
    g.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default {lr:g})")
    g.add_argument("--lr-min-factor", type=float, default=0.1, help="cosine decay floor, a fraction of --lr")
    g.add_argument("--loss", choices=["l1", "mse", "smoothl1"], default="l1", help="pixel loss (default l1)")
    g.add_argument("--grad-clip", type=float, default=1.0, help="gradient-norm clip (0: none)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N (default cpu)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description=(
        "SPADE: structured pruning of the CNN prior of model-based deep learning networks, then recovery "
        "by fine-tuning (supervised, school, self-supervised). These commands run one stage of the study "
        "on its artifacts (.pt) and split files (.h5); `snakemake --cores all` runs the whole study, and "
        "the Python API (import spade; docs/api.md) prunes networks of your own."),
        epilog="Run `spade <command> --help` for each command's options.")
    from spade import __version__

    top.add_argument("--version", action="version", version=f"%(prog)s {__version__} (distribution spade-mbdl)")
    sub = top.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("info", help="describe a model artifact or a split file",
                       description="Print what a model artifact (.pt) or a split file (.h5) holds: identity, "
                                   "network, widths, parameters and training history; or task, split, samples, "
                                   "shapes and provenance.")
    p.add_argument("path", type=Path, help="a .pt artifact or .h5 split")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("prune", help="prune a trained network's priors",
                       description="Remove a fraction of the channels of every dependency group of each prior "
                                   "(Torch-Pruning DepGraph), ranked by the criterion; image channels stay.")
    p.add_argument("model", type=Path, help="the unpruned artifact (results/models/<task>/<arch>/unpruned.pt)")
    p.add_argument("--data", type=Path, required=True,
                   help="a split of the task: its first sample fixes the shapes (taylor: its first 8 measurements)")
    p.add_argument("--ratio", type=float, required=True, help="fraction of channels removed per group, in (0, 1)")
    p.add_argument("--criterion", choices=[c + g for c in CRITERIA for g in ("", GLOBAL)], default="l1",
                   help="importance (default l1; taylor: gradients of the measurement consistency on --data; "
                        "_global: one budget over all groups)")
    p.add_argument("--round-to", type=int, default=None, help="round the channels kept to a multiple")
    p.add_argument("--seed", type=int, default=0, help="seed of the random criterion (default 0)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the pruned artifact to write")

    p = sub.add_parser("finetune", help="fine-tune a pruned network",
                       description="Fine-tune a pruned artifact. " + " ".join(
                           f"{s.name}: {s.summary}." for s in strategies.REGISTRY.values()) + " Label-free "
                           "strategies read measurements only and select their checkpoint on their own loss over "
                           "the validation measurements. A recipe suffix: -long (--budget x the epochs), -iter "
                           "(pruning the --teacher in --budget steps to the model's widths, fine-tuning between).")
    p.add_argument("model", type=Path, help="the pruned artifact")
    p.add_argument("--strategy", choices=strategies.names(), required=True)
    p.add_argument("--train", type=Path, required=True, help="training split (label-free: unlabelled.h5)")
    p.add_argument("--val", type=Path, required=True, help="validation split")
    p.add_argument("--teacher", type=Path,
                   help="the unpruned artifact (strategies with a teacher, and -iter recipes, which prune it)")
    p.add_argument("--prune-data", type=Path, help="-iter recipes: the measurements pruning reads (unlabelled.h5)")
    p.add_argument("--budget", type=int, help="recipes: times the epochs (default: spade.defaults' recipes budget)")
    p.add_argument("--distill-weight", type=float, default=1.0, help="distill: weight of the teacher term")
    _fit_options(p, epochs=2, lr=5e-4)
    g = p.add_argument_group("self-supervision (the config's finetune.selfsup/ei/ssdu keys)")
    g.add_argument("--selfsup", choices=["ei", "ssdu", "wssdu", "es"], default="ei", help="self-supervised loss (default ei)")
    g.add_argument("--ei-weight", type=float, default=1.0, help="weight of the equivariance term")
    g.add_argument("--ei-rotate", action=argparse.BooleanOptionalAction, default=True,
                   help="add 90-degree rotations to the shifts")
    g.add_argument("--ssdu-loss-fraction", type=float, default=0.4, help="acquired samples held out for the loss")
    g.add_argument("--ssdu-center-fraction", type=float, default=0.08, help="centre block always kept")
    _common(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="the fine-tuned artifact to write")
    p.add_argument("--history", type=Path, help="per-epoch CSV (default: next to --output)")

    p = sub.add_parser("evaluate", help="PSNR/SSIM of a network on a labelled split",
                       description="Per-image PSNR and SSIM of a network (or of the classical baseline with "
                                   "--classical, or of the unpruned network's prior-off control) on a split.")
    p.add_argument("model", type=Path, nargs="?", help="the artifact (omit with --classical)")
    p.add_argument("--data", type=Path, required=True, help="a labelled split (test.h5, external.h5, val.h5)")
    p.add_argument("--classical", action="store_true", help="score the classical baseline instead")
    p.add_argument("--cs", type=Path, metavar="LAMBDA_JSON",
                   help="with --classical: score the compressed-sensing baseline this lambda choice describes "
                        "(results/classical/mri/tv.json)")
    p.add_argument("--prior-off", action="store_true", help="score the unpruned network with its priors off")
    p.add_argument("--convention", help="metric convention (mri: volume-max, fastmri, paper; sr: y_border, rgb)")
    _common(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="per-image CSV to write")

    p = sub.add_parser("bench", help="time networks side by side",
                       description="Latency (medians of interleaved rounds after warm-up, inference mode, fixed "
                                   "threads), parameters and MACs of every artifact, in one process, on the first "
                                   "--images samples of a split, each with its own operator, in each --runtimes; "
                                   "vs_first: against the first artifact; speedup_median/low/high: against the "
                                   "unpruned artifact among them, with the interval over rounds. DEQs run "
                                   "with the solver their artifact records, so give variants of one study. "
                                   "Defaults: the config schema's benchmark block.")
    p.add_argument("models", type=Path, nargs="+", help="artifacts to time (the first is the reference)")
    p.add_argument("--data", type=Path, required=True, help="a split (val.h5)")
    p.add_argument("--batch-sizes", type=int, nargs="+")
    p.add_argument("--images", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--rounds", type=int, help="timing rounds (the speedup's interval needs several)")
    p.add_argument("--repeats", type=int, help="interleaved runs of every variant per image and round")
    p.add_argument("--crop", type=int, help="SR: crop the low-resolution input to crop x crop")
    p.add_argument("--runtimes", nargs="+", help="eager, channels_last, onnxruntime, onnxruntime-cuda")
    p.add_argument("--deploy-runtime", help="the runtime of the main rows (default: the first of --runtimes)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output", type=Path, help="CSV to write (default: print only)")

    p = sub.add_parser("export", help="write a deployable ONNX file of a network's priors",
                       description="Export each prior of a (pruned) artifact with torch.onnx at the shape its "
                                   "iteration feeds it (the first sample of --data), check ONNX Runtime's output "
                                   "against torch's on that input (within 1e-4 of the output range, else nothing "
                                   "is written), and write it. The physics and the solver stay in the host code: "
                                   "the MBDL iteration calls the exported prior.")
    p.add_argument("model", type=Path, help="the artifact (.pt)")
    p.add_argument("output", type=Path, help="OUT.onnx (several priors: OUT.0.onnx, OUT.1.onnx, ...)")
    p.add_argument("--data", type=Path, required=True, help="a split of the task: its first sample fixes the shape")
    p.add_argument("--batch", type=int, default=1, help="batch size the file is exported for (default 1)")
    return top


def _user_network_info(path: Path) -> dict | None:
    """What a file of ``spade.save_network`` holds (no study metadata: a network of one's
    own), or None for any other file."""
    import torch

    from spade.api import FORMAT

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file, or not one of ours: the study's reader says why
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    state = payload["state_dict"]
    return {"file": str(path), "format": FORMAT, "written_by": "spade.save_network (load it with spade.load_network)",
            # the parameters, as the prune report counts them (recorded by save_network); files
            # written before it recorded them: the state_dict's tensors, buffers included
            "params": int(payload["params"]) if "params" in payload else int(sum(
                v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var",
                                                                       "num_batches_tracked")))),
            "layers_with_widths": len(payload.get("widths", {})),
            "widths": {k: v.get("out_channels") for k, v in payload.get("widths", {}).items() if "out_channels" in v},
            "inplace_off": payload.get("inplace_off", []), "meta": payload.get("meta", {})}


def _info(path: Path) -> dict:
    if path.suffix == ".h5":
        import h5py

        from spade.study.data import H5Split, read_physics

        task, params = read_physics(path)
        data = H5Split(path, False)
        with h5py.File(path) as f:
            labelled, prov = "x" in f, json.loads(f.attrs.get("provenance", "{}"))
        return {"file": str(path), "task": task, "split": data.split, "samples": len(data), "labelled": labelled,
                "measurement_shape": list(data.y[0].shape), "per_sample_operator": sorted(data.per_sample),
                "operator": sorted(params), "provenance_keys": sorted(prov)}
    from spade.benchmark import count_params
    from spade.checkpoint import load_model
    from spade.prune import prior_channels

    user = _user_network_info(path)
    if user is not None:
        return user
    model, payload = load_model(path)
    meta = payload.get("meta", {})
    history = meta.get("history") or []
    return {"file": str(path), "identity": meta.get("identity"), "stage": meta.get("stage"),
            "network": payload["spec"], "params": count_params(model), "prior_channels": prior_channels(model),
            "widths": {k: v[1] for k, v in payload["layer_shapes"].items()},
            "epochs": sum(r["epoch"] > 0 for r in history), "best_val_loss": min((r["val_loss"] for r in history), default=None),
            "trained_on": meta.get("trained_on"), "seed": meta.get("seed"), "torch": meta.get("torch")}


def run(args) -> None:
    from spade.study import stages

    if args.command == "info":
        info = _info(args.path)
        if args.json:
            print(json.dumps(info, indent=2, default=str))
        else:
            for key, value in info.items():
                print(f"{key}: {value}")
    elif args.command == "prune":
        if not 0 < args.ratio < 1:
            raise ValueError(f"--ratio must lie in (0, 1), got {args.ratio}")
        info = stages.prune(args.model, args.data, args.ratio, args.criterion, args.seed, args.output, args.round_to)
        print(f"{args.output}: parameters {info['params_before']:,} -> {info['params_after']:,}, "
              f"{info['channel_ratio']:.3f} of the prior channels removed")
    elif args.command == "finetune":
        strategy = strategies.Strategy.parse(args.strategy)
        if (strategy.needs_teacher or strategy.prunes_stepwise) and args.teacher is None:
            raise ValueError(f"--strategy {strategy} needs --teacher (the unpruned artifact)")
        if strategy.prunes_stepwise and args.prune_data is None:
            raise ValueError(f"--strategy {strategy} needs --prune-data (the measurements pruning reads)")
        opts = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                "lr_min_factor": args.lr_min_factor, "loss": args.loss, "grad_clip": args.grad_clip or None,
                "ei": {"weight": args.ei_weight, "rotate": args.ei_rotate},
                "ssdu": {"loss_fraction": args.ssdu_loss_fraction, "center_fraction": args.ssdu_center_fraction},
                "distill": {"weight": args.distill_weight}, "recipes": {"budget": args.budget} if args.budget else {}}
        # what the command has no option for (the other recipe settings, hybrid, label_free: the
        # label-free fits' lr, anchor and validation monitor) the stage takes from spade.defaults
        # (spade.options.FitOptions), as in the workflow
        from spade.study.data import read_physics

        task, _ = read_physics(args.train)
        opts["selfsup"] = {task: args.selfsup}
        history = args.history or args.output.with_name(args.output.stem + "_history.csv")
        state = args.output.with_name(args.output.name + ".state.pt")
        stages.finetune(strategy, args.model, args.teacher, args.train, args.val, opts, args.seed,
                        args.threads, args.output, history, state, args.device, base_path=args.teacher,
                        prune_data_path=args.prune_data)
        print(f"{args.output}: fine-tuned ({args.strategy}); history {history}")
    elif args.command == "evaluate":
        if args.classical == (args.model is not None):
            raise ValueError("give a model artifact, or --classical without one")
        if args.cs and not args.classical:
            raise ValueError("--cs scores a classical baseline: give it with --classical, without a model")
        cs = None
        if args.cs:
            from spade.study.stages.classical import read_lambda

            cs = read_lambda(args.cs)
        frame = stages.evaluate(None if args.classical else args.model, args.data, args.output,
                                args.output.with_suffix(".npz"), 0, args.threads, args.device, args.convention,
                                args.prior_off, cs)
        print(f"{args.output}: {len(frame)} images, PSNR {frame.psnr.mean():.2f} dB, SSIM {frame.ssim.mean():.4f}")
    elif args.command == "bench":
        import tempfile

        from spade.options import BenchmarkOptions

        given = {"batch_sizes": args.batch_sizes, "images": args.images, "warmup": args.warmup,
                 "rounds": args.rounds, "repeats": args.repeats, "crop": args.crop, "runtimes": args.runtimes,
                 "deploy_runtime": args.deploy_runtime}
        # the options fill spade.defaults' values for what is not given (deq_loose_tol: none)
        opts = BenchmarkOptions.of({k: v for k, v in given.items() if v is not None}).as_dict()
        with tempfile.TemporaryDirectory() as tmp:
            out = args.output or Path(tmp) / "bench.csv"
            frame = stages.run_benchmark([{"path": str(m)} for m in args.models], args.data, opts, args.device,
                                         args.threads, out, Path(tmp) / "bench.json")
        frame["vs_first"] = frame.latency_ms.iloc[0] / frame.latency_ms
        # speedup_median/low/high: against the unpruned artifact among them, over the rounds
        cols = [c for c in ("variant", "runtime", "batch", "latency_ms", "vs_first", "speedup_median", "speedup_low",
                            "speedup_high", "eager_speedup", "params", "macs", "iterations") if c in frame]
        print(f"{opts['rounds']} rounds of {opts['images']} image(s); main rows in {opts['deploy_runtime']}")
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    elif args.command == "export":
        written = _export(args)
        for path, diff in written:
            print(f"{path}: ONNX Runtime equals torch within {diff:.2e} of the output range")


def _export(args) -> list[tuple[Path, float]]:
    """Each prior of the artifact ``args.model`` exported at the shape its iteration feeds it."""
    import torch

    from spade import deploy
    from spade.checkpoint import load_model
    from spade.study.stages.context import open_split

    from spade.physics import batch_physics

    model, _ = load_model(args.model)
    _, physics, data = open_split(args.data, False)
    y = data.y[0][None].expand(args.batch, *data.y[0].shape).contiguous()
    op = data.sample_physics(0)
    op = batch_physics(physics, {k: v[None].expand(args.batch, *v.shape) for k, v in op.items()})
    priors = model.priors()
    inputs: dict[int, torch.Tensor] = {}  # each prior's first input
    index = {p: i for i, p in enumerate(priors)}
    with forward_hooks(priors, before=lambda m, a: inputs.setdefault(index[m], a[0].detach().clone())), \
            torch.inference_mode():
        model.eval()(y, op)
    paths = [args.output] if len(priors) == 1 else [args.output.with_suffix(f".{i}.onnx") for i in range(len(priors))]
    return [(path, deploy.export(prior, (inputs[i],), path)) for i, (prior, path) in enumerate(zip(priors, paths))]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from spade.checkpoint import CheckpointError
    from spade.study.data import DatasetFileError

    try:
        run(args)
    except (ValueError, OSError, CheckpointError, DatasetFileError, RuntimeError) as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
