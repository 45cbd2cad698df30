#!/usr/bin/env bash
# Session 17 call 8: normalization tune() at build time. GPU tests; then the UNet (tf32 batch 1, fp16 batch 8) built
# twice with one timing cache: by old/ (d2a4a31, no norm tuning: its GroupNorm configs stay empty) first, then by
# the new library, which takes the cached convolution and matmul choices and tunes only the normalizations. Both
# engines replayed by the new library in alternation (an empty config runs the planner's choice, as old/ does).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 240 $P/bin/normrt_cuda_tests --gtest_filter='CudaNormKernels.*:CudaNorm.*:CudaEngine.*:TunedConfigs.*:CudaTimingCache.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran|cases tuned" $OUT/tests.log | head -20
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
for spec in tf32:1 fp16:8; do
  IFS=: read -r prec b <<<"$spec"; S=latent:${b}x4x32x32; F=--tf32; [ $prec = fp16 ] && F=--fp16
  for v in old new; do
    L=$LIBS; [ $v = old ] && L=$P/old:$LIBS
    t0=$SECONDS
    LD_LIBRARY_PATH=$L timeout 240 $P/bin/normrt build $M/model.onnx -o $M/$prec-b$b-$v.nrt --device cuda --minShapes=$S --optShapes=$S --maxShapes=$S $F --timing-cache $M/tc-$prec.bin > $OUT/build-$prec-$v.log 2>&1
    echo "build $prec b$b $v: $((SECONDS-t0)) s, $(tail -1 $OUT/build-$prec-$v.log | cut -c1-80)"
  done
  LD_LIBRARY_PATH=$LIBS $P/bin/normrt inspect $M/$prec-b$b-new.nrt > $W/inspect.txt 2>&1
  echo "tuned norm configs: $(grep -c 'warps=' $W/inspect.txt); $(grep -o 'algo=[^ ]*warps=[0-9]*' $W/inspect.txt | sort | uniq -c | tr '\n' ' ' | cut -c1-600)"
  for r in 1 2 3; do for v in old new; do
    echo -n "round $r $prec b$b $v engine: "; LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/$prec-b$b-$v.nrt --shapes=$S --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
  done; done
done
echo "total $((SECONDS-start)) s"
