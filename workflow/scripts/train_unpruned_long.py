import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from spade.log import log_to_file
from spade.study.stages import train_unpruned_long

log_to_file(snakemake.log[0])
inputs, params, output = snakemake.input, snakemake.params, snakemake.output
train_unpruned_long(inputs.model, params.opts, params.seed, snakemake.threads, inputs.train, inputs.val, output.model,
                    output.history, params.state, params.device)
