import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from pathlib import Path

import pandas as pd

from spade.log import log_to_file
from spade.study.report import plot_robustness, robustness, robustness_markdown

log_to_file(snakemake.log[0])
table = robustness(pd.read_csv(snakemake.input.summary, keep_default_na=False, na_values=[""]))
table.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
Path(snakemake.output.md).write_text(robustness_markdown(table))
plot_robustness(table, snakemake.output.figure)
