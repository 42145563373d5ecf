import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import make_shift

log_to_file(snakemake.log[0])
make_shift(
    snakemake.wildcards.task,
    snakemake.params.cfg,
    snakemake.wildcards.shift,
    snakemake.params.overrides,
    snakemake.params.seed,
    snakemake.output[0],
)
