#!/usr/bin/env bash
# Session 17 call 9: the NHWC TMA kernel in clusters of 16 (beyond the portable 8). GPU tests (CudaNorm*), then
# gpu_norm_bench NHWC with the planner's choice, clusters of 16 forced, and clusters of 16 with 256 threads: the
# issue's shapes and the UNet's batch-8 GroupNorms cold, its batch-1 GroupNorms hot (in L2, as in the network).
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
UNET="320x32x32 640x32x32 960x32x32 640x16x16 960x16x16 1280x16x16 1920x16x16 1280x8x8 1920x8x8 2560x8x8 1280x4x4 2560x4x4"
COLD=""; HOT=""
only() { for t in fp16 fp32; do echo -n " --only $1:$t:NHWC"; done; }
for s in 2x320x64x64 8x320x64x64 8x640x32x32 16x1280x16x16 1x64x256x256 1x512x64x64 64x512x8x8; do COLD="$COLD --shape $s:32 $(only $s)"; done
for s in $UNET; do COLD="$COLD --shape 8x$s:32 $(only 8x$s)"; HOT="$HOT --shape 1x$s:32 $(only 1x$s)"; done
run() {  # label, flags...
  local label=$1; shift
  echo "== $label"
  LD_LIBRARY_PATH=$LIBS timeout 120 $P/bin/gpu_norm_bench --replays 7 "$@" 2>&1 | grep -E "NHWC|no plan" | grep -v NCHW
}
for cfg in "" "--smem --cluster 16" "--smem --cluster 16 --block-threads 256"; do
  run "cold ${cfg:-default}" $cfg $COLD
  run "hot ${cfg:-default}" --hot $cfg $HOT
done > $OUT/sweep.txt
awk '/^==/{cfg=$0; sub("== ","",cfg); n++; names[n]=cfg; next} /NHWC/{key=$1" "$2; v[key,n]=$8; if(!(key in seen)){seen[key]=1; order[++k]=key}} END{for(j=1;j<=k;j++){printf "%-20s", order[j]; for(i=1;i<=n;i++) if (v[order[j],i]!="") printf " %d:%-7s", i, v[order[j],i]; print ""}; for(i=1;i<=n;i++) print i, names[i]}' $OUT/sweep.txt
echo "total $((SECONDS-start)) s"
