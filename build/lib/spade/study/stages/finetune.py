"""Fine-tuning a pruned network with a strategy of the registry (spade.strategies)."""

from __future__ import annotations

from spade.checkpoint import layer_shapes, load_model, save_model
from spade.study.data import H5Split, nested_fraction
from spade.options import FitOptions
from spade.study.provenance import environment
from spade.prune import DEFAULT_TAYLOR_IMAGES, StepwisePruning, fit_stepwise
from spade.study.stages.context import fit_cost, load_physics, log, pruning_data, start_job
from spade.strategies import Strategy
from spade.train import fit, label_free_fit_options, make_strategy
from spade.study.variants import Variant


def finetune(strategy_name, pruned_path, teacher_path, train_path, val_path, opts, seed: int,
             threads: int, out_model, history_path, state_path, device_setting: str = "cpu", base_path=None,
             prune_data_path=None, taylor_images: int = DEFAULT_TAYLOR_IMAGES, data_fraction: float = 1.0) -> None:
    """Fine-tune a pruned network on ``train_path`` with ``strategy_name`` (a name, parsed
    here once, or a :class:`spade.strategies.Strategy`). A label-free strategy opens
    its splits without ``/x`` (its training split, the unlabelled one, has none at all) and
    selects its checkpoint on a label-free validation score (``opts.settings['label_free']``:
    :func:`spade.train.label_free_fit_options`), the starting network included.

    ``opts``: a :class:`spade.options.FitOptions`, or the block it is read from here, once.
    ``-jac`` adds the Jacobian penalty (the ``recipes`` setting's ``jacobian_weight``; DEQs only) to
    the strategy's epochs. The other recipes spend the ``recipes`` setting's ``budget`` times the
    epochs: ``-long`` all of them on the pruned network; ``-iter`` prunes the
    unpruned network ``base_path`` in that many steps to the widths of ``pruned_path``
    (same criterion, ratio and rounding; ``prune_data_path``: the measurements pruning
    reads), fine-tuning ``opts.epochs`` after each step. ``data_fraction``: train on
    that fraction of ``train_path`` only (:func:`spade.study.data.nested_fraction`, drawn with
    ``seed``: the label-free ablation's data curve)."""
    named = Strategy.parse(strategy_name)  # the registry entry with its recipe
    device = start_job(seed, threads, device_setting)
    model, payload = load_model(pruned_path)
    task, physics = load_physics(train_path)
    opts = FitOptions.of(opts)
    if not named.needs_target:  # proximal fine-tuning: its own lr, epochs, anchor and monitor
        opts = label_free_fit_options(opts, task)
    train_set, val_set = H5Split(train_path, named.needs_target), H5Split(val_path, named.needs_target)
    if data_fraction < 1:
        train_set = H5Split(train_path, named.needs_target, nested_fraction(len(train_set), data_fraction, seed))
    teacher = load_model(teacher_path)[0].to(device) if named.needs_teacher else None
    strategy = make_strategy(named, task, opts, teacher)
    recipes = opts.settings["recipes"]  # the schema's under any the caller gives (the CLI: the budget only)
    budget = int(recipes["budget"]) if named.spends_budget else 1
    if named.prunes_stepwise:
        if base_path is None or prune_data_path is None:
            raise ValueError(f"strategy {named}: stepwise pruning needs the unpruned network and the "
                             "measurements pruning reads (base_path, prune_data_path)")
        pruned = Variant.from_meta(payload["meta"])
        _, example, measurements = pruning_data(prune_data_path, taylor_images)
        pruning = StepwisePruning(load_model(base_path)[0], example, pruned.ratio, pruned.criterion, seed,
                                  payload["meta"].get("round_to"), budget, measurements)
        model, history = fit_stepwise(pruning, layer_shapes(model), strategy, physics, train_set, val_set, opts,
                                      seed, state_path, history_path, device, log=log.info)
    else:
        fit_opts = opts.replace(epochs=opts.epochs * budget)
        if named.needs_fixed_point:  # -jac: the Jacobian penalty
            fit_opts = fit_opts.replace(jacobian_weight=float(recipes["jacobian_weight"]))
        model, history = fit(model, strategy, physics, train_set, val_set, fit_opts, seed, state_path, history_path,
                             log=log.info, device=device)
    variant = Variant.from_meta(payload["meta"]).with_strategy(str(named))
    meta = {"stage": "finetune", "identity": variant.columns(), "pruned": str(pruned_path),
            "trained_on": str(train_path), "data_fraction": float(data_fraction), "history": history,
            "opts": opts.as_dict(),
            "recipe": {"name": named.recipe, "budget": budget} if named.recipe else None,
            "cost": fit_cost(history, train_set, named.data, device), **environment(seed, str(device))}
    save_model(out_model, model, payload["spec"], meta)
