import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import prune_to_speed

log_to_file(snakemake.log[0])
prune_to_speed(
    base_path=snakemake.input.model,
    data_path=snakemake.input.data,
    target=snakemake.params.variant.target,
    criterion=snakemake.params.variant.criterion,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    opts=snakemake.params.opts,
    out_model=snakemake.output.model,
    out_json=snakemake.output.search,
    device_setting=snakemake.params.device,
    round_to=snakemake.params.round_to,
    taylor_images=snakemake.params.taylor_images,
    latency_path=snakemake.input.get("latency"),
    crop=snakemake.params.crop,
    runtime=snakemake.params.runtime,
)
