#!/usr/bin/env bash
# Session 19, device call 2: build time and cold start (engine load, first run at a shape) of the SD-1.5 UNet,
# fp16 and tf32, profile 1..8 (opt 8), at batches 1, 3 (not a profile corner) and 8; then the per-node profile
# of the fp16 engine at batch 8 with the configurations tuning chose (which convolutions run cuDNN graph engines).
#   bash bench/results/s19/call2-cold-start.sh .devcarry
PACK=$(cd "${1:-.devcarry}" && pwd)
OUTDIR=${OUT:-out/s19}
WORKDIR=${WORK:-/tmp/s19}
mkdir -p "$OUTDIR" "$WORKDIR"
export LD_LIBRARY_PATH="$(bash "$PACK/unpack.sh"):${LD_LIBRARY_PATH:-}"
python3 bench/gpu_networks.py --normrt "$PACK/bin/normrt" --out "$WORKDIR/networks" --models unet_sd15 \
  --precisions fp16 tf32 --batches 1 3 8 --max-batch 8 --opt-batch 8 --skip-torch --iterations 20 --warmup 3 \
  > "$WORKDIR/networks.log" 2>&1
cp "$WORKDIR/networks/networks.jsonl" "$OUTDIR/"
tail -5 "$WORKDIR/networks.log"
python3 - "$OUTDIR/networks.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "build": print(r["precision"], "build", r["seconds"], "s", "ok" if r["ok"] else r.get("stdout_tail"))
    if r.get("kind") == "latency": print(r["precision"], "b%d" % r["batch"], "median", r.get("median_ms"), "ms; load", r.get("load_ms"), "ms; first run", r.get("first_run_ms"), "ms", r.get("error", ""))
PY
engine=$(find "$WORKDIR/networks" -name 'fp16-default.nrt' | head -1)
"$PACK/bin/normrt" bench "$engine" --shapes=latent:8x4x32x32 --iterations 10 --profile --profile-nodes 400 > "$OUTDIR/profile-fp16-b8.txt" 2>&1
grep -c "engine=" "$OUTDIR/profile-fp16-b8.txt"; grep -E "Conv" "$OUTDIR/profile-fp16-b8.txt" | head -60
