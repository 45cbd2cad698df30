#!/usr/bin/env bash
# Session 17 call 11 (7d2f20c + clusters of 16 among the norm tuning candidates): the UNet (SD-1.5 widths)
# PRECISION at batch 1, 8, 32 against PyTorch eager+graph (NCHW and channels-last) and
# torch.compile (mode default, replayed as a graph) in the same call.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
PRECISION=${1:-tf32}
start=$SECONDS
export NORMRT_TORCH_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
LD_LIBRARY_PATH=$LIBS:${LD_LIBRARY_PATH:-} timeout 560 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out /tmp/nw4-$PRECISION --models unet_sd15 --batches 1 8 32 --precisions $PRECISION --torch-layouts nchw channels_last --timing-cache /tmp/tc5.bin --deadline-s 500 --build-timeout 250 --compile-timeout 200 > $OUT/networks.md 2> $OUT/networks.err
echo "networks $((SECONDS-start)) s"; grep -E "^\|" $OUT/networks.md
cp /tmp/nw4-$PRECISION/networks.jsonl $OUT/ 2>/dev/null; cp /tmp/tc5.bin $OUT/ 2>/dev/null; tail -3 $OUT/networks.err
