import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import no_harm_scores

log_to_file(snakemake.log[0])
no_harm_scores(
    fits=snakemake.params.fits,
    val_paths={key[len("val_"):]: path for key, path in snakemake.input.items() if key.startswith("val_")},
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
)
