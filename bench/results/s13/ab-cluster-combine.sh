#!/usr/bin/env bash
# Attention tests; the attention benchmark beside SDPA; then one tf32 UNet engine (profile 1..32 opt 8, tuning from
# the carried timing cache) run by the old runtime (combine kernel) and the new (cluster combine), alternating.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/old/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 120 $P/bin/normrt_cuda_tests --gtest_filter='CudaAttention.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED TEST" $OUT/tests.log | head
for v in old new; do
  L=$LIBS; [ $v = old ] && L=$P/old:$LIBS
  NORMRT_LD_LIBRARY_PATH=$L timeout 150 python3 bench/gpu_attention.py --normrt $P/bin/normrt --out /tmp/att-$v --precisions fp16 tf32 > $OUT/attention-$v.log 2>&1
  echo "== attention $v"; grep -E "^\|" $OUT/attention-$v.log
done
W=/tmp/nw
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
M=$W/unet_sd15
cp $P/tc.txt /tmp/tc.txt
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt build $M/model.onnx -o $M/e.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:8x4x32x32 --maxShapes=latent:32x4x32x32 --tf32 --timing-cache /tmp/tc.txt 2>&1 | grep -i "timing cache"
echo "build $((SECONDS-start)) s"
for r in 1 2 3; do
  for v in old new; do
    L=$LIBS; [ $v = old ] && L=$P/old:$LIBS
    echo -n "$v round $r b1: "; LD_LIBRARY_PATH=$L timeout 40 $P/bin/normrt bench $M/e.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-60
  done
done
for v in old new; do
  L=$LIBS; [ $v = old ] && L=$P/old:$LIBS
  echo -n "$v b8: "; LD_LIBRARY_PATH=$L timeout 40 $P/bin/normrt bench $M/e.nrt --shapes=latent:8x4x32x32 --iterations 200 --warmup 20 2>&1 | grep latency | cut -c1-60
done
