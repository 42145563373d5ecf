import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
import pandas as pd

from spade.log import log_to_file
from spade.study.report import extra_timings, per_unit_markdown, per_unit_table, read_costs, read_scores, summarise, write_tables

log_to_file(snakemake.log[0])
seed = snakemake.params.seed
scores = read_scores(snakemake.input.metrics)
if "bench" in snakemake.input.keys():  # the study's summary: quality merged with speed
    bench = pd.concat([pd.read_csv(p) for p in snakemake.input.bench], ignore_index=True)
    costs = read_costs(snakemake.input.models)
    # the headline is chosen on the validation split's summary, then read once on test
    validation = summarise(read_scores(snakemake.input.validation), bench, costs, seed)
    # the no-harm check's table, printed in the summary beside the results it qualifies
    no_harm = snakemake.input.get("no_harm", [])
    appendix = "".join(open(path).read() for path in ([no_harm] if isinstance(no_harm, str) else no_harm))
    write_tables(summarise(scores, bench, costs, seed), snakemake.output.csv, snakemake.output.md,
                 extra_timings(bench), snakemake.output.extras, validation, snakemake.output.headline,
                 snakemake.params.speed_target, appendix)
    # each subject's (photograph's) own mean beside the subject-weighted means
    per_unit = per_unit_table(scores)
    per_unit.to_csv(snakemake.output.per_unit_csv, index=False, float_format="%.6g")
    open(snakemake.output.per_unit_md, "w").write(per_unit_markdown(per_unit))
else:  # the validation table: quality only
    write_tables(summarise(scores, seed=seed), snakemake.output.csv, snakemake.output.md)
