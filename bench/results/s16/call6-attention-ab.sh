#!/usr/bin/env bash
# Session 16 call 6: the TF32 attention kernel with Q's fragments held in registers (qreg/: session 14's diff,
# whose session-15 A/B ran main's library on both sides) and with K and V also rounded to TF32 once per tile in
# shared memory (qkv/: qreg plus that), against main (bin/, 03a48c5). Each variant folder holds libnormrt.so
# beside its libnormrt_cuda.so (libnormrt.so loads the backend from its own folder). CudaAttention tests on each
# variant library; bench/gpu_attention.py at the UNet's shapes; the tf32 UNet's batch-1 engine in alternation.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
for v in qreg qkv; do xz -d -k -f $P/$v/libnormrt_cuda.so.xz; cp $P/bin/libnormrt.so $P/$v/; done
LIBS=$(bash $P/unpack.sh)
lib() { [ $1 = main ] && echo $LIBS || echo $P/$1:$LIBS; }
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
for v in qreg qkv; do
  LD_LIBRARY_PATH=$(lib $v) timeout 100 $P/bin/normrt_cuda_tests --gtest_filter='CudaAttention.*' > $OUT/tests-$v.log 2>&1
  echo "$v tests: $(grep -E '^\[  (PASSED|FAILED) ' $OUT/tests-$v.log | tr '\n' ' ')"
done
for v in main qreg qkv; do
  NORMRT_LD_LIBRARY_PATH=$(lib $v) timeout 90 python3 bench/gpu_attention.py --normrt $P/bin/normrt --out /tmp/att-$v --precisions tf32 --shapes 1:1024:8:40 1:256:8:80 1:64:8:160 8:1024:8:40 > $OUT/attention-$v.log 2>&1
  echo "== $v"; grep -E "^\|" $OUT/attention-$v.log | head -8
done
echo "attention $((SECONDS-start)) s"
W=/tmp/nw; M=$W/unet_sd15; S=latent:1x4x32x32
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=$S --optShapes=$S --maxShapes=$S --tf32 > $OUT/build.log 2>&1
echo "build $((SECONDS-start)) s"
for r in 1 2 3; do for v in main qreg qkv; do
  echo -n "round $r $v b1: "; LD_LIBRARY_PATH=$(lib $v) timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=$S --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
for v in main qkv; do
  LD_LIBRARY_PATH=$(lib $v) timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=$S --iterations 100 --warmup 10 --profile > $OUT/profile-$v.txt 2>&1
  grep -E "Attention \[" $OUT/profile-$v.txt
done
echo "total $((SECONDS-start)) s"
