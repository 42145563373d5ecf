import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
import pandas as pd

from spade.log import log_to_file
from spade.study.report import plot_psnr_vs_latency, plot_psnr_vs_ratio, plot_psnr_vs_speedup, plot_speedup

log_to_file(snakemake.log[0])
summary = pd.read_csv(snakemake.input.summary)
plot_psnr_vs_ratio(summary, snakemake.output.ratio)
plot_speedup(summary, snakemake.output.speedup)
plot_psnr_vs_latency(summary, snakemake.output.latency)
plot_psnr_vs_speedup(summary, snakemake.output.tradeoff)
