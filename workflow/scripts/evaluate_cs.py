import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import evaluate_cs

log_to_file(snakemake.log[0])
evaluate_cs(
    lambda_json=snakemake.input.lamda,
    test_path=snakemake.input.data,
    out_csv=snakemake.output.metrics,
    out_examples=snakemake.output.examples,
    n_examples=snakemake.params.examples,
    threads=snakemake.threads,
    convention=snakemake.params.convention,
)
