"""Where every artifact of the study lives: one path template per artifact, written once.
The rules' outputs use these strings (their wildcards are the template's fields) and
:class:`spade.study.Study` formats them for inputs. Nothing here imports torch."""

from __future__ import annotations

# Path templates (relative to the working directory); {key} is a pruned variant's path key
# (spade.study.variants.Variant.key: "l1-r0.4" or "l1-x2.0"). {run} is empty for the study and
# "seeds/<seed>/" for its repeat with a further seed of training and fine-tuning (`seeds`):
# the data, the benchmark and the ablations are the study's alone.
DATA = "results/data/{task}/{split}.h5"
DATA_INFO = "results/data/{task}/info.json"
UNPRUNED_MODEL = "results/{run}models/{task}/{arch}/unpruned.pt"
UNPRUNED_HISTORY = "results/{run}models/{task}/{arch}/unpruned_history.csv"
UNPRUNED_STATE = "results/{run}models/{task}/{arch}/unpruned.state.pt"
UNPRUNED_LONG_MODEL = "results/{run}models/{task}/{arch}/unpruned-long"  # + .pt, _history.csv, .state.pt
PRUNED_MODEL = "results/{run}pruned/{task}/{arch}/{key}.pt"
TARGET_SEARCH = "results/{run}target/{task}/{arch}/{key}.json"
FINETUNED = "results/{run}finetuned/{task}/{arch}/{key}/{strategy}"  # + .pt, _history.csv, .state.pt
SCRATCH_MODEL = "results/{run}scratch/{task}/{arch}/{key}"  # + .pt, _history.csv, .state.pt
METRICS_CLASSICAL = "results/metrics/{split}/{task}/classical"  # + .csv, .npz
METRICS_CS = "results/metrics/{split}/{task}/cs-{method}"  # + .csv, .npz (spade.study.classical)
CS_LAMBDA = "results/classical/{task}/{method}.json"  # lambda chosen on validation
BENCH_CLASSICAL = "results/bench/{task}/classical"  # + .csv, .json: the baselines timed
METRICS_NETWORK = "results/{run}metrics/{split}/{task}/{arch}/{kind}"  # kind: unpruned or prior-off
METRICS_VARIANT = "results/{run}metrics/{split}/{task}/{arch}/{key}/{strategy}"
BENCH = "results/bench/{task}/{arch}"  # + .csv, .json
LABEL_FREE = "results/labelfree/{task}/{arch}/{setting}"  # + .pt, _history.csv, .state.pt
NO_HARM = "results/no_harm/{task}/{arch}/{strategy}"  # + .pt, _history.csv, .state.pt: the unpruned network fine-tuned
SCALE = "results/scale/{scale}/{arch}.csv"
LATENCY = "results/latency/{task}.json"
# the equal-latency comparison (config `equal_latency`): the unpruned unrolled network cut to
# fewer steps and fine-tuned, and each task x arch's options scored and timed
FEWER_STEPS = "results/fewer_steps/{task}/{arch}/steps{steps}"  # + .pt, _history.csv, .state.pt
EQUAL_LATENCY = "results/equal_latency/{task}/{arch}"  # + .csv, _scores.csv  # round_to: auto's latency table (spade.widths)


def split_file(split: str) -> str:
    """The template of one split's file, ``{task}`` left as a wildcard."""
    return DATA.replace("{split}", split)


def seed_run(seed) -> str:
    """The {run} of a repeat with a further seed (``"{seed}"``: the template itself)."""
    return f"seeds/{seed}/"
