#!/usr/bin/env bash
# The GPU check of issue 14 in one call of a device machine (torch, sympy, scipy, matplotlib and pytest are installed
# there; nothing is installed here): the CUDA tests, then bench_cifar.py at full width in four modes.
# Usage (from the repository root): bash benchmarks/gpu_check.sh   -> $OUT/ (default /tmp/gpu_check): logs and JSON.
# Each step has its own time limit, so one that hangs cannot eat the others' time; about 6 minutes in all.
set -uo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" 2>&1 | tee -a "$OUT/gpu.txt"

# graph against eager on CUDA (skipped on a CPU), and the CPU-side checks of the staged iteration
timeout 300 python3 -m pytest -q -p no:cacheprovider -rs tests/test_train_graph.py 2>&1 | tee "$OUT/tests.log"

# generator iterations/s and peak memory, trainer against the plain reference loop (ResNet and DCGAN, width 128)
for mode in "eager" "eager-bf16" "graph" "graph-bf16"; do
    flags=(--parts train --device cuda --width 128 --iters 100 --channels-last --json)
    [[ $mode == *bf16 ]] && flags+=(--amp bf16)
    [[ $mode == graph* ]] && flags+=(--cuda-graph)
    echo "== bench_cifar $mode: ${flags[*]}"
    timeout 150 python3 benchmarks/bench_cifar.py "${flags[@]}" > "$OUT/bench_$mode.json" 2> "$OUT/bench_$mode.err"
    echo "exit $?"
    cat "$OUT/bench_$mode.err"
done
