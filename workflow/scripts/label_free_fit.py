import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.stages import finetune

log_to_file(snakemake.log[0])
finetune(
    strategy_name="selfsup",
    pruned_path=snakemake.input.pruned,
    teacher_path=None,
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    opts=snakemake.params.opts,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
    out_model=snakemake.output.model,
    history_path=snakemake.output.history,
    state_path=snakemake.params.state,
)
