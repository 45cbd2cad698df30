#!/usr/bin/env bash
# Attention key splits: each split at least M key tiles, M = 1 (main), 2, 4, 8 (one libnormrt_cuda.so each).
# The attention kernel beside SDPA at the SD-1.5 UNet's batch-1 shapes, then the UNet (tf32 and fp16, batch-1
# profile, one engine each, built once) run by each variant's runtime, two alternating rounds.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
for v in 2 4 8; do xz -d -k -f $P/m$v/libnormrt_cuda.so.xz; cp $P/bin/libnormrt.so $P/m$v/; done
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
lib() { if [ $1 = 1 ]; then echo $LIBS; else echo $P/m$1:$LIBS; fi; }
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt_cuda_tests --gtest_filter='CudaAttention.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST" $OUT/tests.log | head -5
for v in 1 2 4 8; do
  NORMRT_LD_LIBRARY_PATH=$(lib $v) timeout 90 python3 bench/gpu_attention.py --normrt $P/bin/normrt --out /tmp/att-$v --precisions fp16 tf32 --shapes 1:1024:8:40 1:256:8:80 1:64:8:160 2:256:8:80 > $OUT/attention-m$v.log 2>&1
  echo "== attention, at least $v tiles a split"; grep -E "^\| (fp16|tf32)" $OUT/attention-m$v.log
done
W=/tmp/nw
LD_LIBRARY_PATH=$LIBS timeout 100 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
M=$W/unet_sd15
SH="--minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32"
for prec in tf32 fp16; do
  start=$SECONDS
  LD_LIBRARY_PATH=$LIBS timeout 100 $P/bin/normrt build $M/model.onnx -o $M/$prec.nrt --device cuda $SH --$prec > /dev/null 2>&1
  echo "$prec build $((SECONDS-start)) s"
done
for r in 1 2; do
  for prec in tf32 fp16; do
    for v in 1 2 4 8; do
      echo -n "$prec m$v round $r b1: "; LD_LIBRARY_PATH=$(lib $v) timeout 30 $P/bin/normrt bench $M/$prec.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-50
    done
  done
done
