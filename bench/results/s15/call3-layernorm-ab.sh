#!/usr/bin/env bash
# Session 15 call 3: LayerNorm rows kernel with gamma/beta staged in shared memory. GPU tests (norm kernels,
# engine, LaunchTimer, timing cache); ncu of the tf32 UNet's batch-1 engine; then the engine run by the old
# runtime (old/, HEAD's group_norm.cu) and the new one in alternation, batch 1 and a 1..32 engine's batch 8.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/old/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
OLD=$P/old:$LIBS
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 120 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*:CudaEngine.*:LaunchTimer.*:CudaTimingCache.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
cp $P/tc-unet-tf32.bin /tmp/tc.bin
LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32 --timing-cache /tmp/tc.bin > $OUT/build.log 2>&1
tail -1 $OUT/build.log
LD_LIBRARY_PATH=$LIBS timeout 240 ncu --clock-control none --metrics gpu__time_duration.sum --csv $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 1 --warmup 0 > $OUT/ncu-unet-tf32-b1.csv 2> $OUT/ncu.err
grep layer_norm_rows $OUT/ncu-unet-tf32-b1.csv | awk -F'","' '{print $NF}' | tr -d '"' | tr '\n' ' '; echo
for r in 1 2 3; do for v in old new; do
  L=$LIBS; [ $v = old ] && L=$OLD
  echo -n "round $r $v b1: "; LD_LIBRARY_PATH=$L timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
