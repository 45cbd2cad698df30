#!/usr/bin/env bash
# Session 15 call 2: every kernel's duration in the tf32 UNet's batch-1 engine under ncu (serialized kernels, no
# launch gaps), beside the plain replay time; the engine from call 1's timing cache.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
cp $P/tc-unet-tf32.bin /tmp/tc.bin
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt build $M/model.onnx -o $M/b1.nrt --device cuda --minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32 --tf32 --timing-cache /tmp/tc.bin > $OUT/build.log 2>&1
echo "build $((SECONDS-start)) s"; tail -1 $OUT/build.log
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 240 ncu --clock-control none --metrics gpu__time_duration.sum --csv $P/bin/normrt bench $M/b1.nrt --shapes=latent:1x4x32x32 --iterations 1 --warmup 0 > $OUT/ncu-unet-tf32-b1.csv 2> $OUT/ncu.err
echo "ncu $((SECONDS-start)) s rc $?"; tail -3 $OUT/ncu.err; wc -l $OUT/ncu-unet-tf32-b1.csv
