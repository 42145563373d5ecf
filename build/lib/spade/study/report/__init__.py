"""The study's report: the artifacts read (:mod:`.readers`), the tidy summary (:mod:`.summary`),
the tables derived from it (:mod:`.derived`), their Markdown tables
(:mod:`.markdown`; the speed sections in :mod:`.speed_markdown`, the tables beside it in
:mod:`.side_markdown`), seaborn figures
(:mod:`.figures`), one palette (:mod:`.palette`) and the units every mean weighs
(:mod:`.units`)."""

from spade.study.report.derived import extra_timings, headline, primary, robustness, seed_spread, timing_spread
from spade.study.report.figures import (plot_examples, plot_fit_curves, plot_psnr_vs_latency, plot_psnr_vs_ratio,
                                  plot_psnr_vs_speedup, plot_robustness, plot_speedup)
from spade.study.report.markdown import extra_markdown, markdown, per_unit_markdown, robustness_markdown, write_tables
from spade.study.report.side_markdown import label_free_markdown, no_harm_markdown, seeds_markdown
from spade.study.report.palette import order, palette
from spade.study.report.speed_markdown import scale_markdown, timing_spread_markdown
from spade.study.report.readers import read_costs, read_curves, read_scores
from spade.study.report.summary import summarise
from spade.study.report.units import per_unit_table

__all__ = ["extra_markdown", "extra_timings", "headline", "label_free_markdown", "markdown", "no_harm_markdown", "order", "palette",
           "per_unit_markdown", "per_unit_table",
           "plot_examples", "plot_fit_curves", "plot_psnr_vs_latency", "plot_psnr_vs_ratio", "plot_psnr_vs_speedup",
           "plot_robustness", "plot_speedup", "primary", "read_costs", "read_curves", "read_scores", "robustness",
           "robustness_markdown", "scale_markdown", "seed_spread", "seeds_markdown", "summarise", "timing_spread",
           "timing_spread_markdown", "write_tables"]
