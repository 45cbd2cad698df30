#!/usr/bin/env bash
# Session 19, device call 3: the convolution GPU tests, then an A/B of the SD-1.5 UNet (fp16 and tf32, profile
# 1..8, opt 8) between the library before this session's change (old/: runtime-compiled cuDNN engines timed and
# run) and after it (bin/: never timed nor run; legacy algorithms timed with their bias and residual): build
# time, cold start (engine load, first run at batch 1, 3, 8) and latency, one process per measurement.
#   bash bench/results/s19/call3-no-runtime-compiled-engines.sh .devcarry
PACK=$(cd "${1:-.devcarry}" && pwd)
OUTDIR=${OUT:-out/s19}
WORKDIR=${WORK:-/tmp/s19}
mkdir -p "$OUTDIR" "$WORKDIR"
LD=$(bash "$PACK/unpack.sh")
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LD:${LD_LIBRARY_PATH:-} timeout 200 "$PACK/bin/normrt_cuda_tests" \
  --gtest_filter='CudnnGraph.*:CudnnNhwcConv.*:CudnnConv.*' > "$OUTDIR/conv-tests.log" 2>&1
echo "conv tests rc $? in $((SECONDS - start)) s"; grep -E "^\[  (PASSED|FAILED) |OK \]|FAILED" "$OUTDIR/conv-tests.log" | head -30
for variant in new old; do
  lib=$LD; [ $variant = old ] && lib=$PACK/old:$LD
  LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-} python3 bench/gpu_networks.py --normrt "$PACK/bin/normrt" \
    --out "$WORKDIR/$variant" --models unet_sd15 --precisions fp16 tf32 --batches 1 3 8 --max-batch 8 \
    --opt-batch 8 --skip-torch --iterations 20 --warmup 3 > "$WORKDIR/$variant.log" 2>&1
  cp "$WORKDIR/$variant/networks.jsonl" "$OUTDIR/networks-$variant.jsonl"
  python3 - "$OUTDIR/networks-$variant.jsonl" $variant <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    v = sys.argv[2]
    if r.get("kind") == "build": print(v, r["precision"], "build", r["seconds"], "s", "ok" if r["ok"] else r.get("stdout_tail"))
    if r.get("kind") == "latency": print(v, r["precision"], "b%d" % r["batch"], "median", r.get("median_ms"), "ms; load", r.get("load_ms"), "ms; first run", r.get("first_run_ms"), "ms", r.get("error", ""))
    if r.get("kind") == "accuracy": print(v, r["precision"], "accuracy", r.get("max_abs_err"), r.get("rel_err"), r.get("error", ""))
PY
done
