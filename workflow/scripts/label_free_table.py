import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import label_free_scores

log_to_file(snakemake.log[0])
label_free_scores(
    models=[(setting, snakemake.input[key]) for key, setting in snakemake.params.settings],
    val_path=snakemake.input.val,
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    score_opts=snakemake.params.score,
    device_setting=snakemake.params.device,
    label_free_split=snakemake.params.label_free_split,
)
