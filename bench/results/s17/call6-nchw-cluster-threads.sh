#!/usr/bin/env bash
# Session 17 call 6: NCHW groups split over clusters (few groups of 160-512 KB), cold: every cluster size 2/4/8 with
# every block size, GN and GN+SiLU, to choose between smaller clusters and fewer threads for grids of several waves.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
SH=""; ONLY=""
for s in 1x64x256x256 1x512x64x64 2x320x64x64 1x320x64x64; do
  SH="$SH --shape $s:32"; for t in fp16 fp32; do ONLY="$ONLY --only $s:$t:NCHW"; done
done
for cs in 2 4 8; do for t in 512 320 256 192 128; do
  echo "== cl$cs t$t"
  LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/gpu_norm_bench --replays 7 --cluster $cs --block-threads $t $SH $ONLY 2>&1 | grep -E "NCHW|no plan"
done; done > $OUT/sweep.txt
echo "== auto" >> $OUT/sweep.txt
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/gpu_norm_bench --replays 7 $SH $ONLY 2>&1 | grep -E "NCHW" >> $OUT/sweep.txt
awk '/^==/{n++; names[n]=$2$3; next} /NCHW/{key=$1" "$2; v[key,n]=$8"/"$9; w[key,n]=$NF; if(!(key in seen)){seen[key]=1; order[++k]=key}} END{for(j=1;j<=k;j++){print order[j]; for(i=1;i<=n;i++) if(v[order[j],i]!="") printf "  %-8s %-13s %s\n", names[i], v[order[j],i], w[order[j],i]}}' $OUT/sweep.txt
