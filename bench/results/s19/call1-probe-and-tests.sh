#!/usr/bin/env bash
# Session 19, device call 1: the conv_plan_cost probe (cuDNN graph build/finalize cost per engine, with and
# without a dynamic-shape kernel cache), then every GPU test but CudaModels.* (review commits of session 18).
#   bash bench/results/s19/call1-probe-and-tests.sh .devcarry
PACK=$(cd "${1:-.devcarry}" && pwd)
OUTDIR=${OUT:-out/s19}
mkdir -p "$OUTDIR"
LD=$(bash "$PACK/unpack.sh")
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LD timeout 200 "$PACK/bin/conv_plan_cost" > "$OUTDIR/conv_plan_cost.txt" 2>&1
echo "probe rc $? in $((SECONDS - start)) s"
STAGES=tests TESTS_TIMEOUT=360 TEST_FILTER='-CudaModels.*' bash bench/gpu.sh "$PACK"
