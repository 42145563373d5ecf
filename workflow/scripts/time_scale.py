import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import time_scale

log_to_file(snakemake.log[0])
time_scale(
    name=snakemake.wildcards.scale,
    setting=snakemake.params.setting,
    opts=snakemake.params.opts,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
    out_csv=snakemake.output.table,
    width_runtime=snakemake.params.width_runtime,
)
