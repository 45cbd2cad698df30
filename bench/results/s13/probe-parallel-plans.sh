#!/usr/bin/env bash
# Graph plans finalized on several threads: the conv tests, then the tf32 UNet build's tuning line (profile
# 1..32 opt 8, no timing cache; main took 138 s on an H200, 129.5 s of it tuning) and its batch-1 latency.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
nproc
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt_cuda_tests --gtest_filter='CudnnConv.*:CudnnNhwcConv.MatchesReference*:CudaTimingCache.*:CudnnConvTranspose*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST" $OUT/tests.log | head -8
W=/tmp/nw
LD_LIBRARY_PATH=$LIBS timeout 100 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
M=$W/unet_sd15
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt build $M/model.onnx -o $M/e.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:8x4x32x32 --maxShapes=latent:32x4x32x32 --tf32 > $OUT/build.log 2>&1
echo "build $((SECONDS-start)) s"; tail -3 $OUT/build.log
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt bench $M/e.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency
