"""What each job of a study receives: the network config, the fit budgets (an arch's own keys
over the task's) and the settings of the controls, ablations and timings. Nothing here
imports torch."""

from __future__ import annotations

from spade.options import STRATEGY_SETTINGS


class JobSettings:
    """The settings each job of a study receives."""

    config: dict
    run: str

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
            from spade.study.config import schema_defaults

            shared = {**schema_defaults("finetune"), **self.config["finetune"]}
            opts.update({k: shared[k] for k in STRATEGY_SETTINGS if k in shared})
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
        from spade.study.config import schema_defaults

        return self.config["finetune"].get("label_free_data") or schema_defaults("finetune")["label_free_data"]

    def latency_specs(self, task: str) -> dict[str, dict]:
        """``{arch: network config}`` of the networks ``task`` prunes: the shapes the table needs."""
        return {arch: self.network_config(task, arch) for arch in self.archs(task)}

    def label_free_options(self, task: str, arch: str, setting: str) -> dict:
        """Fine-tuning settings of one label-free ablation setting: the arch's `finetune`
        options with the setting's self-supervised loss, EI and SSDU keys replaced and its
        epochs times its `budget`."""
        block = self.config["label_free_ablation"]["settings"][setting]
        opts = self.fit_options("finetune", task, arch)
        opts["selfsup"] = {**opts["selfsup"], task: block.get("selfsup", opts["selfsup"][task])}
        opts["ei"] = {**opts["ei"], **block.get("ei", {})}
        opts["ssdu"] = {**opts["ssdu"], **block.get("ssdu", {})}
        opts["es"] = {**opts.get("es", {}), **block.get("es", {})}
        opts["epochs"] = int(opts["epochs"]) * int(block.get("budget", 1))
        return opts

    def label_free_data(self, task: str, setting: str) -> tuple[str, float]:
        """``(data file, fraction)`` a label-free setting trains on: the setting's `data.split`
        (`unlabelled`, or `train`: the training split's measurements, never its targets; by
        default `finetune.label_free_data`) and the fraction of it (`data.fraction`, 1)."""
        data = self.config["label_free_ablation"]["settings"][setting].get("data", {})
        split = data.get("split", self.label_free_split)
        return self.data_path(task, split), float(data.get("fraction", 1.0))

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
