#!/usr/bin/env bash
# Session 18 call 5: three K/V buffers in the float16 attention kernel for heads up to 64 (one block barrier a key
# tile). CudaAttention tests, then bench/gpu_attention.py fp16 with 55c7759's library (old/) and the new one, twice
# each in alternation.
set -uo pipefail
P=$(cd "${1:-.devcarry}" && pwd); B=$(cd "$(dirname "$0")/../.." && pwd)  # the pack; bench/
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 120 $P/bin/normrt_cuda_tests --gtest_filter='CudaAttention*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST" $OUT/tests.log | head -20
SHAPES="1:4096:8:40 2:4096:8:40 8:1024:8:40 32:1024:8:40 8:1024:8:32 32:197:12:64 4:2048:16:64"
run() {  # name, LD_LIBRARY_PATH
  echo "== $1"
  NORMRT_LD_LIBRARY_PATH=$2 timeout 200 python3 $B/gpu_attention.py --normrt $P/bin/normrt --out /tmp/att-$1 \
    --precisions fp16 --shapes $SHAPES --iterations 200 > $OUT/att-$1.log 2>&1
  grep -E "^\| fp16" /tmp/att-$1/attention.md | cut -d'|' -f2-5
  echo "($((SECONDS-start)) s)"
}
run old1 $P/old:$LIBS
run new1 $LIBS
run old2 $P/old:$LIBS
run new2 $LIBS
