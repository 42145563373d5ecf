#!/usr/bin/env bash
# The GPU check of docs/benchmarks/README.md: the tiny study with every stage on CUDA, then
# the default study (reusing its trained models if results/ holds them) timed at batch 1
# and 8 with channels-last and torch.compile rows; the tables land in docs/benchmarks/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
python=$BIN/python
"$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
gpu=$("$python" -c 'import torch; print(torch.cuda.get_device_name(0).replace(" ", "_"))')
work=$(mktemp -d)
"$BIN/snakemake" --cores all --configfile .test/config/config.yaml --config device=cuda --directory "$work"
"$BIN/snakemake" --cores all --configfile config/config.yaml config/gpu.yaml
out=docs/benchmarks/$gpu.md
{
    echo "# Default study on $gpu"
    echo
    echo '```json'
    cat results/bench/mri/du.json
    echo '```'
    echo
    cat results/tables/summary.md
} > "$out"
cp results/tables/extra_timings.csv "docs/benchmarks/${gpu}_extra_timings.csv"
echo "wrote $out; the tiny CUDA study is in $work"
