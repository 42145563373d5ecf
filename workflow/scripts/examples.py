import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.report import plot_examples

log_to_file(snakemake.log[0])
plot_examples(
    dict(snakemake.input.items()),
    snakemake.output[0],
    title=f"{snakemake.wildcards.task}: test reconstructions (top) and |error| (bottom)",
)
