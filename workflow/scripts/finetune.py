import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import finetune

log_to_file(snakemake.log[0])
finetune(
    # the label-free ablation's fits name their strategy in params
    strategy_name=snakemake.params.get("strategy", snakemake.wildcards.get("strategy")),
    pruned_path=snakemake.input.pruned,
    teacher_path=snakemake.input.get("teacher"),
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    opts=snakemake.params.opts,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
    out_model=snakemake.output.model,
    history_path=snakemake.output.history,
    state_path=snakemake.params.state,
    base_path=snakemake.input.get("base"),
    prune_data_path=snakemake.input.get("prune_data"),
    taylor_images=snakemake.params.taylor_images,
    # the label-free ablation's data curve: a fraction of the measurements
    data_fraction=snakemake.params.get("data_fraction", 1.0),
)
