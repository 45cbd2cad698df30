#!/usr/bin/env bash
# Session 16 call 3: the NHWC registers GroupNorm kernel with its plan aiming at 1, 2, 4 (main's choice) and 8
# vectors a thread, at the tf32/fp16 UNet's batch-1 shapes and ResNet-50-GN's batch-1 and batch-8 shapes, data in
# L2 (--hot, as between a network's layers) and cold. GPU tests of the kernel first.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
SH="--shape 1x320x32x32:32 --shape 1x640x32x32:32 --shape 1x960x32x32:32 --shape 1x640x16x16:32 --shape 1x1280x16x16:32 --shape 1x1920x16x16:32 --shape 1x1280x8x8:32 --shape 1x2560x8x8:32 --shape 1x64x56x56:32 --shape 1x256x56x56:32 --shape 1x512x28x28:32 --shape 1x1024x14x14:32 --shape 1x2048x7x7:32 --shape 8x256x56x56:32 --shape 8x512x28x28:32 --shape 8x2048x7x7:32"
for hot in --hot ""; do for v in 1 2 4 8; do
  echo "== register_vectors $v ${hot:-cold}"
  LD_LIBRARY_PATH=$LIBS timeout 100 $P/bin/gpu_norm_bench --replays 7 $hot --register-vectors $v $SH 2>&1 | grep -E "NHWC|no plan"
done; done > $OUT/norm-bench.txt
echo "bench $((SECONDS-start)) s"
