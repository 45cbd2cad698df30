#!/usr/bin/env bash
# Session 17 call 4: small NHWC GroupNorm tensors (the UNet's batch-8 shapes and the issue's small ones), cold, every
# algorithm and some cluster sizes and block sizes forced, to see what kAuto leaves on the table. Also the GPU test
# whose shapes d45edcb shrank.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 100 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm.CopyEngine*' > $OUT/tests.log 2>&1
grep -E "^\[  (PASSED|FAILED) |FAILED TEST|OK \]" $OUT/tests.log | head
SH=""; ONLY=""
for s in 8x320x32x32 8x640x16x16 8x640x32x32 8x960x32x32 8x1280x16x16 8x1920x16x16 2x320x64x64 1x512x64x64 1x64x256x256; do
  SH="$SH --shape $s:32"; for t in fp16 fp32; do ONLY="$ONLY --only $s:$t:NHWC"; done
done
for cfg in "" "--registers" "--registers --cluster 16" "--registers --cluster 8 --register-vectors 2" "--grid" "--smem --cluster 8" \
           "--smem --cluster 8 --block-threads 256" "--smem --cluster 4 --block-threads 256" "--smem --cluster 2" "--smem --cluster 1"; do
  echo "== ${cfg:-default}"
  LD_LIBRARY_PATH=$LIBS timeout 90 $P/bin/gpu_norm_bench --replays 7 $cfg $SH $ONLY 2>&1 | grep -E "NHWC|no plan"
done > $OUT/sweep.txt
awk '/^==/{cfg=$0; sub("== ","",cfg); gsub("--","",cfg); gsub(" ","",cfg); n++; names[n]=substr(cfg,1,14); next} /NHWC/{key=$1" "$2; v[key,n]=$8; if(!(key in seen)){seen[key]=1; order[++k]=key}} END{printf "%-18s",""; for(i=1;i<=n;i++) printf " %-8s", substr(names[i],1,8); print ""; for(j=1;j<=k;j++){printf "%-18s", order[j]; for(i=1;i<=n;i++) printf " %-8s", v[order[j],i]; print ""}}' $OUT/sweep.txt
grep -A18 "== default" $OUT/sweep.txt | sed 's/  */ /g' | cut -d'|' -f2,4
echo "total $((SECONDS-start)) s"
