import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)

from spade.log import log_to_file
from spade.study.provenance import write_resolved_config

log_to_file(snakemake.log[0])
write_resolved_config(snakemake.output[0], snakemake.params.files, snakemake.params.config,
                      snakemake.params.budgets)
