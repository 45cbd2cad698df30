#!/usr/bin/env bash
# Session 15 call 1: the GPU tests (all but CudnnNhwcConv.ResidualMatchesReferenceFp16, unchanged) with the
# replayed-graph profiler applied; two fixtures profiled; the tf32 UNet's batch-1 engine profiled in a replayed
# graph; then that engine run by main's runtime and by the Q-in-registers TF32 attention variant (qreg/).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/qreg/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
QREG=$P/qreg:$LIBS
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 300 $P/bin/normrt_cuda_tests --gtest_filter='-CudnnNhwcConv.ResidualMatchesReferenceFp16' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
grep -E "^\[ accuracy" $OUT/tests.log | head -40
F=$P/fixtures
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt build $F/resnet_gn_op17/model.onnx -o /tmp/r.nrt --device cuda --tf32 --minShapes=image:1x3x32x32 --optShapes=image:3x3x32x32 --maxShapes=image:8x3x32x32 > $OUT/build-r.log 2>&1
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt bench /tmp/r.nrt --shapes=image:3x3x32x32 --iterations 50 --profile --profile-nodes 8 > $OUT/profile-resnet.txt 2>&1
head -8 $OUT/profile-resnet.txt
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32 --timing-cache $OUT/tc-unet-tf32.bin > $OUT/build.log 2>&1
echo "build $((SECONDS-start)) s"; tail -1 $OUT/build.log
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 100 --warmup 20 --profile --profile-nodes 300 > $OUT/profile-unet-b1.txt 2>&1
head -30 $OUT/profile-unet-b1.txt
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt inspect $M/b1.nrt > $OUT/inspect-unet-b1.txt 2>&1
for r in 1 2 3; do for v in main qreg; do
  L=$LIBS; [ $v = qreg ] && L=$QREG
  echo -n "round $r $v b1: "; LD_LIBRARY_PATH=$L timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
