import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
import pandas as pd

from spade.log import log_to_file
from spade.report import extra_timings, summarise, write_tables

log_to_file(snakemake.log[0])
bench = {tuple(k.split("/")): pd.read_csv(v) for k, v in snakemake.params.bench.items()}
table = summarise(snakemake.params.records, bench)
write_tables(table, snakemake.output.csv, snakemake.output.md, extra_timings(bench), snakemake.output.extras)
