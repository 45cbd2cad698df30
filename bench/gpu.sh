#!/usr/bin/env bash
# One device call: the GPU tests (kernels against the CPU reference, the engine runtime, every fixture model on
# CUDA against the CPU engine), the command line end to end, the whole-network benchmark beside PyTorch
# (bench/gpu_networks.py) and the normalization kernel benchmark (gpu_norm_bench + bench/gpu_norm.py).
# Prints a short summary per stage and writes everything under $OUT (the device tool's folder) or out/gpu.
#
# Built and packed here (no GPU needed):
#   cmake --build build -j2 && bash bench/pack_for_device.sh build .devcarry
# then one device call, carrying .devcarry:
#   bash bench/gpu.sh .devcarry
# STAGES picks stages (default "tests cli networks"; "kernels" adds the normalization kernel benchmark,
# "attention" the attention kernel beside PyTorch's SDPA);
# NETWORK_FLAGS are passed to gpu_networks.py (e.g. "--no-compile --models resnet50_gn"); NORM_FLAGS and
# TORCH_FLAGS to gpu_norm_bench and gpu_norm.py (e.g. both "--hot --shape 1x256x56x56:32", plus
# "--only 1x256x56x56:fp16:NHWC" for the first and "--dtypes fp16 --layouts NHWC" for the second).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PACK=$(cd "${1:-.devcarry}" && pwd)
RESULTS=${OUT:-out/gpu}
STAGES=${STAGES:-tests cli networks}
mkdir -p "$RESULTS"
# PyTorch's children keep the machine's own library path: ours puts the system cuDNN first, and PyTorch must run
# with the cuDNN it ships (gpu_networks.py restores this for them).
export NORMRT_TORCH_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$(bash "$PACK/unpack.sh"):${LD_LIBRARY_PATH:-}"
export NORMRT_FIXTURES_DIR="$PACK/fixtures"
export PYTHONUNBUFFERED=1
BIN=$PACK/bin
status=0

nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm --format=csv > "$RESULTS/gpu.txt" 2>&1
cat "$RESULTS/gpu.txt"

if [[ " $STAGES " == *" tests "* ]]; then
  start=$SECONDS
  # Every GPU test took 417 s on an H100 (session 18): a device command runs 600 s at most, so the full suite and
  # a benchmark stage need two calls (TEST_FILTER narrows the tests). Session 19 took out most of that time's
  # cuDNN kernel compiles (the fp16 residual conv test 61 -> 5 s); the whole suite was not timed again.
  timeout "${TESTS_TIMEOUT:-540}" "$BIN/normrt_cuda_tests" ${TEST_FILTER:+--gtest_filter=$TEST_FILTER} \
    > "$RESULTS/tests.log" 2>&1 || status=1
  echo "== GPU tests ($((SECONDS - start)) s)"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |tests ran|FAILED TEST" "$RESULTS/tests.log" | head -60
  grep -B2 -A12 -E "^\[  FAILED  \] [A-Za-z]" "$RESULTS/tests.log" | grep -vE "^\[ +(RUN|OK) " | head -80
fi

if [[ " $STAGES " == *" cli "* ]]; then
  echo "== command line"
  model=$HERE/../examples/models/conv_gn_relu
  shapes="--minShapes=input:1x3x32x32 --optShapes=input:2x3x32x32 --maxShapes=input:8x3x32x32"
  cli=${WORK:-/tmp/normrt-gpu}/cli && mkdir -p "$cli"  # engines and outputs stay out of $OUT (8 files come back)
  "$BIN/normrt" build "$model/model.onnx" -o "$cli/gpu.nrt" --device cuda $shapes 2>&1 | tail -3 || status=1
  "$BIN/normrt" build "$model/model.onnx" -o "$cli/cpu.nrt" $shapes > /dev/null 2>&1 || status=1
  "$BIN/normrt" inspect "$cli/gpu.nrt" > "$cli/inspect.txt" 2>&1 && grep -iE "device|kernel" "$cli/inspect.txt" | head -12
  "$BIN/normrt" run "$cli/gpu.nrt" --input input="$model/input.npy" --output-dir "$cli/gpu" > /dev/null || status=1
  "$BIN/normrt" run "$cli/cpu.nrt" --input input="$model/input.npy" --output-dir "$cli/cpu" > /dev/null || status=1
  python3 - "$cli" <<'PY'
import glob, sys, numpy as np
d = sys.argv[1]
for g in sorted(glob.glob(d + "/gpu/*.npy")):
    c = g.replace("/gpu/", "/cpu/")
    a, b = np.load(g), np.load(c)
    print(f"run: {g.split('/')[-1]} gpu vs cpu max abs diff {float(np.abs(a - b).max()):.3g}")
PY
  "$BIN/normrt" bench "$cli/gpu.nrt" --shapes=input:8x3x32x32 --iterations 100 --warmup 10 2>&1 | tail -4
  "$BIN/normrt" build "$model/model.onnx" -o "$cli/gpu16.nrt" --device cuda --fp16 $shapes 2>&1 | tail -2
fi

if [[ " $STAGES " == *" networks "* ]]; then
  echo "== networks"
  work=${WORK:-/tmp/normrt-gpu}/networks  # exported models are hundreds of MB: only the results go to $OUT
  timeout "${NETWORKS_TIMEOUT:-420}" python3 "$HERE/gpu_networks.py" --normrt "$BIN/normrt" --out "$work" \
    --deadline-s "${NETWORKS_DEADLINE:-360}" ${NETWORK_FLAGS:-} > "$RESULTS/networks.log" 2>&1 || status=1
  cp "$work/networks.jsonl" "$work/networks.md" "$RESULTS/" 2>/dev/null
  tail -n 40 "$RESULTS/networks.log"
fi

if [[ " $STAGES " == *" profile "* ]]; then
  # Where the time goes per op and kernel (eager, an event before every node) for the engines the networks
  # stage built: PROFILE="model:precision:batch[:layout] ..." (default: both models, fp32 and fp16, batch 8, the
  # engines built without --layout).
  for spec in ${PROFILE:-resnet50_gn:fp16:8 unet_sd15:fp16:8 unet_sd15:fp32:8}; do
    IFS=: read -r model precision batch layout <<<"$spec"
    engine=${WORK:-/tmp/normrt-gpu}/networks/$model/$precision-${layout:-default}.nrt
    [ -f "$engine" ] || { echo "no engine $engine"; continue; }
    case $model in resnet50_gn) input=images dims=${batch}x3x224x224 ;; *) input=latent dims=${batch}x4x32x32 ;; esac
    echo "== profile $model $precision batch $batch layout ${layout:-default}"
    timeout 120 "$BIN/normrt" bench "$engine" --shapes="$input:$dims" --iterations 10 --warmup 3 --profile \
      2>&1 | head -n "${PROFILE_LINES:-24}"
  done
fi

if [[ " $STAGES " == *" attention "* ]]; then
  # The fused attention kernel beside PyTorch's SDPA and the written-out chain (ATTENTION_FLAGS: e.g.
  # "--precisions fp16 --shapes 8:1024:8:40"). PyTorch runs with its own library path; normrt with ours.
  echo "== attention"
  work=${WORK:-/tmp/normrt-gpu}/attention
  NORMRT_LD_LIBRARY_PATH="$LD_LIBRARY_PATH" LD_LIBRARY_PATH="$NORMRT_TORCH_LD_LIBRARY_PATH" \
    timeout "${ATTENTION_TIMEOUT:-420}" python3 "$HERE/gpu_attention.py" --normrt "$BIN/normrt" --out "$work" \
    ${ATTENTION_FLAGS:-} > "$RESULTS/attention.log" 2>&1 || status=1
  cp "$work/attention.md" "$RESULTS/" 2>/dev/null
  tail -n 24 "$RESULTS/attention.log"
fi

if [[ " $STAGES " == *" kernels "* ]]; then
  echo "== normalization kernels"
  timeout "${BENCH_TIMEOUT:-180}" "$BIN/gpu_norm_bench" --out "$RESULTS/normrt.jsonl" ${NORM_FLAGS:-} \
    > "$RESULTS/normrt.log" 2>&1 || status=1
  timeout "${TORCH_TIMEOUT:-420}" python3 "$HERE/gpu_norm.py" --out "$RESULTS/torch.jsonl" ${TORCH_FLAGS:-} \
    > "$RESULTS/torch.log" 2>&1 || status=1
  python3 "$HERE/gpu_norm.py" --table-only --out "$RESULTS/torch.jsonl" --normrt "$RESULTS/normrt.jsonl" \
    --table "$RESULTS/table.md" > /dev/null && cat "$RESULTS/table.md"
fi
exit $status
