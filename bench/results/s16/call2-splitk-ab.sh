#!/usr/bin/env bash
# Session 16 call 2: MatMulBias tune() with split-K variants (bin/), LayerNorm blocks per row (ln/: 80e260f), main
# before both (old/: f9ce8ab). Each variant dir holds libnormrt.so AND libnormrt_cuda.so: libnormrt.so loads the
# CUDA backend from its own folder, so LD_LIBRARY_PATH alone does not switch it (session 15's A/Bs ran one
# library on both sides). GPU tests; the tf32 UNet's batch-1 engine built by ln/ (tuner 2) and by bin/ (tuner 3),
# replayed by old, ln and new in alternation; PyTorch eager+graph at the same shape in the same call.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
for v in old ln; do xz -d -k -f $P/$v/libnormrt_cuda.so.xz; cp $P/bin/libnormrt.so $P/$v/; done
LIBS=$(bash $P/unpack.sh)
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CublasLtMatMulBias.*:CudaNorm.LayerNorm*:CudaNormPlan.*:TunedConfigs.*:CudaTimingCache.*:CudaEngine.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran" $OUT/tests.log | head -20
W=/tmp/nw; M=$W/unet_sd15; S=latent:1x4x32x32
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
for v in ln new; do
  L=$LIBS; [ $v = ln ] && L=$P/ln:$LIBS
  LD_LIBRARY_PATH=$L timeout 200 $P/bin/normrt build $M/model.onnx -o $M/b1-$v.nrt --device cuda --minShapes=$S --optShapes=$S --maxShapes=$S --tf32 > $OUT/build-$v.log 2>&1
  echo "build $v $((SECONDS-start)) s: $(tail -1 $OUT/build-$v.log | cut -c1-100)"
done
for r in 1 2 3; do for v in old ln new; do
  L=$LIBS; E=$M/b1-ln.nrt; [ $v = old ] && L=$P/old:$LIBS; [ $v = ln ] && L=$P/ln:$LIBS; [ $v = new ] && E=$M/b1-new.nrt
  echo -n "round $r $v b1: "; LD_LIBRARY_PATH=$L timeout 60 $P/bin/normrt bench $E --shapes=$S --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/b1-new.nrt --shapes=$S --iterations 100 --warmup 10 --profile > $OUT/profile-new.txt 2>&1
LD_LIBRARY_PATH=$P/ln:$LIBS timeout 60 $P/bin/normrt bench $M/b1-ln.nrt --shapes=$S --iterations 100 --warmup 10 --profile > $OUT/profile-ln.txt 2>&1
grep -E "MatMulBias \[|LayerNorm \[|profile:" $OUT/profile-ln.txt $OUT/profile-new.txt
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt inspect $M/b1-new.nrt > $OUT/inspect-new.txt 2>&1
echo "split-K MatMulBias configs: $(grep -o 'lt_splitk=[0-9]*' $OUT/inspect-new.txt | sort | uniq -c | tr '\n' ' ')"
export NORMRT_TORCH_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
LD_LIBRARY_PATH=$LIBS:${LD_LIBRARY_PATH:-} timeout 200 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out /tmp/nwt --models unet_sd15 --batches 1 --precisions tf32 --torch-layouts nchw channels_last --skip-normrt --no-compile > $OUT/torch.md 2> $OUT/torch.err
grep -E "^\|" $OUT/torch.md; cp /tmp/nwt/networks.jsonl $OUT/torch.jsonl 2>/dev/null
echo "total $((SECONDS-start)) s"
