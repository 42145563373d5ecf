import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.report.equal_latency import equal_latency_report

log_to_file(snakemake.log[0])
equal_latency_report(
    tables=list(snakemake.input.tables),
    scores=list(snakemake.input.scores),
    out_csv=snakemake.output.csv,
    out_md=snakemake.output.md,
    out_figure=snakemake.output.figure,
    targets=snakemake.params.targets,
    seed=snakemake.params.seed,
)
