import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.registry import DATASET_SPLITS
from spade.study.stages import make_data

log_to_file(snakemake.log[0])
make_data(
    snakemake.wildcards.task,
    snakemake.params.cfg,
    snakemake.params.seed,
    {s: snakemake.output[s] for s in DATASET_SPLITS},
    snakemake.output.info,
)
