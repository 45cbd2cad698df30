#!/usr/bin/env bash
# Session 19, device call 4: the SD-1.5 UNet in tf32 beside PyTorch eager+graph (NCHW and channels-last; no
# torch.compile) at batch 1 and 8 (profile 1..8, opt 8), after 10adbbc; then normrt's per-node profile at batch 1.
#   bash bench/results/s19/call4-tf32-unet-b1.sh .devcarry
PACK=$(cd "${1:-.devcarry}" && pwd)
OUTDIR=${OUT:-out/s19}
WORKDIR=${WORK:-/tmp/s19}
mkdir -p "$OUTDIR" "$WORKDIR"
export NORMRT_TORCH_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$(bash "$PACK/unpack.sh"):${LD_LIBRARY_PATH:-}"
python3 bench/gpu_networks.py --normrt "$PACK/bin/normrt" --out "$WORKDIR/tf32" --models unet_sd15 \
  --precisions tf32 --batches 1 8 --max-batch 8 --opt-batch 8 --no-compile --torch-layouts nchw channels_last \
  > "$WORKDIR/tf32.log" 2>&1
cp "$WORKDIR/tf32/networks.jsonl" "$OUTDIR/networks-tf32.jsonl"; cp "$WORKDIR/tf32/networks.md" "$OUTDIR/networks-tf32.md"
tail -8 "$WORKDIR/tf32.log"
engine=$(find "$WORKDIR/tf32" -name 'tf32-default.nrt' | head -1)
"$PACK/bin/normrt" bench "$engine" --shapes=latent:1x4x32x32 --iterations 20 --profile --profile-nodes 60 > "$OUTDIR/profile-tf32-b1.txt" 2>&1
head -45 "$OUTDIR/profile-tf32-b1.txt"
