import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages.equal_latency import fit_fewer_steps

log_to_file(snakemake.log[0])
fit_fewer_steps(
    unpruned_path=snakemake.input.unpruned,
    steps=int(snakemake.wildcards.steps),
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    opts=snakemake.params.opts,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    out_model=snakemake.output.model,
    history_path=snakemake.output.history,
    state_path=snakemake.params.state,
    device_setting=snakemake.params.device,
)
