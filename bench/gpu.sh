#!/usr/bin/env bash
# One device call: the GPU tests, then the normalization kernel benchmark beside PyTorch on the same GPU.
# Prints a short table last and writes everything under $OUT (the device tool's folder) or out/gpu.
#
#   bash bench/gpu.sh [BIN_DIR]        # BIN_DIR holds normrt_cuda_tests, gpu_norm_bench, libnormrt_cuda.so
#   STAGES="tests normrt torch" (default: all three); TORCH_FLAGS="--no-compile" to skip torch.compile.
#
# Built here (no GPU needed): cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
# On the device machine the CUDA libraries come from the system:
#   LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/usr/local/cuda-13.0/targets/x86_64-linux/lib
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "${1:-build}" && pwd)
RESULTS=${OUT:-out/gpu}
STAGES=${STAGES:-tests normrt torch}
mkdir -p "$RESULTS"
export LD_LIBRARY_PATH="$BIN:/usr/lib/x86_64-linux-gnu:/usr/local/cuda-13.0/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}"
export PYTHONUNBUFFERED=1
status=0

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit \
  --format=csv > "$RESULTS/gpu.txt" 2>&1
cat "$RESULTS/gpu.txt"

if [[ " $STAGES " == *" tests "* ]]; then
  timeout "${TESTS_TIMEOUT:-120}" "$BIN/normrt_cuda_tests" > "$RESULTS/tests.log" 2>&1 || status=1
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran|worst error|FAILED" "$RESULTS/tests.log" | head -40
fi

if [[ " $STAGES " == *" normrt "* ]]; then
  timeout "${BENCH_TIMEOUT:-180}" "$BIN/gpu_norm_bench" --out "$RESULTS/normrt.jsonl" > "$RESULTS/normrt.log" 2>&1 || status=1
  cat "$RESULTS/normrt.log"
fi

if [[ " $STAGES " == *" torch "* ]]; then
  timeout "${TORCH_TIMEOUT:-420}" python3 "$HERE/gpu_norm.py" --out "$RESULTS/torch.jsonl" ${TORCH_FLAGS:-} \
    > "$RESULTS/torch.log" 2>&1 || status=1
  tail -n 3 "$RESULTS/torch.log"
  if [[ -s "$RESULTS/normrt.jsonl" && -s "$RESULTS/torch.jsonl" ]]; then
    python3 "$HERE/gpu_norm.py" --table-only --out "$RESULTS/torch.jsonl" --normrt "$RESULTS/normrt.jsonl" \
      --table "$RESULTS/table.md" > /dev/null
    cat "$RESULTS/table.md"
  fi
fi
exit $status
