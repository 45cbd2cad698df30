#!/usr/bin/env bash
# Session 15 call 9: NhwcConv's GEMM path (im2col + cuBLASLt, tuned beside cuDNN). Conv tests (every config
# path, the new GEMM cases); the tf32 UNet's batch-1 engine built by the old library (old/, HEAD; call 1's timing
# cache) and by the new one (no cache), each run by the new runtime in alternation; which convs chose the GEMM.
set -uo pipefail
P=$(cd "$(dirname "$0")" && pwd)
xz -d -k -f $P/old/libnormrt_cuda.so.xz
LIBS=$(bash $P/unpack.sh)
OLD=$P/old:$LIBS
nvidia-smi --query-gpu=name --format=csv,noheader
start=$SECONDS
NORMRT_FIXTURES_DIR=$P/fixtures LD_LIBRARY_PATH=$LIBS timeout 200 $P/bin/normrt_cuda_tests --gtest_filter='CudnnNhwcConv.*:CudnnConv.*:TunedConfigs.*' > $OUT/tests.log 2>&1
echo "tests $((SECONDS-start)) s"; grep -E "^\[  (PASSED|FAILED) |FAILED TEST|tests from .* ran|^\[       OK \] CudnnNhwcConv" $OUT/tests.log | head -20
grep -B2 -A10 "Failure" $OUT/tests.log | head -40
W=/tmp/nw; M=$W/unet_sd15
LD_LIBRARY_PATH=$LIBS timeout 120 python3 bench/gpu_networks.py --normrt $P/bin/normrt --out $W --models unet_sd15 --batches 1 --precisions tf32 --skip-normrt --skip-torch --no-compile > $OUT/export.log 2>&1
B1="--minShapes=latent:1x4x32x32 --optShapes=latent:1x4x32x32 --maxShapes=latent:1x4x32x32"
cp $P/tc-unet-tf32.bin /tmp/tc.bin
LD_LIBRARY_PATH=$OLD timeout 150 $P/bin/normrt build $M/model.onnx -o $M/old.nrt --device cuda $B1 --tf32 --timing-cache /tmp/tc.bin > $OUT/build-old.log 2>&1
tail -1 $OUT/build-old.log
start=$SECONDS
LD_LIBRARY_PATH=$LIBS timeout 150 $P/bin/normrt build $M/model.onnx -o $M/new.nrt --device cuda $B1 --tf32 --timing-cache $OUT/tc-new.bin > $OUT/build-new.log 2>&1
echo "new build $((SECONDS-start)) s"; tail -1 $OUT/build-new.log
LD_LIBRARY_PATH=$LIBS timeout 30 $P/bin/normrt inspect $M/new.nrt > $OUT/inspect-new.txt 2>&1
echo "GEMM-path convs: $(grep -c 'gemm=1' $OUT/inspect-new.txt)"; grep 'gemm=1' $OUT/inspect-new.txt | head -20 | cut -c1-150
for r in 1 2 3; do for e in old new; do
  echo -n "round $r $e b1: "; LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt bench $M/$e.nrt --shapes=latent:1x4x32x32 --iterations 300 --warmup 30 2>&1 | grep latency | cut -c1-70
done; done
python3 -c "import numpy as np; np.save('/tmp/latent1.npy', np.random.default_rng(0).standard_normal((1, 4, 32, 32)).astype(np.float32))"
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt run $M/new.nrt --input latent=/tmp/latent1.npy --output-dir /tmp/o-new > /dev/null 2>&1
LD_LIBRARY_PATH=$LIBS timeout 60 $P/bin/normrt run $M/old.nrt --input latent=/tmp/latent1.npy --output-dir /tmp/o-old > /dev/null 2>&1
python3 -c "
import numpy as np, glob
for f in glob.glob('/tmp/o-new/*.npy'):
    a=np.load(f); b=np.load(f.replace('o-new','o-old')); print('new vs old engine max abs diff', float(abs(a-b).max()), 'max |out|', float(abs(b).max()))
"
