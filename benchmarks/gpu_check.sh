#!/usr/bin/env bash
# The GPU figures of the fast path in one run, on a machine with a CUDA GPU and the package installed
# (pip install -e ".[test]"): the GPU tests, the throughput table, every lesson's wall time at its
# defaults. About 10 minutes on one H100; everything goes to $OUT (default gpu-check/).
#
#     OUT=/tmp/gpu bash benchmarks/gpu_check.sh [--quick]
#
# --quick: the tests and the throughput table only (about 3 minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU here'; print(torch.cuda.get_device_name())" \
    | tee "$OUT/device.txt" || exit 2
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >> "$OUT/device.txt" 2>/dev/null || true
# the tests that need a GPU (they skip elsewhere), one process, no notebooks
"$PY" -m pytest -n 0 -p no:cacheprovider -o addopts="" -q -rs tests/test_fast.py tests/test_gpu.py \
    tests/test_checks_rng.py 2>&1 | tail -n 25 | tee "$OUT/tests.txt"
# our trainer (plain and fast) against the tutorials' loop: DCGAN b64/b128/b1024, WGAN-GP b64
"$PY" benchmarks/bench_loop.py --seconds 2 --rounds 2 --json "$OUT/bench_loop.json" 2>&1 \
    | grep -v '^{' | tee "$OUT/bench_loop.txt"
if [ "${1:-}" != "--quick" ]; then
    # every lesson at its defaults on the GPU, cell by cell (target: each within 45 s)
    "$PY" benchmarks/profile_lessons.py --json "$OUT/lessons.json" 2>&1 | tee "$OUT/lessons.txt"
fi
