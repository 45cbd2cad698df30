#!/usr/bin/env bash
# All GPU tests; then the tf32 UNet with a batch-1 profile tuned by LaunchTimer (N) and by main's tuning (libM),
# batch-1 latency alternating, all benches on the same runtime.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
for f in $P/libM/*.xz; do xz -d -k -f "$f"; done
LIBS=$(bash $P/unpack.sh)
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 220 $P/bin/normrt_cuda_tests > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"
grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED TEST" $OUT/tests.log | head -20
W=/tmp/nw
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
M=$W/unet_sd15
SH="--minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32"
for v in N M; do
  L=$LIBS; [ $v = M ] && L=$P/libM:$LIBS
  start=$SECONDS
  LD_LIBRARY_PATH=$L timeout 100 $P/bin/normrt build $M/model.onnx -o $M/$v.nrt --device cuda $SH > /dev/null 2>&1
  echo "$v build $((SECONDS-start)) s"
done
for r in 1 2; do
  for v in N M; do
    echo -n "$v round $r b1: "; LD_LIBRARY_PATH=$LIBS timeout 40 $P/bin/normrt bench $M/$v.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-60
  done
done
