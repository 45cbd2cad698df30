#!/usr/bin/env bash
# Session 15 call 5 (e3cd710): CudaNorm.LayerNorm (new no-affine / in-place cases on main's kernel); then
# ResNet-50-GN fp16 and tf32 at batch 1, 8, 32 against PyTorch eager+graph (NCHW and channels-last) and
# torch.compile (mode default, replayed as a graph) in the same call.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm.LayerNorm:CudaEngine.Profiling*' > $OUT/tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED TEST" $OUT/tests.log
start=$SECONDS
export NORMRT_TORCH_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
LD_LIBRARY_PATH=$LIBS:${LD_LIBRARY_PATH:-} timeout 560 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out /tmp/nw5 --models resnet50_gn --batches 1 8 32 --precisions fp16 tf32 --torch-layouts nchw channels_last --timing-cache /tmp/tc5.bin --deadline-s 500 > $OUT/networks.md 2> $OUT/networks.err
echo "networks $((SECONDS-start)) s"; grep -E "^\|" $OUT/networks.md
cp /tmp/nw5/networks.jsonl $OUT/ 2>/dev/null; cp /tmp/tc5.bin $OUT/ 2>/dev/null; tail -3 $OUT/networks.err
