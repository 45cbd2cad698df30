#!/usr/bin/env bash
# Session 17 call 2: bulk grids of several waves take fewer threads a block. GPU tests (CudaNorm*), then
# gpu_norm_bench at every default NCHW shape, main's library (old/, with its own gpu_norm_bench: GroupNormArgs
# changed) and the new one in alternation, cold, three rounds.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
xz -d -k -f $P/old/gpu_norm_bench.xz && chmod +x $P/old/gpu_norm_bench
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran|OK \] CudaNorm.(Bulk|NchwBulk|NchwClusters)" $OUT/tests.log | head -20
ONLY=""
for s in 2x320x64x64 8x320x64x64 8x640x32x32 16x1280x16x16 32x256x56x56 1x64x256x256 1x512x64x64 64x512x8x8; do
  for t in fp16 fp32; do ONLY="$ONLY --only $s:$t:NCHW"; done
done
for r in 1 2 3; do
  echo "== round $r old"; LD_LIBRARY_PATH=$P/old:$LIBS timeout 90 $P/old/gpu_norm_bench --replays 7 $ONLY 2>&1 | grep -E "NCHW"
  echo "== round $r new"; LD_LIBRARY_PATH=$LIBS timeout 90 $P/bin/gpu_norm_bench --replays 7 $ONLY 2>&1 | grep -E "NCHW"
done > $OUT/norm-bench.txt
awk '/^==/{n++; names[n]=$3$4; next} /NCHW/{key=$1" "$2; v[key,n]=$8"/"$10; if(!(key in seen)){seen[key]=1; order[++k]=key}} END{printf "%-20s",""; for(i=1;i<=n;i++) printf " | %-12s", names[i]; print ""; for(j=1;j<=k;j++){printf "%-20s", order[j]; for(i=1;i<=n;i++) printf " | %-12s", v[order[j],i]; print ""}}' $OUT/norm-bench.txt
grep -E "round 1 new" -A16 $OUT/norm-bench.txt | awk '{print $1, $2, $NF, $(NF-1), $(NF-2), $(NF-3), $(NF-4), $(NF-5), $(NF-6)}'
echo "total $((SECONDS-start)) s"
