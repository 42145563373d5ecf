import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)

from spade.log import log_to_file
from spade.study.report import plot_fit_curves, read_curves

log_to_file(snakemake.log[0])
curves = read_curves(snakemake.input.models)
curves.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
plot_fit_curves(curves, snakemake.output.png)
