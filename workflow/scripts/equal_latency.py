import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages.equal_latency import equal_latency

log_to_file(snakemake.log[0])
equal_latency(
    models=snakemake.params.models,
    train_path=snakemake.input.train,
    val_path=snakemake.input.val,
    test_path=snakemake.input.test,
    settings=snakemake.params.settings,
    bench_opts=snakemake.params.bench,
    seed=snakemake.params.seed,
    threads=snakemake.threads,
    out_csv=snakemake.output.csv,
    out_scores=snakemake.output.scores,
    device_setting=snakemake.params.device,
    convention=snakemake.params.convention,
)
