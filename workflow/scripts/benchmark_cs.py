import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import benchmark_cs

log_to_file(snakemake.log[0])
benchmark_cs(
    lambda_jsons=snakemake.input.lambdas,
    data_path=snakemake.input.data,
    opts=snakemake.params.opts,
    threads=snakemake.params.opts["threads"] or snakemake.threads,
    out_csv=snakemake.output.table,
    out_info=snakemake.output.info,
)
