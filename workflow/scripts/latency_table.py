import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import latency_table

log_to_file(snakemake.log[0])
latency_table(
    specs=snakemake.params.specs,
    data_path=snakemake.input.data,
    ratios=snakemake.params.ratios,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    out_json=snakemake.output[0],
    device_setting=snakemake.params.device,
    runtime=snakemake.params.runtime,
)
