#!/usr/bin/env bash
# Session 18 call 2: the float16 attention kernel with two m-tiles a warp (128 queries a block) and the softmax's
# scale folded into one FMA. CudaAttention tests, then bench/gpu_attention.py with main's library (old/) and the
# new one (its own choice, and each m-tile count forced through the temporary NORMRT_ATTENTION_MT).
set -uo pipefail
P=$(cd "${1:-.devcarry}" && pwd); B=$(cd "$(dirname "$0")/../.." && pwd)  # the pack; bench/
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 120 $P/bin/normrt_cuda_tests --gtest_filter='CudaAttention*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|OK \]" $OUT/tests.log | head -20
SHAPES="1:4096:8:40 2:4096:8:40 8:1024:8:40 32:1024:8:40 1:1024:8:40 8:256:8:80 32:197:12:64 4:2048:16:64 8:64:8:160"
run() {  # name, LD_LIBRARY_PATH, precisions
  echo "== $1"
  NORMRT_LD_LIBRARY_PATH=$2 timeout 200 python3 $B/gpu_attention.py --normrt $P/bin/normrt --out /tmp/att-$1 \
    --precisions $3 --shapes $SHAPES --iterations 100 > $OUT/att-$1.log 2>&1
  grep -E "^\| (fp16|tf32)" /tmp/att-$1/attention.md
  echo "($((SECONDS-start)) s)"
}
run old $P/old:$LIBS "fp16 tf32"
run new $LIBS "fp16 tf32"
NORMRT_ATTENTION_MT=1 run new-mt1 $LIBS fp16
NORMRT_ATTENTION_MT=2 run new-mt2 $LIBS fp16
