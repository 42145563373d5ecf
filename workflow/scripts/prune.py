import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import prune

log_to_file(snakemake.log[0])
prune(
    base_path=snakemake.input.model,
    data_path=snakemake.input.data,
    ratio=snakemake.params.variant.ratio,
    criterion=snakemake.params.variant.criterion,
    seed=snakemake.params.seed,
    out_model=snakemake.output.model,
    round_to=snakemake.params.round_to,
    taylor_images=snakemake.params.taylor_images,
    latency_path=snakemake.input.get("latency"),
    runtime=snakemake.params.runtime,
)
