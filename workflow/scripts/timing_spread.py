import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from pathlib import Path

import pandas as pd

from spade.log import log_to_file
from spade.study.report import timing_spread, timing_spread_markdown

log_to_file(snakemake.log[0])
table = timing_spread(pd.read_csv(snakemake.input.first), pd.read_csv(snakemake.input.again))
table.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
Path(snakemake.output.md).write_text(timing_spread_markdown(table))
