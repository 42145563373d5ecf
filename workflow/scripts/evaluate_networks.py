import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.stages import evaluate_many

log_to_file(snakemake.log[0])
evaluate_many(
    jobs=snakemake.params.jobs,
    data_path=snakemake.input.data,
    n_examples=snakemake.params.examples,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
    convention=snakemake.params.convention,
)
