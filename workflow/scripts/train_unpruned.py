import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import train_unpruned

log_to_file(snakemake.log[0])
train_unpruned(
    task=snakemake.wildcards.task,
    arch=snakemake.wildcards.arch,
    arch_cfg=snakemake.params.arch_cfg,
    opts=snakemake.params.opts,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    out_model=snakemake.output.model,
    history_path=snakemake.output.history,
    state_path=snakemake.params.state,
)
