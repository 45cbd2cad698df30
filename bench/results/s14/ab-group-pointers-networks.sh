#!/usr/bin/env bash
# Session 14 call 4: MatMulGroup's pointer arrays kept per address set. Tests; the tf32 UNet against PyTorch
# (eager+graph, NCHW and channels-last) at batch 1, 8, 32 through gpu_networks.py (engine from call 3's timing
# cache); then that engine run by c6e620b's runtime (prev) and this one (new) in alternation.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/prev/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
PREV=$P/prev:$LIBS
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt_cuda_tests --gtest_filter='CudaEngine.*:CublasMatMulGroup.*:LaunchTimer.*:CudaAttention.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|GroupedProjections" $OUT/tests.log | head -12
W=/tmp/nw4
cp $P/tc.bin /tmp/tc.bin
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 330 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 8 32 --precisions tf32 --torch-layouts nchw channels_last --no-compile --timing-cache /tmp/tc.bin > $OUT/networks.md 2> $OUT/networks.err
echo "networks $((SECONDS-start)) s"; grep -E "^\|" $OUT/networks.md | head -20
E=$(ls $W/unet_sd15/*.nrt 2>/dev/null | head -1); echo "engine $E"
[ -n "$E" ] && for r in 1 2; do for b in 1 8 32; do for v in prev new; do
  L=$LIBS; [ $v = prev ] && L=$PREV
  echo -n "round $r $v b$b: "; LD_LIBRARY_PATH=$L timeout 60 $P/bin/normrt bench $E --shapes=latent:${b}x4x32x32 --iterations 200 --warmup 20 2>&1 | grep latency | cut -c1-60
done; done; done
