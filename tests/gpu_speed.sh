#!/usr/bin/env bash
# The short GPU speed check: the width rules' speed table (exact, multiple-of-8/16 and auto
# widths side by side, compared at equal MACs) of the study's MRI networks and the paper's (DEQ
# with an EDSR 13 x 64 prior, E2E-VarNet 8 cascades, 320 x 320, 8 coils), random weights, on the
# first CUDA device at batch 1 and 8, in each runtime side by side: eager, channels_last and,
# where onnxruntime-gpu is installed, ONNX Runtime's CUDA provider (CUDA events; config/gpu.yaml
# over config/extended.yaml). No data and no training. Writes docs/benchmarks/<gpu>_scale.md and .csv with the device, torch version
# and repeats; run it from a fresh `make setup` on the lent machine.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
"$BIN/python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
gpu=$("$BIN/python" -c 'import torch; print(torch.cuda.get_device_name(0).replace(" ", "_"))')
work=${WORK:-$(mktemp -d)}
# the paper-size networks with auto widths too (config/extended.yaml leaves them out on a CPU)
printf 'scale_timing: {scales: {paper: {round_to: [null, 8, auto]}}}\n' > "$work/paper_auto.yaml"
# ONNX Runtime's CUDA provider beside torch's runtimes, where this onnxruntime build has it
overlays=("$work/paper_auto.yaml")
if "$BIN/python" -c 'import onnxruntime, sys; sys.exit("CUDAExecutionProvider" not in onnxruntime.get_available_providers())' 2>/dev/null; then
    printf 'scale_timing: {runtimes: [eager, channels_last, onnxruntime-cuda]}\n' > "$work/ort_cuda.yaml"
    overlays+=("$work/ort_cuda.yaml")
else
    echo "onnxruntime has no CUDAExecutionProvider here (pip install onnxruntime-gpu): timing eager and channels_last"
fi
"$BIN/snakemake" --cores all --configfile "$PWD/config/config.yaml" "$PWD/config/extended.yaml" \
    "$PWD/config/gpu.yaml" "${overlays[@]}" --directory "$work" results/tables/scale.md
mkdir -p docs/benchmarks
cp "$work/results/tables/scale.md" "docs/benchmarks/${gpu}_scale.md"
cp "$work/results/tables/scale.csv" "docs/benchmarks/${gpu}_scale.csv"
echo "wrote docs/benchmarks/${gpu}_scale.md; logs in $work/logs/scale"
