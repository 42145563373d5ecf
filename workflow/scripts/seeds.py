import _repo  # noqa: F401  (spade from this checkout, also in --use-conda envs)
from pathlib import Path

from spade.log import log_to_file
from spade.study.report import read_scores, seed_spread, seeds_markdown, summarise

log_to_file(snakemake.log[0])
# every seed's networks paired with that seed's own unpruned network, bootstrap seeded alike
summaries = {
    int(name.removeprefix("seed_")): summarise(read_scores(paths), seed=snakemake.params.seed)
    for name, paths in snakemake.input.items()
}
spread = seed_spread(summaries)
spread.to_csv(snakemake.output.csv, index=False, float_format="%.6g")
Path(snakemake.output.md).write_text(seeds_markdown(spread) + "\n")
