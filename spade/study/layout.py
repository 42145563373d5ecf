"""Where each artifact of a study lives and what each job and table reads: the path
templates of :mod:`spade.study.paths` formatted for one study (and one {run}: the study itself, or
a repeat with a further seed). Nothing here imports torch."""

from __future__ import annotations

from spade.study import speed_options as speed
from spade.study.paths import (BENCH, BENCH_CLASSICAL, CS_LAMBDA, DATA, EQUAL_LATENCY, FEWER_STEPS, FINETUNED, LABEL_FREE,
                         LATENCY, METRICS_CLASSICAL,
                         METRICS_CS, METRICS_NETWORK, METRICS_VARIANT, NO_HARM, PRUNED_MODEL, SCRATCH_MODEL,
                         UNPRUNED_LONG_MODEL, UNPRUNED_MODEL)
from spade.strategies import Strategy
from spade.study.variants import (AUTO, CLASSICAL, CS_PREFIX, LABELLED_REFERENCE, PRIOR_OFF, PRUNED, SCRATCH, UNPRUNED, UNPRUNED_LONG, Variant,
                            cs_arch, is_shifted, ratio_label)


class StudyLayout:
    """The files of a study: every artifact's path, and the inputs and outputs of each job."""

    config: dict
    run: str

    def seed_metric_paths(self) -> dict[int, list[str]]:
        """Per seed (the study's own first), the validation and test score files of
        :meth:`seed_comparison`, each under its own run's paths."""
        runs = {int(self.config["seed"]): self, **{s: self.seeded(s) for s in self.repeat_seeds}}
        variants = self.seed_comparison()
        return {seed: [study.metrics_path(split, v) for split in ("val", "test") for v in variants]
                for seed, study in runs.items()}

    def cs_lambda_path(self, task: str, method: str) -> str:
        return CS_LAMBDA.format(task=task, method=method)

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

    def timed_variants(self, task: str, arch: str) -> list[dict]:
        """Every variant timed side by side for task x arch: the unpruned network, its
        prior-off control, and each pruned kind that stands for its own timing
        (:meth:`spade.study.variants.Variant.timed_as`)."""
        kinds = self.unpruned_kinds(task, arch) + self.variants(task, arch)
        return [{"path": self.model_path(v), **({"prior_off": True} if v.strategy == PRIOR_OFF else {})}
                for v in kinds if v.timed_as() == v]

    def example_inputs(self, task: str) -> dict[str, str]:
        """Example reconstructions for the grid (test split): the classical baselines
        (zero-filled or bicubic, compressed sensing), then per arch the unpruned network and
        its pruned network fine-tuned by each strategy at the middle ratio of the first
        criterion (not the un-fine-tuned one nor the controls: the grid shows recovery); of two
        middle ratios the lower (of 0.5 and 0.75, 0.5)."""
        mid = self.config["ratios"][(len(self.config["ratios"]) - 1) // 2]
        inputs = {"zero-filled" if task == "mri" else "bicubic":
                  self.metrics_path("test", Variant(task, CLASSICAL, strategy=CLASSICAL), ".npz")}
        for method in self.cs_methods(task):
            inputs[method.upper()] = self.metrics_path("test", Variant(task, cs_arch(method), strategy=CLASSICAL), ".npz")
        for arch in self.archs(task):
            inputs[f"{arch} {UNPRUNED}"] = self.metrics_path("test", Variant(task, arch, strategy=UNPRUNED), ".npz")
            for v in self.variants(task, arch):
                if (v.criterion == self.first_criterion and not v.target and v.ratio == float(mid)
                        and v.strategy in self.config["strategies"]):
                    inputs[f"{arch} r{ratio_label(mid)} {v.strategy}"] = self.metrics_path("test", v, ".npz")
        return inputs

    def finetune_inputs(self, v: Variant) -> dict[str, str]:
        """A strategy's inputs, from its registry entry: a strategy with targets trains on
        the labelled training split, a label-free one on `finetune.label_free_data` (the
        training split's measurements, the unlabelled split, or the test measurements in the
        paper's test-time variant); one
        with a teacher also reads the unpruned network. The iterative recipe prunes the
        unpruned network itself, reading the measurements pruning reads."""
        strategy = Strategy.parse(v.strategy)
        split = "train" if strategy.needs_target else self.label_free_split
        inputs = {"pruned": self.model_path(v.with_strategy(PRUNED)), "train": self.data_path(v.task, split),
                  "val": self.data_path(v.task, "val")}
        if strategy.needs_teacher:
            inputs["teacher"] = self.unpruned_path(v.task, v.arch)
        if strategy.prunes_stepwise:
            inputs["base"] = self.unpruned_path(v.task, v.arch)
            inputs["prune_data"] = self.data_path(v.task, "unlabelled")
        return inputs

    def latency_inputs(self, task: str) -> dict[str, str]:
        """The latency table a pruning job of ``task`` reads (none unless ``round_to: auto``)."""
        return {"latency": LATENCY.format(task=task)} if self.config.get("round_to") == AUTO else {}

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
        if Strategy.parse(strategy).needs_teacher:
            inputs["teacher"] = unpruned
        return inputs

    def no_harm_table_inputs(self) -> dict[str, str]:
        fits = self.no_harm_fits()
        inputs = {f"val_{task}": self.data_path(task, "val") for task in dict.fromkeys(f["task"] for f in fits)}
        for i, fit in enumerate(fits):
            inputs[f"unpruned_{i}"], inputs[f"fit_{i}"] = fit["unpruned"], fit["model"]
        return inputs

    def label_free_inputs(self) -> dict[str, str]:
        task = self.config["label_free_ablation"]["task"]
        inputs = {"val": self.data_path(task, "val")}
        for key, arch, name in self.label_free_settings():
            if name == UNPRUNED:
                inputs[key] = self.unpruned_path(task, arch)
            elif name == PRUNED:
                inputs[key] = self.model_path(self.label_free_pruned(arch))
            elif name == LABELLED_REFERENCE:
                inputs[key] = self.model_path(self.label_free_pruned(arch).with_strategy(LABELLED_REFERENCE))
            else:
                inputs[key] = LABEL_FREE.format(task=task, arch=arch, setting=name) + ".pt"
        return inputs

    def fewer_steps(self, task: str, arch: str) -> list[int]:
        """The step counts the equal-latency comparison cuts an unrolled network to (config
        `equal_latency.fewer_steps.<task>`, those below its own steps; none for other networks)."""
        block, net = speed.settings(self.config.get("equal_latency")), self.network_config(task, arch)
        if "steps" not in net:
            return []
        wanted = block["fewer_steps"].get(task, [])
        return sorted({int(s) for s in wanted if int(s) < int(net["steps"])}, reverse=True)

    def fewer_steps_path(self, task: str, arch: str, steps: int) -> str:
        return FEWER_STEPS.format(task=task, arch=arch, steps=steps) + ".pt"

    def equal_latency_pairs(self) -> list[tuple[str, str]]:
        """The task x arch pairs the equal-latency comparison runs (none without its config)."""
        return list(self.pairs()) if self.config.get("equal_latency") else []

    def equal_latency_models(self, task: str, arch: str) -> list[dict]:
        """The trained options of one task x arch, unpruned first: SPADE-pruned with supervised
        fine-tuning and distilled at every ratio the study runs them, scratch at its ratios,
        and the unpruned network cut to fewer steps (``label``, ``option``, ``ratio``, ``path``)."""
        crit = self.first_criterion
        rows = [{"label": speed.UNPRUNED, "option": speed.UNPRUNED, "ratio": 0.0,
                 "path": self.unpruned_path(task, arch)}]
        for ratio in self.config["ratios"]:
            for strategy, option in (("supervised", speed.PRUNED), ("distill", speed.DISTILLED)):
                if strategy in self.config["strategies"]:
                    rows.append({"label": f"{option} r{float(ratio):g}", "option": option, "ratio": float(ratio),
                                 "path": self.model_path(Variant(task, arch, crit, ratio, strategy))})
        for ratio in self.config.get("scratch_ratios") or []:
            rows.append({"label": f"{speed.SCRATCH} r{float(ratio):g}", "option": speed.SCRATCH, "ratio": float(ratio),
                         "path": self.model_path(Variant(task, arch, crit, ratio, SCRATCH))})
        for steps in self.fewer_steps(task, arch):
            rows.append({"label": f"{steps}-step", "option": speed.FEWER_STEPS, "ratio": 0.0,
                         "path": self.fewer_steps_path(task, arch, steps)})
        return rows

    def equal_latency_tables(self, suffix: str = ".csv") -> list[str]:
        """Each task x arch's option table (``_scores.csv``: its per-image test scores)."""
        return [EQUAL_LATENCY.format(task=t, arch=a) + suffix for t, a in self.equal_latency_pairs()]

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
                + (["results/tables/seeds.csv"] if self.repeat_seeds else [])
                + (["results/tables/equal_latency.csv", "results/figures/equal_latency.png"]
                   if self.equal_latency_pairs() else []))
