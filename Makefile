# The two commands of the README: `make run` (the whole study) and `make test`.
# Both create .venv with pinned packages first; PYTHON must be Python 3.11 or 3.12.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: setup run report test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo "done: results/tables/summary.md, results/figures/, results/report.html"

# tests/slurm/install.sh adds Debian's SLURM and munge packages when run as root (CI);
# elsewhere tests/test_slurm.py is skipped unless SPADE_REQUIRE_SLURM=1.
test: setup
	bash tests/slurm/install.sh
	$(BIN)/python -m pytest -v --durations=10

clean:
	rm -rf results logs .snakemake
