#!/usr/bin/env bash
# Session 16 call 1: LayerNorm rows in blocks of several warps a row (few long rows). GPU tests (profiler test
# left untested by f9ce8ab, norm kernels, plans); gpu_norm_bench at the UNet's LayerNorm shapes, hot and cold,
# with every forced row_warps; the tf32 UNet's batch-1 engine replayed by the old runtime (old/: main's
# group_norm.cu, one warp a row) and the new one in alternation, and ncu (warm) of its LayerNorm launches.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/old/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
OLD=$P/old:$LIBS
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt_cuda_tests --gtest_filter='CudaEngine.ProfilingTimesTheGpuInAReplayedGraph:CudaNorm*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
SH="--shape 64x1280x1x1:1 --shape 256x640x1x1:1 --shape 1024x320x1x1:1 --shape 512x1280x1x1:1 --shape 2048x640x1x1:1 --shape 8x768x1x1:1"
for hot in --hot ""; do for w in 0 1 2 3 5 8 10 16; do
  echo "== row_warps $w ${hot:-cold}"
  LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/gpu_norm_bench --replays 7 $hot --row-warps $w $SH 2>&1 | grep -E "x1x1 .*NCHW|no plan" | grep -v NHWC
done; done > $OUT/norm-bench.txt
echo "bench $((SECONDS-start)) s"
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32 --timing-cache $OUT/tc-unet-tf32.bin > $OUT/build.log 2>&1
echo "build $((SECONDS-start)) s: $(tail -1 $OUT/build.log)"
for r in 1 2 3; do for v in old new; do
  L=$LIBS; [ $v = old ] && L=$OLD
  echo -n "round $r $v b1: "; LD_LIBRARY_PATH=$L timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 100 --warmup 10 --profile > $OUT/profile-new.txt 2>&1
grep -E "LayerNorm\]|profile:" $OUT/profile-new.txt
for v in old new; do
  L=$LIBS; [ $v = old ] && L=$OLD
  LD_LIBRARY_PATH=$L timeout 120 ncu --clock-control none --cache-control none -k regex:layer_norm_row --metrics gpu__time_duration.sum --csv $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 1 --warmup 0 > $OUT/ncu-unet-ln-$v.csv 2>/dev/null
  echo "unet $v LN: $(grep layer_norm_row $OUT/ncu-unet-ln-$v.csv | awk -F'","' '{print $NF}' | tr -d '"' | tr '\n' ' ')"
done
echo "total $((SECONDS-start)) s"
