#!/usr/bin/env bash
# Session 16 call 10: the small-output conv GEMM path (im2col + cuBLASLt, session 15's diff) with split-K variants
# of cuBLASLt's ranked algorithms, tuned beside cuDNN (bin/), against main (main/: b083c95, with libnormrt.so beside
# it, which unpack.sh adds). Conv and MatMulBias GPU tests on bin/; the tf32 UNet's batch-1 engine built by each
# runtime and replayed in alternation; which convolutions took the GEMM path.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudnnNhwcConv.*:CudnnConv.*:TunedConfigs.*:CublasLtMatMulBias.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
W=/tmp/nw; M=$W/unet_sd15; S=latent:1x4x32x32
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
for v in main new; do
  L=$LIBS; [ $v = main ] && L=$P/main:$LIBS
  LD_LIBRARY_PATH=$L timeout 200 $P/bin/normrt build $M/model.onnx -o $M/b1-$v.nrt --device cuda --minShapes=$S --optShapes=$S --maxShapes=$S --tf32 > $OUT/build-$v.log 2>&1
  echo "build $v $((SECONDS-start)) s: $(tail -1 $OUT/build-$v.log | cut -c1-120)"
done
for r in 1 2 3; do for v in main new; do
  L=$LIBS; [ $v = main ] && L=$P/main:$LIBS
  echo -n "round $r $v b1: "; LD_LIBRARY_PATH=$L timeout 60 $P/bin/normrt bench $M/b1-$v.nrt --shapes=$S --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt inspect $M/b1-new.nrt > $OUT/inspect-new.txt 2>&1
echo "conv configs: $(grep -o 'gemm=1;rank=[0-9]*' $OUT/inspect-new.txt | sort | uniq -c | tr '\n' ' ')"
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/b1-new.nrt --shapes=$S --iterations 100 --warmup 10 --profile --profile-nodes 60 > $OUT/profile-new.txt 2>&1
LD_LIBRARY_PATH=$P/main:$LIBS timeout 60 $P/bin/normrt bench $M/b1-main.nrt --shapes=$S --iterations 100 --warmup 10 --profile --profile-nodes 60 > $OUT/profile-main.txt 2>&1
grep -E "NhwcConv \[|profile:" $OUT/profile-main.txt $OUT/profile-new.txt
grep "gemm=1" $OUT/profile-new.txt | head -12
echo "total $((SECONDS-start)) s"
