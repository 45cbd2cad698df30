#!/usr/bin/env bash
# Session 19, device call 6 (the last of the budget): every GPU test at 4fdd4f8 (200 s cap), then ResNet-50-GN fp16
# (profile 1..8, opt 8) before (old/: ec68e3e's convolution tuning) and after (bin/) the runtime-compiled engines
# were dropped: build time, latency at batch 1 and 8, cold start.
#   bash bench/results/s19/call6-final-tests-and-resnet.sh .devcarry
PACK=$(cd "${1:-.devcarry}" && pwd)
OUTDIR=${OUT:-out/s19}
WORKDIR=${WORK:-/tmp/s19}
mkdir -p "$OUTDIR" "$WORKDIR"
STAGES=tests TESTS_TIMEOUT=200 bash bench/gpu.sh "$PACK" | tail -40
LD=$(bash "$PACK/unpack.sh")
for variant in new old; do
  lib=$LD; [ $variant = old ] && lib=$PACK/old:$LD
  LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-} timeout 55 python3 bench/gpu_networks.py --normrt "$PACK/bin/normrt" \
    --out "$WORKDIR/$variant" --models resnet50_gn --precisions fp16 --batches 1 8 --max-batch 8 --opt-batch 8 \
    --skip-torch --iterations 30 --warmup 5 > "$WORKDIR/$variant.log" 2>&1
  cp "$WORKDIR/$variant/networks.jsonl" "$OUTDIR/resnet-$variant.jsonl"
  python3 - "$OUTDIR/resnet-$variant.jsonl" $variant <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line); v = sys.argv[2]
    if r.get("kind") == "build": print(v, "build", r["seconds"], "s", "ok" if r["ok"] else r.get("stdout_tail"))
    if r.get("kind") == "latency": print(v, "b%d" % r["batch"], "median", r.get("median_ms"), "ms; load", r.get("load_ms"), "; first run", r.get("first_run_ms"), r.get("error", ""))
PY
done
