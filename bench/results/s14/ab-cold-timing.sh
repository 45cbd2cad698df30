#!/usr/bin/env bash
# Session 14 call 3: the cold-cache corner check timed behind a hold (time_cold). Tests; then the tf32 UNet's
# 1..32 (opt 8) engine built by the old code (from call 2's timing cache: the same choices) and by the new code
# (no cache), and the batch-1-only engine, run at batch 1, 8 and 32 in alternation.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/old/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
OLD=$P/old:$LIBS
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt_cuda_tests --gtest_filter='LaunchTimer.*:CudaTimingCache.*:TunedConfigs.*:TuningProblemKey.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|^\[       OK \] LaunchTimer" $OUT/tests.log | head -12
W=/tmp/nw; M=$W/unet_sd15
if [ ! -f $M/model.onnx ]; then
  LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
fi
FULL="--minShapes=latent:1x4x32x32 --optShapes=latent:8x4x32x32 --maxShapes=latent:32x4x32x32"
cp $P/tc-old.bin /tmp/tc-old.bin
start=$SECONDS
LD_LIBRARY_PATH=$OLD timeout 200 $P/bin/normrt build $M/model.onnx -o $M/old.nrt --device cuda $FULL --tf32 --timing-cache /tmp/tc-old.bin > $OUT/build-old.log 2>&1
echo "old build $((SECONDS-start)) s"; tail -2 $OUT/build-old.log
LD_LIBRARY_PATH=$OLD timeout 200 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32 --timing-cache /tmp/tc-old.bin > $OUT/build-b1.log 2>&1
tail -1 $OUT/build-b1.log
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 250 $P/bin/normrt build $M/model.onnx -o $M/new.nrt --device cuda $FULL --tf32 --timing-cache $OUT/tc-new.bin > $OUT/build-new.log 2>&1
echo "new build $((SECONDS-start)) s"; tail -3 $OUT/build-new.log
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt inspect $M/new.nrt > $OUT/inspect-new.txt 2>&1
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt inspect $M/old.nrt > $OUT/inspect-old.txt 2>&1
for r in 1 2; do for b in 1 8 32; do for e in old new b1; do
  [ $e = b1 ] && [ $b != 1 ] && continue
  echo -n "round $r $e b$b: "; LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/$e.nrt --shapes=latent:${b}x4x32x32 --iterations 200 --warmup 20 2>&1 | grep latency | cut -c1-60
done; done; done
