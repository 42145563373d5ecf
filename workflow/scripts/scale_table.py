import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import scale_table

log_to_file(snakemake.log[0])
scale_table(snakemake.input.tables, snakemake.output.csv, snakemake.output.md)
