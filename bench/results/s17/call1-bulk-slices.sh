#!/usr/bin/env bash
# Session 17 call 1: the NCHW bulk-copy GroupNorm kernel with a slice per warp and with forced block sizes. GPU tests
# (LayerNorm after d035a5d's host-side tidy-up, the bulk kernel at every block size and slicing, the norm kernels),
# then gpu_norm_bench at the issue's NCHW shapes, cold, for each configuration, each with its own copy beside it.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 240 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran|^\[       OK \] CudaNorm.Bulk" $OUT/tests.log | head -20
ONLY=""
for s in 2x320x64x64 8x320x64x64 8x640x32x32 16x1280x16x16 32x256x56x56 1x64x256x256 1x512x64x64 64x512x8x8; do
  for t in fp16 fp32; do ONLY="$ONLY --only $s:$t:NCHW"; done
done
for cfg in "--warp-slices 1" "--warp-slices 2" "--warp-slices 1 --bulk-threads 256" "--warp-slices 2 --bulk-threads 256" \
           "--warp-slices 2 --bulk-threads 512" "--warp-slices 1 --bulk-threads 128" "--warp-slices 2 --bulk-threads 128" ""; do
  echo "== ${cfg:-default}"
  LD_LIBRARY_PATH=$LIBS timeout 90 $P/bin/gpu_norm_bench --replays 7 $cfg $ONLY 2>&1 | grep -E "NCHW|no plan"
  echo "   ($((SECONDS-start)) s)"
done > $OUT/norm-bench.txt
cat $OUT/norm-bench.txt | awk '{print $1, $2, $3, $7, $8, $9, $10, $11, $14, $15, $16, $17, $18, $19, $20, $21, $22}'
echo "total $((SECONDS-start)) s"
