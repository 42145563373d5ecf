import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import choose_cs

log_to_file(snakemake.log[0])
choose_cs(
    data_path=snakemake.input.data,
    method=snakemake.wildcards.method,
    lambdas=snakemake.params.cs["lambdas"],
    iterations=snakemake.params.cs["iterations"],
    out_json=snakemake.output[0],
    threads=snakemake.threads,
    convention=snakemake.params.convention,
    sigma=snakemake.params.cs["tv_sigma"],
)
