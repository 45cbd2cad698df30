#!/usr/bin/env bash
# Session 19, device call 5: A/B of how many cuDNN graph engines tune() times per convolution. bin/ (10adbbc):
# the first 10 precompiled engines cuDNN's heuristics rank; all/: the same library with kTimedEngines = 64 (every
# precompiled engine the heuristics list). SD-1.5 UNet, fp16 and tf32, profile 1..8 (opt 8), batches 1 and 8.
#   bash bench/results/s19/call5-time-every-engine.sh .devcarry
PACK=$(cd "${1:-.devcarry}" && pwd)
OUTDIR=${OUT:-out/s19}
WORKDIR=${WORK:-/tmp/s19}
mkdir -p "$OUTDIR" "$WORKDIR"
LD=$(bash "$PACK/unpack.sh")
nvidia-smi --query-gpu=name --format=csv,noheader
for variant in ten all; do
  lib=$LD; [ $variant = all ] && lib=$PACK/all:$LD
  LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-} python3 bench/gpu_networks.py --normrt "$PACK/bin/normrt" \
    --out "$WORKDIR/$variant" --models unet_sd15 --precisions fp16 tf32 --batches 1 8 --max-batch 8 \
    --opt-batch 8 --skip-torch --iterations 30 --warmup 5 > "$WORKDIR/$variant.log" 2>&1
  cp "$WORKDIR/$variant/networks.jsonl" "$OUTDIR/networks-$variant.jsonl"
done
python3 - "$OUTDIR" <<'PY'
import json, sys
rows = {}
for v in ("ten", "all"):
    for line in open(f"{sys.argv[1]}/networks-{v}.jsonl"):
        r = json.loads(line)
        if r.get("kind") == "build": rows.setdefault((r["precision"], "build s"), {})[v] = r["seconds"]
        if r.get("kind") == "latency": rows.setdefault((r["precision"], "b%d ms" % r["batch"]), {})[v] = r.get("median_ms")
        if r.get("kind") == "accuracy": rows.setdefault((r["precision"], "max abs err"), {})[v] = r.get("max_abs_err")
for k, v in rows.items(): print(*k, "ten", v.get("ten"), "all", v.get("all"))
PY
