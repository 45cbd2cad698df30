#!/usr/bin/env bash
# Session 14 call 5: every GPU test but CudnnNhwcConv.ResidualMatchesReferenceFp16 (55 s, code unchanged this
# session), with the CudaModels tests sharing one timing cache; then the tf32 UNet's batch-1 engine profiled.
# Pack first: bash bench/pack_for_device.sh build .devcarry; copy this script into .devcarry.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 330 $P/bin/normrt_cuda_tests --gtest_filter='-CudnnNhwcConv.ResidualMatchesReferenceFp16' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran|ProfilingTimes|GroupedProj|ColdTiming" $OUT/tests.log | head -20
grep -E "^\[       OK \] CudaModels" $OUT/tests.log
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32 > $OUT/build.log 2>&1
echo "build $((SECONDS-start)) s"; tail -2 $OUT/build.log
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 100 --warmup 20 --profile --profile-nodes 200 > $OUT/profile.txt 2>&1
head -22 $OUT/profile.txt
