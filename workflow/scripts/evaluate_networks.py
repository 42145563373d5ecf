import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import evaluate_many

log_to_file(snakemake.log[0])
# every network of the arch on this split, each to its own files (spade.study.Study.evaluation_jobs)
params = snakemake.params
evaluate_many(params.jobs, snakemake.input.data, params.examples, snakemake.threads, params.device, params.convention)
