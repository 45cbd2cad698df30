#!/usr/bin/env bash
# Session 17 call 3: NHWC TMA grids of several waves take fewer threads a block too. GPU tests (CudaNorm*), then
# gpu_norm_bench, cold, old (cb0e3b2: NCHW bulk only) and new in alternation: the default shapes in NHWC (fp16,
# fp32), then the SD-1.5 UNet's GroupNorm shapes (latent 32x32) at batch 8 and 32 in NHWC.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
xz -d -k -f $P/old/gpu_norm_bench.xz && chmod +x $P/old/gpu_norm_bench
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudaNorm*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran|OK \] CudaNorm.(CopyEngine|NchwClusters)" $OUT/tests.log | head -20
ONLY=""
for s in 2x320x64x64 8x320x64x64 8x640x32x32 16x1280x16x16 32x256x56x56 1x64x256x256 1x512x64x64 64x512x8x8; do
  for t in fp16 fp32; do ONLY="$ONLY --only $s:$t:NHWC"; done
done
UNET=""
for n in 8 32; do for s in 320x32x32 640x32x32 640x16x16 960x32x32 1280x16x16 1920x16x16 1280x8x8 2560x8x8 2560x4x4; do
  UNET="$UNET --shape ${n}x$s:32"; done; done
table() {
  awk '/^==/{n++; names[n]=$3$4; next} /NHWC/{key=$1" "$2; v[key,n]=$8"/"$10; if(!(key in seen)){seen[key]=1; order[++k]=key}} END{printf "%-20s",""; for(i=1;i<=n;i++) printf " | %-12s", names[i]; print ""; for(j=1;j<=k;j++){printf "%-20s", order[j]; for(i=1;i<=n;i++) printf " | %-12s", v[order[j],i]; print ""}}' $1
}
for r in 1 2; do
  echo "== round $r old"; LD_LIBRARY_PATH=$P/old:$LIBS timeout 90 $P/old/gpu_norm_bench --replays 7 $ONLY 2>&1 | grep -E "NHWC"
  echo "== round $r new"; LD_LIBRARY_PATH=$LIBS timeout 90 $P/bin/gpu_norm_bench --replays 7 $ONLY 2>&1 | grep -E "NHWC"
done > $OUT/norm-bench.txt
table $OUT/norm-bench.txt
for r in 1 2; do
  echo "== round $r old"; LD_LIBRARY_PATH=$P/old:$LIBS timeout 120 $P/old/gpu_norm_bench --replays 7 $UNET 2>&1 | grep -E "NHWC"
  echo "== round $r new"; LD_LIBRARY_PATH=$LIBS timeout 120 $P/bin/gpu_norm_bench --replays 7 $UNET 2>&1 | grep -E "NHWC"
done > $OUT/unet-bench.txt
table $OUT/unet-bench.txt
grep -A40 "round 1 new" $OUT/norm-bench.txt $OUT/unet-bench.txt | grep -v "==" | awk '{print $1, $2, $(NF-8), $(NF-7), $(NF-6), $(NF-5), $(NF-2), $(NF-1), $NF}' | head -60
echo "total $((SECONDS-start)) s"
