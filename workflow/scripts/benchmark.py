import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import run_benchmark

log_to_file(snakemake.log[0])
run_benchmark(
    variants=snakemake.params.variants,
    data_path=snakemake.input.data,
    opts=snakemake.params.opts,
    device_setting=snakemake.params.device,
    threads=snakemake.params.opts["threads"] or snakemake.threads,
    out_csv=snakemake.output.table,
    out_info=snakemake.output.info,
)
