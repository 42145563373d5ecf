"""What a study is made of, from its (validated) config: the tasks and archs studied, the
variants (criteria x ratios x strategies, speed targets, controls), the repeats with further
seeds and the splits each variant is scored on. Nothing here imports torch."""

from __future__ import annotations

from spade.study.paths import seed_run
from spade.study.registry import FIXED_POINT_ARCHS
from spade.strategies import Strategy
from spade.study.variants import CLASSICAL, LABELLED_REFERENCE, PRIOR_OFF, PRUNED, SCRATCH, UNPRUNED, UNPRUNED_LONG, Variant, cs_arch, shift_split


class StudyDesign:
    """Which variants, controls and repeats one config studies."""

    config: dict
    run: str

    @property
    def repeat_seeds(self) -> list[int]:
        """The further seeds of training and fine-tuning (`seeds.repeat`)."""
        return [int(s) for s in (self.config.get("seeds") or {}).get("repeat", [])]

    def seeded(self, seed) -> "Study":
        """The repeat of the study's comparison with ``seed`` (``"{seed}"``: its path
        templates): the same data and budgets, the archs of `seeds.archs` (default: all); the
        unpruned network, the first criterion at
        `seeds.ratios` with `seeds.strategies`, the scratch control at those ratios and,
        where a recipe runs, unpruned-long. Nothing else (no speed targets, shifts, ablations,
        benchmark: speed does not depend on the seed of a fixed-width network)."""
        block = self.config["seeds"]
        config = {**self.config, "seed": seed, "criteria": [self.first_criterion],
                  "archs": list(block.get("archs") or self.config["archs"]), "equal_latency": None,
                  "ratios": [float(r) for r in block["ratios"]], "strategies": list(block["strategies"]),
                  "first_criterion_only": [], "scratch_ratios": [float(r) for r in block["ratios"]],
                  "target_speedups": [], "shifts": {}, "label_free_ablation": None, "scale_timing": None,
                  "seeds": None}
        return type(self)(config, seed_run(seed))

    def for_run(self, run: str) -> "Study":
        """The study of a {run} wildcard: this one, or its repeat with a further seed."""
        return self if run == self.run else self.seeded(int(run.strip("/").split("/")[-1]))

    def seed_comparison(self) -> list[Variant]:
        """The variants every seed scores (the repeats' own variants and unpruned kinds)."""
        if not self.repeat_seeds:
            return []
        repeat = self.seeded(self.repeat_seeds[0])
        return [v for t, a in repeat.pairs() for v in repeat.unpruned_kinds(t, a) + repeat.variants(t, a)]

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
        return any(Strategy.parse(s).spends_budget for s in self.config["strategies"])

    def strategies_of(self, arch: str) -> list[str]:
        """The pruned kinds ``arch`` runs: the -jac recipe (a fixed point's penalty) on DEQs only."""
        return [s for s in self.strategies if arch in FIXED_POINT_ARCHS or s == PRUNED
                or not Strategy.parse(s).needs_fixed_point]

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
        from spade.study.config import schema_defaults

        return {**schema_defaults("evaluate", "cs"), **(self.config.get("evaluate", {}).get("cs") or {})}

    def cs_methods(self, task: str) -> list[str]:
        """The compressed-sensing baselines of ``task`` (MRI only; SR keeps bicubic)."""
        return list(self.cs_options()["methods"]) if task == "mri" else []

    def classical_variants(self, task: str) -> list[Variant]:
        """The rows with no network: the classical baseline (zero-filled, bicubic) and each
        compressed-sensing baseline."""
        return [Variant(task, CLASSICAL, strategy=CLASSICAL)] + [
            Variant(task, cs_arch(m), strategy=CLASSICAL) for m in self.cs_methods(task)]

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
        subjects: real MR from subjects that no split holds (spade.study.data.embedded.build_mri_external)."""
        mri = self.config["data"].get("mri", {})
        return task == "mri" and mri.get("source", "embedded") == "embedded" and bool(mri.get("external"))

    def shift_splits(self, task: str) -> list[str]:
        return [shift_split(name) for name in self.config["shifts"].get(task, {})]

    def eval_splits(self, task: str) -> list[str]:
        """The labelled splits every variant of a task is scored on for the summary."""
        return ["test"] + (["external"] if self.has_external(task) else []) + self.shift_splits(task)

    @property
    def deploy_runtime(self) -> str:
        """The runtime the study's networks are deployed and reported in (`benchmark`), which
        also times the widths of `round_to: auto` and the speed-target search."""
        from spade.options import BenchmarkOptions

        return BenchmarkOptions.of(self.config.get("benchmark")).deploy_runtime

    def latency_ratios(self) -> list[float]:
        """Every ratio a pruning job may ask for: the grid's and the speed-target search's."""
        grid = self.config.get("target_search", {}).get("grid", []) if self.config.get("target_speedups") else []
        return sorted({float(r) for r in [*self.config["ratios"], *grid]})

    def no_harm_strategies(self) -> list[str]:
        """The label-free strategies of `strategies` (recipes aside, each once) the no-harm
        check runs (`no_harm_check`; none when it is off)."""
        from spade.study.config import schema_defaults

        if not self.config.get("no_harm_check", schema_defaults()["no_harm_check"]):
            return []
        bases = [Strategy.parse(s).name for s in self.config["strategies"]]
        return [b for i, b in enumerate(bases) if b not in bases[:i] and not Strategy.parse(b).needs_target]

    def label_free_pruned(self, arch: str) -> Variant:
        """The pruned network of ``arch`` that every label-free setting fine-tunes."""
        block = self.config["label_free_ablation"]
        return Variant(block["task"], arch, self.first_criterion, block["ratio"], PRUNED)

    def label_free_settings(self) -> list[tuple[str, str, str]]:
        """(input key, arch, setting) of every network the label-free table scores: per arch,
        the unpruned network, the pruned one, its supervised fine-tuning where the study runs
        it (the reference each label-free setting is measured against) and each setting's fit."""
        block = self.config["label_free_ablation"]
        reference = [LABELLED_REFERENCE] if LABELLED_REFERENCE in self.config["strategies"] else []
        return [(f"{arch}_{i}", arch, name) for arch in block["archs"]
                for i, name in enumerate([UNPRUNED, PRUNED, *reference, *block["settings"]])]
