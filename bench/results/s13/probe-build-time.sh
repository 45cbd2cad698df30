#!/usr/bin/env bash
# Where the tf32 UNet build's tuning time goes (profile 1..32 opt 8): the build report's per-kernel line, and
# cudnn conv_tune's phases (a local probe, not committed).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
W=/tmp/nw
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
M=$W/unet_sd15
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 300 $P/bin/normrt build $M/model.onnx -o $M/e.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:8x4x32x32 --maxShapes=latent:32x4x32x32 --tf32 > $OUT/build.log 2> $OUT/probe.log
echo "build $((SECONDS-start)) s"
grep -v PROBE $OUT/build.log | tail -4
awk '/PROBE/ {f+=$4; p+=$6; t+=$8; n++; c+=$10} END {printf "conv_tune calls %d: find %.1f s, graph plans %.1f s, timing %.1f s, candidates %d\n", n, f, p, t, c}' $OUT/probe.log
