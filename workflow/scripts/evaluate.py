import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import evaluate

log_to_file(snakemake.log[0])
evaluate(
    model_path=snakemake.input.get("model"),  # none: the classical baseline
    test_path=snakemake.input.data,
    out_csv=snakemake.output.metrics,
    out_examples=snakemake.output.examples,
    n_examples=snakemake.params.examples,
    threads=snakemake.threads,
    device_setting=snakemake.params.device,
    convention=snakemake.params.convention,
    prior_off=snakemake.params.prior_off,
)
