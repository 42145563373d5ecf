"""Speed at the paper's scale: random-weight networks pruned and timed side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from spade.runtimes import EAGER
from spade.study.provenance import environment
from spade.study.report.speed_markdown import scale_markdown
from spade.study.stages.context import log, start_job


def time_scale(name: str, setting: dict, opts: dict, seed: int, threads: int, out_csv,
               device_setting: str = "cpu", width_runtime: str = EAGER) -> pd.DataFrame:
    """Time one network at one scale (:func:`spade.study.scale.time_scale`): ``setting`` holds the
    image ``size``, ``coils``, the mask's ``acceleration`` and ``center_fraction``, and the
    ``network`` spec, and ``round_to`` where the scale has its own width rules; ``opts`` the
    config's ``scale_timing`` block; ``width_runtime`` what times auto widths (the deploy runtime)."""
    from spade.study.scale import scale_physics
    from spade.study.scale import time_scale as time_one

    device = start_job(seed, threads, device_setting, timed=True)
    physics = scale_physics(int(setting["size"]), int(setting["coils"]), int(setting["acceleration"]),
                            float(setting["center_fraction"]), seed)
    round_to = list(setting.get("round_to", opts["round_to"]))  # a scale's own width rules, if it has them
    table = time_one(name, setting["network"], physics, list(opts["ratios"]), round_to, seed,
                     int(opts["deq_iterations"]), int(opts["warmup"]), int(opts["repeats"]),
                     int(opts["breakdown_repeats"]), device, tuple(int(b) for b in opts.get("batch_sizes", [1])),
                     tuple(opts.get("runtimes") or [EAGER]), width_runtime)
    env = environment(seed, str(device))
    table = table.assign(device=str(device), threads=torch.get_num_threads(), torch=env.get("torch"),
                         coils=int(setting["coils"]))
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    log.info("%s %s: %s", name, setting["network"]["arch"],
             ", ".join(f"{r.ratio:g}/{r.widths or 'unpruned'}/{r.runtime} {r.speedup:.2f}x" for _, r in table.iterrows()))
    return table


def scale_table(paths, out_csv, out_md) -> pd.DataFrame:
    """Every scale's timings in one table (CSV and Markdown)."""
    table = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths], ignore_index=True)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.6g")
    first = table.iloc[0]
    note = (f"Device {first.device}, {int(first.threads)} threads, torch {first.torch}; latency is the median of "
            f"{int(first.repeats)} interleaved runs.")
    Path(out_md).write_text(scale_markdown(table, note))
    return table
