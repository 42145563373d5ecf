"""Options read once from a config block, with the schema's defaults filled in: the stages,
the CLI and the API take these typed objects instead of looking keys up with defaults of
their own (the schema, workflow/schemas/config.schema.yaml, is where every default lives)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from spade.config import schema_defaults


def _block(cls, block: dict | None, *key: str) -> dict:
    """``block`` over the schema's defaults of ``key``; refuses a key the options lack."""
    block = dict(block or {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(block) - names)
    if unknown:
        raise ValueError(f"config key '{'.'.join(key)}': unknown option(s) {unknown}; expected {sorted(names)}")
    values = {name: None for name in names}  # a key with no schema default and not given: null
    values.update({k: v for k, v in schema_defaults(*key).items() if k in names})
    values.update(block)
    return values


@dataclass(frozen=True)
class BenchmarkOptions:
    """The `benchmark` block: how every variant is timed (spade.stages.benchmark)."""

    batch_sizes: tuple[int, ...]
    warmup: int
    repeats: int
    threads: int | None
    crop: int | None
    images: int
    rounds: int
    spread_check: bool
    breakdown_repeats: int
    runtimes: tuple[str, ...]
    deploy_runtime: str
    deq_loose_tol: float | None
    channels_last: bool
    compile: bool
    speed_target: float | None

    @classmethod
    def of(cls, block: BenchmarkOptions | dict | None) -> BenchmarkOptions:
        """``block`` as options: itself, or a config block (missing keys: the schema's defaults)."""
        if isinstance(block, cls):
            return block
        values = _block(cls, block, "benchmark")
        if "deploy_runtime" not in (block or {}) and "runtimes" in (block or {}):
            values["deploy_runtime"] = list(values["runtimes"])[0]  # the first runtime given, as before
        values["batch_sizes"] = tuple(int(b) for b in values["batch_sizes"])
        values["runtimes"] = tuple(values["runtimes"])
        return cls(**values)

    def replace(self, **changes) -> BenchmarkOptions:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The options as a config block (what the timing job records)."""
        out = asdict(self)
        out["batch_sizes"], out["runtimes"] = list(self.batch_sizes), list(self.runtimes)
        return out
