"""The study's design, from its (validated) config: which variants exist, where each
artifact lives, what each table reads. The workflow's input functions call this; so do the
tests, without Snakemake.

Path templates live in :mod:`spade.paths`; :class:`Study` formats them for inputs.
Nothing here imports torch.
"""

from __future__ import annotations

from spade.paths import (BENCH, BENCH_CLASSICAL, CS_LAMBDA, DATA, FINETUNED, LABEL_FREE, LATENCY, METRICS_CLASSICAL,
                         METRICS_CS, METRICS_NETWORK, METRICS_VARIANT, NO_HARM, PRUNED_MODEL, SCRATCH_MODEL, UNPRUNED_LONG_MODEL,
                         UNPRUNED_MODEL, seed_run)
from spade.strategies import StrategyName
from spade.variants import (AUTO, CLASSICAL, CS_PREFIX, PRIOR_OFF, PRUNED, SCRATCH, UNPRUNED, UNPRUNED_LONG, Variant,
                            cs_arch, is_shifted, ratio_label, shift_split)

# What a fit's options merge in from the shared `finetune` block, whatever the task.
SHARED_FINETUNE = ("selfsup", "ssdu", "ei", "distill", "hybrid", "label_free", "recipes")


class Study:
    """The design of one config: ``config`` as Snakemake holds it after validation."""

    def __init__(self, config: dict, run: str = ""):
        self.config = config
        self.run = run  # the {run} of every model and metrics path: "" for the study itself

    # --- repeats with further seeds

    @property
    def repeat_seeds(self) -> list[int]:
        """The further seeds of training and fine-tuning (`seeds.repeat`)."""
        return [int(s) for s in (self.config.get("seeds") or {}).get("repeat", [])]

    def seeded(self, seed) -> "Study":
        """The repeat of the study's comparison with ``seed`` (``"{seed}"``: its path
        templates): the same data and budgets; the unpruned network, the first criterion at
        `seeds.ratios` with `seeds.strategies`, the scratch control at those ratios and,
        where a recipe runs, unpruned-long. Nothing else (no speed targets, shifts, ablations,
        benchmark: speed does not depend on the seed of a fixed-width network)."""
        block = self.config["seeds"]
        config = {**self.config, "seed": seed, "criteria": [self.first_criterion],
                  "ratios": [float(r) for r in block["ratios"]], "strategies": list(block["strategies"]),
                  "first_criterion_only": [], "scratch_ratios": [float(r) for r in block["ratios"]],
                  "target_speedups": [], "shifts": {}, "label_free_ablation": None, "scale_timing": None,
                  "seeds": None}
        return Study(config, seed_run(seed))

    def for_run(self, run: str) -> "Study":
        """The study of a {run} wildcard: this one, or its repeat with a further seed."""
        return self if run == self.run else self.seeded(int(run.strip("/").split("/")[-1]))

    def seed_comparison(self) -> list[Variant]:
        """The variants every seed scores (the repeats' own variants and unpruned kinds)."""
        if not self.repeat_seeds:
            return []
        repeat = self.seeded(self.repeat_seeds[0])
        return [v for t, a in repeat.pairs() for v in repeat.unpruned_kinds(t, a) + repeat.variants(t, a)]

    def seed_metric_paths(self) -> dict[int, list[str]]:
        """Per seed (the study's own first), the validation and test score files of
        :meth:`seed_comparison`, each under its own run's paths."""
        runs = {int(self.config["seed"]): self, **{s: self.seeded(s) for s in self.repeat_seeds}}
        variants = self.seed_comparison()
        return {seed: [study.metrics_path(split, v) for split in ("val", "test") for v in variants]
                for seed, study in runs.items()}

    # --- what is studied

    @property
    def first_criterion(self) -> str:
        return self.config["criteria"][0]

    @property
    def strategies(self) -> list[str]:
        """Every pruned kind the config fine-tunes, led by the pruned model itself."""
        return [PRUNED] + list(self.config["strategies"])

    @property
    def has_recipes(self) -> bool:
        """A recipe that spends extra epochs (-long, -iter) runs: then the `unpruned-long`
        control stands beside it."""
        return any(StrategyName.parse(s).spends_budget for s in self.config["strategies"])

    def strategies_of(self, arch: str) -> list[str]:
        """The pruned kinds ``arch`` runs: the -jac recipe (a fixed point's penalty) on DEQs only."""
        return [s for s in self.strategies if arch == "deq" or s == PRUNED
                or not StrategyName.parse(s).needs_fixed_point]

    def unpruned_kinds(self, task: str, arch: str) -> list[Variant]:
        """The networks of the unpruned widths every split scores: the unpruned network, its
        prior-off control, and with recipes the `unpruned-long` control."""
        kinds = [UNPRUNED, PRIOR_OFF] + ([UNPRUNED_LONG] if self.has_recipes else [])
        return [Variant(task, arch, strategy=k) for k in kinds]

    def pairs(self) -> list[tuple[str, str]]:
        """(task, arch) studied: each arch of `archs` that has a model for the task."""
        return [(task, arch) for task in self.config["tasks"] for arch in self.config["archs"]
                if task in self.config["models"].get(arch, {})]

    def archs(self, task: str) -> list[str]:
        return [a for t, a in self.pairs() if t == task]

    def cs_options(self) -> dict:
        """`evaluate.cs` with the schema's defaults: the compressed-sensing baselines."""
        from spade.config import schema_defaults

        return {**schema_defaults("evaluate", "cs"), **(self.config.get("evaluate", {}).get("cs") or {})}

    def cs_methods(self, task: str) -> list[str]:
        """The compressed-sensing baselines of ``task`` (MRI only; SR keeps bicubic)."""
        return list(self.cs_options()["methods"]) if task == "mri" else []

    def classical_variants(self, task: str) -> list[Variant]:
        """The rows with no network: the classical baseline (zero-filled, bicubic) and each
        compressed-sensing baseline."""
        return [Variant(task, CLASSICAL, strategy=CLASSICAL)] + [
            Variant(task, cs_arch(m), strategy=CLASSICAL) for m in self.cs_methods(task)]

    def cs_lambda_path(self, task: str, method: str) -> str:
        return CS_LAMBDA.format(task=task, method=method)

    def scratch_ratios(self) -> list[float]:
        """The scratch controls' ratios (those of `scratch_ratios` on the grid)."""
        return [float(r) for r in self.config.get("scratch_ratios", []) if r in self.config["ratios"]]

    def seed_scratch_ratios(self) -> list[float]:
        """Ratios of the first criterion's scratch control that the comparison repeated over
        seeds needs here, its first seed, beyond `scratch_ratios` (`seeds.ratios`)."""
        if not self.repeat_seeds:
            return []
        return [float(r) for r in self.config["seeds"]["ratios"]
                if r in self.config["ratios"] and float(r) not in self.scratch_ratios()]

    def variants(self, task: str, arch: str) -> list[Variant]:
        """Every pruned variant of task x arch, the scratch controls included: each criterion
        at each ratio with each strategy (those of `first_criterion_only` with the first
        criterion alone), then each speed target with the first criterion and every
        strategy not in `first_criterion_only` (its ratio found when it runs: 0 here)."""
        first = set(self.config["first_criterion_only"])
        out = [Variant(task, arch, c, r, s) for c in self.config["criteria"] for r in self.config["ratios"]
               for s in self.strategies_of(arch) if c == self.first_criterion or s not in first]
        out += [Variant(task, arch, c, r, SCRATCH) for c in self.config["criteria"] for r in self.scratch_ratios()]
        out += [Variant(task, arch, self.first_criterion, r, SCRATCH) for r in self.seed_scratch_ratios()]
        out += [Variant(task, arch, self.first_criterion, strategy=s, target=t)
                for t in self.config["target_speedups"] for s in self.strategies_of(arch) if s not in first]
        return out

    def robustness_variants(self, task: str, arch: str) -> list[Variant]:
        """The variants scored on the shifted test sets and the external set: those of the
        first criterion, without `first_criterion_only` (robustness compares pruned with
        unpruned, not one criterion or recipe with another)."""
        first = set(self.config["first_criterion_only"])
        return [v for v in self.variants(task, arch) if v.criterion == self.first_criterion
                and v.strategy not in first]

    def has_external(self, task: str) -> bool:
        """MRI on the embedded data has an external test set where `data.mri.external` names
        subjects: real MR from subjects that no split holds (spade.data.embedded.build_mri_external)."""
        mri = self.config["data"].get("mri", {})
        return task == "mri" and mri.get("source", "embedded") == "embedded" and bool(mri.get("external"))

    def shift_splits(self, task: str) -> list[str]:
        return [shift_split(name) for name in self.config["shifts"].get(task, {})]

    def eval_splits(self, task: str) -> list[str]:
        """The labelled splits every variant of a task is scored on for the summary."""
        return ["test"] + (["external"] if self.has_external(task) else []) + self.shift_splits(task)

    # --- paths

    @staticmethod
    def data_path(task: str, split: str) -> str:
        return DATA.format(task=task, split=split)

    def unpruned_path(self, task: str, arch: str) -> str:
        return UNPRUNED_MODEL.format(run=self.run, task=task, arch=arch)

    def model_path(self, v: Variant) -> str:
        """The artifact of a variant: the unpruned network, the pruned model itself
        (strategy "none"), the scratch control or a fine-tuned network."""
        run = self.run
        if v.strategy == UNPRUNED_LONG:
            return UNPRUNED_LONG_MODEL.format(run=run, task=v.task, arch=v.arch) + ".pt"
        if not v.is_pruned:
            return UNPRUNED_MODEL.format(run=run, task=v.task, arch=v.arch)
        if v.strategy == PRUNED:
            return PRUNED_MODEL.format(run=run, task=v.task, arch=v.arch, key=v.key)
        if v.strategy == SCRATCH:
            return SCRATCH_MODEL.format(run=run, task=v.task, arch=v.arch, key=v.key) + ".pt"
        return FINETUNED.format(run=run, task=v.task, arch=v.arch, key=v.key, strategy=v.strategy) + ".pt"

    def metrics_path(self, split: str, v: Variant, ext: str = ".csv") -> str:
        if v.strategy == CLASSICAL and v.arch.startswith(CS_PREFIX):
            return METRICS_CS.format(split=split, task=v.task, method=v.arch[len(CS_PREFIX):]) + ext
        if v.strategy == CLASSICAL:
            return METRICS_CLASSICAL.format(split=split, task=v.task) + ext
        if not v.is_pruned:
            return METRICS_NETWORK.format(run=self.run, split=split, task=v.task, arch=v.arch, kind=v.strategy) + ext
        return METRICS_VARIANT.format(run=self.run, split=split, task=v.task, arch=v.arch, key=v.key,
                                      strategy=v.strategy) + ext

    def metric_paths(self, split: str, task: str | None = None) -> list[str]:
        """Per-image score files of every variant on `split` (on the shifted and external
        sets, :meth:`robustness_variants` only)."""
        paths = []
        for t in [task] if task else self.config["tasks"]:
            paths += [self.metrics_path(split, v) for v in self.classical_variants(t)]
            for arch in self.archs(t):
                paths += [self.metrics_path(split, v) for v in self.unpruned_kinds(t, arch)]
                kinds = self.robustness_variants(t, arch) if is_shifted(split) else self.variants(t, arch)
                paths += [self.metrics_path(split, v) for v in kinds]
        return paths

    def evaluation_jobs(self, split: str, task: str, arch: str, shifted: bool | None = None) -> list[dict]:
        """What one evaluation job of ``split`` x task x arch scores, in one process: the
        unpruned network, its prior-off control and every variant (on the shifted and
        external sets, :meth:`robustness_variants`); per variant its ``model``, ``prior_off``
        and the ``metrics`` and ``examples`` files it writes. ``shifted``: which of the two
        lists, where ``split`` is a wildcard pattern rather than a split."""
        shifted = is_shifted(split) if shifted is None else shifted
        kinds = self.unpruned_kinds(task, arch)
        kinds += self.robustness_variants(task, arch) if shifted else self.variants(task, arch)
        return [{"model": self.model_path(v), "prior_off": v.strategy == PRIOR_OFF,
                 "metrics": self.metrics_path(split, v), "examples": self.metrics_path(split, v, ".npz")}
                for v in kinds]

    def evaluation_outputs(self, shifted: bool, arch: str = "{arch}") -> list[str]:
        """The output templates of the evaluation rule of the shifted (and external) splits
        or of the others: every file of :meth:`evaluation_jobs`, wildcards left in place.
        ``arch``: the files of that arch's rule (the DEQ runs recipes the others do not), its
        name a wildcard again in the paths."""
        jobs = self.evaluation_jobs("{split}", "{task}", arch, shifted)
        paths = [path for job in jobs for path in (job["metrics"], job["examples"])]
        return [path.replace("/{task}/%s/" % arch, "/{task}/{arch}/") for path in paths]

    def summary_metrics(self) -> list[str]:
        return [p for t in self.config["tasks"] for s in self.eval_splits(t) for p in self.metric_paths(s, t)]

    def bench_tables(self) -> list[str]:
        """Every timing table: one per task x arch, and the classical baselines' where a task
        has compressed sensing."""
        return [BENCH.format(task=t, arch=a) + ".csv" for t, a in self.pairs()] + [
            BENCH_CLASSICAL.format(task=t) + ".csv" for t in self.config["tasks"] if self.cs_methods(t)]

    def spread_tables(self) -> tuple[str, str]:
        """The first task x arch's benchmark table and its second timing job's."""
        task, arch = self.pairs()[0]
        first = BENCH.format(task=task, arch=arch)
        return first + ".csv", first + ".again.csv"

    def cost_models(self) -> list[str]:
        """Every trained or pruned artifact of the study (the summary's cost columns)."""
        return [self.model_path(v) for t, a in self.pairs() for v in self.unpruned_kinds(t, a)
                if v.strategy != PRIOR_OFF] + [self.model_path(v) for t, a in self.pairs() for v in self.variants(t, a)]

    def benchmark_variants(self, task: str, arch: str) -> list[dict]:
        """Every variant timed side by side for task x arch: the unpruned network, its
        prior-off control, and each pruned kind that stands for its own timing
        (:meth:`spade.variants.Variant.timed_as`)."""
        kinds = self.unpruned_kinds(task, arch) + self.variants(task, arch)
        return [{"path": self.model_path(v), **({"prior_off": True} if v.strategy == PRIOR_OFF else {})}
                for v in kinds if v.timed_as() == v]

    def example_inputs(self, task: str) -> dict[str, str]:
        """Example reconstructions for the grid: classical, prior-off, unpruned, every kind
        at the middle ratio of the first criterion, for each arch (test split)."""
        mid = self.config["ratios"][len(self.config["ratios"]) // 2]
        inputs = {"classical": self.metrics_path("test", Variant(task, CLASSICAL, strategy=CLASSICAL), ".npz")}
        for arch in self.archs(task):
            for kind in (PRIOR_OFF, UNPRUNED):
                inputs[f"{arch} {kind}"] = self.metrics_path("test", Variant(task, arch, strategy=kind), ".npz")
            for v in self.variants(task, arch):
                if v.criterion == self.first_criterion and not v.target and v.ratio == float(mid):
                    inputs[f"{arch} r{ratio_label(mid)} {v.strategy}"] = self.metrics_path("test", v, ".npz")
        return inputs

    # --- what each job receives

    def network_config(self, task: str, arch: str) -> dict:
        """The network of task x arch (its `models` entry without the training overrides)."""
        cfg = self.config["models"][arch][task]
        return {k: v for k, v in cfg.items() if k not in ("train", "finetune")}

    def fit_options(self, stage: str, task: str, arch: str) -> dict:
        """`train` or `finetune` settings of task x arch: the task's, with any key the arch
        sets for itself (`models.<arch>.<task>.<stage>`) replaced, since archs differ widely
        in cost per epoch and in how fast they recover from pruning."""
        opts = {**self.config[stage][task], **self.config["models"][arch][task].get(stage, {})}
        if stage == "finetune":  # the schema's defaults where a config predates a key
            from spade.config import schema_defaults

            shared = {**schema_defaults("finetune"), **self.config["finetune"]}
            opts.update({k: shared[k] for k in SHARED_FINETUNE if k in shared})
        return opts

    def scratch_options(self, task: str, arch: str) -> dict:
        """The scratch control's budget: the unpruned network's training options, for as many
        epochs as pruning's whole path takes (the unpruned network's training plus supervised
        fine-tuning), on the same labelled training split: equal compute."""
        opts = self.fit_options("train", task, arch)
        opts["epochs"] = int(opts["epochs"]) + int(self.fit_options("finetune", task, arch)["epochs"])
        return opts

    def unpruned_long_options(self, task: str, arch: str) -> dict:
        """The `unpruned-long` control's budget: supervised fine-tuning options of task x arch
        for the epochs a recipe spends (`finetune.recipes.budget` x the fine-tuning epochs),
        continuing from the unpruned network's weights."""
        opts = self.fit_options("finetune", task, arch)
        opts["epochs"] = int(opts["epochs"]) * int(opts["recipes"]["budget"])
        return opts

    def budgets(self) -> dict:
        """Every fit budget the rules receive, per stage, task and arch (results/config.yaml)."""
        budgets = {stage: {task: {arch: self.fit_options(stage, task, arch) for arch in self.archs(task)}
                           for task in self.config["tasks"]} for stage in ("train", "finetune")}
        budgets["scratch"] = {task: {arch: self.scratch_options(task, arch) for arch in self.archs(task)}
                              for task in self.config["tasks"]}
        return budgets

    @property
    def label_free_split(self) -> str:
        """The split the label-free strategies train on (`finetune.label_free_data`; the
        schema's default where a config predates the key)."""
        from spade.config import schema_defaults

        return self.config["finetune"].get("label_free_data") or schema_defaults("finetune")["label_free_data"]

    def finetune_inputs(self, v: Variant) -> dict[str, str]:
        """A strategy's inputs, from its registry entry: a strategy with targets trains on
        the labelled training split, a label-free one on `finetune.label_free_data` (the
        training split's measurements, the unlabelled split, or the test measurements in the
        paper's test-time variant); one
        with a teacher also reads the unpruned network. The iterative recipe prunes the
        unpruned network itself, reading the measurements pruning reads."""
        strategy = StrategyName.parse(v.strategy)
        split = "train" if strategy.spec.needs_target else self.label_free_split
        inputs = {"pruned": self.model_path(v.with_strategy(PRUNED)), "train": self.data_path(v.task, split),
                  "val": self.data_path(v.task, "val")}
        if strategy.spec.needs_teacher:
            inputs["teacher"] = self.unpruned_path(v.task, v.arch)
        if strategy.prunes_stepwise:
            inputs["base"] = self.unpruned_path(v.task, v.arch)
            inputs["prune_data"] = self.data_path(v.task, "unlabelled")
        return inputs

    # --- hardware-aware widths (round_to: auto)

    def latency_inputs(self, task: str) -> dict[str, str]:
        """The latency table a pruning job of ``task`` reads (none unless ``round_to: auto``)."""
        return {"latency": LATENCY.format(task=task)} if self.config.get("round_to") == AUTO else {}

    def latency_specs(self, task: str) -> dict[str, dict]:
        """``{arch: network config}`` of the networks ``task`` prunes: the shapes the table needs."""
        return {arch: self.network_config(task, arch) for arch in self.archs(task)}

    def latency_ratios(self) -> list[float]:
        """Every ratio a pruning job may ask for: the grid's and the speed-target search's."""
        grid = self.config.get("target_search", {}).get("grid", []) if self.config.get("target_speedups") else []
        return sorted({float(r) for r in [*self.config["ratios"], *grid]})

    # --- the no-harm check (label-free strategies fine-tune the unpruned network)

    def no_harm_strategies(self) -> list[str]:
        """The label-free strategies of `strategies` (recipes aside, each once) the no-harm
        check runs (`no_harm_check`; none when it is off)."""
        if not self.config.get("no_harm_check", True):
            return []
        bases = [StrategyName.parse(s).base for s in self.config["strategies"]]
        return [b for i, b in enumerate(bases) if b not in bases[:i] and not StrategyName.parse(b).spec.needs_target]

    def no_harm_fits(self) -> list[dict]:
        """Every fit of the no-harm check: task, arch, strategy, the unpruned network and the fit's artifact."""
        return [{"task": task, "arch": arch, "strategy": s, "unpruned": self.unpruned_path(task, arch),
                 "model": NO_HARM.format(task=task, arch=arch, strategy=s) + ".pt"}
                for task, arch in self.pairs() for s in self.no_harm_strategies()]

    def no_harm_inputs(self, task: str, arch: str, strategy: str) -> dict[str, str]:
        """One no-harm fit's inputs: the unpruned network as the network fine-tuned (and as
        the teacher), the label-free training data and the validation split."""
        unpruned = self.unpruned_path(task, arch)
        inputs = {"pruned": unpruned, "train": self.data_path(task, self.label_free_split),
                  "val": self.data_path(task, "val")}
        if StrategyName.parse(strategy).spec.needs_teacher:
            inputs["teacher"] = unpruned
        return inputs

    def no_harm_table_inputs(self) -> dict[str, str]:
        fits = self.no_harm_fits()
        inputs = {f"val_{task}": self.data_path(task, "val") for task in dict.fromkeys(f["task"] for f in fits)}
        for i, fit in enumerate(fits):
            inputs[f"unpruned_{i}"], inputs[f"fit_{i}"] = fit["unpruned"], fit["model"]
        return inputs

    # --- the label-free ablation and the scale timing

    def label_free_options(self, task: str, arch: str, setting: str) -> dict:
        """Fine-tuning settings of one label-free ablation setting: the arch's `finetune`
        options with the setting's self-supervised loss, EI and SSDU keys replaced and its
        epochs times its `budget`."""
        block = self.config["label_free_ablation"]["settings"][setting]
        opts = self.fit_options("finetune", task, arch)
        opts["selfsup"] = {**opts["selfsup"], task: block.get("selfsup", opts["selfsup"][task])}
        opts["ei"] = {**opts["ei"], **block.get("ei", {})}
        opts["ssdu"] = {**opts["ssdu"], **block.get("ssdu", {})}
        opts["epochs"] = int(opts["epochs"]) * int(block.get("budget", 1))
        return opts

    def label_free_data(self, task: str, setting: str) -> tuple[str, float]:
        """``(data file, fraction)`` a label-free setting trains on: the setting's `data.split`
        (`unlabelled`, or `train`: the training split's measurements, never its targets; by
        default `finetune.label_free_data`) and the fraction of it (`data.fraction`, 1)."""
        data = self.config["label_free_ablation"]["settings"][setting].get("data", {})
        split = data.get("split", self.label_free_split)
        return self.data_path(task, split), float(data.get("fraction", 1.0))

    def label_free_pruned(self, arch: str) -> Variant:
        """The pruned network of ``arch`` that every label-free setting fine-tunes."""
        block = self.config["label_free_ablation"]
        return Variant(block["task"], arch, self.first_criterion, block["ratio"], PRUNED)

    def label_free_settings(self) -> list[tuple[str, str, str]]:
        """(input key, arch, setting) of every network the label-free table scores: per arch,
        the unpruned network, the pruned one and each setting's fit."""
        block = self.config["label_free_ablation"]
        return [(f"{arch}_{i}", arch, name) for arch in block["archs"]
                for i, name in enumerate([UNPRUNED, PRUNED, *block["settings"]])]

    def label_free_inputs(self) -> dict[str, str]:
        task = self.config["label_free_ablation"]["task"]
        inputs = {"val": self.data_path(task, "val")}
        for key, arch, name in self.label_free_settings():
            if name == UNPRUNED:
                inputs[key] = self.unpruned_path(task, arch)
            elif name == PRUNED:
                inputs[key] = self.model_path(self.label_free_pruned(arch))
            else:
                inputs[key] = LABEL_FREE.format(task=task, arch=arch, setting=name) + ".pt"
        return inputs

    def scale_specs(self) -> dict[tuple[str, str], dict]:
        """(scale, arch) -> what `time_scale` times: the study's MRI networks at the study's
        image size and coils (scale "study", embedded data), and each `scale_timing.scales`
        entry's networks (with the entry's own `round_to` where it has one); every scale with the
        study's mask settings."""
        block, mri = self.config["scale_timing"], self.config["data"].get("mri", {})
        common = {"acceleration": mri.get("acceleration", 4), "center_fraction": mri.get("center_fraction", 0.08)}
        specs = {}
        if "mri" in self.config["tasks"] and "image_size" in mri:
            for arch in self.archs("mri"):
                specs[("study", arch)] = {**common, "size": mri["image_size"], "coils": mri.get("coils", 1),
                                          "network": {"arch": arch, **self.network_config("mri", arch)}}
        for name, scale in block["scales"].items():
            for arch, net in scale["networks"].items():
                specs[(name, arch)] = {**common, "size": scale["size"], "coils": scale["coils"],
                                       "network": {"arch": arch, **net},
                                       **({"round_to": scale["round_to"]} if "round_to" in scale else {})}
        return specs

    def all_outputs(self) -> list[str]:
        tasks = self.config["tasks"]
        return (["results/config.yaml", "results/tables/summary.csv", "results/tables/summary.md"]
                + [f"results/figures/{name}.png" for name in
                   ("psnr_vs_ratio", "speedup_vs_ratio", "psnr_vs_latency", "psnr_vs_speedup", "fit_curves")]
                + ["results/tables/fit_curves.csv"]
                + [f"results/figures/examples_{task}.png" for task in tasks]
                + (["results/tables/robustness.csv", "results/figures/robustness.png"]
                   if any(self.shift_splits(task) for task in tasks) else [])
                + (["results/tables/label_free.csv"] if self.config.get("label_free_ablation") else [])
                + (["results/tables/no_harm.csv"] if self.no_harm_fits() else [])
                + (["results/tables/scale.csv"] if self.config.get("scale_timing") else [])
                + (["results/tables/timing_spread.csv"] if self.config["benchmark"].get("spread_check") else [])
                + (["results/tables/seeds.csv"] if self.repeat_seeds else []))
