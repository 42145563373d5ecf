"""Strict checks of a study config against its JSON schema, before any job runs.

Every unknown key is refused with its path and the keys allowed there; numbers given on
the command line (``--config 'ratios=[0.1,0.3]'`` hands the list items over as strings)
are converted where the schema asks for a number; the entries each studied task and arch
needs are checked here rather than hours later in the job that reads them.
"""

from __future__ import annotations

import copy
import functools
import re

from spade.study.registry import ARCHS, FIXED_POINT_ARCHS, LABEL_FREE_SPLITS, TRAINING_SPLITS
from spade.strategies import Strategy, pattern
from spade.study.variants import AUTO, GLOBAL

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ConfigError(ValueError):
    """A config that the schema or the study's own rules refuse (one line per problem)."""


# Where the schema's enums of arch and split names sit, and the registry names each takes
# (spade.study.registry): the YAML file spells them out for Snakemake's own validation, and
# tests/test_registry.py checks the two agree.
REGISTRY_ENUMS = {
    ("properties", "archs", "items"): tuple(ARCHS),
    ("properties", "label_free_ablation", "properties", "archs", "items"): tuple(ARCHS),
    ("properties", "label_free_ablation", "properties", "settings", "additionalProperties", "properties", "data",
     "properties", "split"): TRAINING_SPLITS,
    ("properties", "data", "properties", "mri", "properties", "split_pattern", "items"): TRAINING_SPLITS,
    ("properties", "finetune", "properties", "label_free_data"): LABEL_FREE_SPLITS,
}


def _node(schema: dict, path: tuple) -> dict:
    for key in path:
        schema = schema[key]
    return schema


def load_schema(path) -> dict:
    """The config schema at ``path`` with the names of the registries filled in: the
    strategy names (:mod:`spade.strategies`; the YAML file says only that a strategy is a
    string, so that a strategy is added in one place) and the arch and split names
    (:mod:`spade.study.registry`)."""
    import yaml
    from pathlib import Path

    schema = yaml.safe_load(Path(path).read_text())
    for key in ("strategies", "first_criterion_only"):
        schema["properties"][key]["items"]["pattern"] = pattern()
    schema["properties"]["seeds"]["properties"]["strategies"]["items"]["pattern"] = pattern()
    for where, names in REGISTRY_ENUMS.items():
        _node(schema, where)["enum"] = list(names)
    return schema


# the schema beside the package (an editable install or a checkout: the workflow's own file)
SCHEMA_PATH = __import__("pathlib").Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def _package_schema() -> dict:
    """The schema beside the package, parsed once per process (every option object reads its
    defaults from it)."""
    if not SCHEMA_PATH.exists():
        raise FileNotFoundError(f"{SCHEMA_PATH}: the config schema is not beside the spade package (install it "
                                "from a checkout: pip install -e .)")
    return load_schema(SCHEMA_PATH)


def _defaults(node: dict) -> dict:
    # copies: a caller may change what it gets without changing the cached schema
    return {name: copy.deepcopy(prop["default"]) for name, prop in node.get("properties", {}).items()
            if "default" in prop}


def schema_defaults(*key: str) -> dict:
    """The schema's defaults of the block at ``key`` (e.g. ``"benchmark"``): what the CLI and
    the API fall back on, so that a default lives in the schema only."""
    node = _package_schema()
    for k in key:
        node = node["properties"][k]
    return _defaults(node)


def fit_defaults() -> dict:
    """The schema's defaults of one fit's settings (its ``fit`` definition: ``train.<task>``
    and ``finetune.<task>``; an arch's own keys replace them)."""
    return definition_defaults("fit")


def definition_defaults(name: str) -> dict:
    """The schema's defaults of its definition ``name`` (e.g. ``"fastmri"``, the block a
    builder fills in when it is called without the workflow's validation)."""
    return _defaults(_package_schema()["definitions"][name])


def _dotted(path) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[") or "(top level)"


def _set(config, path, value) -> None:
    node = config
    for p in list(path)[:-1]:
        node = node[p]
    node[list(path)[-1]] = value


def coerce_numbers(config: dict, schema: dict) -> None:
    """Turn numeric strings into numbers, "true"/"false" into booleans and "null" into None
    (in place) wherever the schema asks for one: Snakemake's ``--config`` hands both over as text."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    for _ in range(100):  # each pass fixes every type error it sees; nested ones may follow
        fixed = 0
        for err in validator.iter_errors(config):
            for e in [err, *err.context]:
                wanted = e.validator_value if e.validator == "type" else None
                wanted = [wanted] if isinstance(wanted, str) else (wanted or [])
                text = e.instance.strip().lower() if isinstance(e.instance, str) else None
                if text is None:
                    continue
                types = e.schema.get("type", []) if isinstance(e.schema, dict) else []
                if text in ("null", "none") and "null" in ([types] if isinstance(types, str) else types):
                    value = None  # --config 'round_to=null' (a string the schema also allows, by pattern)
                elif "boolean" in wanted and text in ("true", "false"):
                    value = text == "true"
                elif _NUMBER.match(text) and ("number" in wanted or "integer" in wanted):
                    value = float(text)
                    if "integer" in wanted and value.is_integer():
                        value = int(value)
                else:
                    continue
                try:
                    _set(config, e.absolute_path, value)
                    fixed += 1
                except (KeyError, IndexError, TypeError):
                    pass
        if not fixed:
            return


def schema_problems(config: dict, schema: dict) -> list[str]:
    """One readable line per schema violation, unknown keys named with their path."""
    from jsonschema import Draft202012Validator

    lines = []
    for err in sorted(Draft202012Validator(schema).iter_errors(config), key=lambda e: list(map(str, e.path))):
        where = _dotted(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - set(allowed)):
                full = f"{where}.{key}" if err.absolute_path else key
                lines.append(f"config key {full!r} is not known; the keys of {where} are: {', '.join(allowed)}")
        else:
            lines.append(f"config key {where!r}: {err.message}")
    return lines


from spade.plan import dropped_ratios  # noqa: E402 (torch-free, after the module's own imports)
from spade.runtimes import check_runtime  # noqa: E402


def study_problems(config: dict) -> list[str]:
    """What the schema cannot say: the entries each task and arch of the study needs."""
    lines = []
    for task in config.get("tasks", []):
        for where in (("data", task), ("train", task), ("finetune", task)):
            if task not in config.get(where[0], {}):
                lines.append(f"config key '{'.'.join(where)}' is missing: task {task!r} is in `tasks`")
        selfsup = [s for s in config.get("strategies", []) if Strategy.parse(s).name == "selfsup"]
        if selfsup and task not in config.get("finetune", {}).get("selfsup", {}):
            lines.append(f"config key 'finetune.selfsup.{task}' is missing: strategy {selfsup[0]} runs on task {task!r}")
    stray = [s for s in config.get("first_criterion_only", []) if s not in config.get("strategies", [])]
    if stray:
        lines.append(f"config key 'first_criterion_only': {stray[0]!r} is not among strategies "
                     f"{config.get('strategies')}")
    repeat = config.get("seeds") or {}
    for key, among in (("ratios", "ratios"), ("strategies", "strategies")):
        stray = [x for x in repeat.get(key, []) if x not in config.get(among, [])]
        if repeat.get("repeat") and stray:
            lines.append(f"config key 'seeds.{key}': {stray[0]!r} is not among {among} {config.get(among)}: a "
                         "repeat with a further seed repeats the study's own variants")
    if config.get("seed") in repeat.get("repeat", []):
        lines.append(f"config key 'seeds.repeat': holds the study's own seed {config.get('seed')} (`seed`); "
                     "list the further seeds only")
    ablation = config.get("label_free_ablation") or {}
    for arch in ablation.get("archs", []):
        if ablation.get("task") not in config.get("tasks", []) or arch not in config.get("archs", []) or \
                ablation.get("task") not in config.get("models", {}).get(arch, {}):
            lines.append(f"config key 'label_free_ablation.archs': {arch!r} on task {ablation.get('task')!r} is not "
                         "in the study (`tasks`, `archs`, `models`)")
    stepwise = [s for s in config.get("strategies", []) if Strategy.parse(s).prunes_stepwise]
    criteria = config.get("criteria", [])
    # a stepwise strategy runs with every criterion, or with the first alone
    runs_with = criteria[:1] if stepwise and set(stepwise) <= set(config.get("first_criterion_only", [])) else criteria
    allocated = [c for c in runs_with if c.endswith(GLOBAL)]
    if stepwise and allocated:
        lines.append(f"config key 'strategies': {stepwise[0]} prunes in steps, which needs uniform allocation; "
                     f"criterion {allocated[0]} allocates globally (its widths would follow each step's weights)")
    if config.get("round_to") == AUTO:
        if stepwise:
            lines.append(f"config key 'round_to': auto chooses each group's width in one step, but {stepwise[0]} "
                         "prunes in steps: give round_to null or a multiple, or drop the -iter recipe")
        allocated = [c for c in criteria if c.endswith(GLOBAL)]
        if allocated:
            lines.append(f"config key 'round_to': auto keeps the fastest width at or above each group's share, which "
                         f"needs uniform allocation; criterion {allocated[0]} allocates globally")
    fixed_point = [s for s in config.get("strategies", []) if Strategy.parse(s).needs_fixed_point]
    if fixed_point and not FIXED_POINT_ARCHS & set(config.get("archs", [])):
        lines.append(f"config key 'strategies': {fixed_point[0]} penalises a fixed point's Jacobian, but no DEQ is "
                     "studied (`archs`)")
    for arch in config.get("archs", []):
        if not set(config.get("models", {}).get(arch, {})) & set(config.get("tasks", [])):
            lines.append(f"config key 'models.{arch}' names none of the tasks {config.get('tasks')}: arch {arch!r} "
                         "would run nowhere")
    bench = config.get("benchmark") or {}
    runtimes = bench.get("runtimes") or []
    if bench.get("deploy_runtime") and runtimes and bench["deploy_runtime"] not in runtimes:
        lines.append(f"config key 'benchmark.deploy_runtime': {bench['deploy_runtime']!r} is not among "
                     f"benchmark.runtimes {runtimes}")
    for runtime in runtimes:
        try:
            check_runtime(runtime)
        except (RuntimeError, ValueError) as err:
            lines.append(f"config key {err}")
    lines += list(_empty_layers(config))
    lines += list(_repeated_widths(config))
    lines += list(_shared_subjects(config))
    return lines


def _shared_subjects(config: dict):
    """A subject of the embedded MRI named in two splits (data.mri.subjects, external): its
    slices would be trained on and tested on."""
    mri = config.get("data", {}).get("mri", {})
    if "mri" not in config.get("tasks", []) or mri.get("source", "embedded") != "embedded":
        return
    named = [(split, name) for split, names in (mri.get("subjects") or {}).items() for name in names]
    named += [("external", name) for name in mri.get("external") or []]
    seen: dict[str, str] = {}
    for split, name in named:
        if name in seen and seen[name] != split:
            yield (f"config key 'data.mri.subjects': subject {name!r} is in both {seen[name]!r} and {split!r}; a "
                   "subject belongs to one split (no network may train on a validation or test subject)")
        seen.setdefault(name, split)


def _repeated_widths(config: dict):
    """Ratios that prune a studied network to no widths of their own (spade.plan): they would
    label the unpruned network, or a smaller ratio's network, as another pruned variant."""
    for arch, per_task in config.get("models", {}).items():
        for task, spec in per_task.items():
            if arch not in config.get("archs", []) or task not in config.get("tasks", []) or "prior" not in spec:
                continue
            for ratio, why in dropped_ratios(spec["prior"], config.get("ratios", []), config.get("round_to"),
                                             config.get("criteria") or ["l1"]).items():
                yield (f"config key 'ratios': ratio {ratio:g} {why} for models.{arch}.{task}.prior with round_to "
                       f"{config.get('round_to')} (spade.plan); every ratio must prune each network to widths of its "
                       "own: drop it, or change round_to or the prior's features")


def _empty_layers(config: dict):
    """Ratios that would leave a prior layer with no channel: Torch-Pruning removes
    ``ceil(width * ratio)`` of a group's ``width`` channels, and a prior's narrowest layers
    have ``prior.features`` of them."""
    import math

    if isinstance(config.get("round_to"), int):
        return  # an integer round_to keeps at least one multiple of it (spade.plan)
    for arch, per_task in config.get("models", {}).items():
        if arch not in config.get("archs", []):
            continue
        for task, spec in per_task.items():
            if task not in config.get("tasks", []):
                continue
            width = spec.get("prior", {}).get("features")
            for ratio in config.get("ratios", []):
                if isinstance(width, int) and isinstance(ratio, (int, float)) and width - math.ceil(width * ratio - 1e-9) < 1:
                    yield (f"config key 'ratios': ratio {ratio} would remove every channel of the {width}-channel layers "
                           f"of models.{arch}.{task}.prior (features: {width}); the largest ratio that keeps one is "
                           f"{(width - 1) / width:.3g}")


def study_warnings(config: dict) -> list[str]:
    """Settings that run, but not as a reader of the config might expect."""
    ratios = config.get("ratios", [])
    lines = []
    skipped = [r for r in config.get("scratch_ratios", []) if r not in ratios]
    if skipped:  # e.g. --config 'ratios=[0.1,0.3]' over the default scratch_ratios [0.4]
        lines.append(f"scratch_ratios {skipped} are not among ratios {ratios}: no scratch control at "
                     f"{'them' if len(skipped) > 1 else 'it'} (a scratch network takes the widths pruned at its ratio)")
    return lines


# Validation scores that read ground truth: never what a label-free choice is made on.
LABELLED_SCORES = ("psnr", "ssim")


def label_free_refusals(config: dict) -> list[str]:
    """A label-free strategy set to train on labelled pairs or to choose by a score that
    reads ground truth, each named (before the schema's own, less specific, lines)."""
    lines = []
    finetune = config.get("finetune") or {}
    ablation = (config.get("label_free_ablation") or {}).get("settings") or {}
    places = [("finetune.label_free_data", finetune.get("label_free_data"))]
    places += [(f"label_free_ablation.settings.{name}.data.split", (block.get("data") or {}).get("split"))
               for name, block in ablation.items() if isinstance(block, dict)]
    for key, split in places:
        if split is not None and split not in LABEL_FREE_SPLITS:
            why = ("its slices' ground truth is what the networks were trained on" if split in TRAINING_SPLITS
                   else "the validation split's labels choose the supervised settings")
            lines.append(f"config key {key!r}: {split!r} is not data a label-free strategy may train on: it reads "
                         f"measurements of slices no network trained on, from {', '.join(LABEL_FREE_SPLITS)} "
                         f"(opened without their targets); {why}")
    monitors = (finetune.get("label_free") or {}).get("monitor") or {}
    for task, monitor in (monitors.items() if isinstance(monitors, dict) else []):
        if any(score in str(monitor).lower() for score in LABELLED_SCORES):
            lines.append(f"config key 'finetune.label_free.monitor.{task}': {monitor!r} reads ground truth; a "
                         "label-free fit is chosen on label-free scores only: loss (its own validation loss), "
                         "heldout_kspace (MRI) or cross_scale (SR)")
    return lines


def check_config(config: dict, schema: dict) -> list[str]:
    """Coerce command-line numbers, then refuse the config with every problem listed;
    returns the warnings the run should print."""
    coerce_numbers(config, schema)
    problems = label_free_refusals(config) + schema_problems(config, schema)
    problems += study_problems(config) if not problems else []
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return study_warnings(config)
